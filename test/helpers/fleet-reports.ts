/**
 * Retained device reports and rollout states as devices and a rollout publisher write them, for
 * tests of the fleet view (the monitor, the dashboard example): a fleet of N devices with varied
 * groups, versions, figures and update states, each figure derived from the device's index.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { RolloutState } from '../../src/lib/fleet/rollout-state';
import { startBroker, type TestBroker } from './broker';

export const PREFIX = 'edge-ml';

export interface Report {
  device: string;
  groups: string[];
  version: string;
  inferences: number;
  errors: number;
  perMinute: number;
  p99: number;
  guard: Record<string, number>;
  drift: Record<string, number>;
  perVersion: boolean;
  state: string;
}

export function fleetReports(n: number): Report[] {
  return Array.from({ length: n }, (_, i) => ({
    device: `dev-${i + 1}`,
    groups: i % 3 === 0 ? ['line-1', 'canary'] : ['line-2'],
    version: i % 4 === 0 ? '2.0.0' : '1.0.0',
    inferences: 1000 + 37 * i,
    errors: i % 5,
    perMinute: 60 + i,
    p99: 1.5 + i / 10,
    guard: (i % 2 ? { 'out_of_range:pressure': i, missing: 1 } : {}) as Record<string, number>,
    drift: (i === 3 ? { ok: 10, warn: 2, alarm: 1 } : { ok: 10 }) as Record<string, number>,
    /** every third device reports per-version figures (the fleet-rollout report format) */
    perVersion: i % 3 === 2,
    state: i === 7 ? 'rejected' : 'active',
  }));
}

export const sha = (version: string): string => (version === '2.0.0' ? 'b' : 'a').repeat(64);

export function modelPayload(r: Report, ts: string): string {
  return JSON.stringify({
    device: r.device,
    ts,
    groups: r.groups,
    model: {
      name: 'pump',
      version: r.version,
      sha256: sha(r.version),
      since: ts,
      inferences: r.perVersion ? r.inferences * 10 : r.inferences,
      errors: r.perVersion ? 0 : r.errors,
      inferencesPerMinute: r.perMinute,
      latencyMs: { p50: r.p99 / 2, p99: r.perVersion ? r.p99 * 7 : r.p99 },
    },
    guard: r.perVersion ? { other: 99 } : r.guard,
    drift: r.perVersion ? { alarm: 99 } : r.drift,
    ...(r.perVersion
      ? {
          // the version serving now, counted since it started: these figures win over the process-wide ones
          current: {
            name: 'pump',
            version: r.version,
            sha256: sha(r.version),
            since: ts,
            inferences: r.inferences,
            errors: r.errors,
            p50Ms: r.p99 / 2,
            p99Ms: r.p99,
            guardRejections: Object.values(r.guard).reduce((a, b) => a + b, 0),
            driftLevel: (['alarm', 'warn', 'ok'] as const).find((l) => (r.drift[l] ?? 0) > 0) ?? 'ok',
          },
        }
      : {}),
  });
}

export function updatePayload(r: Report, ts: string): string {
  const rejected = r.state === 'rejected';
  return JSON.stringify({
    device: r.device,
    state: r.state,
    name: 'pump',
    version: rejected ? '3.0.0' : r.version,
    sha256: sha(r.version),
    ts,
    ...(rejected ? { code: 'EDGEML_UPDATE_INVALID_MODEL', reason: 'input shape differs' } : {}),
  });
}

/** A rollout state in the edge-ml-rollout/1 format, halted at its canary by the error-rate gate. */
export function rolloutState(ts: string): RolloutState {
  const failing = { gate: 'errorRate' as const, device: 'dev-1', passed: false, value: 0.25, baseline: 0.01, threshold: 0.05 };
  return {
    format: 'edge-ml-rollout/1',
    id: 'r-42',
    model: { name: 'pump', version: '3.0.0', sha256: 'c'.repeat(64), size: 123456 },
    manifest: { chunkSize: 262144, chunks: 1, chunkSha256: ['e'.repeat(64)], createdAt: ts, sequence: 7 },
    plan: { waves: [{ size: 1 }, { size: '50%' }, { name: 'everyone', size: '100%' }] },
    status: 'halted',
    wave: 0,
    waves: [
      { index: 0, name: '', devices: ['dev-1'], status: 'failed' },
      { index: 1, name: '', devices: ['dev-2', 'dev-3'], status: 'pending' },
      { index: 2, name: 'everyone', devices: ['dev-4'], status: 'pending' },
    ],
    startedAt: ts,
    gates: [failing, { gate: 'latencyP99', device: 'dev-1', passed: true, value: 1.1, baseline: 1.0, threshold: 1.5 }],
    devices: { 'dev-1': { wave: 0, outcome: 'rolled-back', fromVersion: '1.0.0', ts } },
    halt: { gate: 'errorRate', wave: 0, devices: ['dev-1'], figures: [failing], at: ts },
    updatedAt: ts,
  };
}

export async function publishFleet(client: MqttClient, reports: Report[], ts: string): Promise<void> {
  for (const r of reports) {
    await client.publishAsync(`${PREFIX}/status/${r.device}/model`, modelPayload(r, ts), { qos: 1, retain: true });
    await client.publishAsync(`${PREFIX}/status/${r.device}/update`, updatePayload(r, ts), { qos: 1, retain: true });
  }
}

/**
 * A fresh mosquitto holding the retained reports of `n` devices (and, with `rollout`, a rollout
 * state), with a connected client to publish more; both closed when the test ends.
 */
export async function brokerWithFleet(
  t: { after: (fn: () => unknown) => void },
  n: number,
  options: { rollout?: boolean } = {},
): Promise<{ broker: TestBroker; pub: MqttClient; ts: string; reports: Report[]; state: RolloutState }> {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const pub = await mqtt.connectAsync(broker.url);
  t.after(() => pub.endAsync());
  const ts = new Date().toISOString();
  const reports = fleetReports(n);
  await publishFleet(pub, reports, ts);
  const state = rolloutState(ts);
  if (options.rollout) await pub.publishAsync(`${PREFIX}/rollout/${state.id}/state`, JSON.stringify(state), { qos: 1, retain: true });
  return { broker, pub, ts, reports, state };
}
