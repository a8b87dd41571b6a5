/**
 * `npm run bench`: runs every bench/*.bench.ts (or those named on the command line) one after the
 * other; each writes its own bench/results/<area>.json.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
    .sort();
  for (const file of files) {
    console.log(`bench: ${file}`);
    const mod = (await import(path.join(__dirname, file))) as { run: () => Promise<void> };
    await mod.run();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
