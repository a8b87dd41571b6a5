/**
 * Property: whatever the tensors hold (NaN, infinities, -0, huge values, empty tensors, 64-bit
 * integers as strings), ml-format's payload passes the published JSON Schema and survives
 * JSON.stringify/parse unchanged, or the input is refused with a coded EdgeMlError.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { formatPrediction, resolveFormatOptions, type FormatConfig } from '../src/lib/format/format';
import { validateJsonSchema, type JsonSchema } from './helpers/schema';
import { EdgeMlError } from '../src/lib/errors';
import type { TensorLike } from '../src/lib/format/tensor';
import { getNode, inject, loadFlow, ROOT, unloadFlow, type FlowNode, type Msg } from './helpers/flow';

const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-payload.schema.json'), 'utf8')) as JsonSchema;

const floatValue = fc.oneof(
  fc.double(), // includes NaN, +-Infinity, -0, subnormals, +-MAX_VALUE
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 1e308, -1e308, 5e-324, 0.5),
  fc.constantFrom('NaN', 'Infinity', '-Infinity'),
);
const int64Value = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => b.toString()),
  fc.integer({ min: -5, max: 5 }),
);

const shape = fc.oneof(
  fc.integer({ min: 0, max: 6 }).map((c) => [c]),
  fc.integer({ min: 0, max: 6 }).map((c) => [1, c]),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })).map(([b, c]) => [b, c]),
  fc.constant([] as number[]),
);

const tensor: fc.Arbitrary<TensorLike> = fc.tuple(fc.constantFrom('float32', 'float64', 'int64', 'int32', 'bool', 'string'), shape).chain(([dtype, dims]) => {
  const n = dims.reduce((a, b) => a * b, 1);
  const value: fc.Arbitrary<number | string | boolean> =
    dtype === 'int64' ? int64Value : dtype === 'int32' ? fc.integer() : dtype === 'bool' ? fc.boolean() : dtype === 'string' ? fc.string() : floatValue;
  return fc.array(value, { minLength: n, maxLength: n }).map((data) => ({ dtype, dims, data }));
});

const tensors = fc.dictionary(fc.constantFrom('label', 'scores', 'y', 'score', 'extra'), tensor, { minKeys: 1, maxKeys: 3 });

const config: fc.Arbitrary<FormatConfig> = fc.record(
  {
    task: fc.constantFrom('auto', 'classification', 'regression', 'anomaly'),
    labels: fc.array(fc.string(), { maxLength: 4 }),
    logits: fc.constantFrom('auto', 'true', 'false'),
    topK: fc.integer({ min: 0, max: 5 }),
    confidenceThreshold: fc.double({ min: 0, max: 1, noNaN: true }),
    targetScaler: fc.record({ mean: fc.double({ noNaN: true, noDefaultInfinity: true }), scale: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    decimals: fc.integer({ min: -1, max: 6 }),
    anomalyThreshold: fc.double({ noNaN: true, noDefaultInfinity: true }),
    passthrough: fc.constantFrom([] as string[], ['*']),
    unit: fc.string(),
  },
  { requiredKeys: ['task'] },
) as fc.Arbitrary<FormatConfig>;

const model = fc.record(
  {
    name: fc.oneof(fc.string(), fc.integer()),
    version: fc.oneof(fc.string(), fc.integer()),
    sha256: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 }), fc.string()),
  },
  { requiredKeys: [] },
);

const features = fc.option(fc.array(fc.oneof(floatValue, fc.string()), { maxLength: 4 }), { nil: undefined });

function checkPayloads(run: () => unknown[]): void {
  let payloads: unknown[];
  try {
    payloads = run();
  } catch (e) {
    assert.ok(e instanceof EdgeMlError, `only coded errors may escape: ${String(e)}`);
    assert.match(e.code, /^EDGEML_FORMAT_/);
    return;
  }
  assert.ok(payloads.length >= 1);
  for (const p of payloads) {
    assert.deepEqual(validateJsonSchema(schema, p), []);
    assert.deepStrictEqual(JSON.parse(JSON.stringify(p)), p);
  }
}

test('property: every payload is schema-valid and JSON round-trips unchanged', () => {
  fc.assert(
    fc.property(tensors, config, model, features, fc.integer({ min: 0, max: 4102444800000 }), (t, c, m, f, time) => {
      checkPayloads(() => formatPrediction({ tensors: t, model: m, time, inferenceMs: 3.5, features: f }, resolveFormatOptions(c)));
    }),
    { numRuns: 1500 },
  );
});

after(() => unloadFlow());

/** The next message at either of two helper nodes (a result or a caught error), whichever comes first. */
function firstOf(a: string, b: string, timeoutMs = 10000): Promise<{ id: string; msg: Msg }> {
  const nodes = [getNode(a), getNode(b)];
  return new Promise((resolve, reject) => {
    const listeners = nodes.map((n, i) => {
      const l = (msg: Msg): void => finish(() => resolve({ id: i === 0 ? a : b, msg }));
      n.on('input', l);
      return l;
    });
    const timer = setTimeout(() => finish(() => reject(new Error(`no message at ${a} or ${b}`))), timeoutMs);
    function finish(then: () => void): void {
      clearTimeout(timer);
      nodes.forEach((n, i) => n.removeListener('input', listeners[i]!));
      then();
    }
  });
}

test('property through the node: what leaves ml-format is schema-valid JSON', async () => {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab', label: 'p' },
    { id: 'fmt', type: 'ml-format', z: 'tab', task: 'auto', passthrough: '*', includeFeatures: true, topic: 'p/{model}', wires: [['out'], []] },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: ['fmt'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
  await loadFlow(['ml-format'], flow);
  await fc.assert(
    fc.asyncProperty(tensors, features, async (t, f) => {
      const result = firstOf('out', 'caught');
      inject('fmt', { payload: t, model: { name: 'm' }, features: f });
      const r = await result;
      if (r.id === 'caught') {
        assert.match(String((r.msg.error as { code?: string }).code), /^EDGEML_FORMAT_/);
        return;
      }
      assert.deepEqual(validateJsonSchema(schema, r.msg.payload), []);
      assert.deepStrictEqual(JSON.parse(JSON.stringify(r.msg.payload)), r.msg.payload);
    }),
    { numRuns: 150 },
  );
});
