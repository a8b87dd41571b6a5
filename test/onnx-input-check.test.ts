/**
 * The main-thread check of onnx-infer's input (src/lib/onnx/input-check.ts) on its own: sizes, the
 * values no tensor can hold (with where they are), nesting 100,000 levels deep without a stack
 * overflow, and the byte limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeMlError } from '../src/lib/errors';
import { checkInput, MAX_INPUT_DEPTH } from '../src/lib/onnx/input-check';

function refusal(value: unknown, maxBytes = 1e9): EdgeMlError {
  try {
    checkInput(value, maxBytes);
  } catch (e) {
    assert.ok(e instanceof EdgeMlError, String(e));
    return e;
  }
  assert.fail('accepted');
}

test('sizes: typed arrays by byteLength, strings by length, other values 8 bytes each', () => {
  const typed = new Float64Array(10);
  assert.equal(checkInput(typed, 1e9), typed.byteLength);
  assert.equal(checkInput([1, 2, 3], 1e9), 3 * 8);
  assert.equal(checkInput({ a: 'abcd', b: [true, null], c: { dtype: 'float32', dims: [2], data: new Float32Array(2) } }, 1e9), 4 + 16 + 'float32'.length + 8 + 8);
  assert.equal(checkInput(7, 1e9), 8);
});

test('what no tensor can hold is EDGEML_ONNX_INPUT_FORM with where it is', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ x: [1, [2, () => 1]] }, /payload\.x\[1\]\[1\] is a function/],
    [[1, Symbol('s')], /payload\[1\] is a symbol/],
    [{ a: { b: new Map() } }, /payload\.a\.b is a Map/],
    [new DataView(new ArrayBuffer(4)), /payload is a DataView/],
    [{ when: new Date() }, /payload\.when is a Date/],
    [new (class Reading {})(), /payload is a Reading/],
  ];
  for (const [value, why] of cases) {
    const err = refusal(value);
    assert.equal(err.code, 'EDGEML_ONNX_INPUT_FORM');
    assert.match(err.message, why);
    assert.match(String(err.params.reason), why);
  }
});

test('nesting: 32 levels pass, deeper is refused, 100,000 levels end in a coded error, not a stack overflow', () => {
  const nest = (levels: number): unknown => {
    let v: unknown = [1];
    for (let i = 1; i < levels; i++) v = [v];
    return v;
  };
  assert.equal(checkInput(nest(MAX_INPUT_DEPTH), 1e9), 8);
  for (const levels of [MAX_INPUT_DEPTH + 1, 100_000]) {
    const err = refusal(nest(levels));
    assert.equal(err.code, 'EDGEML_ONNX_INPUT_FORM');
    assert.match(err.message, /nested deeper than 32 levels/);
  }
});

test('beyond maxBytes: EDGEML_ONNX_INPUT_TOO_LARGE, found without looking at the whole input', () => {
  const err = refusal(new Array(1_000_000).fill(0.5), 800);
  assert.equal(err.code, 'EDGEML_ONNX_INPUT_TOO_LARGE');
  assert.equal(err.params.max, 800);
  // the walk stopped at the first value past the limit
  assert.equal(err.params.size, 808);
  assert.equal(refusal({ image: new Uint8Array(1024) }, 1000).code, 'EDGEML_ONNX_INPUT_TOO_LARGE');
  assert.equal(checkInput(new Uint8Array(1000), 1000), 1000);
});
