/**
 * Issue 16: hostile inputs to ml-format, ml-guard and ml-drift in a real Node-RED runtime end in a
 * coded error at a Catch node (never EDGEML_INTERNAL), and the next good message still passes.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { inject, loadFlow, nextMessage, nextMessages, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { checkDims } from '../src/lib/tensor-dims';
import { loadSchema, validateJsonSchema } from './helpers/schema';
import { checkModelCard, parseModelCard } from '../src/lib/model-card';
import { DEFAULT_FEATURE_TABLE, OTHER_FEATURE } from '../src/lib/guard/guard';
import { DEFAULT_GUARD_SERIES, metricsRegistry } from '../src/lib/metrics';

const PAYLOAD_SCHEMA = loadSchema('ml-format-payload');

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
    assert.throws(
      () => checkDims(dims, 2, 'y'),
      (e: { code?: string }) => e.code === 'EDGEML_TENSOR_DIMS_INVALID',
      JSON.stringify(dims),
    );
  }
  assert.throws(
    () => checkDims(new Array(65).fill(1), 1),
    (e: { code?: string }) => e.code === 'EDGEML_TENSOR_DIMS_INVALID',
  );
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
  assert.deepEqual(validateJsonSchema(PAYLOAD_SCHEMA, p), []);
  assert.deepEqual(p.value, [0.5, 0.25]);
  assert.deepEqual(p.raw.y.dims, [1, 2]);
});

test('ml-format: a tensor element that is an object, null or a hole is EDGEML_FORMAT_INPUT, not "v.trim is not a function"', async () => {
  await loadFlow(['ml-format'], flow('ml-format', { task: 'regression' }));
  for (const data of [
    [{}, 1],
    [null, 1],
    [[1], 2],
  ]) {
    await expectError({ payload: { y: { dtype: 'float32', dims: [1, 2], data } } }, 'EDGEML_FORMAT_INPUT');
  }
  // eslint-disable-next-line no-sparse-arrays
  await expectError({ payload: { y: { dtype: 'float32', dims: [2], data: [1, , 2].slice(0, 2) } } }, 'EDGEML_FORMAT_INPUT');
});

const reg = { y: { dtype: 'float32', dims: [1, 1], data: [2] } };

test('model card: an empty edgeml.name is no name; a card object is checked where it enters', () => {
  assert.equal(parseModelCard({ 'edgeml.name': '', 'edgeml.version': '1' }).name, undefined);
  assert.deepEqual(checkModelCard({ name: '', labels: ['a'], extra: { x: [1] } }), { labels: ['a'], extra: { x: [1] } });
  const bad: unknown[] = [
    { name: 5 },
    { labels: [1n] },
    { labels: 'ab' },
    { features: 5 },
    { ranges: { a: [NaN, 1] } },
    { ranges: { a: [2, 1] } },
    { thresholds: { anomaly: '0.5' } },
    { trainingStats: { a: null } },
    { trainingStats: { a: { mean: 0, std: -1, min: 0, max: 1 } } },
    { trainingStats: { a: { mean: 0, std: 1, min: 0, max: 1, histogram: { edges: [2, 1], counts: [1] } } } },
    { trainingStats: { a: { mean: 0, std: 1, min: 0, max: 1, histogram: { edges: [0, 1], counts: [-1] } } } },
    { logits: 'yes' },
    { extra: 1n },
    { extra: () => 1 },
  ];
  for (const card of bad) {
    assert.throws(
      () => checkModelCard(card),
      (e: { code?: string }) => e.code === 'EDGEML_MODELCARD_INVALID',
      String(Object.keys(card as object)),
    );
  }
});

test('ml-format: an empty card name falls back (the default topic works); a number as name, a BigInt label: EDGEML_MODELCARD_INVALID', async () => {
  await loadFlow(['ml-format'], flow('ml-format', { task: 'regression' }));
  const out = nextMessage('out0');
  inject('n', { payload: reg, modelCard: { name: '' } });
  const msg = await out;
  assert.equal(msg.topic, 'edgeml/unknown/prediction');
  assert.equal((msg.payload as { model: { name: string } }).model.name, 'unknown');
  assert.deepEqual(validateJsonSchema(PAYLOAD_SCHEMA, msg.payload), []);
  await expectError({ payload: reg, modelCard: { name: 5 } }, 'EDGEML_MODELCARD_INVALID');
  await expectError({ payload: reg, modelCard: { name: 'm', labels: [1n] } }, 'EDGEML_MODELCARD_INVALID');
  const again = nextMessage('out0');
  inject('n', { payload: reg, modelCard: { name: 'm' } });
  assert.equal((await again).topic, 'edgeml/m/prediction');
});

test('ml-guard: a NaN range in msg.modelCard is refused (never a NaN "clamp"); non-array features, BigInt values: coded', async () => {
  await loadFlow(['ml-guard'], flow('ml-guard', { features: '', rules: [], policies: { range: 'replace' }, replaceWith: { range: 'clamp' } }));
  await expectError({ payload: { a: 5 }, modelCard: { ranges: { a: [NaN, 1] } } }, 'EDGEML_MODELCARD_INVALID');
  await expectError({ payload: { a: 5 }, modelCard: { features: 'a' } }, 'EDGEML_MODELCARD_INVALID');
  await expectError({ payload: 1n }, 'EDGEML_GUARD_INPUT');
  // A BigInt value is a value of the wrong type: dropped with a finding, the flow goes on.
  const clamped = nextMessage('out0');
  inject('n', { payload: { a: 5 }, modelCard: { ranges: { a: [0, 1] } } });
  const m = await clamped;
  assert.deepEqual(m.payload, { a: 1 });
  await unloadFlow();
  // A BigInt value is a value of the wrong type: a "type" finding, not an internal error.
  await loadFlow(['ml-guard'], flow('ml-guard', { features: 'a,b', rules: [], policies: { type: 'flag' }, replaceWith: {} }));
  const flagged = nextMessage('out0');
  inject('n', { payload: [1n, 2] });
  const f = await flagged;
  assert.deepEqual(
    (f.guard as { issues: Array<{ check: string; feature: string }> }).issues.map((x) => [x.check, x.feature]),
    [['type', 'a']],
  );
});

test('ml-drift: hostile trainingStats in msg.modelCard are EDGEML_MODELCARD_INVALID, not EDGEML_INTERNAL', async () => {
  await loadFlow(['ml-drift'], flow('ml-drift', { reference: 'card', window: '10' }, 1));
  for (const trainingStats of [{ a: null }, { a: { mean: 'x', std: 1, min: 0, max: 1 } }, 'abc', { a: { mean: 0, std: 1, min: 0, max: 1, histogram: { edges: [3, 2, 1], counts: [1, 1] } } }]) {
    await expectError({ payload: { a: 1 }, modelCard: { trainingStats } }, 'EDGEML_MODELCARD_INVALID');
  }
});

test('ml-guard without feature names, 2 fresh failing keys per message: the findings tables stay bounded, nothing is lost from the counts', async () => {
  await loadFlow(['ml-guard'], flow('ml-guard', { features: '', rules: [], policies: { null: 'flag' }, replaceWith: {} }));
  const MESSAGES = 300;
  const passed = nextMessages('out0', MESSAGES);
  for (let i = 0; i < MESSAGES; i++) inject('n', { payload: { [`k${i}a`]: null, [`k${i}b`]: null } });
  await passed;
  const reply = nextMessage('out1');
  inject('n', { command: 'stats' });
  const stats = (await reply).payload as { checks: Record<string, Record<string, number>> };
  const table = stats.checks.null ?? {};
  const names = Object.keys(table);
  assert.equal(names.length, DEFAULT_FEATURE_TABLE + 1);
  assert.ok(names.includes(OTHER_FEATURE));
  assert.equal(
    Object.values(table).reduce((a, b) => a + b, 0),
    2 * MESSAGES,
  );
  assert.equal(table[OTHER_FEATURE], 2 * MESSAGES - DEFAULT_FEATURE_TABLE);
  // The process-wide metrics (served at /edge-ml/metrics, sent with ml-model-update reports) are bounded too.
  const guardSeries = Object.keys(metricsRegistry().snapshot().guard);
  assert.ok(guardSeries.length <= DEFAULT_GUARD_SERIES + 1, `${guardSeries.length} series`);
  assert.ok(guardSeries.includes('null:(other)'));
});
