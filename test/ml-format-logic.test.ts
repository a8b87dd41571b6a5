/**
 * ml-format's pure logic against values worked out by hand (in the comments), not by the code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { argmax, looksLikeLogits, softmax, topK } from '../src/lib/format/classify';
import { AnomalyTracker, AnomalyTrackers } from '../src/lib/format/anomaly';
import { renderTopic, topicPlaceholders } from '../src/lib/format/topic';
import { formatPrediction, resolveFormatOptions } from '../src/lib/format/format';
import { validateJsonSchema, type JsonSchema } from './helpers/schema';
import { EdgeMlError } from '../src/lib/errors';

const ROOT = path.resolve(__dirname, '..');
const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-payload.schema.json'), 'utf8')) as JsonSchema;
const close = (a: number, b: number, tol = 1e-8): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('softmax of [1, 2, 3] matches e^x / sum e^x worked by hand', () => {
  // e^1 = 2.718281828, e^2 = 7.389056099, e^3 = 20.085536923; sum = 30.192874850
  const p = softmax([1, 2, 3]);
  close(p[0]!, 2.718281828 / 30.19287485, 1e-9);
  close(p[1]!, 7.389056099 / 30.19287485, 1e-9);
  close(p[2]!, 20.085536923 / 30.19287485, 1e-9);
  // shift invariance: +1000 would overflow a naive exp
  const q = softmax([1001, 1002, 1003]);
  for (let i = 0; i < 3; i++) close(q[i]!, p[i]!, 1e-12);
  assert.ok(softmax([1, NaN]).every(Number.isNaN));
  assert.ok(softmax([Infinity, 1]).every(Number.isNaN));
  assert.deepEqual(softmax([]), []);
});

test('argmax and top-k rank by score, ties in class order', () => {
  assert.equal(argmax([0.1, 0.5, 0.2, 0.5]), 1);
  assert.equal(argmax([]), -1);
  assert.equal(argmax([1, NaN]), -1);
  assert.deepEqual(
    topK([0.1, 0.5, 0.2, 0.2], 3).map((c) => c.index),
    [1, 2, 3],
  );
  assert.deepEqual(
    topK([0.3, 0.7], 0).map((c) => c.index),
    [1, 0],
  );
  assert.equal(looksLikeLogits([0.2, 0.8]), false);
  assert.equal(looksLikeLogits([-1.2, 3]), true);
  assert.equal(looksLikeLogits([0.2, 0.2]), true); // does not sum to 1
});

test('anomaly flag: threshold 0.8, hysteresis 0.1, two samples to confirm', () => {
  const t = new AnomalyTracker({ threshold: 0.8, hysteresis: 0.1, minSamples: 2, minDurationMs: 0 });
  const scores = [0.5, 0.9, 0.7, 0.9, 0.9, 0.75, 0.65, 0.85, 0.6, 0.6];
  // by hand: rises at sample 5 (run started at 4); 0.75 is above 0.8 - 0.1 so it holds; 0.65 starts a
  // fall, 0.85 cancels it; 0.6, 0.6 confirm the fall at sample 10 (run started at 9).
  const expected = [false, false, false, false, true, true, true, true, true, false];
  const events: Array<[number, string, number]> = [];
  scores.forEach((s, i) => {
    const e = t.update(s, (i + 1) * 1000);
    if (e) events.push([i + 1, e.event, e.since / 1000]);
    assert.equal(t.anomaly, expected[i], `sample ${i + 1}`);
  });
  assert.deepEqual(events, [
    [5, 'anomaly-start', 4],
    [10, 'anomaly-end', 9],
  ]);
});

test('anomaly flag: minimum duration in ms, NaN neither confirms nor cancels', () => {
  const t = new AnomalyTracker({ threshold: 1, hysteresis: 0, minSamples: 1, minDurationMs: 1000 });
  assert.equal(t.update(2, 0), undefined);
  assert.equal(t.update(NaN, 300), undefined);
  assert.equal(t.update(2, 999), undefined);
  const e = t.update(2, 1000);
  assert.equal(e?.event, 'anomaly-start');
  assert.equal(e?.since, 0);
  const keyed = new AnomalyTrackers({ threshold: 1, hysteresis: 0, minSamples: 1, minDurationMs: 0 }, 3);
  for (let i = 0; i < 10; i++) keyed.get(`dev${i}`).update(2, i);
  assert.equal(keyed.size, 3);
});

test('topic template: builtins, msg paths, env, sanitised values, missing placeholder', () => {
  const ctx = { builtins: { model: 'pump', version: '2' }, msg: { device: 'p/1+#', meta: { line: 7 } }, env: (n: string) => (n === 'SITE' ? 'hall' : undefined) };
  assert.equal(renderTopic('plant/{env.SITE}/{device}/{model}/v{version}/{meta.line}', ctx), 'plant/hall/p_1__/pump/v2/7');
  assert.equal(renderTopic('{msg.device}', ctx), 'p_1__');
  assert.deepEqual(topicPlaceholders('a/{x}/{ y }'), ['x', 'y']);
  assert.throws(
    () => renderTopic('plant/{nope}', ctx),
    (e: EdgeMlError) => e.code === 'EDGEML_FORMAT_TOPIC' && e.params.placeholder === 'nope',
  );
  assert.throws(
    () => renderTopic('{env.NOPE}', ctx),
    (e: EdgeMlError) => e.code === 'EDGEML_FORMAT_TOPIC',
  );
});

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 6);

test('classification: softmax on logits, labels from the card, top-k, confidence threshold', () => {
  const card = { labels: ['normal', 'cavitation', 'bearing'], logits: true, outputs: { scores: 'logits' }, thresholds: { confidence: 0.5 } };
  const opts = resolveFormatOptions({ topK: 2 }, card);
  const [p] = formatPrediction({ tensors: { logits: { dtype: 'float32', dims: [1, 3], data: [1, 2, 3] } }, model: { name: 'pump', version: '3', sha256: 'AB'.repeat(32) }, time: T0 }, opts);
  assert.ok(p);
  assert.equal(p.task, 'classification');
  assert.equal(p.label, 'bearing');
  close(p.score!, 20.085536923 / 30.19287485, 1e-9);
  assert.deepEqual(
    p.topk!.map((c) => c.label),
    ['bearing', 'cavitation'],
  );
  assert.deepEqual(p.model, { name: 'pump', version: '3', sha256: 'ab'.repeat(32) });
  assert.equal(p.ts, '2026-01-02T03:04:05.006Z');
  assert.equal(p.time, T0);
  assert.deepEqual(validateJsonSchema(schema, p), []);
  // 0.665 < 0.7: below the node's threshold the label is the unknown label, the score stays.
  const strict = resolveFormatOptions({ confidenceThreshold: 0.7, unknownLabel: '?' }, card);
  const [q] = formatPrediction({ tensors: { logits: { dtype: 'float32', dims: [1, 3], data: [1, 2, 3] } }, time: T0 }, strict);
  assert.equal(q!.label, '?');
  assert.equal(q!.model.name, 'unknown');
});

test('classification: int64 label output as decimal string plus probabilities; batch rows', () => {
  const opts = resolveFormatOptions({ labels: ['a', 'b'] });
  const out = formatPrediction(
    {
      tensors: {
        label: { dtype: 'int64', dims: [2], data: ['1', '0'] },
        probabilities: { dtype: 'float32', dims: [2, 2], data: [0.25, 0.75, 0.9, 0.1] },
      },
      time: T0,
    },
    opts,
  );
  assert.equal(out.length, 2);
  assert.deepEqual(
    out.map((p) => [p.label, p.score, p.row]),
    [
      ['b', 0.75, 0],
      ['a', 0.9, 1],
    ],
  );
  for (const p of out) assert.deepEqual(validateJsonSchema(schema, p), []);
});

test('regression: inverse target scaling y * scale + mean, units, rounding', () => {
  const card = { task: 'regression' as const, targetScaler: { mean: 10, scale: 4 }, units: { value: 'bar' } };
  // 0.123456 * 4 + 10 = 10.493824 -> 10.49 at 2 decimals
  const [p] = formatPrediction({ tensors: { y: { dtype: 'float32', dims: [1, 1], data: [0.123456] } }, time: T0 }, resolveFormatOptions({ decimals: 2 }, card));
  assert.equal(p!.value, 10.49);
  assert.equal(p!.unit, 'bar');
  assert.equal(p!.label, undefined);
  assert.ok(!('label' in p!) && !('topk' in p!) && !('anomaly' in p!));
  // a 1-D output is one value per row
  const rows = formatPrediction({ tensors: { y: { dtype: 'float32', dims: [2], data: [1, 2] } }, time: T0 }, resolveFormatOptions({ task: 'regression' }));
  assert.deepEqual(
    rows.map((r) => [r.value, r.row]),
    [
      [1, 0],
      [2, 1],
    ],
  );
  // two targets -> an array; the node's scaler overrides the card's (y * 1 + 0)
  const [q] = formatPrediction({ tensors: { y: { dtype: 'float64', dims: [1, 2], data: [1.5, -2] } }, time: T0 }, resolveFormatOptions({ targetScaler: { mean: 0, scale: 1 } }, card));
  assert.deepEqual(q!.value, [1.5, -2]);
});

const refusedAsNonFinite = (run: () => unknown, output: string, row: number): void => {
  assert.throws(run, (e: EdgeMlError) => e.code === 'EDGEML_FORMAT_NONFINITE' && e.params.output === output && e.params.row === row);
};

test('classification: no label, top-k or score from non-finite scores, with or without a label output', () => {
  for (const bad of [NaN, Infinity, -Infinity, 'Infinity', '-Infinity', 'NaN']) {
    const scores = { dtype: 'float32', dims: [1, 3], data: [0.1, bad, 0.2] };
    refusedAsNonFinite(() => formatPrediction({ tensors: { s: scores }, time: T0 }, resolveFormatOptions({ task: 'classification' })), 's', 0);
    // ONNX classifiers answer argmax(NaN) = class 0 ("normal") in their label output: still refused.
    const label = { dtype: 'int64', dims: [1], data: [0] };
    refusedAsNonFinite(
      () => formatPrediction({ tensors: { label, s: scores }, time: T0 }, resolveFormatOptions({ task: 'classification', labels: ['normal', 'a', 'b'], outputs: { label: 'label', scores: 's' } })),
      's',
      0,
    );
  }
  // the second row of a batch is the bad one: the row is named
  refusedAsNonFinite(
    () => formatPrediction({ tensors: { s: { dtype: 'float32', dims: [2, 2], data: [0.4, 0.6, 0.5, Infinity] } }, time: T0 }, resolveFormatOptions({ task: 'classification', logits: 'false' })),
    's',
    1,
  );
});

test('regression: no value from a non-finite output, nor from one the target scaler overflows', () => {
  refusedAsNonFinite(() => formatPrediction({ tensors: { y: { dtype: 'float32', dims: [1], data: ['Infinity'] } }, time: T0 }, resolveFormatOptions({ task: 'regression' })), 'y', 0);
  refusedAsNonFinite(() => formatPrediction({ tensors: { y: { dtype: 'float64', dims: [1, 2], data: [1, -Infinity] } }, time: T0 }, resolveFormatOptions({ task: 'regression' })), 'y', 0);
  // 1e300 * 1e10 overflows a double
  refusedAsNonFinite(
    () => formatPrediction({ tensors: { y: { dtype: 'float64', dims: [1], data: [1e300] } }, time: T0 }, resolveFormatOptions({ task: 'regression', targetScaler: { mean: 0, scale: 1e10 } })),
    'y',
    0,
  );
});

test('anomaly: no score and no verdict from a non-finite score', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    refusedAsNonFinite(
      () => formatPrediction({ tensors: { a: { dtype: 'float32', dims: [2, 1], data: [0.1, bad] } }, time: T0 }, resolveFormatOptions({ task: 'anomaly', anomalyThreshold: 0.5 })),
      'a',
      1,
    );
  }
});

test('raw: passthrough tensors no result is read from keep non-finite values as strings; non-finite features are listed in invalid', () => {
  const [raw] = formatPrediction(
    {
      tensors: {
        y: { dtype: 'float32', dims: [2], data: [1.5, 2] },
        extra: { dtype: 'float32', dims: [2], data: [NaN, -Infinity] },
        big: { dtype: 'int64', dims: [2], data: ['9007199254740993', '-5'] },
      },
      time: T0,
      features: [1, Infinity],
    },
    resolveFormatOptions({ task: 'regression', outputs: { value: 'y' }, passthrough: ['*'], features: ['a', 'b'] }),
  );
  assert.deepEqual(raw!.raw!.extra, { dtype: 'float32', dims: [2], data: ['NaN', '-Infinity'] });
  assert.deepEqual(raw!.raw!.big, { dtype: 'int64', dims: [2], data: ['9007199254740993', -5] });
  assert.deepEqual(raw!.features, { a: 1 });
  assert.deepEqual(raw!.invalid, ['features.b']);
  assert.deepEqual(validateJsonSchema(schema, raw), []);
  assert.deepEqual(JSON.parse(JSON.stringify(raw)), raw);
  // the output a result is read from is refused even when it is also passed through
  refusedAsNonFinite(() => formatPrediction({ tensors: { y: { dtype: 'float32', dims: [1], data: [NaN] } }, time: T0 }, resolveFormatOptions({ task: 'regression', passthrough: ['*'] })), 'y', 0);
});

test('missing outputs and anomaly without threshold are coded errors', () => {
  assert.throws(
    () => formatPrediction({ tensors: { a: { dtype: 'float32', dims: [1], data: [1] } }, time: T0 }, resolveFormatOptions({ outputs: { value: 'nope' } })),
    (e: EdgeMlError) => e.code === 'EDGEML_FORMAT_OUTPUT_MISSING' && e.params.output === 'nope',
  );
  assert.throws(
    () => formatPrediction({ tensors: { a: { dtype: 'float32', dims: [1], data: [1] } }, time: T0 }, resolveFormatOptions({ task: 'anomaly' })),
    (e: EdgeMlError) => e.code === 'EDGEML_FORMAT_NO_THRESHOLD',
  );
  assert.throws(
    () => formatPrediction({ tensors: { a: { dtype: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } }, time: T0 }, resolveFormatOptions({ task: 'anomaly', anomalyThreshold: 1 })),
    (e: EdgeMlError) => e.code === 'EDGEML_FORMAT_OUTPUT_SHAPE',
  );
});

test('the schema validator rejects what the contract forbids', () => {
  const good = { task: 'anomaly', score: 0.3, anomaly: false, model: { name: 'm' }, ts: '2026-01-02T03:04:05.006Z', time: T0 };
  assert.deepEqual(validateJsonSchema(schema, good), []);
  const bad: Array<[string, unknown]> = [
    ['null field', { ...good, label: null }],
    ['NaN score', { ...good, score: NaN }],
    ['unknown field', { ...good, extra: 1 }],
    ['bad ts', { ...good, ts: '2026-02-30T00:00:00Z' }],
    ['no model', { ...good, model: undefined }],
    ['fractional time', { ...good, time: 1.5 }],
    ['bad sha', { ...good, model: { name: 'm', sha256: 'xyz' } }],
    ['topk entry', { ...good, topk: [{ label: 'a' }] }],
    ['unknown task', { ...good, task: 'clustering' }],
  ];
  for (const [why, value] of bad) assert.ok(validateJsonSchema(schema, value).length > 0, why);
  const { model: _dropped, ...noModel } = good;
  assert.ok(validateJsonSchema(schema, noModel).some((e) => e.includes('"model"')));
  // strict mode: a keyword the validator does not know is an error, not silently ignored
  assert.throws(() => validateJsonSchema({ type: 'object', frobnicate: {} }, {}), /unknown keyword/);
});
