/**
 * Issue 16: hostile inputs to ml-format, ml-guard and ml-drift in a real Node-RED runtime end in a
 * coded error at a Catch node (never EDGEML_INTERNAL), and the next good message still passes.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { inject, loadFlow, nextMessage, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { checkDims } from '../src/lib/tensor-dims';

afterEach(() => unloadFlow());

function flow(type: string, config: Record<string, unknown>, outputs = 2): FlowNode[] {
  const wires = Array.from({ length: outputs }, (_, i) => [`out${i}`]);
  const nodes: FlowNode[] = [
    { id: 'n', type, name: '', wires, ...config },
    ...wires.map(([id]) => ({ id: id as string, type: 'helper' })),
    { id: 'catcher', type: 'catch', scope: ['n'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
  return [{ id: 'tab', type: 'tab', label: 'test' }, ...nodes.map((x) => ({ ...x, z: 'tab' }))];
}

async function expectError(msg: Record<string, unknown>, code: string): Promise<Msg> {
  const caught = nextMessage('caught');
  inject('n', msg);
  const c = await caught;
  const err = c.error as { code?: string; message?: string };
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
  return c;
}

test('checkDims: non-negative safe integers whose product is the data length, else a coded error', () => {
  assert.deepEqual(checkDims([1, 2], 2), [1, 2]);
  assert.deepEqual(checkDims([], 1), []);
  assert.deepEqual(checkDims([0, 3], 0), [0, 3]);
  for (const dims of [[1, 1e-300], [1, 0.5], [1, -1], [1, 'NaN'], [1, NaN], [1, Infinity], [1, null], [2, 2 ** 53], [1, 3], 'x', [[2]]]) {
    assert.throws(() => checkDims(dims, 2, 'y'), (e: { code?: string }) => e.code === 'EDGEML_TENSOR_DIMS_INVALID', JSON.stringify(dims));
  }
  assert.throws(() => checkDims(new Array(65).fill(1), 1), (e: { code?: string }) => e.code === 'EDGEML_TENSOR_DIMS_INVALID');
});

test('ml-format: dims 1e-300, 0.5, -1, "NaN" or a wrong product are EDGEML_TENSOR_DIMS_INVALID; the flow keeps running', async () => {
  await loadFlow(['ml-format'], flow('ml-format', { task: 'regression', passthrough: '*' }));
  const bad: unknown[] = [[1, 1e-300], [1, 0.5], [1, -1], [1, 'NaN'], [1, 3], [2.5], [-3]];
  for (const dims of bad) {
    const c = await expectError({ payload: { y: { dtype: 'float32', dims, data: [0.5, 0.25] } } }, 'EDGEML_TENSOR_DIMS_INVALID');
    assert.match(String((c.error as { message: string }).message), /"y"/);
  }
  const out = nextMessage('out0');
  inject('n', { payload: { y: { dtype: 'float32', dims: [1, 2], data: [0.5, 0.25] } } });
  const p = (await out).payload as { value: number[]; raw: { y: { dims: number[] } } };
  assert.deepEqual(p.value, [0.5, 0.25]);
  assert.deepEqual(p.raw.y.dims, [1, 2]);
});

test('ml-format: a tensor element that is an object, null or a hole is EDGEML_FORMAT_INPUT, not "v.trim is not a function"', async () => {
  await loadFlow(['ml-format'], flow('ml-format', { task: 'regression' }));
  for (const data of [[{}, 1], [null, 1], [[1], 2]]) {
    await expectError({ payload: { y: { dtype: 'float32', dims: [1, 2], data } } }, 'EDGEML_FORMAT_INPUT');
  }
  // eslint-disable-next-line no-sparse-arrays
  await expectError({ payload: { y: { dtype: 'float32', dims: [2], data: [1, , 2].slice(0, 2) } } }, 'EDGEML_FORMAT_INPUT');
});
