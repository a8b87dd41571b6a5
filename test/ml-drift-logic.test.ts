/** ml-drift's statistics against hand-worked values, and the monitor's windows and memory bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binIndex, histogram, histogramCdf, ksOneSample, ksPValue, ksTwoSample, meanShift, meanStd, normalCdf, psi, quantileEdges } from '../src/lib/drift/stats';
import { DEFAULT_DRIFT_OPTIONS, DriftMonitor, parseReferenceFile, referenceFromStats, type DriftOptions } from '../src/lib/drift/drift';
import { EdgeMlError } from '../src/lib/errors';
import { normalSource } from './helpers/random';

const close = (a: number, b: number, tol: number): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

test('PSI of [50,50] vs [25,75]: 0.25 ln 2 + 0.25 ln 1.5', () => {
  close(psi([50, 50], [25, 75]), 0.25 * Math.log(2) + 0.25 * Math.log(1.5), 1e-12);
  assert.equal(psi([10, 20, 30], [1, 2, 3]), 0); // same proportions
  // an empty live bin uses the 1e-4 floor: (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(1 / 0.5)
  close(psi([1, 1], [0, 4]), (1e-4 - 0.5) * Math.log(1e-4 / 0.5) + 0.5 * Math.log(2), 1e-12);
});

test('two-sample KS D on small samples worked by hand', () => {
  assert.equal(ksTwoSample([1, 2, 3, 4], [3, 4, 5, 6]), 0.5);
  assert.equal(ksTwoSample([1, 2, 3], [4, 5, 6]), 1);
  // F_a - F_b at 0.1: 1/3; at 0.4: 2/3 - 2/4; at 0.7: 1 - 3/4 -> sup = 1/3
  close(ksTwoSample([0.1, 0.4, 0.7], [0.2, 0.3, 0.5, 0.9]), 1 / 3, 1e-15);
  // one-sample against U(0,1): max(1/3 - 0.1, 0.9 - 2/3) = 7/30
  close(
    ksOneSample([0.1, 0.5, 0.9], (x) => x),
    7 / 30,
    1e-15,
  );
});

test('KS p-value: the 5% and 1% critical values of the Kolmogorov distribution', () => {
  // Q(1.358) = 0.05 and Q(1.628) = 0.01 (standard tables); n large makes the small-sample term vanish.
  const n = 1e8;
  close(ksPValue(1.358 / Math.sqrt(n), n), 0.05, 5e-4);
  close(ksPValue(1.628 / Math.sqrt(n), n), 0.01, 2e-4);
  assert.equal(ksPValue(0, 100), 1);
});

test('normal and histogram CDFs, bins, mean/std, mean shift', () => {
  close(normalCdf(1.96), 0.9750021, 2e-7);
  close(normalCdf(12, 10, 2), 0.8413447, 2e-7);
  const cdf = histogramCdf([0, 1, 2], [1, 3]);
  close(cdf(0.5), 0.125, 1e-15);
  close(cdf(1.5), 0.625, 1e-15);
  assert.equal(cdf(-1), 0);
  assert.equal(cdf(3), 1);
  assert.deepEqual(
    [-5, 0.5, 1, 2.999, 3, 10].map((x) => binIndex([0, 1, 2, 3], x)),
    [0, 0, 1, 2, 2, 2],
  );
  assert.deepEqual(histogram([0, 1, 2, 3], [-1, 0.5, 1.5, 2.5, 9]), [2, 1, 2]);
  const ms = meanStd([2, 4, 4, 4, 5, 5, 7, 9]); // mean 5, sample variance 32/7
  close(ms.mean, 5, 1e-15);
  close(ms.std, Math.sqrt(32 / 7), 1e-14);
  assert.equal(meanShift(12, 10, 2), 1);
  assert.equal(meanShift(1, 1, 0), 0);
  assert.deepEqual(quantileEdges([1, 2, 3, 4], 2), [1, 3, 4]);
});

test('monitor flags exactly the feature whose distribution shifted', () => {
  const rnd = normalSource(42);
  const refs = { a: referenceFromStats({ mean: 0, std: 1, min: -5, max: 5 }, 10), b: referenceFromStats({ mean: 10, std: 2, min: 0, max: 20 }, 10) };
  const m = new DriftMonitor({ ...DEFAULT_DRIFT_OPTIONS, window: 500 }, 'card', refs);
  const reports = [];
  for (let i = 0; i < 1000; i++) {
    const r = m.add({ a: rnd(i < 500 ? 0 : 1.5), b: rnd(10, 2) }, i);
    if (r) reports.push(r);
  }
  assert.equal(reports.length, 2);
  assert.deepEqual(
    reports.map((r) => r.drifted),
    [[], ['a']],
  );
  assert.equal(reports[1]!.features.a!.state, 'alarm');
  assert.deepEqual(reports[1]!.features.a!.reasons.sort(), ['ks', 'meanShift', 'psi']);
  assert.deepEqual(reports[1]!.window, { index: 1, mode: 'tumbling', size: 500, from: 500, to: 999 });
});

test('first-N reference learns, then compares; file reference with samples', () => {
  const rnd = normalSource(7);
  const o: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, window: 300, referenceSamples: 400 };
  const m = new DriftMonitor(o, 'samples');
  for (let i = 0; i < 400; i++) assert.equal(m.add({ x: rnd(), y: rnd(5) }, i), undefined);
  assert.equal(m.phase.learning, false);
  let report;
  for (let i = 0; i < 300; i++) report = m.add({ x: rnd(), y: rnd(5.8) }, i) ?? report; // y moves 0.8 std
  assert.deepEqual(report!.drifted, ['y']);
  const fileRefs = parseReferenceFile({ features: { x: { samples: [1, 2, 3, 4, 5] }, y: { mean: 0, std: 1 } } }, 4, 3);
  assert.equal(fileRefs.x!.sample!.length, 3);
  assert.throws(
    () => parseReferenceFile({ features: { x: { samples: ['a'] } } }, 4, 3),
    (e: EdgeMlError) => e.code === 'EDGEML_DRIFT_REFERENCE',
  );
  assert.throws(
    () => new DriftMonitor(o, 'card', {}),
    (e: EdgeMlError) => e.code === 'EDGEML_DRIFT_REFERENCE',
  );
  assert.throws(
    () => new DriftMonitor({ ...o, window: 1 }, 'samples'),
    (e: EdgeMlError) => e.code === 'EDGEML_DRIFT_CONFIG',
  );
});

test('memory stays bounded over 1e6 samples (sliding window, first-N reference)', () => {
  const rnd = normalSource(1);
  const o: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, window: 256, mode: 'sliding', step: 1000, referenceSamples: 512 };
  const m = new DriftMonitor(o, 'samples');
  let reports = 0;
  let maxFootprint = { features: 0, windowValues: 0, referenceValues: 0, learningValues: 0 };
  for (let i = 0; i < 1_000_000; i++) {
    if (m.add({ a: rnd(), b: rnd(3), c: rnd(-1, 0.1) }, i)) reports++;
    if (i % 50_000 === 0 || i === 999_999) {
      const f = m.footprint();
      maxFootprint = {
        features: Math.max(maxFootprint.features, f.features),
        windowValues: Math.max(maxFootprint.windowValues, f.windowValues),
        referenceValues: Math.max(maxFootprint.referenceValues, f.referenceValues),
        learningValues: Math.max(maxFootprint.learningValues, f.learningValues),
      };
    }
  }
  // 3 features x 256 window values; reference <= 512 samples + bins per feature; nothing else grows.
  assert.equal(maxFootprint.features, 3);
  assert.equal(maxFootprint.windowValues, 3 * 256);
  assert.ok(maxFootprint.referenceValues <= 3 * (512 + 2 * (o.bins + 1)));
  assert.ok(maxFootprint.learningValues <= 3 * 512);
  // reports every 1000 samples once 256 are in: (1e6 - 512 - 256) / 1000 + 1
  assert.equal(reports, Math.floor((1_000_000 - 512 - 256) / 1000) + 1);
});
