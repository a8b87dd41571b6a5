/**
 * One row of docs/hardware.md for the machine it runs on: which ONNX Runtime and execution provider
 * serve, what the runtime costs on disk, and inference figures through the package's own session
 * worker, each against a baseline of the same run. With an execution provider (`npm run bench
 * hardware -- --ep cuda`, or EDGEML_BENCH_EP=cuda), the same models also run on that provider and
 * the ratio provider/CPU is reported; a provider that cannot start here says why and the row says
 * "cpu" (no GPU: the figures are CPU figures).
 *
 * Models: the demo pump classifier (5 features, tiny: the per-message cost dominates) and an MLP
 * 256-2048-8 run on 64 rows (large enough for an accelerator to matter).
 * Writes bench/results/hardware.json and prints the markdown row.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelSession, shutdownSessionWorkers } from '../src/lib/onnx/model-session';
import { DEFAULT_SESSION_SETTINGS, parseProviders, type SessionSettings } from '../src/lib/onnx/session-settings';
import { mlpModel } from '../test/helpers/onnx-models';
import { PUMP_MODEL } from '../test/helpers/pump-reference';
import { percentile, writeResults } from './util';

const WORKER = path.resolve(__dirname, '..', 'nodes', 'onnx-model.session.worker.js');
const ROUNDS_MS = 1500;

function folderMB(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  walk(dir);
  return Math.round(total / 1024 / 102.4) / 10;
}

function libc(): string {
  const report = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return report?.glibcVersionRuntime ? `glibc ${report.glibcVersionRuntime}` : process.platform === 'linux' ? 'musl?' : '-';
}

interface Figures {
  provider: string;
  providerSkipped?: string;
  loadMs: number;
  /** One message at a time through the worker: p50 / p99 of the round trip. */
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
}

/** Loads `file` with `settings`, then runs `rows` for about ROUNDS_MS, one request at a time. */
async function measure(file: string, settings: SessionSettings, rows: number[][]): Promise<Figures> {
  const t = performance.now();
  const session = new ModelSession(WORKER, file, settings);
  try {
    await session.ready();
    const loadMs = performance.now() - t;
    for (let i = 0; i < 20; i++) await session.run([rows], { batch: false }); // warm-up
    const times: number[] = [];
    const until = performance.now() + ROUNDS_MS;
    while (performance.now() < until && times.length < 100_000) {
      const s = performance.now();
      await session.run([rows], { batch: false });
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const total = times.reduce((a, b) => a + b, 0);
    const d = session.description!;
    return {
      provider: d.provider ?? 'cpu',
      ...(d.providerSkipped ? { providerSkipped: d.providerSkipped } : {}),
      loadMs: Math.round(loadMs * 10) / 10,
      p50Ms: Math.round(percentile(times, 50) * 1000) / 1000,
      p99Ms: Math.round(percentile(times, 99) * 1000) / 1000,
      perSecond: Math.round((times.length * 1000) / total),
    };
  } finally {
    await session.close();
  }
}

export async function run(): Promise<void> {
  const args = process.argv;
  const epArg = args.indexOf('--ep');
  const ep = epArg >= 0 ? args[epArg + 1] : process.env.EDGEML_BENCH_EP;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hardware-bench-'));
  try {
    const big = mlpModel({ inputs: 256, hidden: 2048, outputs: 8, seed: 3 });
    const bigFile = path.join(dir, 'mlp-large.onnx');
    writeFileSync(bigFile, big.bytes);
    const pumpRow = [[98.4, 4.3, 27.1, 2.0, 49.5]];
    const bigRows = Array.from({ length: 64 }, (_, r) => Array.from({ length: 256 }, (_, i) => Math.sin(r * 256 + i)));
    const cpu = { ...DEFAULT_SESSION_SETTINGS, threads: 0 };
    const models = {
      pump: { file: PUMP_MODEL, rows: pumpRow },
      mlpLarge64: { file: bigFile, rows: bigRows },
    };
    const results: Record<string, { cpu: Figures; ep?: Figures; epOverCpu?: number }> = {};
    for (const [name, m] of Object.entries(models)) {
      const onCpu = await measure(m.file, cpu, m.rows);
      results[name] = { cpu: onCpu };
      if (ep) {
        const onEp = await measure(m.file, { ...cpu, providers: parseProviders(ep) }, m.rows);
        results[name]!.ep = onEp;
        // a ratio only where the provider really served (else it would compare the CPU with itself)
        if (onEp.provider !== 'cpu') results[name]!.epOverCpu = Math.round((onCpu.p50Ms / onEp.p50Ms) * 100) / 100;
      }
    }
    const ortDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const ortBin = path.join(ortDir, 'bin');
    const platform = { platform: process.platform, arch: process.arch, libc: libc(), node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length };
    const install = { onnxruntimeNodeMB: folderMB(ortDir), binariesMB: folderMB(ortBin) };
    const served = (results.pump!.ep ?? results.pump!.cpu).provider;
    const row = `| ${platform.platform} ${platform.arch} (${platform.libc}) | ${platform.cpu}, ${platform.cores} cores | onnxruntime-node, ${served} | ${install.onnxruntimeNodeMB} MB | pump p50 ${results.pump!.cpu.p50Ms} ms, ${results.pump!.cpu.perSecond}/s one at a time | MLP 256-2048-8 x64 rows p50 ${results.mlpLarge64!.cpu.p50Ms} ms${results.mlpLarge64!.epOverCpu ? ` (${served}: ${results.mlpLarge64!.epOverCpu}x CPU)` : ''} | \`npm run bench hardware\` |`;
    const file = writeResults('hardware.json', `${platform.platform}-${platform.arch}`, { platform, install, ep: ep ?? null, results, row });
    console.log(`hardware: ${file}\n${row}`);
    if (ep && served === 'cpu') console.log(`hardware: ${ep} did not start here: ${results.pump!.ep?.providerSkipped ?? 'no reason given'}`);
  } finally {
    await shutdownSessionWorkers();
    rmSync(dir, { recursive: true, force: true });
  }
}
