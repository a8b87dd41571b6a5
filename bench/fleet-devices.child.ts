/**
 * One process of simulated devices for the fleet bench and its CI-sized test: started with
 * `fork`, it connects its share of the devices (test/helpers/sim-devices.ts: the package's real
 * UpdateReceiver and store, each received model validated with ONNX Runtime once per file), tells
 * the parent it is ready, and stops when told. Usage: fork(this, [json options]).
 */
import { startSimDevices } from '../test/helpers/sim-devices';

interface Options {
  url: string;
  ids: string[];
  groups: string[];
  storeDir: string;
  modelFile: string;
  name: string;
  version: string;
  stallMs?: number;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]!) as Options;
  const { readFileSync } = await import('node:fs');
  const devices = await startSimDevices({ url: o.url, ids: o.ids, groups: o.groups, storeDir: o.storeDir, model: { name: o.name, version: o.version, bytes: readFileSync(o.modelFile) }, ...(o.stallMs ? { stallMs: o.stallMs } : {}) });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'serving') {
      process.send!({ serving: Object.fromEntries(o.ids.map((id) => [id, devices.serving(id)?.sha256 ?? null])) });
    } else if (m.cmd === 'stop') {
      void devices.stop().then(() => process.exit(0));
    }
  });
  process.send!({ ready: o.ids.length, rss: process.memoryUsage().rss });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
