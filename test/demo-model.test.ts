/**
 * The demo pump model: the committed file is what the script makes (byte for byte, every run),
 * ONNX Runtime on that file reaches the accuracy the script prints on held-out synthetic data, and
 * its anomaly score is the Mahalanobis distance computed here by a different method.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { PUMP_CONDITIONS, PUMP_FEATURES, PUMP_RANGES, PumpPlant, pumpDataset } from '../scripts/demo/pump';
import type { PumpSample } from '../scripts/demo/pump';
import { parseModelCard } from '../src/lib/model-card';
import type { ModelCard } from '../src/lib/model-card';
import { readModelInfo } from '../src/lib/onnx/model-file';
import { ACCURACY_GOAL, HELD_OUT_COUNT, HELD_OUT_SEED, TRAIN_COUNT, TRAIN_SEED } from '../scripts/train-demo-model';
import { ROOT } from './helpers/flow';
import { standardise } from './helpers/pump-reference';

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, 'scripts', 'train-demo-model.ts');
const COMMITTED = path.join(ROOT, 'models', 'pump-classifier.onnx');
/** Goals for the anomaly score on held-out data. */
const MAX_FALSE_ALARMS = 0.05;
const MIN_DETECTIONS = 0.8;

async function generate(out: string): Promise<{ bytes: Buffer; stdout: string }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', SCRIPT, '--out', out], { cwd: ROOT, timeout: 120_000 });
  return { bytes: readFileSync(out), stdout };
}

function scaled(samples: PumpSample[], card: ModelCard): Float32Array {
  return standardise(
    samples.map((s) => s.features),
    card,
  );
}

/** Solves A y = b by Gaussian elimination with partial pivoting (not the script's Cholesky). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * y[k]!;
    y[r] = s / m[r]![r]!;
  }
  return y;
}

describe('demo model: models/pump-classifier.onnx', () => {
  let dir: string;
  let printed: { correct: number; total: number };
  const committed = readFileSync(COMMITTED);
  const info = readModelInfo(committed);
  const card = parseModelCard(info.metadata);

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgeml-demo-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('re-running the script gives the committed file byte for byte (twice)', async () => {
    const [a, b] = await Promise.all([generate(path.join(dir, 'a.onnx')), generate(path.join(dir, 'b.onnx'))]);
    assert.ok(a.bytes.equals(b.bytes), 'two runs differ');
    assert.ok(a.bytes.equals(committed), 'the committed model is not what the script makes: run npm run train-demo');
    const m = /held-out accuracy: [0-9.]+ \((\d+)\/(\d+)/.exec(a.stdout);
    assert.ok(m, a.stdout);
    printed = { correct: Number(m[1]), total: Number(m[2]) };
    assert.equal(printed.total, HELD_OUT_COUNT);
  });

  it('carries a full model card', () => {
    assert.equal(card.task, 'classification');
    assert.deepEqual(card.features, [...PUMP_FEATURES]);
    assert.deepEqual(card.labels, [...PUMP_CONDITIONS]);
    assert.equal(card.input, info.inputs[0]!.name);
    assert.deepEqual(info.inputs[0]!.dims, ['N', PUMP_FEATURES.length]);
    assert.deepEqual(Object.values(card.outputs!).sort(), info.outputs.map((o) => o.name).sort());
    assert.ok(card.version && card.name && card.description && card.units && card.ranges);
    assert.ok(card.thresholds?.anomaly !== undefined && card.thresholds.confidence !== undefined);
    const train = pumpDataset(TRAIN_COUNT, TRAIN_SEED);
    PUMP_FEATURES.forEach((f, i) => {
      const stats = card.trainingStats![f]!;
      const values = train.map((s) => s.features[i]!);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      assert.ok(Math.abs(stats.mean - mean) <= 1e-5 * Math.abs(mean), `${f} mean`);
      assert.ok(Math.abs(card.scaler!.mean[i]! - mean) <= 1e-5 * Math.abs(mean), `${f} scaler mean`);
      assert.equal(
        stats.histogram!.counts.reduce((a, b) => a + b, 0),
        TRAIN_COUNT,
        `${f} histogram`,
      );
      assert.ok(Math.min(...values) >= card.ranges![f]![0] && Math.max(...values) <= card.ranges![f]![1], `${f} range`);
    });
  });

  it(`ONNX Runtime on the file reproduces the printed held-out accuracy (goal >= ${ACCURACY_GOAL})`, async () => {
    assert.ok(printed, 'needs the script output of the first test');
    const heldOut = pumpDataset(HELD_OUT_COUNT, HELD_OUT_SEED);
    const session = await ort.InferenceSession.create(committed, { logSeverityLevel: 3 });
    try {
      const out = await session.run({ [card.input!]: new ort.Tensor('float32', scaled(heldOut, card), [heldOut.length, PUMP_FEATURES.length]) });
      const labels = out[card.outputs!.label!]!.data as BigInt64Array;
      const probs = out[card.outputs!.scores!]!.data as Float32Array;
      let correct = 0;
      heldOut.forEach((s, r) => {
        const p = Array.from(probs.subarray(r * 3, r * 3 + 3));
        assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
        assert.equal(Number(labels[r]), p.indexOf(Math.max(...p)));
        if (Number(labels[r]) === s.label) correct++;
      });
      const accuracy = correct / heldOut.length;
      console.log(`# demo model held-out accuracy through ONNX Runtime: ${accuracy.toFixed(4)} (${correct}/${heldOut.length}); script: ${printed.correct}/${printed.total}`);
      assert.ok(accuracy >= ACCURACY_GOAL, `accuracy ${accuracy}`);
      // float32 (ORT) and float64 (script) may only part on near-ties.
      assert.ok(Math.abs(correct - printed.correct) <= 2, `ORT ${correct} vs script ${printed.correct}`);
    } finally {
      await session.release();
    }
  });

  it('its anomaly score is the Mahalanobis distance from normal training data and separates faults', async () => {
    const train = pumpDataset(TRAIN_COUNT, TRAIN_SEED).filter((s) => s.label === 0);
    const xs = Array.from({ length: train.length }, (_, r) => Array.from(scaled(train, card).subarray(r * 5, r * 5 + 5)));
    const mean = PUMP_FEATURES.map((_, i) => xs.reduce((s, x) => s + x[i]!, 0) / xs.length);
    const cov = PUMP_FEATURES.map((_, i) => PUMP_FEATURES.map((__, j) => xs.reduce((s, x) => s + (x[i]! - mean[i]!) * (x[j]! - mean[j]!), 0) / (xs.length - 1)));
    const distance = (x: number[]): number => {
      const d = x.map((v, i) => v - mean[i]!);
      return Math.sqrt(solve(cov, d).reduce((s, y, i) => s + y * d[i]!, 0));
    };
    const heldOut = pumpDataset(HELD_OUT_COUNT, HELD_OUT_SEED);
    const input = scaled(heldOut, card);
    const session = await ort.InferenceSession.create(committed, { logSeverityLevel: 3 });
    try {
      const out = await session.run({ [card.input!]: new ort.Tensor('float32', input, [heldOut.length, 5]) });
      const scores = out[card.outputs!.score!]!.data as Float32Array;
      heldOut.forEach((_, r) => {
        const expected = distance(Array.from(input.subarray(r * 5, r * 5 + 5)));
        assert.ok(Math.abs(scores[r]! - expected) <= 1e-3 * Math.max(1, expected), `row ${r}: ${scores[r]} vs ${expected}`);
      });
      const threshold = card.thresholds!.anomaly!;
      const rate = (want: boolean): number => {
        const picked = heldOut.map((s, r) => ({ s, score: scores[r]! })).filter(({ s }) => (s.label !== 0) === want);
        return picked.filter(({ score }) => score >= threshold).length / picked.length;
      };
      console.log(`# demo anomaly score: false alarms ${(rate(false) * 100).toFixed(2)}%, faults detected ${(rate(true) * 100).toFixed(2)}%`);
      assert.ok(rate(false) <= MAX_FALSE_ALARMS);
      assert.ok(rate(true) >= MIN_DETECTIONS);
    } finally {
      await session.release();
    }
  });

  it('the synthetic data generator is seeded and the plant simulator visits every condition within range', () => {
    assert.deepEqual(pumpDataset(50, 3), pumpDataset(50, 3));
    assert.notDeepEqual(pumpDataset(50, 3), pumpDataset(50, 4));
    const a = new PumpPlant({ seed: 5, meanHealthySeconds: 30, faultSeconds: 20 });
    const b = new PumpPlant({ seed: 5, meanHealthySeconds: 30, faultSeconds: 20 });
    const seen = new Set<string>();
    for (let t = 0; t < 2000; t++) {
      const r = a.next();
      assert.deepEqual(b.next(), r);
      seen.add(r.condition);
      PUMP_FEATURES.forEach((f, i) => {
        assert.equal(r.features[f], r.vector[i]);
        assert.ok(r.vector[i]! >= PUMP_RANGES[f][0] && r.vector[i]! <= PUMP_RANGES[f][1]);
      });
    }
    assert.deepEqual([...seen].sort(), [...PUMP_CONDITIONS].sort());
  });
});
