/**
 * The whole path on real parts: onnx-model + onnx-infer (a real ONNX Runtime session) -> ml-format
 * -> Node-RED's core mqtt out -> a real broker -> an independent MQTT client, which receives JSON
 * that passes the published schema and carries the class a plain-JS forward pass predicts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { helper, inject, nextStatus, nodeModule, ROOT, unloadFlow, type FlowNode, coreNode } from './helpers/flow';
import { startBroker, type TestBroker } from './helpers/broker';
import { mlpModel, mlpReference } from './helpers/onnx-models';
import { modelCardToMetadata } from '../src/lib/model-card';
import { validateJsonSchema, type JsonSchema } from './helpers/schema';

const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-payload.schema.json'), 'utf8')) as JsonSchema;
// Node-RED's own MQTT nodes, loaded as a node module exactly as the runtime would.
const coreMqtt = coreNode('network/10-mqtt.js');

const LABELS = ['normal', 'cavitation', 'bearing'];
const CARD = { name: 'pump-classifier', version: '1.4.0', features: ['flow', 'pressure', 'temperature', 'vibration'], labels: LABELS, logits: true };
let dir: string;
let broker: TestBroker;
const mlp = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 21, metadata: modelCardToMetadata(CARD), name: 'pump' });

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ml-format-mqtt-'));
  writeFileSync(path.join(dir, 'pump.onnx'), mlp.bytes);
  broker = await startBroker();
});
after(async () => {
  await unloadFlow();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('onnx-infer -> ml-format -> mqtt out -> broker -> client: schema-valid JSON with the right class', async (t) => {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab', label: 'mqtt' },
    { id: 'model', type: 'onnx-model', path: path.join(dir, 'pump.onnx'), watch: false, threads: '1' },
    { id: 'infer', type: 'onnx-infer', z: 'tab', model: 'model', property: 'payload', queueSize: '10', overflow: 'drop-oldest', wires: [['fmt']] },
    // Labels and "these are logits" come from the model card: msg.modelCard if onnx-infer sets it, else
    // the card of the same onnx-model config node.
    { id: 'fmt', type: 'ml-format', z: 'tab', model: 'model', topK: '3', topic: 'plant/{device}/{model}/prediction', wires: [['pub'], []] },
    { id: 'pub', type: 'mqtt out', z: 'tab', broker: 'broker', topic: '', qos: '1', retain: 'false', wires: [] },
    { id: 'broker', type: 'mqtt-broker', broker: '127.0.0.1', port: String(broker.port), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
  await helper.load([nodeModule('onnx-model'), nodeModule('onnx-infer'), nodeModule('ml-format'), coreMqtt], flow, {});
  // Checked and then listened for in the same tick, so the connect cannot slip between the two.
  if (!(helper.getNode('broker') as unknown as { connected: boolean }).connected) await nextStatus('pub', (s) => s.fill === 'green', 20000);

  const client = await mqtt.connectAsync(broker.url);
  t.after(() => client.endAsync());
  await client.subscribeAsync('plant/+/+/prediction', { qos: 1 });
  const rows = [
    [10, 3, 40, 0.5],
    [-4, 8, 1, 2],
    [0.1, -0.2, 0.3, -0.4],
  ];
  const received = new Promise<Array<{ topic: string; payload: Record<string, unknown> }>>((resolve) => {
    const got: Array<{ topic: string; payload: Record<string, unknown> }> = [];
    client.on('message', (topic, buf) => {
      got.push({ topic, payload: JSON.parse(buf.toString('utf8')) as Record<string, unknown> });
      if (got.length === rows.length) resolve(got);
    });
  });
  const failed = new Promise<never>((_, reject) => getCaught().then((m) => reject(new Error(`flow error: ${JSON.stringify(m.error)}`))));
  rows.forEach((row, i) => inject('infer', { payload: row, device: `P-${i}` }));
  const messages = await Promise.race([received, failed]);

  const expected = mlpReference(mlp, rows).map((logits) => {
    // softmax in plain JS, independent of ml-format's
    const e = logits.map((v) => Math.exp(v));
    const sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / sum);
    const best = p.indexOf(Math.max(...p));
    return { label: LABELS[best]!, score: p[best]! };
  });
  const byDevice = new Map(messages.map((m) => [m.topic.split('/')[1], m]));
  rows.forEach((_, i) => {
    const m = byDevice.get(`P-${i}`);
    assert.ok(m, `message for P-${i}`);
    assert.equal(m.topic, `plant/P-${i}/pump-classifier/prediction`);
    assert.deepEqual(validateJsonSchema(schema, m.payload), [], JSON.stringify(m.payload));
    assert.equal(m.payload.label, expected[i]!.label);
    assert.ok(Math.abs((m.payload.score as number) - expected[i]!.score) < 1e-4);
    const model = m.payload.model as { name: string; version: string; sha256: string };
    assert.equal(model.name, 'pump-classifier');
    assert.equal(model.version, '1.4.0');
    assert.match(model.sha256, /^[0-9a-f]{64}$/);
    assert.equal(typeof m.payload.inferenceMs, 'number');
  });
});

function getCaught(): Promise<{ error: unknown }> {
  return new Promise((resolve) => helper.getNode('caught').on('input', (m: unknown) => resolve(m as { error: unknown })));
}
