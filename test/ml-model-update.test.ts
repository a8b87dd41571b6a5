/**
 * ml-model-update in a real Node-RED runtime with a real broker: three device flows (each its own
 * onnx-model, onnx-infer and ml-model-update), a host that publishes with the package's publisher.
 * Expected answers come from mlpReference (plain JS), model identity from the files' sha256.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { getNode, helper, inject, nextMessage, nodeModule, type FlowNode, type Msg, coreNode } from './helpers/flow';
import { startBroker, type TestBroker } from './helpers/broker';
import { mlpModel, mlpReference, type Mlp } from './helpers/onnx-models';
import { prepareUpdate, signManifest } from '../src/lib/update/manifest';
import { publishUpdate, sendRollback } from '../src/lib/update/publisher';
import { RolloutEngine } from '../src/lib/fleet/rollout';
import { parsePlan } from '../src/lib/fleet/plan';

const coreMqtt = coreNode('network/10-mqtt.js');
const DEVICES = ['dev-1', 'dev-2', 'dev-3'];
const card = (version: string): Record<string, string> => ({ 'edgeml.name': 'pump', 'edgeml.version': version });
const v1 = mlpModel({ inputs: 4, hidden: 8, outputs: 2, seed: 1, metadata: card('1.0.0') });
const v2 = mlpModel({ inputs: 4, hidden: 8, outputs: 2, seed: 2, metadata: card('2.0.0') });
const otherContract = mlpModel({ inputs: 5, hidden: 8, outputs: 2, seed: 3, metadata: card('3.0.0') });
const sha = (m: Mlp): string => createHash('sha256').update(m.bytes).digest('hex');
const row = [0.5, -1, 2, 0.25];

let broker: TestBroker;
let host: MqttClient;
let userDir: string;
const keys = generateKeyPairSync('ed25519');

before(async () => {
  broker = await startBroker();
  userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-update-flow-'));
  writeFileSync(path.join(userDir, 'v1.onnx'), v1.bytes);
  helper.settings({ userDir });
  host = await mqtt.connectAsync(broker.url, { clientId: `host-${process.pid}` });
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab', label: 'devices' },
    { id: 'broker', type: 'mqtt-broker', broker: '127.0.0.1', port: String(broker.port), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
  DEVICES.forEach((dev, i) => {
    flow.push(
      { id: `model-${i}`, type: 'onnx-model', path: 'v1.onnx', watch: false, threads: '1' },
      { id: `infer-${i}`, type: 'onnx-infer', z: 'tab', model: `model-${i}`, property: 'payload', queueSize: '1000', overflow: 'error', wires: [[`out-${i}`]] },
      { id: `out-${i}`, type: 'helper', z: 'tab' },
      {
        id: `upd-${i}`,
        type: 'ml-model-update',
        z: 'tab',
        broker: 'broker',
        model: `model-${i}`,
        deviceId: dev,
        deviceIdType: 'str',
        groups: 'line-1',
        prefix: 'edge-ml',
        // the third device only accepts signed updates
        publicKey: i === 2 ? keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() : '',
        reportInterval: '3600',
        stallSeconds: '1',
        wires: [[`states-${i}`]],
      },
      { id: `states-${i}`, type: 'helper', z: 'tab' },
    );
  });
  await helper.load([nodeModule('onnx-model'), nodeModule('onnx-infer'), nodeModule('ml-model-update'), coreMqtt], flow, {});
  // every device answers with v1 first (also waits for the sessions and the broker connection)
  for (let i = 0; i < DEVICES.length; i++) assert.equal((await infer(i)).model.sha256, sha(v1));
});

after(async () => {
  await helper.unload();
  await host.endAsync();
  await broker.stop();
  rmSync(userDir, { recursive: true, force: true });
});

async function infer(i: number, payload: unknown = [row]): Promise<Msg & { model: { sha256: string; version: string }; payload: { y: { data: number[] } } }> {
  const answer = nextMessage(`out-${i}`, 20000);
  inject(`infer-${i}`, { payload });
  return (await answer) as Msg & { model: { sha256: string; version: string }; payload: { y: { data: number[] } } };
}

function assertAnswersWith(msg: { payload: { y: { data: number[] } } }, m: Mlp): void {
  const expected = mlpReference(m, [row])[0]!;
  msg.payload.y.data.forEach((v, k) => assert.ok(Math.abs(v - expected[k]!) <= 1e-4, `output ${k}: ${v} vs ${expected[k]}`));
}

async function push(m: Mlp, version: string, targets: string[], waitFor: string[], sign = false) {
  const { manifest, chunks } = prepareUpdate(m.bytes, { name: 'pump', version, chunkSize: 512 });
  return publishUpdate({ client: host, manifest: sign ? signManifest(manifest, keys.privateKey) : manifest, chunks, targets, waitFor, timeoutMs: 30000 });
}

test('a host pushes a new version to three devices; all report it active and answer with it, losing no message', async () => {
  // a stream of messages into device 0 for as long as the update takes: each gets exactly one answer
  const answers: string[] = [];
  const out = getNode('out-0');
  let sent = 0;
  let streaming = true;
  let settle: () => void = () => undefined;
  const allAnswered = new Promise<void>((resolve) => (settle = resolve));
  const collect = (msg: Msg): void => {
    answers.push((msg.model as { sha256: string }).sha256);
    if (!streaming && answers.length === sent) settle();
  };
  out.on('input', collect);
  const stream = setInterval(() => {
    inject('infer-0', { payload: [row] });
    sent++;
  }, 2);
  const unsignedDevices = DEVICES.slice(0, 2);
  const result = await push(v2, '2.0.0', ['line-1'], unsignedDevices);
  const signed = await push(v2, '2.0.0', ['dev-3'], ['dev-3'], true);
  assert.deepEqual([...result.active, ...signed.active].sort(), DEVICES);
  clearInterval(stream);
  streaming = false;
  if (answers.length === sent) settle();
  await allAnswered;
  out.removeListener('input', collect);
  assert.equal(answers.length, sent, 'one answer per message');
  const firstV2 = answers.indexOf(sha(v2));
  assert.ok(firstV2 >= 0, 'the stream saw the new model');
  assert.ok(
    answers.slice(firstV2).every((s) => s === sha(v2)),
    'no old answer after the swap',
  );
  assert.ok(
    answers.slice(0, firstV2).every((s) => s === sha(v1)),
    'only whole models answered',
  );
  for (let i = 0; i < DEVICES.length; i++) {
    const msg = await infer(i);
    assert.equal(msg.model.sha256, sha(v2));
    assertAnswersWith(msg, v2);
  }
});

test('a model with another input contract, a wrong hash and a bad signature are rejected; the old model keeps serving', async () => {
  const contract = await push(otherContract, '3.0.0', ['dev-1'], ['dev-1']);
  assert.equal(contract.rejected[0]?.device, 'dev-1');
  assert.match(contract.rejected[0]?.code ?? '', /^EDGEML_ONNX_/);

  const { manifest, chunks } = prepareUpdate(v1.bytes, { name: 'pump', version: '4.0.0', chunkSize: 512 });
  manifest.sha256 = sha(otherContract);
  const wrongHash = await publishUpdate({ client: host, manifest, chunks, targets: ['dev-2'], waitFor: ['dev-2'], timeoutMs: 30000 });
  assert.equal(wrongHash.rejected[0]?.code, 'EDGEML_UPDATE_HASH_MISMATCH');

  const unsigned = await push(v1, '5.0.0', ['dev-3'], ['dev-3']);
  assert.equal(unsigned.rejected[0]?.code, 'EDGEML_UPDATE_SIGNATURE_INVALID');

  for (let i = 0; i < DEVICES.length; i++) assert.equal((await infer(i)).model.sha256, sha(v2), `device ${i} still serves v2`);
});

test('rollback over MQTT returns a device to the previous version', async () => {
  const state = nextMessage('states-1', 20000);
  await sendRollback(host, 'dev-2');
  assert.equal(((await state).payload as { state: string }).state, 'rolled-back');
  const msg = await infer(1);
  assert.equal(msg.model.sha256, sha(v1));
  assertAnswersWith(msg, v1);
});

test('the monitoring report is published retained and the Prometheus endpoint counts the inferences', async () => {
  const reply = nextMessage('states-0', 20000);
  const retained = new Promise<Record<string, unknown>>((resolve) => {
    host.on('message', (topic, payload) => topic === 'edge-ml/status/dev-1/model' && payload.length && resolve(JSON.parse(payload.toString())));
  });
  await host.subscribeAsync('edge-ml/status/dev-1/model', { qos: 1 });
  inject('upd-0', { payload: 'report' });
  await reply;
  const report = (await retained) as { device: string; model: { version: string; sha256: string; inferences: number } };
  assert.equal(report.device, 'dev-1');
  assert.equal(report.model.sha256, sha(v2));
  const res = await helper.request().get('/edge-ml/metrics').expect(200);
  assert.match(res.headers['content-type'] ?? '', /text\/plain/);
  assert.match(res.text, /^edgeml_inferences_total\{model="pump",version="2\.0\.0"/m);
});

test('an unknown command reaches the Catch node with a code and the node keeps working', async () => {
  const caught = nextMessage('caught', 20000);
  inject('upd-0', { payload: 'explode' });
  assert.equal(((await caught).error as { code: string }).code, 'EDGEML_UPDATE_COMMAND_UNKNOWN');
  const ok = nextMessage('states-0', 20000);
  inject('upd-0', { payload: 'report' });
  assert.ok((await ok).payload);
});

test('a fleet rollout reaches the Node-RED devices over the blob topic; their reports carry groups and per-version figures', async () => {
  const v4 = mlpModel({ inputs: 4, hidden: 8, outputs: 2, seed: 4, metadata: card('4.0.0') });
  const active = Promise.all(DEVICES.map((_, i) => waitForState(i, 'active', sha(v4))));
  const engine = await RolloutEngine.start(
    { client: host, privateKey: keys.privateKey, reportGraceMs: 5000 },
    { bytes: v4.bytes, name: 'pump', version: '4.0.0', plan: parsePlan({ waves: [{ size: '100%' }], soakMs: '1500ms', updateTimeoutMs: '20s', gates: { minInferences: 1 } }) },
  );
  const done = engine.run();
  await active;
  // each device answers with the new version; these inferences are the figures the gates judge
  for (let i = 0; i < DEVICES.length; i++) {
    const msg = await infer(i);
    assert.equal(msg.model.sha256, sha(v4));
    assertAnswersWith(msg, v4);
  }
  const state = await done;
  assert.equal(state.status, 'completed', JSON.stringify(state.halt ?? state.devices));
  assert.deepEqual(
    Object.values(state.devices).map((d) => d.outcome),
    DEVICES.map(() => 'healthy'),
  );
  const report = JSON.parse((await retainedOnce('edge-ml/status/dev-1/model')).toString()) as {
    groups: string[];
    current: { sha256: string; inferences: number };
    previous?: { sha256: string };
  };
  assert.deepEqual(report.groups, ['line-1']);
  assert.equal(report.current.sha256, sha(v4));
  assert.ok(report.current.inferences >= 1);
  assert.notEqual(report.previous?.sha256, sha(v4));
});

function waitForState(i: number, state: string, sha256: string): Promise<void> {
  const node = getNode(`states-${i}`);
  return new Promise((resolve) => {
    const on = (msg: Msg): void => {
      const p = msg.payload as { state: string; sha256: string };
      if (p.state !== state || p.sha256 !== sha256) return;
      node.removeListener('input', on);
      resolve();
    };
    node.on('input', on);
  });
}

function retainedOnce(topic: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const on = (t: string, payload: Buffer): void => {
      if (t !== topic || payload.length === 0) return;
      host.removeListener('message', on);
      resolve(payload);
    };
    host.on('message', on);
    host
      .unsubscribeAsync(topic)
      .then(() => host.subscribeAsync(topic, { qos: 1 }))
      .catch(reject);
  });
}
