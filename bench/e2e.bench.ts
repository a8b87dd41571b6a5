/**
 * The classic flow end to end on loopback, with real processes: a Modbus master (modbus-serial)
 * writes pump vectors into the flow's Modbus server, the real node-red runs modbus-server-in ->
 * modbus-decode -> ml-guard -> onnx-infer -> ml-format -> ml-outbox, the broker (mosquitto where
 * installed) delivers the predictions to an MQTT client in this process. Where `taskset` exists,
 * Node-RED runs on a core of its own and this process and the broker on the others.
 *
 * - latency: write request sent -> prediction received, p50/p99, at 500 vectors/s (goal p99 < 10 ms),
 *   pinned to one core and again on all cores (the device has four)
 * - sustained: the highest offered rate that arrives completely (goal >= 2,000 vectors/s)
 * - memory: Node-RED's resident memory with the flow loaded and warmed up, against Node-RED with an
 *   empty flow, both started in this run (goal: added < 80 MB)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { classicFlow, installIntoUserDir, PREDICTION_FILTER } from '../scripts/demo-setup';
import { floatsToRegisters, ModbusMaster } from '../scripts/plant-simulator';
import { pumpDataset } from '../scripts/demo/pump';
import { startBroker } from '../test/helpers/broker';
import { freePort, waitForPort } from '../test/helpers/net';
import { startNodeRed, type NodeRedProcess } from '../test/helpers/nodered-process';
import { percentile, writeResults } from './util';

// Node-RED gets a core of its own (the last one); this process, the Modbus master, MQTT client and
// the broker it starts share the others, so the load generator does not steal Node-RED's core.
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status === 0 && os.cpus().length > 1;
const NODE_RED_CORE = os.cpus().length - 1;
const pinned = hasTaskset ? ['taskset', '-c', String(NODE_RED_CORE)] : [];

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** Feature vectors keyed by their float32 text, so a prediction finds the vector it answers. */
const keyOf = (values: number[]): string => values.map((v) => Math.fround(v)).join(',');

class Collector {
  private readonly arrivals = new Map<string, number>();
  private waiter: { count: number; resolve: () => void } | undefined;

  constructor(client: MqttClient, features: readonly string[]) {
    client.on('message', (_topic, payload) => {
      const p = JSON.parse(payload.toString()) as { features: Record<string, number> };
      this.arrivals.set(keyOf(features.map((f) => p.features[f]!)), performance.now());
      if (this.waiter && this.arrivals.size >= this.waiter.count) this.waiter.resolve();
    });
  }

  reset(): void {
    this.arrivals.clear();
  }

  get size(): number {
    return this.arrivals.size;
  }

  at(key: string): number | undefined {
    return this.arrivals.get(key);
  }

  /** Resolves when `count` predictions arrived, or after `graceMs` (then some were lost). */
  until(count: number, graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      if (this.arrivals.size >= count) this.waiter.resolve();
    });
  }
}

/** Offers `vectors` at `perSecond` over `connections` Modbus connections; returns the send time of each. */
async function offer(port: number, vectors: number[][], perSecond: number, connections = 1): Promise<{ sentAt: number[]; seconds: number }> {
  const masters = await Promise.all(
    Array.from({ length: connections }, async () => {
      const m = new ModbusMaster('127.0.0.1', port, 1, 10000);
      await m.connect();
      return m;
    }),
  );
  const sentAt: number[] = new Array(vectors.length);
  const start = performance.now();
  await Promise.all(
    masters.map(async (master, c) => {
      for (let i = c; i < vectors.length; i += connections) {
        const ahead = start + (i * 1000) / perSecond - performance.now();
        if (ahead > 1) await new Promise((r) => setTimeout(r, ahead));
        sentAt[i] = performance.now();
        await master.write(0, floatsToRegisters(vectors[i]!, 'CDAB'));
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(masters.map((m) => m.close()));
  return { sentAt, seconds };
}

export async function run(): Promise<void> {
  if (hasTaskset) spawnSync('taskset', ['-a', '-p', '-c', `0-${NODE_RED_CORE - 1}`, String(process.pid)], { stdio: 'ignore' });
  const broker = await startBroker();
  const dirs: string[] = [];
  const started: NodeRedProcess[] = [];
  const redWith = async (flows: unknown[]): Promise<NodeRedProcess> => {
    const userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-bench-e2e-'));
    dirs.push(userDir);
    installIntoUserDir(userDir);
    const red = await startNodeRed({ userDir, flows, prefix: pinned, settings: { mqttReconnectTime: 500 } });
    started.push(red);
    return red;
  };
  try {
    const modbusPort = await freePort();
    const red = await redWith(classicFlow({ modbusPort, mqttHost: '127.0.0.1', mqttPort: broker.port }));
    await waitForPort(modbusPort, '127.0.0.1', 60000);
    const client = await mqtt.connectAsync(broker.url, { clientId: `bench-e2e-${process.pid}` });
    const features = ['flow', 'pressure', 'motor_current', 'vibration', 'temperature'];
    const collector = new Collector(client, features);
    await client.subscribeAsync(PREDICTION_FILTER, { qos: 1 });

    // warm-up: model loaded, JIT warm, broker connection up
    const warm = pumpDataset(1000, 1).map((s) => s.features);
    await offer(modbusPort, warm, 500);
    await collector.until(warm.length, 30000);
    // memory with the flow loaded and warmed up (model loaded, every node has handled messages)
    const warmRss = rssMb(red.child.pid!);

    // latency at 500 vectors/s, pinned to one core and (where taskset exists) on all cores
    const measureLatency = async (seed: number): Promise<{ rate: number; vectors: number; received: number; p50Ms: number; p99Ms: number; maxMs: number }> => {
      collector.reset();
      const vectors = pumpDataset(5000, seed).map((s) => s.features);
      const { sentAt } = await offer(modbusPort, vectors, 500);
      await collector.until(vectors.length, 30000);
      const latencies = vectors
        .map((v, i) => (collector.at(keyOf(v)) ?? Number.NaN) - sentAt[i]!)
        .filter((x) => Number.isFinite(x))
        .sort((a, b) => a - b);
      return {
        rate: 500,
        vectors: vectors.length,
        received: latencies.length,
        p50Ms: Number(percentile(latencies, 50).toFixed(2)),
        p99Ms: Number(percentile(latencies, 99).toFixed(2)),
        maxMs: Number(latencies[latencies.length - 1]!.toFixed(2)),
      };
    };
    const latency = { ...(await measureLatency(2)), goalP99Ms: 10, cores: pinned.length ? 1 : os.cpus().length };
    console.log(`  latency at 500/s (${latency.cores} core): p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms (${latency.received}/${latency.vectors})`);
    let latencyAllCores: typeof latency | undefined;
    if (pinned.length) {
      const pid = String(red.child.pid!);
      spawnSync('taskset', ['-a', '-p', '-c', `0-${os.cpus().length - 1}`, pid], { stdio: 'ignore' });
      latencyAllCores = { ...(await measureLatency(3)), goalP99Ms: 10, cores: os.cpus().length };
      spawnSync('taskset', ['-a', '-p', '-c', String(NODE_RED_CORE), pid], { stdio: 'ignore' }); // back to its own core for the rate steps
      console.log(`  latency at 500/s (${latencyAllCores.cores} cores): p50 ${latencyAllCores.p50Ms} ms, p99 ${latencyAllCores.p99Ms} ms`);
    }

    // and right after serving 500 vectors/s (young-generation garbage not yet collected)
    const busyRss = rssMb(red.child.pid!);

    // sustained rate: raise the offered rate until vectors go missing or the offer is not kept up
    const steps: Array<{ offered: number; achieved: number; sent: number; received: number }> = [];
    let sustained = 0;
    let seed = 10;
    for (const rate of [1000, 2000, 3000, 4000, 6000]) {
      collector.reset();
      const batch = pumpDataset(rate * 4, seed++).map((s) => s.features);
      const { seconds } = await offer(modbusPort, batch, rate, 8);
      await collector.until(batch.length, 15000);
      const achieved = Math.round(batch.length / seconds);
      steps.push({ offered: rate, achieved, sent: batch.length, received: collector.size });
      console.log(`  offered ${rate}/s: sent at ${achieved}/s, ${collector.size}/${batch.length} predictions`);
      if (collector.size < batch.length || achieved < rate * 0.95) break;
      sustained = achieved;
    }

    await client.endAsync();
    const empty = await redWith([]);
    await empty.waitForLog(/Started flows|Server now running/, 60000);
    const emptyRss = rssMb(empty.child.pid!);
    const mb = (x: number): number => Number(x.toFixed(1));
    const memory = {
      flowMb: mb(warmRss),
      emptyMb: mb(emptyRss),
      addedMb: mb(warmRss - emptyRss),
      busyFlowMb: mb(busyRss),
      addedWhileBusyMb: mb(busyRss - emptyRss),
      goalAddedMb: 80,
      note: 'flowMb: after loading and a 1,000-vector warm-up; busyFlowMb: right after the 500/s latency run',
    };
    console.log(`  memory: ${memory.flowMb} MB with the flow (${memory.busyFlowMb} MB right after 500/s), ${memory.emptyMb} MB empty, +${memory.addedMb} MB (+${memory.addedWhileBusyMb} MB)`);

    const file = writeResults('e2e.json', 'classic-flow', {
      broker: broker.kind,
      pinnedToOneCore: pinned.length > 0,
      latency,
      latencyAllCores,
      sustained: { vectorsPerSecond: sustained, goal: 2000, steps },
      memory,
      ratios: {
        p99OverGoal: Number((latency.p99Ms / latency.goalP99Ms).toFixed(3)),
        p99AllCoresOverGoal: latencyAllCores ? Number((latencyAllCores.p99Ms / latencyAllCores.goalP99Ms).toFixed(3)) : null,
        sustainedOverGoal: Number((sustained / 2000).toFixed(3)),
        addedMemoryOverGoal: Number((memory.addedMb / memory.goalAddedMb).toFixed(3)),
      },
      node: process.version,
      cpus: os.cpus().length,
    });
    console.log(`  -> ${file}`);
  } finally {
    for (const r of started) await r.stop();
    await broker.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
