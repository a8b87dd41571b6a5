/**
 * One real Node-RED (the classic example flow plus an ml-model-update node) is the canary device of
 * a rollout (fleetcore's RolloutEngine: the canary first, then the rest) in a small fleet whose
 * other devices are simulated (FleetSimulator). A Modbus master writes readings to it without
 * pause. Proof: every reading written is answered exactly once (QoS 1 redeliveries aside), the
 * answers switch from the old version to the new one once and for good, each answer is what ONNX
 * Runtime gives for that reading with the model its model.sha256 names (so none was answered by
 * the wrong model), the rollout completes with the rest of the fleet on the new version, and the
 * fleet view shows the canary on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import * as ort from 'onnxruntime-node';
import { classicFlow, DEMO_MODEL, installIntoUserDir, PREDICTION_FILTER, REJECTED_TOPIC } from '../scripts/demo-setup';
import { floatsToRegisters, ModbusMaster } from '../scripts/plant-simulator';
import { pumpDataset } from '../scripts/demo/pump';
import type { FleetSnapshot } from '../src/lib/monitor/fleet';
import { startBroker } from './helpers/broker';
import { freePort, waitForPort } from './helpers/net';
import { startNodeRed } from './helpers/nodered-process';
import { pumpCard, pumpReference } from './helpers/pump-reference';
import { pumpVariant } from './helpers/pump-variants';
import { ROOT } from './helpers/flow';
import { parsePlan } from '../src/lib/fleet/plan';
import { RolloutEngine } from '../src/lib/fleet/rollout';
import { FleetSimulator } from '../src/lib/fleet/simulator';

interface Prediction {
  label: string;
  topk: Array<{ label: string; score: number }>;
  features: Record<string, number>;
  model: { name: string; version: string; sha256: string };
}

const FEATURES = pumpCard.features!;
const CANARY = 'canary-1';
const key = (values: number[]): string => values.map((x) => Math.fround(x)).join(',');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function run(bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'nodes', 'bin', bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

test('a real Node-RED canary swaps to the new version under load: nothing lost, nothing answered by the wrong model', { timeout: 300_000 }, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-canary-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const oldBytes = readFileSync(DEMO_MODEL);
  const newBytes = pumpVariant('2.0.0');
  const sessions = new Map([
    [sha256(oldBytes), await ort.InferenceSession.create(oldBytes)],
    [sha256(newBytes), await ort.InferenceSession.create(newBytes)],
  ]);
  t.after(async () => {
    for (const s of sessions.values()) await s.release();
  });

  // the rest of the fleet: simulated devices on the old version (the same file), in the canary's group
  const others = ['sim-1', 'sim-2', 'sim-3', 'sim-4'];
  const fleet = await FleetSimulator.start({ brokerUrl: broker.url, devices: others, groups: () => ['line-1'], storeRoot: path.join(dir, 'sims'), baseline: { file: DEMO_MODEL }, reportMs: 300 });
  t.after(() => fleet.stop());

  // the canary: the classic flow with an ml-model-update node on its model and broker
  const modbusPort = await freePort();
  const flow = classicFlow({ modbusPort, mqttHost: '127.0.0.1', mqttPort: broker.port });
  const tab = flow.find((n) => n.type === 'tab')!.id;
  const model = flow.find((n) => n.type === 'onnx-model')!.id;
  const mqttBroker = flow.find((n) => n.type === 'mqtt-broker')!.id;
  flow.push({
    id: 'c1a55000000000f1',
    type: 'ml-model-update',
    z: tab,
    name: 'canary updates',
    broker: mqttBroker,
    model,
    deviceId: CANARY,
    deviceIdType: 'str',
    groups: 'line-1',
    prefix: 'edge-ml',
    publicKey: '',
    reportInterval: '1',
    stallSeconds: '5',
    x: 200,
    y: 500,
    wires: [[]],
  });
  const userDir = path.join(dir, 'canary');
  installIntoUserDir(userDir);
  const red = await startNodeRed({ userDir, flows: flow, settings: { mqttReconnectTime: 250 } });
  t.after(() => red.stop());
  await red.waitForLog(/Connected to broker/);
  await waitForPort(modbusPort);

  const received: Array<{ topic: string; payload: Prediction }> = [];
  let onArrival: (() => void) | undefined;
  const sub = await mqtt.connectAsync(broker.url, { clientId: `canary-sub-${process.pid}`, clean: true });
  t.after(() => sub.endAsync());
  sub.on('message', (topic, payload) => {
    received.push({ topic, payload: JSON.parse(payload.toString()) as Prediction });
    onArrival?.();
  });
  await sub.subscribeAsync([PREDICTION_FILTER, REJECTED_TOPIC], { qos: 1 });
  const until = (cond: () => boolean, what: string, timeoutMs = 120_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} (${received.length} messages):\n${red.tail()}`)), timeoutMs);
      onArrival = () => {
        if (cond()) {
          clearTimeout(timer);
          onArrival = undefined;
          resolve();
        }
      };
      onArrival();
    });

  // the canary must have reported its model once, or the rollout would not find it
  const canaryReported = new Promise<void>((resolve) => {
    const watch = mqtt.connect(broker.url);
    watch.on('message', () => {
      watch.end();
      resolve();
    });
    watch.subscribe(`edge-ml/status/${CANARY}/model`, { qos: 1 });
  });

  // the writer: readings at a steady 200/s until the new version has served 400 of them (bounded)
  const vectors = pumpDataset(8000, 15).map((s) => s.features);
  const newSha = sha256(newBytes);
  const servedByNew = (): number => received.filter((m) => m.payload.model?.sha256 === newSha).length;
  let written = 0;
  let stopWriting = false;
  const writer = (async () => {
    const master = new ModbusMaster('127.0.0.1', modbusPort);
    await master.connect();
    const start = performance.now();
    try {
      for (; written < vectors.length && !stopWriting; written++) {
        const ahead = start + (written * 1000) / 200 - performance.now();
        if (ahead > 1) await new Promise((r) => setTimeout(r, ahead)); // pacing the writer, not waiting for a result
        await master.write(0, floatsToRegisters(vectors[written]!, 'CDAB'));
      }
    } finally {
      await master.close();
    }
  })();

  await until(() => received.length >= 300, '300 predictions on the old version');
  await canaryReported;
  // the rollout: the real Node-RED alone first, then everyone. The gates judge health (errors,
  // rejection, silence); the new version is meant to predict differently and the canary's latency
  // under this load is not the point here, so the comparison gates are opened wide.
  const host = await mqtt.connectAsync(broker.url);
  t.after(() => host.endAsync());
  const plan = parsePlan({
    waves: [{ name: 'canary', devices: [CANARY] }, { size: '100%' }],
    soakMs: 1500,
    gates: { maxLabelShift: 1, maxScorePsi: 1000, maxP99Ratio: 1000 },
  });
  const engine = await RolloutEngine.start({ client: host, reportGraceMs: 5000 }, { id: 'canary-rollout', bytes: newBytes, name: pumpCard.name!, version: '2.0.0', plan });
  const final = await engine.run();
  assert.equal(final.status, 'completed', JSON.stringify(final.halt ?? final.reason));
  assert.deepEqual(
    final.waves.map((w) => [...w.devices].sort()),
    [[CANARY], [...others].sort()],
    JSON.stringify(final.waves),
  );
  await until(() => servedByNew() >= 400, '400 predictions on the new version');
  stopWriting = true;
  await writer;
  await until(() => new Set(received.map((m) => key(FEATURES.map((f) => m.payload.features[f]!)))).size >= written, `answers to all ${written} readings`);

  // one answer per reading, in the order written (QoS 1 may deliver one twice: count those apart)
  const seen = new Set<string>();
  const answers: Prediction[] = [];
  for (const m of received) {
    assert.notEqual(m.topic, REJECTED_TOPIC, `a reading was rejected: ${JSON.stringify(m.payload)}`);
    const k = key(FEATURES.map((f) => m.payload.features[f]!));
    if (!seen.has(k)) {
      seen.add(k);
      answers.push(m.payload);
    }
  }
  assert.deepEqual(
    answers.map((p) => key(FEATURES.map((f) => p.features[f]!))),
    vectors.slice(0, written).map(key),
    'every reading answered once, in order',
  );
  // the version switches once, from old to new, and stays
  const versions = answers.map((p) => p.model.sha256);
  const firstNew = versions.indexOf(newSha);
  assert.ok(firstNew > 0);
  assert.deepEqual([...new Set(versions.slice(0, firstNew))], [sha256(oldBytes)]);
  assert.deepEqual([...new Set(versions.slice(firstNew))], [newSha]);
  assert.equal(answers[firstNew]!.model.version, '2.0.0');
  t.diagnostic(`${written} readings written at 200/s, ${answers.length} answered (${received.length - answers.length} QoS 1 redeliveries); the swap took effect at reading ${firstNew}`);

  // each answer equals ONNX Runtime run directly with the model it names, on the reading as sent (float32)
  for (const [sha, session] of sessions) {
    const mine = answers.filter((p) => p.model.sha256 === sha);
    const want = await pumpReference(
      mine.map((p) => FEATURES.map((f) => Math.fround(p.features[f]!))),
      session,
    );
    mine.forEach((p, i) => {
      assert.equal(p.topk[0]!.label, pumpCard.labels![want.labels[i]!], `top class of answer ${i} by ${sha.slice(0, 8)}`);
      for (const { label, score } of p.topk) assert.ok(Math.abs(score - want.probabilities[i]![pumpCard.labels!.indexOf(label)]!) <= 1e-6, `${label} of answer ${i}`);
    });
  }
  // the models differ on these readings, so the check above tells them apart
  const probe = answers.slice(0, 50).map((p) => FEATURES.map((f) => Math.fround(p.features[f]!)));
  const [a, b] = await Promise.all([...sessions.values()].map((s) => pumpReference(probe, s)));
  assert.ok(a!.probabilities.some((row, i) => row.some((v, j) => Math.abs(v - b!.probabilities[i]![j]!) > 1e-3)));

  // the rest of the fleet took it after the canary; the fleet view shows every device on it
  for (const id of others) assert.equal(fleet.device(id).serving.sha256, newSha);
  const view = await run('edge-ml-monitor.js', ['--fleet', '--json', '--once', '--broker', broker.url]);
  assert.equal(view.code, 0, view.out);
  const snapshot = JSON.parse(view.out) as FleetSnapshot;
  const canary = snapshot.devices.find((d) => d.device === CANARY)!;
  assert.deepEqual([canary.model?.version, canary.model?.sha256, canary.update?.state], ['2.0.0', newSha, 'active']);
  for (const id of others) assert.equal(snapshot.devices.find((d) => d.device === id)?.model?.version, '2.0.0');
  assert.equal(snapshot.rollouts[0]?.status, 'completed');
  assert.deepEqual(red.errorLines(), []);
});
