/**
 * Across a broker bridge: the devices on a site mosquitto, the publisher and the fleet view on a
 * central one, the two bridged with `topic edge-ml/# both 1`. An update published on the central
 * broker (the real edge-ml-publish bin) reaches devices on the site broker, each device's real
 * UpdateReceiver validates it with ONNX Runtime and takes it, and the fleet view on the central
 * broker (the real edge-ml-monitor bin) shows every device on the new version.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { FleetSnapshot } from '../src/lib/monitor/fleet';
import { hasMosquitto, startBridgedBrokers } from './helpers/bridge';
import { ROOT } from './helpers/flow';
import { mlpModel } from './helpers/onnx-models';
import { startSimDevices } from './helpers/sim-devices';

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

  const v1 = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 1 });
  const v2 = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 2 });
  const ids = Array.from({ length: 6 }, (_, i) => `site-dev-${i + 1}`);
  const devices = await startSimDevices({
    url: brokers.site.url,
    ids,
    groups: ['line-1'],
    storeDir: path.join(dir, 'devices'),
    model: { name: 'pump', version: '1.0.0', bytes: Buffer.from(v1.bytes) },
  });
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
    '--broker', brokers.central.url, '--file', file, '--name', 'pump', '--version', '2.0.0', '--target', 'line-1',
    '--wait', ids.join(','), '--chunk-size', '512', '--timeout', '60',
  ]);
  assert.equal(published.code, 0, published.out);
  assert.match(published.out, new RegExp(`active on ${ids.length} of ${ids.length} awaited devices`));

  // each device validated the bytes it received with ONNX Runtime and serves them
  const sha2 = createHash('sha256').update(v2.bytes).digest('hex');
  for (const id of ids) assert.equal(devices.serving(id)?.sha256, sha2);
  await devices.reportAll();
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
