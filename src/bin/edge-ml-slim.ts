/**
 * edge-ml-slim: removes the ONNX Runtime libraries of other platforms from a device's install
 * (onnxruntime-node ships them all, about 290 MB; a device needs one, 25-45 MB).
 *
 *   edge-ml-slim [--dry-run] [--dir <Node-RED user dir>]
 *
 * Run it in the Node-RED user directory (default: the current folder) after installing or
 * updating the package. npm brings the other platforms back when it installs a new
 * onnxruntime-node version; run it again then.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { applySlim, planSlim } from '../lib/onnx/runtime-slim';

const { values } = parseArgs({
  options: {
    'dry-run': { type: 'boolean', default: false },
    dir: { type: 'string', default: process.cwd() },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log("usage: edge-ml-slim [--dry-run] [--dir <Node-RED user dir>]\n  keeps only this platform's ONNX Runtime libraries in <dir>/node_modules/onnxruntime-node");
  process.exit(0);
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
let runtimeDir: string;
try {
  const from = createRequire(path.join(path.resolve(values.dir!), 'package.json'));
  runtimeDir = path.dirname(from.resolve('onnxruntime-node/package.json'));
} catch {
  console.error(`edge-ml-slim: no onnxruntime-node installed under ${values.dir} (run it in the Node-RED user directory, or give --dir)`);
  process.exit(2);
}
try {
  const plan = planSlim(runtimeDir);
  for (const e of plan.entries) console.log(`${e.keep ? 'keep  ' : 'remove'} ${e.folder}  ${mb(e.bytes)}`);
  if (values['dry-run']) console.log(`would free ${mb(plan.removeBytes)} in ${runtimeDir} (keeps ${plan.keep}, ${mb(plan.keepBytes)})`);
  else {
    applySlim(plan);
    console.log(`freed ${mb(plan.removeBytes)} in ${runtimeDir} (kept ${plan.keep}, ${mb(plan.keepBytes)})`);
  }
} catch (error) {
  console.error(`edge-ml-slim: ${(error as Error).message}`);
  process.exit(1);
}
