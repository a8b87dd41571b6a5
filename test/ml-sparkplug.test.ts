/**
 * ml-sparkplug in a real Node-RED runtime against real mosquitto. The test plays the Sparkplug
 * primary host: it subscribes to spBv1.0/#, decodes every message with Eclipse Tahu's decoder,
 * publishes STATE and NCMD, and checks the birth/data/death sequence, bdSeq, seq and aliases.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { get as getSparkplug } from 'sparkplug-payload';
import { modelCardToMetadata } from '../src/lib/model-card';
import { getNode, helper, inject, nextMessage, nextMessages, nextStatus, nodeModule, type FlowNode, coreNode } from './helpers/flow';
import { startBroker, type TestBroker } from './helpers/broker';
import { mlpModel } from './helpers/onnx-models';

const coreMqtt = coreNode('network/10-mqtt.js');
const codec = getSparkplug('spBv1.0')!;

interface Metric {
  name?: string;
  alias?: number;
  value: unknown;
  isHistorical?: boolean;
  isNull?: boolean;
}
interface Seen {
  topic: string;
  kind: string;
  seq: number | undefined;
  metrics: Metric[];
}

/** A primary host's view of the wire: every Sparkplug message, decoded. */
class Host {
  readonly seen: Seen[] = [];
  private wake: Array<() => void> = [];
  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      if (!topic.startsWith('spBv1.0/') || topic.startsWith('spBv1.0/STATE/')) return;
      const kind = topic.split('/')[2]!;
      if (kind === 'NCMD') return;
      const p = codec.decodePayload(payload);
      const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
      this.seen.push({
        topic,
        kind,
        seq: num(p.seq),
        metrics: (p.metrics ?? []).map((m) => ({
          ...(m.name ? { name: m.name } : {}),
          ...(m.alias !== null && m.alias !== undefined ? { alias: Number(m.alias) } : {}),
          value: typeof m.value === 'object' && m.value !== null && 'low' in m.value ? Number(m.value) : m.value,
          ...(m.isHistorical ? { isHistorical: true } : {}),
          ...(m.isNull ? { isNull: true } : {}),
        })),
      });
      for (const w of this.wake.splice(0)) w();
    });
  }
  /** Waits until `count` messages arrived and returns (and forgets) them. */
  take(count: number, timeoutMs = 15000): Promise<Seen[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.seen.length} of ${count} Sparkplug messages: ${this.seen.map((s) => s.kind).join(',')}`)), timeoutMs);
      const check = (): void => {
        if (this.seen.length >= count) {
          clearTimeout(timer);
          resolve(this.seen.splice(0, count));
        } else this.wake.push(check);
      };
      check();
    });
  }
  state(hostId: string, online: boolean, timestamp: number): Promise<unknown> {
    return this.client.publishAsync(`spBv1.0/STATE/${hostId}`, JSON.stringify({ online, timestamp }), { qos: 1, retain: true });
  }
}

/** name -> value of a birth, and alias -> name, from the decoded birth itself. */
function birthTable(birth: Seen): { values: Map<string, unknown>; names: Map<number, string> } {
  const values = new Map<string, unknown>();
  const names = new Map<number, string>();
  for (const m of birth.metrics) {
    values.set(m.name!, m.isNull ? null : m.value);
    if (m.alias !== undefined) names.set(m.alias, m.name!);
  }
  return { values, names };
}

function dataByName(data: Seen, names: Map<number, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of data.metrics) {
    assert.equal(m.name, undefined, 'DDATA carries aliases only');
    const name = names.get(m.alias!);
    assert.ok(name, `alias ${m.alias} was declared in the birth`);
    out[name] = m.value;
  }
  return out;
}

const prediction = (i: number, model = { name: 'pump', version: '1', sha256: 'a'.repeat(64) }): Record<string, unknown> => ({
  payload: {
    task: 'classification',
    label: i % 2 ? 'cavitation' : 'normal',
    score: 0.5 + i / 1000,
    anomaly: i % 3 === 0,
    topk: [
      { label: 'normal', score: 0.6 },
      { label: 'cavitation', score: 0.3 },
    ],
    inferenceMs: 1.25,
    model,
    time: 1_700_000_000_000 + i,
    ts: new Date(1_700_000_000_000 + i).toISOString(),
  },
  features: { flow: i, pressure: 2 * i },
});

const brokerNode = (port: number): FlowNode => ({
  id: 'br',
  type: 'mqtt-broker',
  broker: '127.0.0.1',
  port: String(port),
  clientid: '',
  autoConnect: true,
  usetls: false,
  protocolVersion: '4',
  keepalive: '60',
  cleansession: true,
});
const watchers = (): FlowNode[] => [
  { id: 'catcher', type: 'catch', z: 'tab', scope: ['spb'], uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper', z: 'tab', wires: [] },
  { id: 'completer', type: 'complete', z: 'tab', scope: ['spb'], uncaught: false, wires: [['completed']] },
  { id: 'completed', type: 'helper', z: 'tab', wires: [] },
];
const codeOf = (m: Record<string, unknown>): string => (m.error as { code: string }).code;

/** A broker and a primary host subscribed to spBv1.0/#, for one describe block; `flow` deploys after them. */
function withHostAndBroker(flow?: (port: number) => FlowNode[]): { broker: () => TestBroker; host: () => Host } {
  let broker: TestBroker;
  let host: Host;
  before(async () => {
    broker = await startBroker();
    helper.settings({ mqttReconnectTime: 200 });
    host = new Host(await mqtt.connectAsync(broker.url, { clientId: `spb-host-${process.pid}-${Math.random().toString(16).slice(2)}` }));
    await host.client.subscribeAsync('spBv1.0/#', { qos: 1 });
    if (flow) await helper.load([nodeModule('ml-sparkplug'), coreMqtt], flow(broker.port), {});
  });
  after(async () => {
    await helper.unload();
    helper.settings({});
    await host.client.endAsync(true);
    await broker.stop();
  });
  return { broker: () => broker, host: () => host };
}

const sparkplugFlow =
  (node: Record<string, unknown>) =>
  (port: number): FlowNode[] => [
    { id: 'tab', type: 'tab', label: 'spb' },
    brokerNode(port),
    { id: 'spb', type: 'ml-sparkplug', z: 'tab', broker: 'br', groupId: 'plant', deviceId: 'pump', capacity: '100', overflow: 'drop-oldest', wires: [], ...node } as FlowNode,
    ...watchers(),
  ];

describe('ml-sparkplug without a primary host', () => {
  const ctx = withHostAndBroker(sparkplugFlow({ edgeNodeId: 'line1', primaryHost: '', features: true }));
  let broker: TestBroker;
  let host: Host;
  before(() => {
    broker = ctx.broker();
    host = ctx.host();
  });

  it('births (NBIRTH seq 0 with bdSeq 0, DBIRTH with model and values), then DDATA with aliases only and seq counting up', async () => {
    const [nbirth] = await host.take(1);
    assert.equal(nbirth!.topic, 'spBv1.0/plant/NBIRTH/line1');
    assert.equal(nbirth!.seq, 0);
    const nb = birthTable(nbirth!);
    assert.equal(nb.values.get('bdSeq'), 0);
    assert.equal(nb.values.get('Node Control/Rebirth'), false);

    const completed = nextMessages('completed', 3);
    for (let i = 1; i <= 3; i++) inject('spb', prediction(i));
    await completed;
    const [dbirth, d2, d3] = await host.take(3);
    assert.equal(dbirth!.topic, 'spBv1.0/plant/DBIRTH/line1/pump');
    assert.deepEqual([dbirth!.seq, d2!.seq, d3!.seq], [1, 2, 3]);
    const db = birthTable(dbirth!);
    const p1 = prediction(1).payload as Record<string, unknown>;
    assert.equal(db.values.get('Model/Name'), 'pump');
    assert.equal(db.values.get('Model/Version'), '1');
    assert.equal(db.values.get('Model/SHA256'), 'a'.repeat(64));
    assert.equal(db.values.get('Prediction/Label'), p1.label);
    assert.equal(db.values.get('Prediction/Score'), p1.score);
    assert.equal(db.values.get('Prediction/Top/2/Label'), 'cavitation');
    assert.equal(db.values.get('Features/pressure'), 2);
    // aliases unique across the edge node (node metrics included)
    const all = [...nbirth!.metrics, ...dbirth!.metrics].filter((m) => m.alias !== undefined).map((m) => m.alias);
    assert.equal(new Set(all).size, all.length);
    for (const [data, i] of [
      [d2!, 2],
      [d3!, 3],
    ] as const) {
      assert.equal(data.topic, 'spBv1.0/plant/DDATA/line1/pump');
      const v = dataByName(data, db.names);
      const p = prediction(i).payload as Record<string, unknown>;
      assert.equal(v['Prediction/Label'], p.label);
      assert.equal(v['Prediction/Score'], p.score);
      assert.equal(v['Prediction/Anomaly'], p.anomaly);
      assert.equal(v['Inference/Time ms'], p.inferenceMs);
      assert.equal(v['Features/flow'], i);
    }
  });

  it('a payload that is no prediction reaches the Catch node with a code; the next one still goes out', async () => {
    for (const bad of [{ payload: 'text' }, { payload: [1, 2] }, { payload: { model: { name: 'x' } } }]) {
      const caught = nextMessage('caught');
      inject('spb', bad);
      assert.equal(codeOf(await caught), 'EDGEML_SPARKPLUG_PAYLOAD_INVALID');
    }
    inject('spb', prediction(4));
    const [data] = await host.take(1);
    assert.equal(data!.kind, 'DDATA');
    assert.equal(data!.seq, 4);
  });

  it('seq wraps from 255 to 0', async () => {
    const n = 260;
    const completed = nextMessages('completed', n, 30000);
    for (let i = 0; i < n; i++) inject('spb', prediction(10 + i));
    await completed;
    const got = await host.take(n);
    // the one before had seq 4: the k-th of these has (4 + k) mod 256
    assert.deepEqual(
      got.map((s) => s.seq),
      got.map((_, k) => (5 + k) % 256),
    );
  });

  it('answers an NCMD Node Control/Rebirth with NBIRTH (same bdSeq, seq 0) and DBIRTH with the last values', async () => {
    await host.client.publishAsync('spBv1.0/plant/NCMD/line1', Buffer.from(codec.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })));
    const [nbirth, dbirth] = await host.take(2);
    assert.equal(nbirth!.kind, 'NBIRTH');
    assert.equal(nbirth!.seq, 0);
    assert.equal(birthTable(nbirth!).values.get('bdSeq'), 0);
    assert.equal(dbirth!.kind, 'DBIRTH');
    assert.equal(dbirth!.seq, 1);
    assert.equal(birthTable(dbirth!).values.get('Features/flow'), 10 + 259);
  });

  it('NDEATH is the will (bdSeq of that connection); the next connection births with bdSeq 1', async () => {
    const br = getNode('br') as unknown as { options: { clientId: string } };
    // Another client with the node's client id takes its session over: the broker sends the will.
    const intruder = await mqtt.connectAsync(broker.url, { clientId: `${br.options.clientId}-spb-line1`, reconnectPeriod: 0 });
    const [death] = await host.take(1);
    await intruder.endAsync(true);
    assert.equal(death!.topic, 'spBv1.0/plant/NDEATH/line1');
    assert.equal(death!.seq, undefined, 'NDEATH has no seq');
    assert.equal(birthTable(death!).values.get('bdSeq'), 0);
    const births = await host.take(2);
    assert.deepEqual(
      births.map((b) => b.kind),
      ['NBIRTH', 'DBIRTH'],
    );
    const bdSeq = birthTable(births[0]!).values.get('bdSeq') as number;
    assert.ok(bdSeq >= 1, `bdSeq counts up per connection (got ${bdSeq})`);
    // the will of this connection carries that bdSeq: close the flow cleanly and read the NDEATH
    await helper.unload();
    const [ddeath, ndeath] = await host.take(2);
    assert.equal(ddeath!.kind, 'DDEATH');
    assert.equal(ndeath!.kind, 'NDEATH');
    assert.equal(birthTable(ndeath!).values.get('bdSeq'), bdSeq);
  });
});

describe('ml-sparkplug with a primary host that goes offline', () => {
  const ctx = withHostAndBroker(sparkplugFlow({ edgeNodeId: 'line2', primaryHost: 'scada', features: false, capacity: '5' }));
  let host: Host;
  before(() => {
    host = ctx.host();
  });

  it('holds predictions until the host is online, then births and sends them in order, flagged historical; drops beyond capacity', async () => {
    const dropped = nextMessage('caught');
    const completed = nextMessages('completed', 5, 20000);
    for (let i = 0; i < 6; i++) inject('spb', prediction(i));
    assert.equal(codeOf(await dropped), 'EDGEML_SPARKPLUG_OVERFLOW');
    assert.equal(host.seen.length, 0, 'nothing is published before the host is online');
    await host.state('scada', true, 1000);
    await completed;
    const got = await host.take(6); // NBIRTH, DBIRTH (prediction 1), DDATA 2..5
    assert.deepEqual(
      got.map((s) => s.kind),
      ['NBIRTH', 'DBIRTH', 'DDATA', 'DDATA', 'DDATA', 'DDATA'],
    );
    const db = birthTable(got[1]!);
    assert.equal(db.values.get('Prediction/Score'), (prediction(1).payload as { score: number }).score);
    got.slice(2).forEach((d, k) => {
      assert.equal(dataByName(d, db.names)['Prediction/Score'], (prediction(2 + k).payload as { score: number }).score);
      assert.ok(
        d.metrics.every((m) => m.isHistorical),
        'held data is historical',
      );
    });
  });

  it('host offline then online: nothing lost, order kept, a rebirth first', async () => {
    const offline = nextStatus('spb', (s) => /scada|hostOffline/.test(s.text ?? ''));
    await host.state('scada', false, 1000);
    await offline;
    const completed = nextMessages('completed', 4, 20000);
    for (let i = 20; i < 24; i++) inject('spb', prediction(i));
    await host.state('scada', true, 2000);
    await completed;
    const got = await host.take(6);
    assert.deepEqual(
      got.map((s) => s.kind),
      ['NBIRTH', 'DBIRTH', 'DDATA', 'DDATA', 'DDATA', 'DDATA'],
    );
    const db = birthTable(got[1]!);
    assert.equal(db.values.get('Prediction/Score'), (prediction(5).payload as { score: number }).score, 'DBIRTH carries the last values sent');
    assert.deepEqual(
      got.slice(2).map((d) => dataByName(d, db.names)['Prediction/Score']),
      [20, 21, 22, 23].map((i) => (prediction(i).payload as { score: number }).score),
    );
    assert.deepEqual(
      got.map((s) => s.seq),
      [0, 1, 2, 3, 4, 5],
    );
    // a stale offline STATE (older than the online one) is ignored
    await host.state('scada', false, 1500);
    inject('spb', prediction(30));
    const [live] = await host.take(1);
    assert.equal(live!.kind, 'DDATA');
    assert.ok(live!.metrics.every((m) => !m.isHistorical));
  });
});

describe('ml-sparkplug after onnx-model, onnx-infer and ml-format', () => {
  const ctx = withHostAndBroker();
  let broker: TestBroker;
  let host: Host;
  let dir: string;
  const card = (version: string) => ({ name: 'pump', version, task: 'classification' as const, labels: ['normal', 'cavitation', 'bearing'], features: ['a', 'b', 'c', 'd'] });

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ml-sparkplug-'));
    writeFileSync(path.join(dir, 'pump.onnx'), mlpModel({ inputs: 4, hidden: 6, outputs: 3, seed: 5, metadata: modelCardToMetadata(card('1.0')) }).bytes);
    broker = ctx.broker();
    host = ctx.host();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a hot-reloaded model with a new version makes a new NBIRTH and DBIRTH with the new model', async () => {
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab', label: 'spb' },
      { id: 'model', type: 'onnx-model', path: path.join(dir, 'pump.onnx'), watch: false, threads: '1' },
      { id: 'infer', type: 'onnx-infer', z: 'tab', model: 'model', property: 'payload', queueSize: '10', overflow: 'drop-oldest', wires: [['fmt']] },
      { id: 'fmt', type: 'ml-format', z: 'tab', model: 'model', topK: '2', wires: [['spb'], []] },
      brokerNode(broker.port),
      {
        id: 'spb',
        type: 'ml-sparkplug',
        z: 'tab',
        broker: 'br',
        groupId: 'plant',
        edgeNodeId: 'line3',
        deviceId: 'pump',
        primaryHost: '',
        features: true,
        capacity: '100',
        overflow: 'drop-oldest',
        wires: [],
      },
      { id: 'reloaded', type: 'helper', z: 'tab', wires: [] },
      ...watchers(),
    ];
    flow[2]!.wires = [['fmt', 'reloaded']];
    await helper.load([nodeModule('onnx-model'), nodeModule('onnx-infer'), nodeModule('ml-format'), nodeModule('ml-sparkplug'), coreMqtt], flow, {});
    await host.take(1); // NBIRTH
    inject('infer', { payload: { a: 1, b: 2, c: 3, d: 4 } });
    const [dbirth1] = await host.take(1);
    assert.equal(dbirth1!.kind, 'DBIRTH');
    assert.equal(birthTable(dbirth1!).values.get('Model/Version'), '1.0');
    assert.equal(birthTable(dbirth1!).values.get('Features/b'), 2);

    writeFileSync(path.join(dir, 'pump.onnx'), mlpModel({ inputs: 4, hidden: 6, outputs: 3, seed: 6, metadata: modelCardToMetadata(card('2.0')) }).bytes);
    const reloaded = nextMessage('reloaded');
    inject('infer', { reload: true });
    assert.equal(((await reloaded).payload as { version: string }).version, '2.0');
    inject('infer', { payload: { a: 4, b: 3, c: 2, d: 1 } });
    const [nbirth, dbirth2] = await host.take(2);
    assert.equal(nbirth!.kind, 'NBIRTH');
    assert.equal(dbirth2!.kind, 'DBIRTH');
    const v = birthTable(dbirth2!).values;
    assert.equal(v.get('Model/Version'), '2.0');
    assert.match(String(v.get('Model/SHA256')), /^[0-9a-f]{64}$/);
    assert.notEqual(v.get('Model/SHA256'), birthTable(dbirth1!).values.get('Model/SHA256'));
    assert.equal(v.get('Features/a'), 4);
  });
});

describe('ml-sparkplug with unusable settings', () => {
  after(() => helper.unload());
  it('an id with / or an empty one refuses every message with EDGEML_SPARKPLUG_CONFIG', async () => {
    for (const bad of [{ groupId: 'a/b' }, { edgeNodeId: '' }, { primaryHost: 'scada#1' }]) {
      await helper.load([nodeModule('ml-sparkplug'), coreMqtt], sparkplugFlow({ edgeNodeId: 'line9', primaryHost: '', ...bad })(1), {});
      const caught = nextMessage('caught');
      inject('spb', prediction(1));
      assert.equal(codeOf(await caught), 'EDGEML_SPARKPLUG_CONFIG', JSON.stringify(bad));
      await helper.unload();
    }
  });
});
