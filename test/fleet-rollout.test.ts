/**
 * Fleet rollouts on a real mosquitto with a simulated fleet of 20 devices (the package's real
 * UpdateReceiver, ModelStore and manifest checks; each distinct file validated by ONNX Runtime).
 * Soaks are short and every wait is on broker events (the engine's run() resolving, a retained
 * state, a device's report); expected wave sizes are computed from the plan's arithmetic here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from './helpers/broker';
import { buildModel } from '../src/lib/onnx/build-model';
import { sha256Hex } from '../src/lib/update/manifest';
import { updateTopics, type UpdateStatus } from '../src/lib/update/topics';
import { FleetSimulator, ModelValidator, simModel, HEALTHY_PROFILE } from '../src/lib/fleet/simulator';
import { readRollout, RolloutEngine, sendControl } from '../src/lib/fleet/rollout';
import { parsePlan } from '../src/lib/fleet/plan';
import { parseRolloutState, rolloutTopics, type RolloutPlan, type RolloutState } from '../src/lib/fleet/rollout-state';
import { EdgeMlError } from '../src/lib/errors';

const N = 20;
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const PUBLIC = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const PRIVATE = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const validator = new ModelValidator(); // one ONNX Runtime load per distinct file for the whole file
const topics = updateTopics();
const BIN = path.join(__dirname, '..', 'nodes', 'bin', 'edge-ml-publish.js');

interface Fleet {
  broker: TestBroker;
  sim: FleetSimulator;
  host: MqttClient;
  dir: string;
  baselineSha: string;
  /** every update report of every device, in arrival order */
  events: Array<{ device: string; status: UpdateStatus }>;
  run(
    plan: RolloutPlan,
    model: Uint8Array,
    version: string,
    opts?: { id?: string; before?: (e: RolloutEngine) => Promise<void> | void; onState?: (s: RolloutState) => void },
  ): Promise<{ state: RolloutState; states: RolloutState[] }>;
}

async function fleet(t: { after: (fn: () => Promise<void>) => void }, options: { reportMs?: number } = {}): Promise<Fleet> {
  const broker = await startBroker();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-fleet-'));
  const baseline = path.join(dir, 'baseline.onnx');
  writeFileSync(baseline, simModel({ name: 'pump', version: '1.0.0' }));
  const sim = await FleetSimulator.start({
    brokerUrl: broker.url,
    devices: N,
    storeRoot: path.join(dir, 'devices'),
    baseline: { file: baseline },
    publicKey: PUBLIC,
    reportMs: options.reportMs ?? 60,
    inferencesPerReport: 25,
    validator,
  });
  const host = await mqtt.connectAsync(broker.url, { clientId: `host-${process.pid}-${Date.now()}`, reconnectPeriod: 100 });
  const events: Fleet['events'] = [];
  sim.onState((d, status) => events.push({ device: d.id, status }));
  t.after(async () => {
    await sim.stop();
    await host.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    broker,
    sim,
    host,
    dir,
    baselineSha: sha256Hex(simModel({ name: 'pump', version: '1.0.0' })),
    events,
    async run(plan, model, version, opts = {}) {
      const states: RolloutState[] = [];
      const engine = await RolloutEngine.start(
        {
          client: host,
          privateKey: PRIVATE,
          reportGraceMs: 3000,
          onState: (s) => {
            const copy = structuredClone(s);
            states.push(copy);
            opts.onState?.(copy);
          },
        },
        { ...(opts.id ? { id: opts.id } : {}), bytes: model, name: 'pump', version, plan },
      );
      await opts.before?.(engine);
      const state = await engine.run();
      return { state, states };
    },
  };
}

const plan = (extra: Record<string, unknown> = {}): RolloutPlan =>
  parsePlan({ waves: [{ size: 1 }, { size: '25%' }, { size: '100%' }], soakMs: 250, updateTimeoutMs: 8000, rollbackTimeoutMs: 8000, gates: { minInferences: 20 }, ...extra });

/** Cumulative wave sizes of [1, 25 %, 100 %] over n devices, by the plan's rule (ceil of the share). */
function expectedSizes(n: number): number[] {
  const cumulative = [1, Math.ceil(0.25 * n), n];
  return cumulative.map((c, i) => c - (i ? cumulative[i - 1]! : 0));
}

function activeOn(f: Fleet, sha: string): Set<string> {
  return new Set(f.events.filter((e) => e.status.state === 'active' && e.status.sha256 === sha).map((e) => e.device));
}

test('a good model rolls out wave by wave: each wave only after the one before passed its gates', async (t) => {
  const f = await fleet(t);
  const good = simModel({ name: 'pump', version: '2.0.0', seed: 11 });
  const sha = sha256Hex(good);
  const { state, states } = await f.run(plan(), good, '2.0.0');
  assert.equal(state.status, 'completed', JSON.stringify(state.halt));
  assert.deepEqual(
    state.waves.map((w) => w.devices.length),
    expectedSizes(N),
  );
  assert.ok(state.waves.every((w) => w.status === 'passed'));
  assert.equal(new Set(state.waves.flatMap((w) => w.devices)).size, N, 'every device in exactly one wave');
  for (const d of f.sim.devices) assert.equal(d.serving.sha256, sha, `${d.id} serves the new model`);
  assert.ok(Object.values(state.devices).every((d) => d.outcome === 'healthy'));
  // gates respected: no device of wave k+1 went active before wave k had passed
  for (let k = 0; k + 1 < state.waves.length; k++) {
    const passedAt = states.findIndex((s) => s.waves[k]!.status === 'passed');
    const firstNext = states.findIndex((s) => state.waves[k + 1]!.devices.some((d) => s.devices[d]!.outcome !== 'pending'));
    assert.ok(passedAt >= 0 && firstNext > passedAt, `wave ${k + 2} started only after wave ${k + 1} passed`);
  }
  // the bytes went up once: the retained blob chunks are what every device read
  assert.equal(state.manifest.chunks, Math.ceil(good.length / state.manifest.chunkSize));
  // the figures behind the gates are the devices' own: error rate 0, next to no label shift from the same profile
  const byGate = Object.fromEntries(state.waves[2]!.gates!.map((g) => [g.gate, g]));
  assert.equal(byGate.errorRate!.value, 0);
  assert.ok((byGate.labelShift!.value as number) < 0.05, `label shift ${byGate.labelShift!.value}`);
  assert.equal(f.sim.validator.loads >= 1, true);

  // a replayed manifest (the one this rollout retained for a device, played back after a newer rollout) is refused
  const device = f.sim.devices[0]!;
  const captured = await retained(f.host, topics.manifest(device.id));
  const v3 = simModel({ name: 'pump', version: '3.0.0', seed: 12 });
  const second = await f.run(parsePlan({ waves: [{ size: '100%' }], soakMs: 100, updateTimeoutMs: 8000, gates: { minInferences: 20 } }), v3, '3.0.0');
  assert.equal(second.state.status, 'completed');
  const refused = nextStatus(f, device.id);
  await f.host.publishAsync(topics.manifest(device.id), captured, { qos: 1, retain: true });
  const status = await refused;
  assert.equal(status.state, 'rejected');
  assert.equal(status.code, 'EDGEML_UPDATE_REPLAYED');
  assert.equal(device.serving.sha256, sha256Hex(v3), 'still serving the newer model');
});

function nextStatus(f: Fleet, device: string): Promise<UpdateStatus> {
  return new Promise((resolve) => {
    const off = f.sim.onState((d, s) => {
      if (d.id !== device) return;
      off();
      resolve(s);
    });
  });
}

async function retained(client: MqttClient, topic: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic || payload.length === 0) return;
      client.removeListener('message', onMessage);
      client.unsubscribeAsync(topic).catch(() => undefined);
      resolve(payload);
    };
    client.on('message', onMessage);
    client.subscribeAsync(topic, { qos: 1 }).catch(reject);
  });
}

async function haltsAtCanary(t: { after: (fn: () => Promise<void>) => void }, model: Uint8Array, version: string, gate: string): Promise<{ f: Fleet; state: RolloutState }> {
  const f = await fleet(t);
  const { state } = await f.run(plan(), model, version);
  assert.equal(state.status, 'halted');
  assert.equal(state.halt?.gate, gate, JSON.stringify(state.halt));
  assert.equal(state.halt?.wave, 0, 'halted at the canary');
  const canary = state.waves[0]!.devices;
  assert.deepEqual(state.halt?.devices, canary);
  const reached = activeOn(f, sha256Hex(model));
  for (const d of reached) assert.ok(canary.includes(d), `${d} beyond the canary got the bad model`);
  const later = state.waves.slice(1).flatMap((w) => w.devices);
  assert.ok(
    later.every((d) => state.devices[d]!.outcome === 'pending'),
    'no later-wave device was named',
  );
  for (const d of f.sim.devices) assert.equal(d.serving.sha256, f.baselineSha, `${d.id} serves the old version`);
  // nothing left for a late device to pick up: manifests and chunks cleared
  return { f, state };
}

test('a model refused at validation halts at the canary; nobody else is named', async (t) => {
  const broken = buildModel({
    opsets: [{ domain: '', version: 13 }],
    graph: {
      name: 'pump',
      nodes: [{ opType: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: { tensor: 'float32', dims: [1, 4] } }],
      outputs: [{ name: 'y', type: { tensor: 'float32', dims: [1, 4] } }],
    },
    metadata: { 'edgeml.name': 'pump', 'edgeml.version': '2.0.0' },
  });
  const { state } = await haltsAtCanary(t, broken, '2.0.0', 'update');
  assert.equal(state.halt!.figures[0]!.value, 'EDGEML_ONNX_LOAD_FAILED');
});

test('a model that raises the error rate halts at the canary, and the canary rolls back', async (t) => {
  const errorRate = 0.3;
  const bad = simModel({ name: 'pump', version: '2.0.0', seed: 21, sim: { errorRate } });
  const { f, state } = await haltsAtCanary(t, bad, '2.0.0', 'errorRate');
  const fig = state.halt!.figures.find((r) => r.gate === 'errorRate')!;
  assert.ok(Math.abs((fig.value as number) - errorRate) < 0.05, `reported ${fig.value}`);
  assert.equal(fig.threshold, 0.05);
  const canary = state.waves[0]!.devices[0]!;
  assert.equal(state.devices[canary]!.outcome, 'rolled-back');
  assert.ok(
    f.events.some((e) => e.device === canary && e.status.state === 'rolled-back'),
    'the canary reported its rollback',
  );
});

test('a model that shifts the predicted labels halts at the canary (label shares against the previous version)', async (t) => {
  const labels = { normal: 0.35, cavitation: 0.45, dry_run: 0.2 };
  const shifted = simModel({ name: 'pump', version: '2.0.0', seed: 31, sim: { labels } });
  const { state } = await haltsAtCanary(t, shifted, '2.0.0', 'labelShift');
  const shift = state.halt!.figures.find((r) => r.gate === 'labelShift')!;
  // total variation distance of the two profiles' shares, computed here
  const a = HEALTHY_PROFILE.labels;
  const b: Record<string, number> = labels;
  const tvd = Object.keys(a).reduce((s, k) => s + Math.abs(a[k]! - b[k]!), 0) / 2;
  assert.ok(Math.abs((shift.value as number) - tvd) < 0.05, `shift ${shift.value}, expected about ${tvd}`);
});

test('a model that shifts the score distribution halts at the canary (PSI against the previous version)', async (t) => {
  const scores = [...HEALTHY_PROFILE.scores].reverse();
  const shifted = simModel({ name: 'pump', version: '2.0.0', seed: 32, sim: { scores } });
  const { state } = await haltsAtCanary(t, shifted, '2.0.0', 'scorePsi');
  const fig = state.halt!.figures.find((r) => r.gate === 'scorePsi')!;
  // PSI of the two profiles' shares, computed here without smoothing: the device's figure is close
  const e = HEALTHY_PROFILE.scores;
  const expected = scores.reduce((s, a, i) => s + (a - e[i]!) * Math.log(a / e[i]!), 0);
  assert.ok((fig.value as number) > 0.25 && Math.abs((fig.value as number) - expected) / expected < 0.25, `psi ${fig.value}, about ${expected}`);
});

test('abort mid-rollout rolls the current wave back and names nobody after it', async (t) => {
  const f = await fleet(t);
  const good = simModel({ name: 'pump', version: '2.0.0', seed: 41 });
  let sent = false;
  const { state } = await f.run(plan({ waves: [{ size: 1, soakMs: 100 }, { size: '25%' }, { size: '100%' }], soakMs: 60_000 }), good, '2.0.0', {
    onState: (s) => {
      if (!sent && s.waves[1]?.status === 'soaking') {
        sent = true;
        void sendControl(f.host, s.id, 'abort');
      }
    },
  });
  assert.equal(state.status, 'aborted');
  assert.equal(state.waves[0]!.status, 'passed');
  assert.equal(state.waves[1]!.status, 'failed');
  for (const d of state.waves[1]!.devices) assert.equal(state.devices[d]!.outcome, 'rolled-back');
  for (const d of state.waves[2]!.devices) assert.equal(state.devices[d]!.outcome, 'pending');
  const reached = activeOn(f, sha256Hex(good));
  assert.deepEqual([...reached].sort(), [...state.waves[0]!.devices, ...state.waves[1]!.devices].sort());
  for (const d of state.waves[1]!.devices) assert.equal(f.sim.device(d).serving.sha256, f.baselineSha);
});

test('a device offline during its wave counts as failed: the wave halts and rolls back', async (t) => {
  const f = await fleet(t);
  const good = simModel({ name: 'pump', version: '2.0.0', seed: 51 });
  let offline = '';
  const { state } = await f.run(plan({ updateTimeoutMs: 1500 }), good, '2.0.0', {
    before: async (engine) => {
      offline = engine.state.waves[1]!.devices[0]!;
      await f.sim.device(offline).goOffline();
    },
  });
  assert.equal(state.status, 'halted');
  assert.equal(state.halt?.gate, 'silent');
  assert.deepEqual(state.halt?.devices, [offline]);
  assert.equal(state.halt?.wave, 1);
  for (const d of state.waves[1]!.devices.filter((x) => x !== offline)) assert.equal(f.sim.device(d).serving.sha256, f.baselineSha);
  for (const d of state.waves[2]!.devices) assert.equal(state.devices[d]!.outcome, 'pending');
  // when it comes back, the cleared manifest gives it nothing to install
  await f.sim.device(offline).goOnline();
  await f.sim.device(offline).report(false);
  assert.equal(f.sim.device(offline).serving.sha256, f.baselineSha);
});

test('with silent "skip" an offline device is skipped, the rollout completes, and the device takes the model when it returns', async (t) => {
  const f = await fleet(t);
  const good = simModel({ name: 'pump', version: '2.0.0', seed: 52 });
  let offline = '';
  const { state } = await f.run(plan({ updateTimeoutMs: 1500, gates: { minInferences: 20, silent: 'skip' } }), good, '2.0.0', {
    before: async (engine) => {
      offline = engine.state.waves[1]!.devices[0]!;
      await f.sim.device(offline).goOffline();
    },
  });
  assert.equal(state.status, 'completed');
  assert.equal(state.devices[offline]!.outcome, 'skipped');
  assert.equal(Object.values(state.devices).filter((d) => d.outcome === 'healthy').length, N - 1);
  const back = new Promise<void>((resolve) => {
    const off = f.sim.onState((d, s) => {
      if (d.id === offline && s.state === 'active') {
        off();
        resolve();
      }
    });
  });
  await f.sim.device(offline).goOnline();
  await back;
  assert.equal(f.sim.device(offline).serving.sha256, sha256Hex(good));
});

test('a downgrade is refused at the canary unless the rollout asks for it', async (t) => {
  const f = await fleet(t);
  const v2 = simModel({ name: 'pump', version: '2.0.0', seed: 61 });
  assert.equal((await f.run(parsePlan({ waves: [{ size: '100%' }], soakMs: 100, updateTimeoutMs: 8000, gates: { minInferences: 20 } }), v2, '2.0.0')).state.status, 'completed');
  const older = simModel({ name: 'pump', version: '1.5.0', seed: 62 });
  const refused = await f.run(plan(), older, '1.5.0');
  assert.equal(refused.state.status, 'halted');
  assert.equal(refused.state.halt?.gate, 'update');
  assert.equal(refused.state.halt?.figures[0]?.value, 'EDGEML_UPDATE_DOWNGRADE');
  for (const d of f.sim.devices) assert.equal(d.serving.sha256, sha256Hex(v2));
  const allowed = await f.run(plan({ downgrade: true }), older, '1.5.0');
  assert.equal(allowed.state.status, 'completed', JSON.stringify(allowed.state.halt));
  for (const d of f.sim.devices) assert.equal(d.serving.sha256, sha256Hex(older));
});

test('pause holds the next wave until resume; malformed reports and control messages change nothing', async (t) => {
  const f = await fleet(t);
  const good = simModel({ name: 'pump', version: '2.0.0', seed: 81 });
  let pauseSent = false;
  let paused = false;
  let resumed = false;
  let pendingWhilePaused: boolean | undefined;
  const { state } = await f.run(parsePlan({ waves: [{ size: 1 }, { size: '100%' }], soakMs: 200, updateTimeoutMs: 8000, gates: { minInferences: 20 } }), good, '2.0.0', {
    onState: (s) => {
      if (!pauseSent && s.waves[0]!.status === 'soaking') {
        pauseSent = true;
        void sendControl(f.host, s.id, 'pause');
      }
      if (!paused && s.status === 'paused') paused = true;
      if (paused && !resumed && s.waves[0]!.status === 'passed') {
        resumed = true;
        pendingWhilePaused = s.waves[1]!.devices.every((d) => s.devices[d]!.outcome === 'pending');
        void (async () => {
          await f.host.publishAsync(rolloutTopics().control(s.id), 'garbage', { qos: 1, retain: true });
          await f.host.publishAsync('edge-ml/status/bogus/model', '{"device":', { qos: 1, retain: true });
          await f.host.publishAsync(topics.updateStatus('bogus'), '[]', { qos: 1 });
          await sendControl(f.host, s.id, 'resume');
        })();
      }
    },
  });
  assert.ok(paused && resumed, 'the rollout paused and was resumed');
  assert.equal(pendingWhilePaused, true, 'no device of the next wave was named while paused');
  assert.equal(state.status, 'completed');
  for (const d of f.sim.devices) assert.equal(d.serving.sha256, sha256Hex(good));
});

function runBin(args: string[]): { exit: Promise<number>; kill: () => void; output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (process.env.FLEET_DEBUG) process.stderr.write(d);
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)))),
    kill: () => child.kill('SIGKILL'),
    output: () => out,
  };
}

test('the publisher killed mid-rollout is resumed from the retained state and completes it', { timeout: 180_000 }, async (t) => {
  const f = await fleet(t);
  const good = simModel({ name: 'pump', version: '2.0.0', seed: 71 });
  const file = path.join(f.dir, 'v2.onnx');
  const planFile = path.join(f.dir, 'plan.json');
  const keyFile = path.join(f.dir, 'private.pem');
  writeFileSync(file, good);
  writeFileSync(keyFile, PRIVATE);
  writeFileSync(planFile, JSON.stringify({ waves: [{ size: 1, soakMs: 200 }, { size: '25%', soakMs: '3s' }, { size: '100%' }], soakMs: '200ms', updateTimeoutMs: '8s', gates: { minInferences: 20 } }));
  const id = 'kill-test';
  const stateTopic = rolloutTopics().state(id);
  const soaking = new Promise<RolloutState>((resolve) => {
    const onMessage = (topic: string, payload: Buffer): void => {
      if (topic !== stateTopic || payload.length === 0) return;
      const s = parseRolloutState(payload);
      if (s.waves[1]?.status === 'soaking') {
        f.host.removeListener('message', onMessage);
        resolve(s);
      }
    };
    f.host.on('message', onMessage);
  });
  await f.host.subscribeAsync(stateTopic, { qos: 1 });
  const first = runBin(['rollout', '--broker', f.broker.url, '--file', file, '--name', 'pump', '--version', '2.0.0', '--plan', planFile, '--key', keyFile, '--id', id]);
  const before = await Promise.race([soaking, first.exit.then((code) => Promise.reject(new Error(`the publisher ended (${code}) before wave 2 soaked:\n${first.output()}`)))]);
  first.kill();
  await f.host.unsubscribeAsync(stateTopic);
  assert.equal(await first.exit, 128, first.output());
  assert.equal(before.status, 'running');
  const status = runBin(['rollout', 'status', '--broker', f.broker.url, '--id', id, '--json']);
  assert.equal(await status.exit, 0, status.output());
  assert.equal(JSON.parse(status.output()).waves[1].status, 'soaking');
  const resumed = runBin(['rollout', 'resume', '--broker', f.broker.url, '--id', id, '--key', keyFile]);
  assert.equal(await resumed.exit, 0, resumed.output());
  const final = parseRolloutState(await retained(f.host, stateTopic));
  assert.equal(final.status, 'completed');
  for (const d of f.sim.devices) assert.equal(d.serving.sha256, sha256Hex(good), d.id);
  // each device took the model once: the resumed publisher did not send it again to the first waves
  const activations = f.events.filter((e) => e.status.state === 'active' && e.status.sha256 === sha256Hex(good));
  assert.equal(new Set(activations.map((e) => e.device)).size, N);
  // a completed rollout keeps its chunks for late devices; an ended rollout can be cleared from the broker
  assert.equal((await readRetained(f.host, topics.blobFilter(sha256Hex(good)))).length, final.manifest.chunks);
  const cleared = runBin(['rollout', 'clear', '--broker', f.broker.url, '--id', id]);
  assert.equal(await cleared.exit, 0, cleared.output());
  assert.equal(await readRollout(f.host, id), undefined);
  const blob = await readRetained(f.host, topics.blobFilter(sha256Hex(good)));
  assert.equal(blob.length, 0, 'no chunk left retained');
});

/** Every retained message under a filter (after the sync marker, nothing more is retained). */
async function readRetained(client: MqttClient, filter: string): Promise<string[]> {
  const seen: string[] = [];
  const prefixOf = filter.replace(/\/\+$/, '/');
  const on = (t: string, payload: Buffer, packet: { retain?: boolean }): void => {
    if (t.startsWith(prefixOf) && packet.retain && payload.length) seen.push(t);
  };
  client.on('message', on);
  await client.subscribeAsync(filter, { qos: 1 });
  const marker = `edge-ml/test-sync/${Date.now()}`;
  const synced = new Promise<void>((resolve) => {
    const m = (t: string): void => {
      if (t !== marker) return;
      client.removeListener('message', m);
      resolve();
    };
    client.on('message', m);
  });
  await client.subscribeAsync(marker, { qos: 1 });
  await client.publishAsync(marker, '1', { qos: 1 });
  await synced;
  client.removeListener('message', on);
  await client.unsubscribeAsync([filter, marker]);
  return seen;
}

test('bad plans are refused with EDGEML_FLEET_PLAN_INVALID and a reason', () => {
  const bad: unknown[] = [
    null,
    {},
    { waves: [] },
    { waves: [{}] },
    { waves: [{ size: 0 }] },
    { waves: [{ size: '150%' }] },
    { waves: [{ size: 5 }, { size: 3 }] },
    { waves: [{ size: 1, groups: ['a'] }] },
    { waves: [{ groups: ['a/b'] }] },
    { waves: [{ size: 1 }], soakMs: 'soon' },
    { waves: [{ size: 1 }], gates: { maxErrorRate: 2 } },
    { waves: [{ size: 1 }], gates: { maxDriftLevel: 'red' } },
    { waves: [{ size: 1 }], gates: { nope: 1 } },
    { waves: [{ size: 1 }], extra: true },
  ];
  for (const raw of bad) {
    assert.throws(
      () => parsePlan(raw),
      (e: unknown) => e instanceof EdgeMlError && e.code === 'EDGEML_FLEET_PLAN_INVALID' && !!e.params.reason,
      JSON.stringify(raw),
    );
  }
});
