/**
 * The ONNX backend node cases of ../shared/conformance/onnx-node, read in place, and a runner that
 * sends each case's inputs through onnx-infer in a real Node-RED flow (the test helper), in chunks
 * so a small machine never holds too many sessions at once.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getNode, inject, loadFlow, SHARED, unloadFlow, type FlowNode, type Msg } from './flow';

export const CONFORMANCE_DIR = process.env.EDGEML_CONFORMANCE_DIR ?? path.join(SHARED, 'conformance', 'onnx-node');

export interface CaseTensor {
  dtype: string;
  dims: number[];
  data: Array<number | string | boolean>;
}

export interface ConformanceCase {
  /** The case's folder name. */
  dir: string;
  spec: { name: string; rtol: number; atol: number; inputs: Record<string, CaseTensor>; outputs: Record<string, CaseTensor> };
}

export function conformanceCases(): ConformanceCase[] {
  if (!existsSync(CONFORMANCE_DIR)) return [];
  return readdirSync(CONFORMANCE_DIR)
    .filter((d) => !d.startsWith('.'))
    .sort()
    .map((d) => ({ dir: d, spec: JSON.parse(readFileSync(path.join(CONFORMANCE_DIR, d, 'case.json'), 'utf8')) as ConformanceCase['spec'] }));
}

/** Why `actual` does not match `expected` (|a - e| <= atol + rtol * |e|), or undefined when it does. */
export function mismatch(name: string, actual: unknown, expected: CaseTensor, rtol: number, atol: number): string | undefined {
  const a = actual as CaseTensor | undefined;
  if (!a || typeof a !== 'object') return `output ${name} missing`;
  if (a.dtype !== expected.dtype) return `output ${name}: dtype ${a.dtype}, expected ${expected.dtype}`;
  if (JSON.stringify(a.dims) !== JSON.stringify(expected.dims)) return `output ${name}: dims ${JSON.stringify(a.dims)}, expected ${JSON.stringify(expected.dims)}`;
  if (!Array.isArray(a.data)) return `output ${name}: data is not a plain array`;
  if (a.data.length !== expected.data.length) return `output ${name}: ${a.data.length} values, expected ${expected.data.length}`;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i]!;
    const x = a.data[i];
    let ok: boolean;
    if (expected.dtype === 'string' || expected.dtype === 'bool') ok = x === e;
    else if (expected.dtype === 'int64' || expected.dtype === 'uint64') ok = typeof x === 'number' || typeof x === 'string' ? BigInt(x) === BigInt(e as string) : false;
    else {
      const en = Number(e);
      const xn = Number(x);
      ok = Number.isNaN(en) ? Number.isNaN(xn) : !Number.isFinite(en) ? xn === en : Math.abs(xn - en) <= atol + rtol * Math.abs(en);
    }
    if (!ok) return `output ${name}[${i}]: ${JSON.stringify(x)}, expected ${JSON.stringify(e)}`;
  }
  return undefined;
}

/** The first mismatch between an answer's payload and the case's outputs (atol at least 1e-5), or undefined. */
export function caseMismatch(c: ConformanceCase, payload: Record<string, unknown>): string | undefined {
  const atol = Math.max(c.spec.atol, 1e-5);
  for (const [name, expected] of Object.entries(c.spec.outputs)) {
    const problem = mismatch(name, payload[name], expected, c.spec.rtol, atol);
    if (problem) return problem;
  }
  return undefined;
}

/** Sessions open at once: each holds its model. */
const CHUNK = 48;

export interface CaseAnswer {
  case: ConformanceCase;
  /** false: the message reached the Catch node (msg.error) instead of the output. */
  ok: boolean;
  msg: Msg;
}

/** Each case's inputs as a tensor-object payload into its own onnx-model + onnx-infer; one answer per case. */
export async function runThroughFlow(cases: ConformanceCase[]): Promise<CaseAnswer[]> {
  const answers: CaseAnswer[] = [];
  for (let start = 0; start < cases.length; start += CHUNK) {
    const chunk = cases.slice(start, start + CHUNK);
    const flow: FlowNode[] = [
      { id: 'f1', type: 'tab' },
      { id: 'catcher', type: 'catch', z: 'f1', wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
    chunk.forEach((c, i) => {
      flow.push({ id: `m${i}`, type: 'onnx-model', path: path.join(CONFORMANCE_DIR, c.dir, 'model.onnx'), watch: false, threads: '1' });
      flow.push({ id: `n${i}`, type: 'onnx-infer', z: 'f1', model: `m${i}`, property: 'payload', queueSize: '10', overflow: 'error', wires: [[`out${i}`]] });
      flow.push({ id: `out${i}`, type: 'helper', z: 'f1' });
    });
    await loadFlow(['onnx-model', 'onnx-infer'], flow);
    const results = new Map<number, { ok: boolean; msg: Msg }>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chunk at ${start}: ${results.size} of ${chunk.length} answered`)), 120_000);
      const settle = (i: number, ok: boolean, msg: Msg): void => {
        results.set(i, { ok, msg });
        if (results.size === chunk.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      chunk.forEach((_c, i) => getNode(`out${i}`).on('input', (msg: Msg) => settle(i, true, msg)));
      getNode('caught').on('input', (msg: Msg) => {
        const source = (msg.error as { source?: { id?: string } } | undefined)?.source?.id ?? '';
        settle(Number(source.replace(/^n/, '')), false, msg);
      });
      chunk.forEach((c, i) => inject(`n${i}`, { payload: c.spec.inputs, caseName: c.spec.name }));
    });
    chunk.forEach((c, i) => answers.push({ case: c, ...results.get(i)! }));
    await unloadFlow();
  }
  return answers;
}
