/**
 * The image path on real parts: image file -> file in -> ml-image -> onnx-infer (a real ONNX
 * Runtime session) -> ml-format -> mqtt out -> mosquitto -> an independent MQTT client. The
 * classifier's scores are checked against onnxruntime-node run directly on a tensor computed
 * here from the pixels; the detector's boxes against boxes worked out by hand; the segmenter's
 * areas and mask against the image.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { PNG } from 'pngjs';
import * as ort from 'onnxruntime-node';
import { helper, inject, nextMessage, nextStatus, nodeModule, ROOT, unloadFlow, type FlowNode, coreNode } from './helpers/flow';
import { startBroker, type TestBroker } from './helpers/broker';
import { fixedDetector, redSegmenter } from './helpers/vision-models';
import { jpegOf, pngOf } from './helpers/images';
import { partDataset } from '../scripts/demo/parts';
import { validateJsonSchema, type JsonSchema } from './helpers/schema';

const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-payload.schema.json'), 'utf8')) as JsonSchema;
const coreMqtt = coreNode('network/10-mqtt.js');
const coreFile = coreNode('storage/10-file.js');
const PART_MODEL = path.join(ROOT, 'models', 'part-inspector.onnx');

let dir: string;
let broker: TestBroker;
before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vision-e2e-'));
  broker = await startBroker();
});
afterEach(() => unloadFlow());
after(async () => {
  await unloadFlow();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

function flow(modelFile: string, format: Record<string, unknown>, image: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'tab', type: 'tab', label: 'vision' },
    { id: 'model', type: 'onnx-model', path: modelFile, watch: false, threads: '1' },
    { id: 'read', type: 'file in', z: 'tab', filename: 'filename', filenameType: 'msg', format: '', chunk: false, sendError: false, allProps: false, wires: [['img']] },
    { id: 'img', type: 'ml-image', z: 'tab', model: 'model', wires: [['infer']], ...image },
    { id: 'infer', type: 'onnx-infer', z: 'tab', model: 'model', property: 'payload', queueSize: '10', overflow: 'error', wires: [['fmt']] },
    { id: 'fmt', type: 'ml-format', z: 'tab', model: 'model', topic: 'vision/{file}/{model}', wires: [['pub', 'out'], []], ...format },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'pub', type: 'mqtt out', z: 'tab', broker: 'broker', topic: '', qos: '1', retain: 'false', wires: [] },
    { id: 'broker', type: 'mqtt-broker', broker: '127.0.0.1', port: String(broker.port), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}

async function start(nodes: FlowNode[]): Promise<mqtt.MqttClient> {
  await helper.load([coreFile, nodeModule('onnx-model'), nodeModule('ml-image'), nodeModule('onnx-infer'), nodeModule('ml-format'), coreMqtt], nodes, {});
  if (!(helper.getNode('broker') as unknown as { connected: boolean }).connected) await nextStatus('pub', (s) => s.fill === 'green', 20000);
  const client = await mqtt.connectAsync(broker.url);
  await client.subscribeAsync('vision/#', { qos: 1 });
  return client;
}

/** Collects `count` MQTT messages by topic; fails on a Catch node message. */
function received(client: mqtt.MqttClient, count: number): Promise<Map<string, Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const got = new Map<string, Record<string, unknown>>();
    const timer = setTimeout(() => reject(new Error(`${got.size} of ${count} MQTT messages`)), 20000);
    nextMessage('caught', 20000).then(
      (m) => reject(new Error(`flow error: ${JSON.stringify(m.error)}`)),
      () => undefined,
    );
    client.on('message', (topic, payload) => {
      got.set(topic, JSON.parse(payload.toString()) as Record<string, unknown>);
      if (got.size === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

test('part-inspector: PNG files -> MQTT; scores equal onnxruntime-node on a tensor computed from the pixels', async (t) => {
  const images = partDataset(5150, 6);
  const files = images.map((img, i) => {
    const png = new PNG({ width: img.width, height: img.height });
    for (let p = 0; p < img.width * img.height; p++) {
      png.data[p * 4] = img.data[p * 3] as number;
      png.data[p * 4 + 1] = img.data[p * 3 + 1] as number;
      png.data[p * 4 + 2] = img.data[p * 3 + 2] as number;
      png.data[p * 4 + 3] = 255;
    }
    const file = path.join(dir, `part${i}.png`);
    writeFileSync(file, PNG.sync.write(png));
    return file;
  });
  const client = await start(flow(PART_MODEL, {}));
  t.after(() => client.endAsync());
  const done = received(client, files.length);
  files.forEach((f, i) => inject('read', { filename: f, file: `part${i}` }));
  const got = await done;

  const session = await ort.InferenceSession.create(readFileSync(PART_MODEL));
  let correct = 0;
  for (let i = 0; i < images.length; i++) {
    const img = images[i]!;
    // The card's steps by hand: NCHW, RGB, pixel / 255, no resize (the files are 64 x 64).
    const plane = img.width * img.height;
    const x = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) x[c * plane + p] = (img.data[p * 3 + c] as number) / 255;
    const r = await session.run({ image: new ort.Tensor('float32', x, [1, 3, 64, 64]) });
    const probs = Array.from(r.probabilities!.data as Float32Array);
    const p = got.get(`vision/part${i}/part-inspector`);
    assert.ok(p, `message for part${i}`);
    assert.deepEqual(validateJsonSchema(schema, p), []);
    const want = probs[1]! > probs[0]! ? 'scratch' : 'ok';
    assert.equal(p.label, want);
    assert.ok(Math.abs((p.score as number) - Math.max(...probs)) < 1e-6, `score ${String(p.score)} vs ${Math.max(...probs)}`);
    if (want === (img.label ? 'scratch' : 'ok')) correct++;
  }
  await session.release();
  assert.ok(correct >= 5, `${correct} of 6 parts classified right`);
});

test('detector: a 1280 x 960 JPEG letterboxed to 640 -> boxes in original pixels over MQTT, worked out by hand', async (t) => {
  const card = { name: 'fixed-detector', task: 'detection' as const, labels: ['part', 'scratch'], image: { width: 640, height: 640, resize: 'letterbox' as const, pad: 114 } };
  const modelFile = path.join(dir, 'detector.onnx');
  writeFileSync(
    modelFile,
    fixedDetector(
      640,
      [
        { cx: 100, cy: 180, w: 40, h: 60, scores: [0.125, 0.875] },
        { cx: 104, cy: 182, w: 40, h: 60, scores: [0.0625, 0.75] },
        { cx: 400, cy: 300, w: 100, h: 50, scores: [0.625, 0.25] },
        { cx: 10, cy: 10, w: 4, h: 4, scores: [0.125, 0.125] },
      ],
      card,
    ),
  );
  const file = path.join(dir, 'scene.jpg');
  writeFileSync(
    file,
    jpegOf(1280, 960, (x, y) => [x % 256, y % 256, 90], 80),
  );
  const client = await start(flow(modelFile, {}));
  t.after(() => client.endAsync());
  const done = received(client, 1);
  inject('read', { filename: file, file: 'scene' });
  const p = (await done).get('vision/scene/fixed-detector')!;
  assert.deepEqual(validateJsonSchema(schema, p), []);
  // letterbox 1280x960 -> 640x640: scale 0.5, 80 rows of padding on top; x = (cx - w/2) / 0.5, y = (cy - h/2 - 80) / 0.5
  assert.deepEqual(p.detections, [
    { label: 'scratch', score: 0.875, box: { x: 160, y: 140, w: 80, h: 120 } },
    { label: 'part', score: 0.625, box: { x: 700, y: 390, w: 200, h: 100 } },
  ]);
  assert.deepEqual(p.counts, { scratch: 1, part: 1 });
});

test('segmenter: red where the image is red, letterbox undone; areas and a PNG mask on msg.mask', async (t) => {
  const card = { name: 'red-segmenter', task: 'segmentation' as const, labels: ['background', 'red'], image: { width: 32, height: 32, resize: 'letterbox' as const } };
  const modelFile = path.join(dir, 'segmenter.onnx');
  writeFileSync(modelFile, redSegmenter(32, card));
  const file = path.join(dir, 'half.png');
  // 64 x 32: the left half red, the right half black -> letterboxed 32 x 16 with 8 rows of padding
  writeFileSync(
    file,
    pngOf(64, 32, (x) => (x < 32 ? [255, 0, 0] : [0, 0, 0])),
  );
  const client = await start(flow(modelFile, { segMask: true }));
  t.after(() => client.endAsync());
  const out = nextMessage('out', 20000);
  inject('read', { filename: file, file: 'half' });
  const msg = await out;
  const p = msg.payload as Record<string, unknown>;
  assert.deepEqual(validateJsonSchema(schema, p), []);
  assert.deepEqual(p.areas, { red: 0.5, background: 0.5 });
  const mask = PNG.sync.read(msg.mask as Buffer);
  assert.equal(mask.width, 64);
  assert.equal(mask.height, 32);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 64; x++) assert.equal(mask.data[(y * 64 + x) * 4], x < 32 ? 1 : 0, `(${x},${y})`);
});
