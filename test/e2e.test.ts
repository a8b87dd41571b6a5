/**
 * End to end with real processes, not the test helper: the real `node-red` runtime running the
 * classic example flow (scripts/demo-setup.ts patches in the ports), a real broker (mosquitto where
 * installed, else the embedded one), an external Modbus master (scripts/plant-simulator.ts's
 * ModbusMaster, on modbus-serial) writing float32 vectors, and an MQTT client collecting the
 * predictions. Expected answers come from onnxruntime-node run directly on the same vectors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import * as ort from 'onnxruntime-node';
import { classicFlow, DEMO_MODEL, installIntoUserDir, PREDICTION_FILTER, REJECTED_TOPIC } from '../scripts/demo-setup';
import { floatsToRegisters, ModbusMaster } from '../scripts/plant-simulator';
import { pumpDataset } from '../scripts/demo/pump';
import { startBroker, type TestBroker } from './helpers/broker';
import { freePort, waitForPort } from './helpers/net';
import { pumpCard, pumpReference } from './helpers/pump-reference';
import { startNodeRed, type NodeRedProcess } from './helpers/nodered-process';

interface Prediction {
  label: string;
  score: number;
  topk: Array<{ label: string; score: number }>;
  features: Record<string, number>;
  model: { name: string; version: string; sha256: string };
}

const card = pumpCard;
const FEATURES = card.features!;
/** Modbus carries float32: what the flow sees is the float32 nearest to each value. */
const asSent = (v: number[]): number[] => v.map((x) => Math.fround(x));
const key = (features: Record<string, number> | number[]): string => (Array.isArray(features) ? features : FEATURES.map((f) => features[f]!)).map((x) => Math.fround(x)).join(',');

let broker: TestBroker;
let red: NodeRedProcess;
let userDir: string;
let modbusPort: number;
let subscriber: MqttClient;
let reference: ort.InferenceSession;
/** Every prediction and rejection received, in arrival order. */
const received: Array<{ topic: string; payload: Prediction & { reading?: Record<string, unknown> } }> = [];
const waiters: Array<() => void> = [];

function onArrival(topic: string, payload: Buffer): void {
  received.push({ topic, payload: JSON.parse(payload.toString('utf8')) });
  for (const wake of waiters.splice(0)) wake();
}

/** Resolves once `count` messages have arrived since index `from` (a timeout only turns a hang into a failure). */
function arrivals(from: number, count: number, timeoutMs = 180_000): Promise<typeof received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${received.length - from} of ${count} messages arrived`)), timeoutMs);
    const check = (): void => {
      if (received.length - from >= count) {
        clearTimeout(timer);
        resolve(received.slice(from, from + count));
      } else waiters.push(check);
    };
    check();
  });
}

/** Writes vectors at a steady rate over one Modbus connection; `during(i)` may interrupt before vector i. */
async function stream(vectors: number[][], perSecond: number, during?: (i: number, master: ModbusMaster) => Promise<ModbusMaster | void>): Promise<void> {
  let master = new ModbusMaster('127.0.0.1', modbusPort);
  await master.connect();
  const start = performance.now();
  for (let i = 0; i < vectors.length; i++) {
    const replaced = await during?.(i, master);
    if (replaced) master = replaced;
    const due = start + (i * 1000) / perSecond;
    const ahead = due - performance.now();
    if (ahead > 1) await new Promise((r) => setTimeout(r, ahead)); // pacing the writer, not waiting for a result
    await master.write(0, floatsToRegisters(vectors[i]!, 'CDAB'));
  }
  await master.close();
}

/** onnxruntime-node directly on the vectors as the flow receives them (float32), all at once. */
async function expected(vectors: number[][]): Promise<Array<{ label: string; probabilities: number[] }>> {
  const want = await pumpReference(vectors.map(asSent), reference);
  return want.labels.map((label, r) => ({ label: card.labels![label]!, probabilities: want.probabilities[r]! }));
}

/** The flow's ml-format answers "unknown" below the card's confidence threshold (its documented rule). */
const UNKNOWN = JSON.parse(readFileSync(path.join(__dirname, '..', 'examples', 'classic-modbus-onnx-mqtt.json'), 'utf8')).find((n: { type: string }) => n.type === 'ml-format').unknownLabel as string;

function assertSame(got: Prediction, want: { label: string; probabilities: number[] }, where: string): void {
  const confident = Math.max(...want.probabilities) >= (card.thresholds?.confidence ?? 0);
  assert.equal(got.label, confident ? want.label : UNKNOWN, `${where}: label`);
  assert.equal(got.topk[0]?.label, want.label, `${where}: top class`);
  for (const { label, score } of got.topk) {
    const i = card.labels!.indexOf(label);
    assert.ok(Math.abs(score - want.probabilities[i]!) <= 1e-6, `${where}: ${label} ${score} vs ${want.probabilities[i]}`);
  }
}

/** The predictions among `messages`, without QoS 1 redeliveries (at least once allows them), in order. */
function uniquePredictions(messages: typeof received): { predictions: Prediction[]; duplicates: number } {
  const seen = new Set<string>();
  const predictions: Prediction[] = [];
  let duplicates = 0;
  for (const m of messages) {
    if (m.topic === REJECTED_TOPIC) continue;
    const k = key(m.payload.features);
    if (seen.has(k)) duplicates++;
    else {
      seen.add(k);
      predictions.push(m.payload);
    }
  }
  return { predictions, duplicates };
}

describe('end to end: Modbus master -> Node-RED (classic flow) -> MQTT', { timeout: 600_000 }, () => {
  before(async () => {
    reference = await ort.InferenceSession.create(DEMO_MODEL);
    broker = await startBroker({ persistent: true });
    modbusPort = await freePort();
    userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-e2e-'));
    installIntoUserDir(userDir);
    red = await startNodeRed({
      userDir,
      flows: classicFlow({ modbusPort, mqttHost: '127.0.0.1', mqttPort: broker.port }),
      settings: { mqttReconnectTime: 250 },
    });
    await red.waitForLog(/Connected to broker/);
    await waitForPort(modbusPort);
    // A persistent session: what is published while this client is away (broker restart) waits for it.
    subscriber = await mqtt.connectAsync(broker.url, { clientId: `e2e-${process.pid}`, clean: false, reconnectPeriod: 200 });
    subscriber.on('message', onArrival);
    await subscriber.subscribeAsync([PREDICTION_FILTER, REJECTED_TOPIC], { qos: 1 });
  });

  after(async () => {
    await subscriber?.endAsync(true);
    await red?.stop();
    await broker?.stop();
    await reference?.release();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('10,000 vectors at a steady rate arrive as 10,000 predictions, in order, each equal to onnxruntime-node on the same vector', async (t) => {
    const vectors = pumpDataset(10_000, 20261125).map((s) => s.features);
    const from = received.length;
    const arrived = arrivals(from, vectors.length);
    const started = performance.now();
    await stream(vectors, 1000);
    const messages = await arrived;
    t.diagnostic(`${vectors.length} vectors written at 1000/s, all predictions in after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.ok(
      messages.every((m) => m.topic !== REJECTED_TOPIC),
      'no plausible reading was rejected',
    );
    assert.deepEqual(
      messages.map((m) => key(m.payload.features)),
      vectors.map((v) => key(v)),
      'one prediction per vector, in the order written',
    );
    const want = await expected(vectors);
    messages.forEach((m, i) => assertSame(m.payload, want[i]!, `vector ${i}`));
    assert.ok(
      messages.every((m) => m.payload.model.version === card.version),
      'the model card version rides along',
    );
  });

  it('the master reads the class index and the anomaly score back from registers 100..102', async () => {
    const [vector] = pumpDataset(1, 31).map((s) => s.features);
    const from = received.length;
    const arrived = arrivals(from, 1);
    const master = new ModbusMaster('127.0.0.1', modbusPort);
    await master.connect();
    const before = await master.read(100, 3); // the previous test's last answer
    await master.write(0, floatsToRegisters(vector!, 'CDAB'));
    await arrived;
    // The write-back branch and the MQTT branch run side by side: which one finishes first is up to
    // the scheduler, so the master polls, as a PLC would, until the registers hold a new answer.
    let registers = await master.read(100, 3);
    for (let polls = 1; registers.every((r, i) => r === before[i]); polls++) {
      assert.ok(polls < 1000, 'the write-back never reached registers 100..102');
      registers = await master.read(100, 3);
    }
    await master.close();
    const want = await pumpReference([asSent(vector!)], reference);
    assert.equal(registers[0], want.labels[0], 'class index');
    assert.deepEqual(registers.slice(1), floatsToRegisters([want.anomalyScores[0]!], 'CDAB'), 'anomaly score, float32 CDAB');
  });

  it('a broker restart mid-run loses nothing (QoS 1): every prediction arrives once the broker is back', async (t) => {
    const vectors = pumpDataset(2_000, 7).map((s) => s.features);
    const from = received.length;
    await stream(vectors, 500, async (i) => {
      if (i === 600) await broker.restart(); // the writer goes on while Node-RED holds the predictions
    });
    // Predictions made while the broker was away arrive after the reconnect; wait for the last vector's.
    const lastKey = key(vectors[vectors.length - 1]!);
    while (!received.slice(from).some((m) => m.topic !== REJECTED_TOPIC && key(m.payload.features) === lastKey)) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    assert.match(red.log(), /Disconnected from broker/, 'Node-RED saw the broker go away');
    const { predictions, duplicates } = uniquePredictions(received.slice(from));
    t.diagnostic(`broker (${broker.kind}) restarted after vector 600 of 2000; ${predictions.length} predictions, ${duplicates} QoS 1 redeliveries`);
    assert.deepEqual(
      predictions.map((p) => key(p.features)),
      vectors.map((v) => key(v)),
      'none lost, in order',
    );
    const want = await expected(vectors);
    predictions.forEach((p, i) => assertSame(p, want[i]!, `vector ${i}`));
  });

  it('the Modbus master disconnecting and coming back: the flow serves the new connection, nothing lost', async () => {
    const vectors = pumpDataset(600, 8).map((s) => s.features);
    const from = received.length;
    const arrived = arrivals(from, vectors.length);
    await stream(vectors, 500, async (i, master) => {
      if (i !== 200 && i !== 400) return;
      await master.close(); // the peer goes away (a PLC restart) and connects again
      const fresh = new ModbusMaster('127.0.0.1', modbusPort);
      await fresh.connect();
      return fresh;
    });
    const messages = await arrived;
    assert.deepEqual(
      messages.map((m) => key(m.payload.features)),
      vectors.map((v) => key(v)),
    );
  });

  it('bad vectors (NaN, out of range) are rejected by ml-guard with the reason while the rest flows', async () => {
    const good = pumpDataset(100, 9).map((s) => s.features);
    const [lo, hi] = card.ranges![FEATURES[0]!]!;
    const nan = [...good[0]!];
    nan[2] = Number.NaN;
    const tooHigh = [...good[1]!];
    tooHigh[0] = hi + 1000;
    const tooLow = [...good[2]!];
    tooLow[0] = lo - 1000;
    const vectors = [...good.slice(0, 30), nan, ...good.slice(30, 60), tooHigh, tooLow, ...good.slice(60)];
    const from = received.length;
    const arrived = arrivals(from, vectors.length);
    await stream(vectors, 500);
    const messages = await arrived;
    const rejected = messages.filter((m) => m.topic === REJECTED_TOPIC);
    const predictions = messages.filter((m) => m.topic !== REJECTED_TOPIC);
    assert.equal(rejected.length, 3, 'three readings rejected');
    const problems = rejected.map((m) => JSON.stringify((m.payload as unknown as { problems: unknown }).problems));
    assert.match(problems[0]!, /nan/i);
    assert.match(problems[1]!, /range/i);
    assert.match(problems[2]!, /range/i);
    assert.deepEqual(
      predictions.map((m) => key(m.payload.features)),
      good.map((v) => key(v)),
      'every good vector still predicted, in order',
    );
    const want = await expected(good);
    predictions.forEach((m, i) => assertSame(m.payload, want[i]!, `good vector ${i}`));
    assert.ok(red.running, 'Node-RED is still running');
  });
});
