/**
 * Shrinking an onnxruntime-node install to the one platform it runs on. The npm package ships its
 * native libraries for every platform it supports (bin/napi-v<N>/<platform>/<arch>/, about 290 MB
 * in all), and loads only `<process.platform>/<process.arch>`. A device keeps that folder; the
 * others can go. npm reinstalls the full package whenever onnxruntime-node's version changes (an
 * update of this package that brings a new one), so an update is never broken by the removal:
 * it only brings the other platforms back until the next slim.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

export interface SlimEntry {
  /** Path relative to the onnxruntime-node folder, e.g. bin/napi-v6/win32/x64. */
  folder: string;
  bytes: number;
  keep: boolean;
}

export interface SlimPlan {
  runtimeDir: string;
  keep: string;
  entries: SlimEntry[];
  removeBytes: number;
  keepBytes: number;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

/** What slimming `runtimeDir` (an onnxruntime-node package folder) would keep and remove. */
export function planSlim(runtimeDir: string, platform: string = process.platform, arch: string = process.arch): SlimPlan {
  const bin = path.join(runtimeDir, 'bin');
  const entries: SlimEntry[] = [];
  const keep = `${platform}/${arch}`;
  let found = false;
  for (const napi of readdirSync(bin).filter((d) => /^napi-v\d+$/.test(d))) {
    for (const os of readdirSync(path.join(bin, napi))) {
      const osDir = path.join(bin, napi, os);
      if (!statSync(osDir).isDirectory()) continue;
      for (const cpu of readdirSync(osDir)) {
        const dir = path.join(osDir, cpu);
        if (!statSync(dir).isDirectory()) continue;
        const mine = os === platform && cpu === arch;
        found ||= mine;
        entries.push({ folder: path.relative(runtimeDir, dir), bytes: folderBytes(dir), keep: mine });
      }
    }
  }
  if (!found) throw new Error(`onnxruntime-node in ${runtimeDir} has no binary for ${keep}: nothing removed (this platform needs onnxruntime-web)`);
  const sum = (keepIt: boolean): number => entries.filter((e) => e.keep === keepIt).reduce((n, e) => n + e.bytes, 0);
  return { runtimeDir, keep, entries, removeBytes: sum(false), keepBytes: sum(true) };
}

/** Removes every platform folder the plan does not keep (and the emptied platform folders). */
export function applySlim(plan: SlimPlan): void {
  for (const e of plan.entries) if (!e.keep) rmSync(path.join(plan.runtimeDir, e.folder), { recursive: true, force: true });
  const bin = path.join(plan.runtimeDir, 'bin');
  for (const napi of readdirSync(bin)) {
    for (const os of readdirSync(path.join(bin, napi))) {
      const osDir = path.join(bin, napi, os);
      if (statSync(osDir).isDirectory() && readdirSync(osDir).length === 0) rmSync(osDir, { recursive: true });
    }
  }
}
