#!/usr/bin/env node
// Test tiers. Every run builds first (the tests load the built nodes/), then runs node's test
// runner on the chosen files:
//   node scripts/test.mjs all              every test file (what `npm test` runs)
//   node scripts/test.mjs quick            the edit-test loop: no child processes, no browser, no broker
//   node scripts/test.mjs file <files...>  just these files
// --no-build skips the build (when nothing under src/ changed since the last one).
//
// A test file is slow when it, or a local helper it imports (transitively), uses child processes,
// a browser, a broker or a Node-RED process: the quick tier is found from the sources, so a new
// test file needs no list to be kept up to date.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = path.join(root, 'test');
const SLOW = [/['"]node:child_process['"]/, /['"]child_process['"]/, /['"]playwright-core['"]/, /helpers\/broker['"]/, /helpers\/nodered-process['"]/];
const QUICK_BUDGET_MS = 60_000;

const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const [tier = 'all', ...rest] = args.filter((a) => a !== '--no-build');

function localImports(file) {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)['"]/g)]
    .map((m) => path.resolve(path.dirname(file), m[1]))
    .map((p) => [p, `${p}.ts`, path.join(p, 'index.ts')].find((c) => existsSync(c) && c.endsWith('.ts')))
    .filter(Boolean);
}

const slowCache = new Map();
function isSlow(file, seen = new Set()) {
  if (slowCache.has(file)) return slowCache.get(file);
  if (seen.has(file)) return false;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  // src/ is the package itself; what it starts (worker threads) is not a child process
  const slow = SLOW.some((re) => re.test(text)) || localImports(file).some((f) => f.startsWith(testDir) && isSlow(f, seen));
  slowCache.set(file, slow);
  return slow;
}

const all = readdirSync(testDir)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => path.join(testDir, f));

let files;
if (tier === 'all') files = all;
else if (tier === 'quick') files = all.filter((f) => !isSlow(f));
else if (tier === 'file') files = rest.map((f) => path.resolve(f));
else {
  console.error(`test: unknown tier ${tier} (all, quick, file <files...>)`);
  process.exit(2);
}
if (files.length === 0) {
  console.error('test: no test files');
  process.exit(2);
}

if (build) execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
if (tier === 'quick') console.log(`test:quick: ${files.length} of ${all.length} files (${all.length - files.length} use child processes, a browser or a broker)`);
const started = Date.now();
// every core: most of a quick file's time is starting (tsx, the Node-RED runtime), not testing
const concurrency = tier === 'quick' ? [`--test-concurrency=${os.availableParallelism()}`] : [];
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...concurrency, '--test-reporter=spec', ...files.map((f) => path.relative(root, f))], { cwd: root, stdio: 'inherit' });
const ms = Date.now() - started;
if (tier === 'quick') {
  console.log(`test:quick took ${(ms / 1000).toFixed(1)} s (budget ${QUICK_BUDGET_MS / 1000} s)`);
  if (ms > QUICK_BUDGET_MS) console.warn('test:quick is over its budget: move slow tests behind a helper that marks them slow, or speed them up');
}
process.exit(run.status ?? 1);
