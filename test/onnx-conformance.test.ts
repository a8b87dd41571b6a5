/**
 * Every ONNX backend node case in ../shared/conformance/onnx-node, through a real Node-RED flow:
 * inject the case's inputs as a tensor-object payload -> onnx-infer -> compare msg.payload with the
 * case's expected outputs (|a - e| <= atol + rtol * |e|, atol at least 1e-5, as the README says).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadFlow, unloadFlow, inject, getNode, SHARED } from './helpers/flow';
import type { FlowNode, Msg } from './helpers/flow';

const DIR = path.join(SHARED, 'conformance', 'onnx-node');

interface CaseTensor {
  dtype: string;
  dims: number[];
  data: Array<number | string | boolean>;
}
interface ConformanceCase {
  name: string;
  rtol: number;
  atol: number;
  inputs: Record<string, CaseTensor>;
  outputs: Record<string, CaseTensor>;
}

const cases = readdirSync(DIR)
  .filter((d) => !d.startsWith('.'))
  .sort()
  .map((d) => ({ dir: d, spec: JSON.parse(readFileSync(path.join(DIR, d, 'case.json'), 'utf8')) as ConformanceCase }));

const asNumber = (v: unknown): number => (typeof v === 'string' ? Number(v) : Number(v));

/** Why `actual` does not match `expected`, or undefined when it does. */
function mismatch(name: string, actual: unknown, expected: CaseTensor, rtol: number, atol: number): string | undefined {
  const a = actual as CaseTensor | undefined;
  if (!a || typeof a !== 'object') return `output ${name} missing`;
  if (a.dtype !== expected.dtype) return `output ${name}: dtype ${a.dtype}, expected ${expected.dtype}`;
  if (JSON.stringify(a.dims) !== JSON.stringify(expected.dims)) return `output ${name}: dims ${JSON.stringify(a.dims)}, expected ${JSON.stringify(expected.dims)}`;
  if (!Array.isArray(a.data)) return `output ${name}: data is not a plain array`;
  if (a.data.length !== expected.data.length) return `output ${name}: ${a.data.length} values, expected ${expected.data.length}`;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i];
    const x = a.data[i];
    let ok: boolean;
    if (expected.dtype === 'string' || expected.dtype === 'bool') ok = x === e;
    else if (expected.dtype === 'int64' || expected.dtype === 'uint64') ok = typeof x === 'number' || typeof x === 'string' ? BigInt(x) === BigInt(e as string) : false;
    else {
      const en = asNumber(e);
      const xn = asNumber(x);
      if (Number.isNaN(en)) ok = Number.isNaN(xn);
      else if (!Number.isFinite(en)) ok = xn === en;
      else ok = Math.abs(xn - en) <= atol + rtol * Math.abs(en);
    }
    if (!ok) return `output ${name}[${i}]: ${JSON.stringify(x)}, expected ${JSON.stringify(e)}`;
  }
  return undefined;
}

// Chunks keep the number of sessions open at once (each holds its model) modest on a small machine.
const CHUNK = 48;

after(() => unloadFlow());

test(`all ${cases.length} ONNX backend node cases pass through onnx-infer`, { timeout: 600_000 }, async () => {
  const failures: string[] = [];
  let passed = 0;
  for (let start = 0; start < cases.length; start += CHUNK) {
    const chunk = cases.slice(start, start + CHUNK);
    const flow: FlowNode[] = [
      { id: 'f1', type: 'tab' },
      { id: 'catcher', type: 'catch', z: 'f1', wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
    chunk.forEach((c, i) => {
      flow.push({ id: `m${i}`, type: 'onnx-model', path: path.join(DIR, c.dir, 'model.onnx'), watch: false, threads: '1' });
      flow.push({ id: `n${i}`, type: 'onnx-infer', z: 'f1', model: `m${i}`, property: 'payload', queueSize: '10', overflow: 'error', wires: [[`out${i}`]] });
      flow.push({ id: `out${i}`, type: 'helper', z: 'f1' });
    });
    await loadFlow(['onnx-model', 'onnx-infer'], flow);
    const results = new Map<number, { ok: boolean; msg: Msg }>();
    const settled = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chunk at ${start}: ${results.size} of ${chunk.length} answered`)), 120_000);
      const check = (): void => {
        if (results.size === chunk.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      chunk.forEach((_c, i) => getNode(`out${i}`).on('input', (msg: Msg) => (results.set(i, { ok: true, msg }), check())));
      getNode('caught').on('input', (msg: Msg) => {
        const source = (msg.error as { source?: { id?: string } } | undefined)?.source?.id ?? '';
        const i = Number(source.replace(/^n/, ''));
        results.set(i, { ok: false, msg });
        check();
      });
    });
    chunk.forEach((c, i) => inject(`n${i}`, { payload: c.spec.inputs, caseName: c.spec.name }));
    await settled;
    chunk.forEach((c, i) => {
      const r = results.get(i)!;
      if (!r.ok) {
        const err = r.msg.error as { code?: string; message?: string };
        failures.push(`${c.dir}: ${err.code} ${err.message}`);
        return;
      }
      const payload = r.msg.payload as Record<string, unknown>;
      const atol = Math.max(c.spec.atol, 1e-5);
      const problems = Object.entries(c.spec.outputs)
        .map(([name, expected]) => mismatch(name, payload[name], expected, c.spec.rtol, atol))
        .filter((p): p is string => p !== undefined);
      if (problems.length) failures.push(`${c.dir}: ${problems[0]}`);
      else passed++;
    });
    await unloadFlow();
  }
  console.log(`onnx conformance: ${passed} of ${cases.length} cases pass through onnx-infer`);
  for (const f of failures) console.log(`  FAIL ${f}`);
  assert.deepEqual(failures, []);
  assert.equal(passed, cases.length);
});
