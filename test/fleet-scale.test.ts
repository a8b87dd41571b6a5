/**
 * The fleet bench at CI size (bench/fleet.ts): 50 simulated devices in 2 processes; the rollout
 * engine takes a 1 MB model through 4 waves on a real mosquitto, then a bad model (it loads, but
 * half its inferences fail) halts at the canary. Checked, not timed: the good rollout completes and
 * every device serves it (asked of the device processes); the broker's own byte counters show the
 * file travelled once to the broker and once to each device; the bad model is halted by the
 * error-rate gate, no device beyond the canary ever heard of it, none serves it, and every canary
 * device reported the old version back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFleetBench } from '../bench/fleet';
import { hasMosquitto } from './helpers/broker';

test(
  '50 simulated devices: a 1 MB model in 4 waves, its bytes once in and once per device out; a bad model halts at the canary',
  { skip: !hasMosquitto() && 'needs mosquitto ($SYS counters)', timeout: 300_000 },
  async (t) => {
    const devices = 50;
    const result = await runFleetBench({ devices, processes: 2, sizes: [1_000_000], waves: ['1%', '10%', '50%', '100%'], soakMs: 1500, reportMs: 500, bad: true, log: (l) => t.diagnostic(l) });
    const [r] = result.rollouts;
    assert.ok(r);
    assert.equal(r.status, 'completed');
    assert.equal(
      r.waves.reduce((n, w) => n + w.devices, 0),
      devices,
    );
    assert.ok(
      r.waves.every((w) => w.status === 'passed'),
      JSON.stringify(r.waves),
    );
    assert.equal(r.serving, devices);
    // the host wrote the file once, plus manifests and its retained state after each step (about
    // 0.5 MB for 50 devices); the broker took at least that in
    assert.ok(r.publisherBytesPerModelByte >= 1 && r.publisherBytesPerModelByte < 2, `the publisher sent ${r.publisherBytesPerModelByte.toFixed(2)}x the model's bytes`);
    assert.ok(r.brokerBytesReceived >= r.publisherBytesSent);
    assert.ok(r.sentPerDeviceModelByte >= 0.9 && r.sentPerDeviceModelByte < 1.5, `the broker sent ${r.sentPerDeviceModelByte.toFixed(2)}x devices x model`);
    // each distinct file loaded at most once per device process, however many of its devices took it:
    // baseline and good model in every process, the bad model only where a canary device lives
    assert.ok(result.modelLoads >= 2 * result.processes + 1 && result.modelLoads <= 3 * result.processes, `${result.modelLoads} loads`);
    const bad = result.badModel!;
    assert.equal(bad.status, 'halted');
    assert.equal(bad.gate, 'errorRate');
    assert.ok(bad.canary >= 1);
    assert.equal(bad.receivedBeyondCanary, 0);
    assert.equal(bad.servingBad, 0);
    assert.ok(Number.isFinite(bad.rollbackMs) && bad.rollbackMs >= 0, `rollback time ${bad.rollbackMs}`);
  },
);
