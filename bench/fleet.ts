/**
 * The fleet rollout measurement shared by bench/fleet.bench.ts (1,000 devices) and its CI-sized
 * test (test/fleet-scale.test.ts): a real mosquitto (`sys_interval 1` for its $SYS byte counters),
 * simulated devices in a few processes, a publisher process rolling a model of each size out in
 * waves; measured: time per wave and in total, bytes the broker received and sent (its
 * $SYS/broker/bytes counters before and after), the broker's peak RSS (VmHWM) and the publisher's.
 */
import { fork, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../test/helpers/broker';
import { mlpModel } from '../test/helpers/onnx-models';

export interface FleetBenchOptions {
  devices: number;
  /** device processes (default 2) */
  processes?: number;
  /** model sizes to roll out, in bytes (about: an MLP of that many weight bytes) */
  sizes: number[];
  /** cumulative wave sizes as shares of the fleet, e.g. [0.01, 0.1, 0.5, 1] */
  waves: number[];
  /** bound on each wave */
  waveTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface WaveFigure {
  wave: number;
  devices: number;
  ms: number;
  active: number;
  rejected: number;
}

export interface RolloutFigure {
  modelBytes: number;
  chunks: number;
  chunkSize: number;
  waves: WaveFigure[];
  /** publishing the chunks once on the blob topic */
  chunksMs: number;
  totalMs: number;
  brokerBytesReceived: number;
  brokerBytesSent: number;
  /** broker bytes received / model bytes: 1.0 means the bytes travelled to the broker once */
  receivedPerModelByte: number;
  /** broker bytes sent / (devices x model bytes): 1.0 means each device got the file once, nothing more */
  sentPerDeviceModelByte: number;
  brokerPeakRssBytes: number;
  publisherPeakRssBytes: number;
  /** publisher peak RSS / the same process's baseline (connect and exit) */
  publisherRssRatio: number;
  /** devices serving the new model's sha256 afterwards (asked of the device processes) */
  serving: number;
}

export interface FleetBenchResult {
  devices: number;
  processes: number;
  waves: number[];
  brokerRssBeforeBytes: number;
  /** peak RSS of the publisher process that only connects and exits (its runtime's own footprint) */
  publisherBaselineRssBytes: number;
  rollouts: RolloutFigure[];
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
  fresh(timeoutMs = 10_000): Promise<{ received: number; sent: number }> {
    const after = performance.now();
    void this.client.publishAsync('edge-ml-bench/tick', 'x', { qos: 0 });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no $SYS/broker/bytes update (sys_interval 1?)')), timeoutMs);
      const check = (): void => {
        if (this.latest.receivedAt > after && this.latest.sentAt > after) {
          clearTimeout(timer);
          resolve({ received: this.latest.received, sent: this.latest.sent });
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
  close(): Promise<void> {
    return this.client.endAsync();
  }
}

/** An MLP whose weights take about `bytes` (4 inputs, 3 outputs; 8 floats per hidden unit). */
function modelOfSize(bytes: number, version: string, seed: number): Buffer {
  const hidden = Math.max(8, Math.round(bytes / 32));
  return Buffer.from(mlpModel({ inputs: 4, hidden, outputs: 3, seed, metadata: { 'edgeml.name': 'fleet-model', 'edgeml.version': version } }).bytes);
}

function runPublisher(args: object): Promise<{ lines: Array<Record<string, number>> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TSX, path.join(__dirname, 'fleet-waves.child.ts'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`publisher exited ${code}: ${err}`));
      resolve({ lines: out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>) });
    });
  });
}

export async function runFleetBench(o: FleetBenchOptions): Promise<FleetBenchResult> {
  const log = o.log ?? (() => undefined);
  const processes = Math.max(1, Math.min(o.processes ?? 2, o.devices));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-fleetbench-'));
  const broker: TestBroker = await startBroker({ config: 'sys_interval 1\nmax_inflight_messages 20\nmax_queued_messages 0\n' });
  const children: ReturnType<typeof fork>[] = [];
  let sys: SysBytes | undefined;
  try {
    const ids = Array.from({ length: o.devices }, (_, i) => `dev-${String(i + 1).padStart(4, '0')}`);
    const base = modelOfSize(1024, '1.0.0', 1);
    const baseFile = path.join(dir, 'base.onnx');
    writeFileSync(baseFile, base);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: processes }, (_, p) => {
        const mine = ids.filter((_, i) => i % processes === p);
        const child = fork(path.join(__dirname, 'fleet-devices.child.ts'), [JSON.stringify({ url: broker.url, ids: mine, groups: ['fleet'], storeDir: path.join(dir, `p${p}`), modelFile: baseFile, name: 'fleet-model', version: '1.0.0', stallMs: 30_000 })], {
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
    log(`${o.devices} devices in ${processes} processes connected and reporting in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    sys = await SysBytes.open(broker.url);
    const brokerRssBeforeBytes = procStatus(broker.pid!, 'VmRSS');
    // cumulative shares -> the devices of each wave (at least one in the first)
    const cut = o.waves.map((share) => Math.max(1, Math.round(share * ids.length)));
    const waves = cut.map((end, w) => ids.slice(w === 0 ? 0 : cut[w - 1], end)).filter((w) => w.length > 0);
    const idle = await runPublisher({ url: broker.url, file: '', name: 'fleet-model', version: '0.0.0', waves: [], timeoutMs: 10_000, baseline: true });
    const publisherBaselineRssBytes = idle.lines[idle.lines.length - 1]!.maxRssBytes!;
    const rollouts: RolloutFigure[] = [];
    for (const [k, size] of o.sizes.entries()) {
      const bytes = modelOfSize(size, `${k + 2}.0.0`, k + 2);
      const file = path.join(dir, `model-${k}.onnx`);
      writeFileSync(file, bytes);
      const before = await sys.fresh();
      const { lines } = await runPublisher({ url: broker.url, file, name: 'fleet-model', version: `${k + 2}.0.0`, waves, timeoutMs: o.waveTimeoutMs ?? 300_000 });
      const after = await sys.fresh();
      const head = lines[0]!;
      const tail = lines[lines.length - 1]!;
      const sha = createHash('sha256').update(bytes).digest('hex');
      const serving = await countServing(children, sha);
      const figure: RolloutFigure = {
        modelBytes: bytes.length,
        chunks: head.chunks!,
        chunkSize: head.chunkSize!,
        waves: lines.filter((l) => l.wave !== undefined) as unknown as WaveFigure[],
        chunksMs: head.chunksMs!,
        totalMs: tail.totalMs!,
        brokerBytesReceived: after.received - before.received,
        brokerBytesSent: after.sent - before.sent,
        receivedPerModelByte: (after.received - before.received) / bytes.length,
        sentPerDeviceModelByte: (after.sent - before.sent) / (bytes.length * ids.length),
        brokerPeakRssBytes: procStatus(broker.pid!, 'VmHWM'),
        publisherPeakRssBytes: tail.maxRssBytes!,
        publisherRssRatio: tail.maxRssBytes! / publisherBaselineRssBytes,
        serving,
      };
      log(`${(bytes.length / 1e6).toFixed(1)} MB to ${ids.length} devices: ${figure.waves.map((w) => `${w.devices} in ${(w.ms / 1000).toFixed(2)} s`).join(', ')}; total ${(figure.totalMs / 1000).toFixed(1)} s; broker in ${(figure.brokerBytesReceived / 1e6).toFixed(1)} MB (${figure.receivedPerModelByte.toFixed(2)}x the model), out ${(figure.brokerBytesSent / 1e6).toFixed(0)} MB (${figure.sentPerDeviceModelByte.toFixed(2)}x devices x model); peak RSS broker ${(figure.brokerPeakRssBytes / 1e6).toFixed(0)} MB, publisher ${(figure.publisherPeakRssBytes / 1e6).toFixed(0)} MB (${figure.publisherRssRatio.toFixed(2)}x idle); ${serving} serving it`);
      rollouts.push(figure);
    }
    return { devices: o.devices, processes, waves: o.waves, brokerRssBeforeBytes, publisherBaselineRssBytes, rollouts };
  } finally {
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

async function countServing(children: ReturnType<typeof fork>[], sha: string): Promise<number> {
  const answers = await Promise.all(
    children.map(
      (c) =>
        new Promise<Record<string, string | null>>((resolve) => {
          c.once('message', (m: { serving: Record<string, string | null> }) => resolve(m.serving));
          c.send({ cmd: 'serving' });
        }),
    ),
  );
  return answers.flatMap((a) => Object.values(a)).filter((s) => s === sha).length;
}
