/**
 * Across a broker bridge: the devices on a site mosquitto, the publisher and the fleet view on a
 * central one, the two bridged with `topic edge-ml/# both 1`. An update published on the central
 * broker (the real edge-ml-publish bin) reaches simulated devices on the site broker (FleetSimulator:
 * the package's real UpdateReceiver and store; ONNX Runtime validates the file), and the fleet view on the central
 * broker (the real edge-ml-monitor bin) shows every device on the new version. Then a staged
 * rollout with the real `edge-ml-publish rollout` on the central broker and FleetSimulator devices
 * on the site broker: it completes wave by wave, a bad model after it halts at the canary (nobody
 * beyond the canary hears of it, the canary returns to the good version), and the fleet view on
 * the central broker follows both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { parseRolloutState } from '../src/lib/fleet/rollout-state';
import { FleetSimulator, simModel } from '../src/lib/fleet/simulator';
import type { FleetSnapshot } from '../src/lib/monitor/fleet';
import { hasMosquitto, startBridgedBrokers } from './helpers/bridge';
import { ROOT } from './helpers/flow';
import { mlpModel } from './helpers/onnx-models';

const BIN = path.join(ROOT, 'nodes', 'bin');

function run(bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(BIN, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

async function fleet(url: string): Promise<FleetSnapshot> {
  const r = await run('edge-ml-monitor.js', ['--fleet', '--json', '--once', '--broker', url]);
  assert.equal(r.code, 0, r.out);
  return JSON.parse(r.out) as FleetSnapshot;
}

test('an update published on the central broker reaches devices on the bridged site broker; the fleet view shows it', { skip: !hasMosquitto() && 'mosquitto is not installed' }, async (t) => {
  const brokers = await startBridgedBrokers();
  t.after(() => brokers.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-bridge-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const card = (version: string): Record<string, string> => ({ 'edgeml.name': 'pump', 'edgeml.version': version });
  const v1 = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 1, metadata: card('1.0.0') });
  const v2 = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 2, metadata: card('2.0.0') });
  const ids = Array.from({ length: 6 }, (_, i) => `site-dev-${i + 1}`);
  const baseline = path.join(dir, 'pump-1.onnx');
  writeFileSync(baseline, v1.bytes);
  const devices = await FleetSimulator.start({ brokerUrl: brokers.site.url, devices: ids, groups: () => ['line-1'], storeRoot: path.join(dir, 'devices'), baseline: { file: baseline }, reportMs: 0 });
  t.after(() => devices.stop());

  // the devices' retained reports crossed the bridge: the central view shows all on 1.0.0
  const before = await fleet(brokers.central.url);
  assert.deepEqual(before.devices.map((d) => d.device).sort(), [...ids].sort());
  const sha1 = createHash('sha256').update(v1.bytes).digest('hex');
  for (const d of before.devices) {
    assert.deepEqual([d.model?.version, d.model?.sha256, d.groups], ['1.0.0', sha1, ['line-1']]);
  }

  const file = path.join(dir, 'pump-2.onnx');
  writeFileSync(file, v2.bytes);
  const published = await run('edge-ml-publish.js', [
    '--broker',
    brokers.central.url,
    '--file',
    file,
    '--name',
    'pump',
    '--version',
    '2.0.0',
    '--target',
    'line-1',
    '--wait',
    ids.join(','),
    '--chunk-size',
    '512',
    '--timeout',
    '60',
  ]);
  assert.equal(published.code, 0, published.out);
  assert.match(published.out, new RegExp(`active on ${ids.length} of ${ids.length} awaited devices`));

  // each device validated the bytes it received with ONNX Runtime and serves them
  const sha2 = createHash('sha256').update(v2.bytes).digest('hex');
  for (const id of ids) assert.equal(devices.device(id).serving.sha256, sha2);
  const after = await fleet(brokers.central.url);
  assert.equal(after.devices.length, ids.length);
  for (const d of after.devices) {
    assert.deepEqual([d.model?.version, d.model?.sha256, d.update?.state, d.update?.version], ['2.0.0', sha2, 'active', '2.0.0']);
  }
  // the manifest is retained on both sides of the bridge (a device that was offline picks it up from the site)
  const site = await mqtt.connectAsync(brokers.site.url);
  t.after(() => site.endAsync());
  const retained = new Promise<Buffer>((resolve) => site.on('message', (topic, payload, packet) => packet.retain && topic === 'edge-ml/update/line-1/manifest' && resolve(payload)));
  await site.subscribeAsync('edge-ml/update/line-1/manifest', { qos: 1 });
  assert.equal((JSON.parse((await retained).toString()) as { sha256: string }).sha256, sha2);
});

test(
  'across the bridge: edge-ml-publish rollout completes on simulated devices, a bad model halts at the canary, the fleet view follows both',
  { skip: !hasMosquitto() && 'mosquitto is not installed' },
  async (t) => {
    const brokers = await startBridgedBrokers();
    t.after(() => brokers.stop());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-bridge-rollout-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sim = await FleetSimulator.start({ brokerUrl: brokers.site.url, devices: 8, idPrefix: 'site', storeRoot: path.join(dir, 'sim'), reportMs: 300 });
    t.after(() => sim.stop());

    // the fleet view on the central broker, following the rollout as JSON lines
    const monitor = spawn(process.execPath, [path.join(BIN, 'edge-ml-monitor.js'), '--fleet', '--json', '--interval', '0.2', '--broker', brokers.central.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => monitor.kill('SIGTERM'));
    const snapshots: FleetSnapshot[] = [];
    let buffer = '';
    monitor.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const l of lines) if (l.startsWith('{')) snapshots.push(JSON.parse(l) as FleetSnapshot);
    });

    // the real bin on the central broker, as an operator runs it
    const bytes = simModel({ name: 'pump', version: '2.0.0', width: 4096 });
    const file = path.join(dir, 'pump-2.onnx');
    writeFileSync(file, bytes);
    const rollout = await run('edge-ml-publish.js', [
      'rollout',
      '--broker',
      brokers.central.url,
      '--file',
      file,
      '--name',
      'pump',
      '--version',
      '2.0.0',
      '--waves',
      '1,50%,100%',
      '--soak',
      '800ms',
      '--id',
      'bridge-r1',
    ]);
    assert.equal(rollout.code, 0, rollout.out);
    const status = await run('edge-ml-publish.js', ['rollout', 'status', '--broker', brokers.central.url, '--id', 'bridge-r1', '--json']);
    assert.equal(status.code, 0, status.out);
    const final = parseRolloutState(status.out.trim());
    assert.equal(final.status, 'completed', JSON.stringify(final.halt ?? final.reason));
    assert.deepEqual(
      final.waves.map((w) => w.devices.length),
      [1, 3, 4],
    );
    const sha = createHash('sha256').update(bytes).digest('hex');
    for (const d of sim.devices) assert.equal(d.serving.sha256, sha, d.id);

    // what the monitor saw across the bridge: the rollout running in a later wave, then completed with every device on 2.0.0
    const done = (): FleetSnapshot | undefined => snapshots.find((s) => s.rollouts[0]?.status === 'completed' && s.devices.length === 8 && s.devices.every((d) => d.model?.version === '2.0.0'));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the monitor never showed the completed rollout: ${JSON.stringify(snapshots.at(-1))}`)), 20_000);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else monitor.stdout.once('data', () => setImmediate(check));
      };
      check();
    });
    assert.ok(
      snapshots.some((s) => s.rollouts[0]?.status === 'running' && (s.rollouts[0]?.wave ?? 0) >= 1),
      'a snapshot of the rollout in a later wave',
    );
    const last = done()!;
    assert.deepEqual(
      Object.values(last.rollouts[0]!.results).sort(),
      final.waves
        .flatMap((w) => w.devices)
        .map((d) => final.devices[d]!.outcome)
        .sort(),
    );

    // a bad model (it loads, then half its inferences fail) is halted at the canary across the bridge
    const badFile = path.join(dir, 'pump-3-bad.onnx');
    writeFileSync(badFile, simModel({ name: 'pump', version: '3.0.0', width: 64, sim: { errorRate: 0.5 } }));
    const halted = await run('edge-ml-publish.js', [
      'rollout',
      '--broker',
      brokers.central.url,
      '--file',
      badFile,
      '--name',
      'pump',
      '--version',
      '3.0.0',
      '--waves',
      '1,50%,100%',
      '--soak',
      '800ms',
      '--id',
      'bridge-r2',
    ]);
    assert.equal(halted.code, 3, halted.out);
    const badState = parseRolloutState((await run('edge-ml-publish.js', ['rollout', 'status', '--broker', brokers.central.url, '--id', 'bridge-r2', '--json'])).out.trim());
    assert.equal(badState.halt?.gate, 'errorRate');
    const canary = badState.waves[0]!.devices;
    for (const d of sim.devices) {
      assert.equal(d.serving.sha256, sha, `${d.id} is back on (or stayed on) 2.0.0`);
      if (!canary.includes(d.id))
        assert.ok(
          d.statuses.every((st) => st.version !== '3.0.0'),
          `${d.id} beyond the canary heard of 3.0.0`,
        );
    }
    const halt = await new Promise<FleetSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the monitor never showed the halt')), 20_000);
      const check = (): void => {
        const found = snapshots.find((s) => s.rollouts.some((r) => r.id === 'bridge-r2' && r.status === 'halted'));
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else monitor.stdout.once('data', () => setImmediate(check));
      };
      check();
    });
    const shown = halt.rollouts.find((r) => r.id === 'bridge-r2')!;
    assert.equal(shown.halt?.gate, 'errorRate');
    assert.deepEqual(shown.halt?.devices, badState.halt!.devices);
  },
);
