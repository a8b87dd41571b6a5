/**
 * Runs inside an emulated device image (scripts/devices/check.ts bundles it with esbuild): every
 * ONNX backend case through onnx-infer of the installed package, in node-red-node-test-helper with
 * the image's Node.js and Node-RED. Prints one line `EDGEML-CONFORMANCE <json>`: { cases, passed, failed, runtime }.
 * Environment: EDGEML_NODES_DIR (the installed package's nodes/), EDGEML_CONFORMANCE_DIR, NODE_PATH
 * (where node-red and node-red-node-test-helper are installed).
 */
import { unloadFlow } from '../../test/helpers/flow';
import { caseMismatch, conformanceCases, runThroughFlow } from '../../test/helpers/onnx-conformance';

async function main(): Promise<void> {
  const cases = conformanceCases();
  const failed: string[] = [];
  let passed = 0;
  const runtimes = new Set<string>();
  for (const { case: c, ok, msg } of await runThroughFlow(cases)) {
    const runtime = (msg.model as { runtime?: string } | undefined)?.runtime;
    if (runtime) runtimes.add(runtime);
    if (!ok) {
      const err = msg.error as { code?: string; message?: string };
      failed.push(`${c.dir}: ${err.code} ${err.message}`);
      continue;
    }
    const problem = caseMismatch(c, msg.payload as Record<string, unknown>);
    if (problem) failed.push(`${c.dir}: ${problem}`);
    else passed++;
  }
  await unloadFlow();
  // marked: ONNX Runtime's own log lines share the output
  console.log(`EDGEML-CONFORMANCE ${JSON.stringify({ cases: cases.length, passed, failed, runtime: [...runtimes].join(',') || 'unknown' })}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
