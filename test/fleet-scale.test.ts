/**
 * The fleet bench at CI size (bench/fleet.ts): 50 simulated devices in 2 processes take a 1 MB
 * model in 4 waves through a real mosquitto. Checked, not timed: every device serves the model
 * afterwards (asked of the device processes), no device rejected it, and the broker's own byte
 * counters show the bytes travelled once to the broker (content-addressed chunks, retained) and
 * once to each device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFleetBench } from '../bench/fleet';
import { hasMosquitto } from './helpers/broker';

test('a 1 MB model reaches 50 simulated devices in 4 waves; its bytes cross the broker once in, once per device out', { skip: !hasMosquitto() && 'needs mosquitto ($SYS counters)', timeout: 240_000 }, async (t) => {
  const devices = 50;
  const result = await runFleetBench({ devices, processes: 2, sizes: [1_000_000], waves: [0.02, 0.1, 0.5, 1], waveTimeoutMs: 120_000, log: (l) => t.diagnostic(l) });
  const [r] = result.rollouts;
  assert.ok(r);
  assert.deepEqual(r.waves.map((w) => w.devices), [1, 4, 20, 25]);
  assert.equal(r.waves.reduce((n, w) => n + w.active, 0), devices);
  assert.equal(r.serving, devices);
  // in: the file once plus manifests and reports (a few kB per device); out: the file to each device once
  assert.ok(r.brokerBytesReceived >= r.modelBytes, `${r.brokerBytesReceived} received < model ${r.modelBytes}`);
  assert.ok(r.receivedPerModelByte < 1.5, `the broker received ${r.receivedPerModelByte.toFixed(2)}x the model's bytes`);
  assert.ok(r.sentPerDeviceModelByte >= 1 && r.sentPerDeviceModelByte < 1.3, `the broker sent ${r.sentPerDeviceModelByte.toFixed(2)}x devices x model`);
});
