/**
 * `npm run bench`: runs every bench/*.bench.ts (or those named on the command line) one after the
 * other, each in a process of its own so that none measures what an earlier one left behind (its
 * servers, timers, heap); each writes its own bench/results/<area>.json.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const ONE = '--one';

async function main(): Promise<void> {
  const all = process.argv.slice(2);
  // --ep <provider>: the execution provider bench/hardware.bench.ts compares with the CPU
  const ep = all.indexOf('--ep');
  if (ep >= 0) {
    process.env.EDGEML_BENCH_EP = all[ep + 1] ?? '';
    all.splice(ep, 2);
  }
  const args = all;
  if (args[0] === ONE) {
    const mod = (await import(path.join(__dirname, args[1]!))) as { run: () => Promise<void> };
    await mod.run();
    return;
  }
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => args.length === 0 || args.some((w) => f.startsWith(w)))
    .sort();
  if (files.length === 0) throw new Error(`bench: nothing matches ${args.join(' ')}`);
  for (const file of files) {
    console.log(`bench: ${file}`);
    const child = spawnSync(process.execPath, [...process.execArgv, __filename, ONE, file], { stdio: 'inherit' });
    if (child.status !== 0) throw new Error(`bench: ${file} failed (${child.signal ?? `exit ${child.status}`})`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
