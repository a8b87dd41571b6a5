/**
 * Issue 16: a message nested 20,000 levels deep into each of our node families, with a Catch node
 * on them, in a real Node-RED process. Before the input check the node failed, Node-RED copied the
 * message for the Catch node, overflowed its stack and the process died. Now every node refuses it
 * with EDGEML_MSG_TOO_DEEP, the Catch node gets the message without the too-deep property, and the
 * process keeps serving (a normal message afterwards still gets through).
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { findTooDeep, DEFAULT_MAX_MESSAGE_DEPTH } from '../src/lib/msg-depth';
import { ROOT, startNodeRed, type NodeRedProcess } from './helpers/nodered-process';
import { startBroker, type TestBroker } from './helpers/broker';
import { freePort } from './helpers/net';

const PUMP = path.join(ROOT, 'models', 'pump-classifier.onnx');
const LEVELS = 20_000;

/** A chain of `levels` objects: { a: { a: { ... } } }. */
function chain(levels: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let o = root;
  for (let i = 1; i < levels; i++) {
    const next: Record<string, unknown> = {};
    o.a = next;
    o = next;
  }
  return root;
}

test('findTooDeep: the limit counts levels below msg; flat arrays, typed arrays and cycles are cheap and safe', () => {
  // msg.payload is level 1, so a chain of L objects under payload reaches level L.
  assert.equal(findTooDeep({ payload: chain(DEFAULT_MAX_MESSAGE_DEPTH) }), undefined);
  assert.deepEqual(findTooDeep({ payload: chain(DEFAULT_MAX_MESSAGE_DEPTH + 1) }), { property: 'payload', depth: DEFAULT_MAX_MESSAGE_DEPTH + 1 });
  assert.deepEqual(findTooDeep({ topic: 't', deep: [[chain(LEVELS)]] })?.property, 'deep');
  // Node-RED never copies msg.req / msg.res (http in): they are not walked.
  assert.equal(findTooDeep({ req: chain(LEVELS), res: chain(LEVELS), payload: 1 }), undefined);
  const cyclic: Record<string, unknown> = { x: 1 };
  cyclic.self = cyclic;
  assert.equal(findTooDeep({ payload: cyclic }), undefined);
  // The walk is bounded: past the budget it stops (a deep chain hidden after 1,000 values with a
  // budget of 100 is not found; with the default budget it is).
  const flat: unknown[] = new Array(1000).fill(0);
  flat.push(chain(LEVELS));
  assert.equal(findTooDeep({ payload: flat }, 64, 100), undefined);
  assert.equal(findTooDeep({ payload: flat })?.property, 'payload');
  assert.equal(findTooDeep({ payload: new Float32Array(1e6) }, 64, 10), undefined);
});

/** What every target gets: a function node builds the deep message (one wire, so Node-RED does not copy it). */
const TARGETS: Array<{ type: string; config: (ids: { broker: string; model: string; modbusPort: number }) => Record<string, unknown> }> = [
  { type: 'modbus-decode', config: () => ({ fields: [{ name: 'a', register: 0, type: 'uint16' }], order: 'ABCD' }) },
  { type: 'modbus-encode', config: () => ({ fields: [{ name: 'a', register: 0, type: 'uint16' }], order: 'ABCD' }) },
  { type: 'modbus-server-in', config: ({ modbusPort }) => ({ host: '127.0.0.1', port: String(modbusPort), unitId: '1' }) },
  { type: 'ml-guard', config: () => ({ features: '', rules: [], policies: {}, replaceWith: {} }) },
  { type: 'onnx-infer', config: ({ model }) => ({ model, property: 'payload', queueSize: '10', overflow: 'error' }) },
  { type: 'ml-format', config: () => ({ task: 'regression' }) },
  { type: 'ml-drift', config: () => ({ reference: 'samples', referenceSamples: '10', window: '10' }) },
  { type: 'ml-outbox', config: ({ broker }) => ({ broker, topic: 'edgeml/depth', qos: '1' }) },
  {
    type: 'ml-model-update',
    config: ({ broker, model }) => ({ broker, model, deviceId: 'depth-device', deviceIdType: 'str', groups: '', prefix: 'edge-ml', publicKey: '', reportInterval: '3600', stallSeconds: '2' }),
  },
];

const BUILD = `
let root = {}; let o = root;
for (let i = 1; i < ${LEVELS}; i++) { o.a = {}; o = o.a; }
msg.payload = root;
msg.marker = 'kept';
return msg;`;

describe('a 20,000-level message into every node family, with a Catch node (real Node-RED process)', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let red: NodeRedProcess;

  before(async () => {
    broker = await startBroker();
    const modbusPort = await freePort();
    const ids = { broker: 'broker', model: 'model', modbusPort };
    const flow: Array<Record<string, unknown>> = [
      { id: 'tab', type: 'tab', label: 'depth' },
      { id: 'broker', type: 'mqtt-broker', broker: '127.0.0.1', port: String(broker.port), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
      { id: 'model', type: 'onnx-model', path: PUMP, watch: false, threads: '1' },
      { id: 'catcher', type: 'catch', z: 'tab', scope: TARGETS.map((t) => `t-${t.type}`), uncaught: false, wires: [['report']] },
      {
        id: 'report',
        type: 'function',
        z: 'tab',
        outputs: 1,
        wires: [['reply']],
        func: "msg.statusCode = 200; msg.payload = { code: msg.error.code, source: msg.error.source.type, hasPayload: 'payload' in msg, marker: msg.marker }; return msg;",
      },
      { id: 'reply', type: 'http response', z: 'tab', wires: [] },
      { id: 'pingIn', type: 'http in', z: 'tab', url: '/ping', method: 'get', wires: [['pong']] },
      { id: 'pong', type: 'function', z: 'tab', outputs: 1, func: "msg.payload = 'pong'; return msg;", wires: [['reply']] },
    ];
    for (const t of TARGETS) {
      flow.push(
        { id: `in-${t.type}`, type: 'http in', z: 'tab', url: `/deep/${t.type}`, method: 'post', wires: [[`build-${t.type}`]] },
        { id: `build-${t.type}`, type: 'function', z: 'tab', outputs: 1, func: BUILD, wires: [[`t-${t.type}`]] },
        { id: `t-${t.type}`, type: t.type, z: 'tab', name: '', ...t.config(ids), wires: t.type === 'ml-format' ? [[], []] : t.type === 'ml-guard' ? [[], []] : [[]] },
      );
    }
    red = await startNodeRed({ nodesDir: ROOT, flows: flow, settings: { mqttReconnectTime: 250 } });
  });

  after(async () => {
    await red?.stop();
    await broker?.stop();
  });

  for (const t of TARGETS) {
    it(`${t.type}: EDGEML_MSG_TOO_DEEP at the Catch node; the process survives`, async () => {
      const res = await fetch(`${red.url}/deep/${t.type}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(20_000) }).catch((e: unknown) => {
        throw new Error(`no answer (${String(e)}); Node-RED running: ${red.running}\n${red.tail(20)}`);
      });
      const answer = (await res.json()) as { code: string; source: string; hasPayload: boolean; marker: string };
      assert.deepEqual(answer, { code: 'EDGEML_MSG_TOO_DEEP', source: t.type, hasPayload: false, marker: 'kept' });
      assert.equal(red.running, true);
    });
  }

  it('Node-RED still answers after all of them', async () => {
    const res = await fetch(`${red.url}/ping`);
    assert.equal(await res.text(), 'pong');
    assert.equal(red.running, true);
  });
});
