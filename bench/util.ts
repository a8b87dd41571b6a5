/**
 * Benchmark support. Every figure is reported against a baseline measured in the same run, so the
 * ratios hold on any machine; absolute numbers are kept beside them for context only.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RESULTS_DIR = path.resolve(__dirname, 'results');

/** Merges `section` into bench/results/<file> under `key` (several benches may share one file). */
export function writeResults(file: string, key: string, section: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const target = path.join(RESULTS_DIR, file);
  const current = existsSync(target) ? (JSON.parse(readFileSync(target, 'utf8')) as Record<string, unknown>) : {};
  current.machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', arch: process.arch };
  current[key] = { ...(section as object), measuredAt: new Date().toISOString() };
  writeFileSync(target, JSON.stringify(current, null, 2) + '\n');
  return target;
}

/** Runs fn for about `ms` after a warm-up and returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 1000, batch = 1000): number {
  const warmUntil = performance.now() + ms / 4;
  while (performance.now() < warmUntil) for (let i = 0; i < batch; i++) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

/** Alternates candidate and baseline in rounds so drift of the machine hits both alike. */
export function compare(candidate: () => void, baseline: () => void, rounds = 5, ms = 400): { candidate: number; baseline: number; ratio: number } {
  const c: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    b.push(opsPerSecond(baseline, ms));
    c.push(opsPerSecond(candidate, ms));
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const cand = median(c);
  const base = median(b);
  return { candidate: cand, baseline: base, ratio: base / cand };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
