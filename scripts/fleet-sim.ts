/**
 * A simulated fleet of edge devices on an MQTT broker (docs/fleet-rollout.md):
 *
 *   npm run fleet-sim -- --devices 200 --broker mqtt://127.0.0.1:1883 [--processes 4] [--prefix edge-ml]
 *       [--public-key edge-ml-public.pem] [--report 5s] [--inferences 100] [--groups 2] [--id-prefix sim]
 *       [--store DIR] [--model pump]
 *
 * Each device uses the package's real update receiver, store and manifest checks and reports like
 * ml-model-update; see src/lib/fleet/simulator.ts. With --processes P the devices are split over P
 * child processes (each validates a received file with ONNX Runtime once). Ctrl-C stops them all.
 * Generate a model for a rollout with `--write-model FILE --version V [--sim '{"errorRate":0.3}'] [--width N]`.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/lib/fleet/plan';
import { FleetSimulator, simModel, type SimProfile } from '../src/lib/fleet/simulator';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '20' },
    broker: { type: 'string', default: process.env.EDGEML_MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
    processes: { type: 'string', default: '1' },
    prefix: { type: 'string', default: 'edge-ml' },
    'public-key': { type: 'string' },
    report: { type: 'string', default: '5s' },
    inferences: { type: 'string', default: '100' },
    groups: { type: 'string', default: '2' },
    'id-prefix': { type: 'string', default: 'sim' },
    store: { type: 'string' },
    model: { type: 'string', default: 'pump' },
    slice: { type: 'string' },
    'write-model': { type: 'string' },
    version: { type: 'string', default: '2.0.0' },
    sim: { type: 'string' },
    width: { type: 'string', default: '16' },
    help: { type: 'boolean', short: 'h' },
  },
});

async function main(): Promise<void> {
  if (values.help) {
    console.log(readFileSync(__filename, 'utf8').split('*/')[0]);
    return;
  }
  if (values['write-model']) {
    const sim = values.sim ? (JSON.parse(values.sim) as Partial<SimProfile>) : undefined;
    const bytes = simModel({ name: values.model!, version: values.version!, width: Number(values.width), ...(sim ? { sim } : {}) });
    writeFileSync(values['write-model'], bytes);
    console.log(`wrote ${values['write-model']} (${values.model} ${values.version}, ${bytes.length} bytes)`);
    return;
  }
  const total = Number(values.devices);
  const processes = Math.max(1, Math.min(Number(values.processes), total));
  const ids = Array.from({ length: total }, (_, i) => `${values['id-prefix']}-${String(i).padStart(String(total - 1).length, '0')}`);
  const groupCount = Math.max(1, Number(values.groups));
  if (processes > 1 && !values.slice) {
    const children = Array.from({ length: processes }, (_, k) => fork(__filename, [...process.argv.slice(2), '--slice', `${k}/${processes}`], { stdio: 'inherit' }));
    const stop = (): void => children.forEach((c) => c.kill('SIGTERM'));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    await Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
    return;
  }
  const [k, of] = (values.slice ?? '0/1').split('/').map(Number) as [number, number];
  const mine = ids.filter((_, i) => i % of === k);
  const store = values.store ? path.join(values.store, `slice-${k}`) : mkdtempSync(path.join(os.tmpdir(), 'edgeml-fleet-sim-'));
  const publicKey = values['public-key'] ? readFileSync(values['public-key'], 'utf8') : undefined;
  const sim = await FleetSimulator.start({
    brokerUrl: values.broker!,
    devices: mine,
    groups: (_i, id) => [`line-${(ids.indexOf(id) % groupCount) + 1}`],
    prefix: values.prefix!,
    storeRoot: store,
    modelName: values.model!,
    ...(publicKey ? { publicKey } : {}),
    reportMs: parseDuration(values.report!, '--report'),
    inferencesPerReport: Number(values.inferences),
  });
  console.log(`fleet-sim ${k + 1}/${of}: ${mine.length} devices on ${values.broker} (store ${store})`);
  sim.onState((d, s) => console.log(`${d.id}: ${s.state} ${s.version}${s.code ? ` ${s.code}` : ''}`));
  const stop = (): void => {
    void sim.stop().then(() => {
      if (!values.store) rmSync(store, { recursive: true, force: true });
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  console.error(`fleet-sim: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
