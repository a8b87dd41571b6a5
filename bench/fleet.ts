/**
 * The fleet rollout measurement shared by bench/fleet.bench.ts (1,000 devices) and its CI-sized
 * test (test/fleet-scale.test.ts): a real mosquitto (`sys_interval 1` for its $SYS byte counters),
 * simulated devices (fleetcore's FleetSimulator) in a few processes, the rollout engine in a
 * publisher process of its own. Per rollout of each model size: time per wave and in total, bytes
 * the broker received and sent (its $SYS/broker/bytes counters, less the fleet's background
 * reporting measured idle in the same run), the broker's peak RSS (VmHWM) and the publisher's
 * (against the same process idle). Then a bad model (it loads, but raises the error rate): halted
 * at the canary, how many devices beyond the canary received it (must be 0), and the time from
 * the gate's failure until every canary device reported the old version back.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { simModel } from '../src/lib/fleet/simulator';
import type { RolloutState } from '../src/lib/fleet/rollout-state';
import { sha256Hex } from '../src/lib/update/manifest';
import type { UpdateStatus } from '../src/lib/update/topics';
import { startBroker, type TestBroker } from '../test/helpers/broker';

export interface FleetBenchOptions {
  devices: number;
  /** device processes (default 2) */
  processes?: number;
  /** model sizes to roll out, in bytes */
  sizes: number[];
  /** the plan's waves (cumulative sizes), e.g. ['1%', '10%', '50%', '100%'] */
  waves: string[];
  /** soak of each wave (ms): longer than reportMs, so each device reports figures of the new version */
  soakMs: number;
  /** how often each simulated device reports (ms) */
  reportMs: number;
  /** also roll out a bad model (error rate 50 %) and measure its halt at the canary */
  bad?: boolean;
  log?: (line: string) => void;
}

export interface WaveFigure {
  wave: number;
  devices: number;
  status: string;
  /** manifests out until every device of the wave reported the update */
  deployMs: number;
  /** deploy, soak and judging */
  totalMs: number;
}

export interface RolloutFigure {
  modelBytes: number;
  status: string;
  waves: WaveFigure[];
  totalMs: number;
  brokerBytesReceived: number;
  brokerBytesSent: number;
  /** the same, less the fleet's background reporting over the rollout's duration (device reports grow during a rollout: an upper bound) */
  rolloutBytesReceived: number;
  rolloutBytesSent: number;
  /** bytes the publisher wrote to the broker (its socket): the file, manifests, its retained state */
  publisherBytesSent: number;
  /** publisher bytes / model bytes: about 1 means the file travelled to the broker once */
  publisherBytesPerModelByte: number;
  /** rollout bytes received by the broker (device reports included) / model bytes */
  receivedPerModelByte: number;
  /** rollout bytes sent / (devices x model bytes): about 1 means each device got the file once */
  sentPerDeviceModelByte: number;
  brokerPeakRssBytes: number;
  publisherPeakRssBytes: number;
  /** publisher peak RSS / the same process's (connect and exit) */
  publisherRssRatio: number;
  /** devices serving the new model afterwards (asked of the device processes) */
  serving: number;
}

export interface BadModelFigure {
  status: string;
  gate: string | null;
  canary: number;
  /** devices outside the canary wave that reported anything about the bad model (must be 0) */
  receivedBeyondCanary: number;
  /** devices serving the bad model at the end (must be 0) */
  servingBad: number;
  /** from the gate's failure (halt.at) until the last canary device reported rolled-back */
  rollbackMs: number;
  totalMs: number;
}

export interface FleetBenchResult {
  devices: number;
  processes: number;
  waves: string[];
  soakMs: number;
  reportMs: number;
  /** broker traffic of the idle fleet (reports), measured before the rollouts */
  background: { receivedPerSecond: number; sentPerSecond: number };
  brokerRssBeforeBytes: number;
  publisherBaselineRssBytes: number;
  /** distinct model files ONNX Runtime loaded, summed over the device processes */
  modelLoads: number;
  rollouts: RolloutFigure[];
  badModel?: BadModelFigure;
}

const TSX = ['--import', 'tsx'];

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The broker's cumulative byte counters, read from a fresh $SYS publish (sys_interval 1). */
class SysBytes {
  private readonly latest = { received: 0, sent: 0, receivedAt: 0, sentAt: 0 };
  private readonly waiters: Array<() => void> = [];
  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      const v = Number(payload.toString());
      if (topic.endsWith('/received')) Object.assign(this.latest, { received: v, receivedAt: performance.now() });
      else Object.assign(this.latest, { sent: v, sentAt: performance.now() });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(url: string): Promise<SysBytes> {
    const client = await mqtt.connectAsync(url, { clientId: `fleet-sys-${process.pid}` });
    const sys = new SysBytes(client);
    await client.subscribeAsync(['$SYS/broker/bytes/received', '$SYS/broker/bytes/sent'], { qos: 0 });
    return sys;
  }
  /**
   * Both counters as the broker publishes them next (each second, but only a counter that changed:
   * a small publish of our own makes sure both do).
   */
  fresh(timeoutMs = 10_000): Promise<{ received: number; sent: number; at: number }> {
    const after = performance.now();
    void this.client.publishAsync('edge-ml-bench/tick', 'x', { qos: 0 });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no $SYS/broker/bytes update (sys_interval 1?)')), timeoutMs);
      const check = (): void => {
        if (this.latest.receivedAt > after && this.latest.sentAt > after) {
          clearTimeout(timer);
          resolve({ received: this.latest.received, sent: this.latest.sent, at: Math.max(this.latest.receivedAt, this.latest.sentAt) });
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
  close(): Promise<void> {
    return this.client.endAsync();
  }
}

function runPublisher(args: object): Promise<{ state: RolloutState | null; maxRssBytes: number; bytesSent: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TSX, path.join(__dirname, 'fleet-rollout.child.ts'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`publisher exited ${code}: ${err.slice(-4000)}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as { state: RolloutState | null; maxRssBytes: number; bytesSent: number });
    });
  });
}

type DeviceUpdates = Record<string, { serving: string; seen: string[] }>;

async function askDevices(children: ReturnType<typeof fork>[]): Promise<{ devices: DeviceUpdates; loads: number }> {
  const answers = await Promise.all(
    children.map(
      (c) =>
        new Promise<{ devices: DeviceUpdates; loads: number }>((resolve) => {
          c.once('message', (m: { devices: DeviceUpdates; loads: number }) => resolve(m));
          c.send({ cmd: 'updates' });
        }),
    ),
  );
  return { devices: Object.assign({}, ...answers.map((a) => a.devices)) as DeviceUpdates, loads: answers.reduce((n, a) => n + a.loads, 0) };
}

const ms = (from: string | undefined, to: string | undefined): number => (from && to ? Date.parse(to) - Date.parse(from) : NaN);

export async function runFleetBench(o: FleetBenchOptions): Promise<FleetBenchResult> {
  const log = o.log ?? (() => undefined);
  const processes = Math.max(1, Math.min(o.processes ?? 2, o.devices));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-fleetbench-'));
  const broker: TestBroker = await startBroker({ config: 'sys_interval 1\nmax_inflight_messages 20\nmax_queued_messages 0\n' });
  const children: ReturnType<typeof fork>[] = [];
  let sys: SysBytes | undefined;
  let watcher: MqttClient | undefined;
  try {
    const ids = Array.from({ length: o.devices }, (_, i) => `dev-${String(i + 1).padStart(4, '0')}`);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: processes }, (_, p) => {
        const mine = ids.filter((_, i) => i % processes === p);
        const child = fork(path.join(__dirname, 'fleet-sim.child.ts'), [JSON.stringify({ url: broker.url, ids: mine, storeRoot: path.join(dir, `p${p}`), reportMs: o.reportMs })], {
          execArgv: TSX,
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(child);
        return new Promise<void>((resolve, reject) => {
          child.once('message', () => resolve());
          child.once('exit', (code) => reject(new Error(`device process exited ${code}`)));
        });
      }),
    );
    log(`${o.devices} simulated devices in ${processes} processes connected and reporting in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    sys = await SysBytes.open(broker.url);
    // the idle fleet's own traffic (periodic reports), to tell the rollout's bytes from it
    const idle0 = await sys.fresh();
    let idle1 = idle0;
    for (let i = 0; i < 3; i++) idle1 = await sys.fresh();
    const seconds = (idle1.at - idle0.at) / 1000;
    const background = { receivedPerSecond: (idle1.received - idle0.received) / seconds, sentPerSecond: (idle1.sent - idle0.sent) / seconds };
    const brokerRssBeforeBytes = procStatus(broker.pid!, 'VmRSS');
    const idle = await runPublisher({ url: broker.url, baseline: true });
    const publisherBaselineRssBytes = idle.maxRssBytes;
    // rolled-back reports, timed on arrival (for the bad model's rollback time)
    const rolledBackAt = new Map<string, number>();
    watcher = await mqtt.connectAsync(broker.url, { clientId: `fleet-watch-${process.pid}` });
    watcher.on('message', (_t, payload, packet) => {
      if (packet.retain || payload.length === 0) return;
      const s = JSON.parse(payload.toString()) as UpdateStatus;
      if (s.state === 'rolled-back') rolledBackAt.set(s.device, Date.now());
    });
    await watcher.subscribeAsync('edge-ml/status/+/update', { qos: 1 });

    const plan = { waves: o.waves.map((size) => ({ size })), soakMs: o.soakMs, updateTimeoutMs: 600_000, rollbackTimeoutMs: 120_000 };
    const rollouts: RolloutFigure[] = [];
    let version = 2;
    for (const size of o.sizes) {
      const v = `${version++}.0.0`;
      const bytes = Buffer.from(simModel({ name: 'pump', version: v, width: Math.max(16, Math.round(size / 4)), seed: version }));
      const file = path.join(dir, `pump-${v}.onnx`);
      writeFileSync(file, bytes);
      const before = await sys.fresh();
      const { state, maxRssBytes, bytesSent } = await runPublisher({ url: broker.url, file, name: 'pump', version: v, id: `bench-${v.replace(/\./g, '-')}`, plan });
      const after = await sys.fresh();
      const s = state!;
      const elapsed = (after.at - before.at) / 1000;
      const received = after.received - before.received;
      const sent = after.sent - before.sent;
      const netReceived = received - background.receivedPerSecond * elapsed;
      const netSent = sent - background.sentPerSecond * elapsed;
      const sha = sha256Hex(bytes);
      const { devices } = await askDevices(children);
      const figure: RolloutFigure = {
        modelBytes: bytes.length,
        status: s.status,
        waves: s.waves.map((w) => ({ wave: w.index + 1, devices: w.devices.length, status: w.status, deployMs: ms(w.startedAt, w.deployedAt), totalMs: ms(w.startedAt, w.finishedAt) })),
        totalMs: ms(s.startedAt, s.updatedAt),
        brokerBytesReceived: received,
        brokerBytesSent: sent,
        rolloutBytesReceived: Math.round(netReceived),
        rolloutBytesSent: Math.round(netSent),
        publisherBytesSent: bytesSent,
        publisherBytesPerModelByte: bytesSent / bytes.length,
        receivedPerModelByte: netReceived / bytes.length,
        sentPerDeviceModelByte: netSent / (bytes.length * ids.length),
        brokerPeakRssBytes: procStatus(broker.pid!, 'VmHWM'),
        publisherPeakRssBytes: maxRssBytes,
        publisherRssRatio: maxRssBytes / publisherBaselineRssBytes,
        serving: Object.values(devices).filter((d) => d.serving === sha).length,
      };
      log(
        `${(bytes.length / 1e6).toFixed(1)} MB to ${ids.length} devices: ${s.status}; waves ${figure.waves.map((w) => `${w.devices} deployed in ${(w.deployMs / 1000).toFixed(2)} s`).join(', ')}; total ${(figure.totalMs / 1000).toFixed(1)} s (soak ${o.soakMs} ms a wave); ` +
          `publisher sent ${(bytesSent / 1e6).toFixed(2)} MB (${figure.publisherBytesPerModelByte.toFixed(2)}x the model); broker in ${(netReceived / 1e6).toFixed(1)} MB net of idle reporting (${figure.receivedPerModelByte.toFixed(2)}x the model), out ${(netSent / 1e6).toFixed(0)} MB net (${figure.sentPerDeviceModelByte.toFixed(2)}x devices x model); ` +
          `peak RSS broker ${(figure.brokerPeakRssBytes / 1e6).toFixed(0)} MB, publisher ${(maxRssBytes / 1e6).toFixed(0)} MB (${figure.publisherRssRatio.toFixed(2)}x idle); ${figure.serving} serving it`,
      );
      rollouts.push(figure);
    }

    let badModel: BadModelFigure | undefined;
    if (o.bad) {
      const v = `${version++}.0.0`;
      const bytes = Buffer.from(simModel({ name: 'pump', version: v, width: 64, sim: { errorRate: 0.5 }, seed: version }));
      const file = path.join(dir, `pump-${v}-bad.onnx`);
      writeFileSync(file, bytes);
      const { state } = await runPublisher({ url: broker.url, file, name: 'pump', version: v, id: `bench-bad-${v.replace(/\./g, '-')}`, plan });
      const s = state!;
      const sha = sha256Hex(bytes);
      const canary = new Set(s.waves[0]?.devices ?? []);
      const { devices } = await askDevices(children);
      const beyond = Object.entries(devices).filter(([id, d]) => !canary.has(id) && d.seen.some((x) => x.startsWith(`${sha}:`))).length;
      const servingBad = Object.values(devices).filter((d) => d.serving === sha).length;
      const haltAt = Date.parse(s.halt?.at ?? s.updatedAt);
      const backs = [...canary].map((d) => rolledBackAt.get(d) ?? NaN);
      badModel = {
        status: s.status,
        gate: s.halt?.gate ?? null,
        canary: canary.size,
        receivedBeyondCanary: beyond,
        servingBad,
        rollbackMs: Math.max(...backs) - haltAt,
        totalMs: ms(s.startedAt, s.updatedAt),
      };
      log(
        `bad model (error rate 50 %): ${s.status} by gate ${badModel.gate} at the canary (${canary.size} devices); ${beyond} devices beyond the canary received it, ${servingBad} serve it; canary back on the old version ${badModel.rollbackMs} ms after the gate failed`,
      );
    }
    const { loads } = await askDevices(children);
    return {
      devices: o.devices,
      processes,
      waves: o.waves,
      soakMs: o.soakMs,
      reportMs: o.reportMs,
      background,
      brokerRssBeforeBytes,
      publisherBaselineRssBytes,
      modelLoads: loads,
      rollouts,
      ...(badModel ? { badModel } : {}),
    };
  } finally {
    await watcher?.endAsync();
    await sys?.close();
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.send({ cmd: 'stop' });
          }),
      ),
    );
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
