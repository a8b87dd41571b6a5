/**
 * Every ONNX backend node case in ../shared/conformance/onnx-node, through a real Node-RED flow:
 * inject the case's inputs as a tensor-object payload -> onnx-infer -> compare msg.payload with the
 * case's expected outputs (|a - e| <= atol + rtol * |e|, atol at least 1e-5, as the README says).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { unloadFlow, needsShared } from './helpers/flow';
import { caseMismatch, conformanceCases, runThroughFlow } from './helpers/onnx-conformance';

const cases = conformanceCases();

after(() => unloadFlow());

test(`all ${cases.length} ONNX backend node cases pass through onnx-infer`, { timeout: 600_000, skip: needsShared('conformance/onnx-node') }, async () => {
  const failures: string[] = [];
  let passed = 0;
  for (const { case: c, ok, msg } of await runThroughFlow(cases)) {
    if (!ok) {
      const err = msg.error as { code?: string; message?: string };
      failures.push(`${c.dir}: ${err.code} ${err.message}`);
      continue;
    }
    const problem = caseMismatch(c, msg.payload as Record<string, unknown>);
    if (problem) failures.push(`${c.dir}: ${problem}`);
    else passed++;
  }
  console.log(`onnx conformance: ${passed} of ${cases.length} cases pass through onnx-infer`);
  for (const f of failures) console.log(`  FAIL ${f}`);
  assert.deepEqual(failures, []);
  assert.equal(passed, cases.length);
});
