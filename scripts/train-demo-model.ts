/**
 * Trains the demo pump model and writes models/pump-classifier.onnx (or --out FILE).
 * Run: npm run train-demo   (npx tsx scripts/train-demo-model.ts [--out FILE])
 *
 * Seeded synthetic data (scripts/demo/pump.ts) -> standard scaler -> a 5-16-3 MLP trained by
 * full-batch gradient descent with momentum -> softmax probabilities + argmax label; plus an
 * anomaly score, the Mahalanobis distance from the normal class, computed in the graph. The model
 * card (edgeml.* metadata) carries features, units, scaler, labels, ranges, thresholds and
 * training statistics. Everything is deterministic: re-running gives a byte-identical file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildModel, tensorValue } from '../src/lib/onnx/build-model';
import { modelCardToMetadata } from '../src/lib/model-card';
import type { FeatureStats, ModelCard } from '../src/lib/model-card';
import { PUMP_CONDITIONS, PUMP_FEATURES, PUMP_RANGES, PUMP_UNITS, pumpDataset, seededRng } from './demo/pump';
import type { PumpSample } from './demo/pump';

export const TRAIN_SEED = 20240611;
export const HELD_OUT_SEED = 99173;
export const TRAIN_COUNT = 3000;
export const HELD_OUT_COUNT = 2000;
export const HIDDEN = 16;
export const EPOCHS = 600;
export const LEARNING_RATE = 0.3;
export const MOMENTUM = 0.9;
export const INIT_SEED = 4242;
/** The held-out accuracy the model must reach (tested). */
export const ACCURACY_GOAL = 0.9;
/** Share of normal training readings allowed above the anomaly threshold. */
export const ANOMALY_QUANTILE = 0.99;
export const MODEL_VERSION = '1.0.0';
export const DEFAULT_OUT = path.join(__dirname, '..', 'models', 'pump-classifier.onnx');

const F = PUMP_FEATURES.length;
const C = PUMP_CONDITIONS.length;

/** Rounds to 6 significant digits: a readable card, and values the card states exactly. */
const tidy = (v: number): number => Number(v.toPrecision(6));

export interface Mlp {
  w1: number[]; // [F, HIDDEN] row-major
  b1: number[];
  w2: number[]; // [HIDDEN, C]
  b2: number[];
}

export interface DemoModel {
  bytes: Uint8Array;
  card: ModelCard;
  trainAccuracy: number;
  heldOutAccuracy: number;
  heldOutCorrect: number;
  anomalyThreshold: number;
  /** Held-out share above the threshold: normal readings (false alarms) and faulty ones (detections). */
  normalAboveThreshold: number;
  faultAboveThreshold: number;
}

export function standardScaler(samples: PumpSample[]): { mean: number[]; scale: number[] } {
  const mean = PUMP_FEATURES.map((_, i) => tidy(samples.reduce((s, x) => s + x.features[i]!, 0) / samples.length));
  const scale = PUMP_FEATURES.map((_, i) => tidy(Math.sqrt(samples.reduce((s, x) => s + (x.features[i]! - mean[i]!) ** 2, 0) / samples.length)));
  return { mean, scale };
}

/** Model input as onnx-infer makes it from the card: (x - mean) / scale, as float32. */
export function scaleRow(row: number[], scaler: { mean: number[]; scale: number[] }): number[] {
  return row.map((v, i) => Math.fround((v - scaler.mean[i]!) / scaler.scale[i]!));
}

function forward(m: Mlp, x: number[]): { h: number[]; p: number[] } {
  const h = new Array<number>(HIDDEN);
  for (let j = 0; j < HIDDEN; j++) {
    let s = m.b1[j]!;
    for (let i = 0; i < F; i++) s += x[i]! * m.w1[i * HIDDEN + j]!;
    h[j] = s > 0 ? s : 0;
  }
  const z = new Array<number>(C);
  for (let k = 0; k < C; k++) {
    let s = m.b2[k]!;
    for (let j = 0; j < HIDDEN; j++) s += h[j]! * m.w2[j * C + k]!;
    z[k] = s;
  }
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return { h, p: e.map((v) => v / sum) };
}

export function predict(m: Mlp, x: number[]): number {
  const { p } = forward(m, x);
  let best = 0;
  for (let k = 1; k < C; k++) if (p[k]! > p[best]!) best = k;
  return best;
}

/** Full-batch gradient descent with momentum on softmax cross-entropy. */
export function trainMlp(xs: number[][], labels: number[]): Mlp {
  const rng = seededRng(INIT_SEED);
  const m: Mlp = {
    w1: Array.from({ length: F * HIDDEN }, () => rng.normal() * Math.sqrt(2 / F)),
    b1: new Array<number>(HIDDEN).fill(0),
    w2: Array.from({ length: HIDDEN * C }, () => rng.normal() * Math.sqrt(1 / HIDDEN)),
    b2: new Array<number>(C).fill(0),
  };
  const velocity: Mlp = { w1: m.w1.map(() => 0), b1: m.b1.map(() => 0), w2: m.w2.map(() => 0), b2: m.b2.map(() => 0) };
  const n = xs.length;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const g: Mlp = { w1: m.w1.map(() => 0), b1: m.b1.map(() => 0), w2: m.w2.map(() => 0), b2: m.b2.map(() => 0) };
    for (let r = 0; r < n; r++) {
      const x = xs[r]!;
      const { h, p } = forward(m, x);
      const dz = p.map((v, k) => v - (k === labels[r] ? 1 : 0));
      for (let k = 0; k < C; k++) g.b2[k]! += dz[k]!;
      for (let j = 0; j < HIDDEN; j++) {
        let dh = 0;
        for (let k = 0; k < C; k++) {
          g.w2[j * C + k]! += h[j]! * dz[k]!;
          dh += m.w2[j * C + k]! * dz[k]!;
        }
        if (h[j]! <= 0) continue;
        g.b1[j]! += dh;
        for (let i = 0; i < F; i++) g.w1[i * HIDDEN + j]! += x[i]! * dh;
      }
    }
    for (const key of ['w1', 'b1', 'w2', 'b2'] as const) {
      const params = m[key];
      const vel = velocity[key];
      const grad = g[key];
      for (let i = 0; i < params.length; i++) {
        vel[i] = MOMENTUM * vel[i]! - (LEARNING_RATE * grad[i]!) / n;
        params[i]! += vel[i]!;
      }
    }
  }
  // The file stores float32: predict with exactly those weights.
  return { w1: m.w1.map(Math.fround), b1: m.b1.map(Math.fround), w2: m.w2.map(Math.fround), b2: m.b2.map(Math.fround) };
}

/** Mean and whitening matrix M of the normal class: distance = |(x - mean) M|, M = (chol(cov)^-1)^T. */
export function mahalanobis(xs: number[][]): { mean: number[]; whiten: number[][] } {
  const n = xs.length;
  const mean = PUMP_FEATURES.map((_, i) => xs.reduce((s, x) => s + x[i]!, 0) / n);
  const cov = PUMP_FEATURES.map((_, i) => PUMP_FEATURES.map((__, j) => xs.reduce((s, x) => s + (x[i]! - mean[i]!) * (x[j]! - mean[j]!), 0) / (n - 1)));
  // Cholesky: cov = L L^T.
  const L = cov.map(() => new Array<number>(F).fill(0));
  for (let i = 0; i < F; i++) {
    for (let j = 0; j <= i; j++) {
      let s = cov[i]![j]!;
      for (let k = 0; k < j; k++) s -= L[i]![k]! * L[j]![k]!;
      L[i]![j] = i === j ? Math.sqrt(s) : s / L[j]![j]!;
    }
  }
  // Inverse of the lower-triangular L by forward substitution.
  const inv = cov.map(() => new Array<number>(F).fill(0));
  for (let c = 0; c < F; c++) {
    for (let i = 0; i < F; i++) {
      let s = i === c ? 1 : 0;
      for (let k = 0; k < i; k++) s -= L[i]![k]! * inv[k]![c]!;
      inv[i]![c] = s / L[i]![i]!;
    }
  }
  const whiten = PUMP_FEATURES.map((_, i) => PUMP_FEATURES.map((__, j) => Math.fround(inv[j]![i]!)));
  return { mean: mean.map(Math.fround), whiten };
}

export function anomalyScore(x: number[], a: { mean: number[]; whiten: number[][] }): number {
  const d = x.map((v, i) => v - a.mean[i]!);
  let sum = 0;
  for (let j = 0; j < F; j++) {
    let z = 0;
    for (let i = 0; i < F; i++) z += d[i]! * a.whiten[i]![j]!;
    sum += z * z;
  }
  return Math.sqrt(sum);
}

function featureStats(samples: PumpSample[], i: number, bins = 20): FeatureStats {
  const values = samples.map((s) => s.features[i]!);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const edges = Array.from({ length: bins + 1 }, (_, b) => tidy(min + ((max - min) * b) / bins));
  edges[0] = Math.min(edges[0]!, min);
  edges[bins] = Math.max(edges[bins]!, max);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    let b = 0;
    while (b < bins - 1 && v >= edges[b + 1]!) b++;
    counts[b]!++;
  }
  return { mean: tidy(mean), std: tidy(std), min: tidy(min), max: tidy(max), count: values.length, histogram: { edges, counts } };
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function trainDemoModel(): DemoModel {
  const train = pumpDataset(TRAIN_COUNT, TRAIN_SEED);
  const heldOut = pumpDataset(HELD_OUT_COUNT, HELD_OUT_SEED);
  const scaler = standardScaler(train);
  const xs = train.map((s) => scaleRow(s.features, scaler));
  const mlp = trainMlp(
    xs,
    train.map((s) => s.label),
  );
  const normal = mahalanobis(xs.filter((_, r) => train[r]!.label === 0));

  const trainCorrect = xs.filter((x, r) => predict(mlp, x) === train[r]!.label).length;
  const heldXs = heldOut.map((s) => scaleRow(s.features, scaler));
  const heldOutCorrect = heldXs.filter((x, r) => predict(mlp, x) === heldOut[r]!.label).length;

  const normalScores = xs.filter((_, r) => train[r]!.label === 0).map((x) => anomalyScore(x, normal));
  const anomalyThreshold = Number(quantile(normalScores, ANOMALY_QUANTILE).toFixed(3));
  const heldScores = heldXs.map((x) => anomalyScore(x, normal));
  const share = (want: (label: number) => boolean): number => {
    const picked = heldScores.filter((_, r) => want(heldOut[r]!.label));
    return picked.filter((s) => s >= anomalyThreshold).length / picked.length;
  };

  const card: ModelCard = {
    name: 'pump-classifier',
    version: MODEL_VERSION,
    description:
      'Demo model: condition of a centrifugal pump (normal, cavitation, bearing wear) from five sensor readings, ' +
      'with an anomaly score (Mahalanobis distance from normal operation). Trained on seeded synthetic data by scripts/train-demo-model.ts.',
    task: 'classification',
    features: [...PUMP_FEATURES],
    input: 'features',
    units: { ...PUMP_UNITS },
    scaler,
    ranges: Object.fromEntries(PUMP_FEATURES.map((f) => [f, PUMP_RANGES[f]])),
    nan: 'forbid',
    labels: [...PUMP_CONDITIONS],
    outputs: { label: 'label', scores: 'probabilities', score: 'anomaly_score' },
    thresholds: { anomaly: anomalyThreshold, confidence: 0.6, hysteresis: Number((anomalyThreshold * 0.1).toFixed(3)) },
    trainingStats: Object.fromEntries(PUMP_FEATURES.map((f, i) => [f, featureStats(train, i)])),
  };

  const bytes = buildModel({
    irVersion: 8,
    opsets: [{ domain: '', version: 17 }],
    producerName: 'node-red-contrib-edge-ml/train-demo-model',
    producerVersion: '1',
    modelVersion: 1,
    docString: `Held-out accuracy ${(heldOutCorrect / HELD_OUT_COUNT).toFixed(4)} on ${HELD_OUT_COUNT} synthetic readings (seed ${HELD_OUT_SEED}).`,
    metadata: modelCardToMetadata(card),
    graph: {
      name: 'pump_classifier',
      inputs: [tensorValue('features', 'float32', ['N', F])],
      outputs: [tensorValue('label', 'int64', ['N']), tensorValue('probabilities', 'float32', ['N', C]), tensorValue('anomaly_score', 'float32', ['N'])],
      initializers: [
        { name: 'w1', dtype: 'float32', dims: [F, HIDDEN], data: mlp.w1 },
        { name: 'b1', dtype: 'float32', dims: [HIDDEN], data: mlp.b1 },
        { name: 'w2', dtype: 'float32', dims: [HIDDEN, C], data: mlp.w2 },
        { name: 'b2', dtype: 'float32', dims: [C], data: mlp.b2 },
        { name: 'normal_mean', dtype: 'float32', dims: [F], data: normal.mean },
        { name: 'normal_whiten', dtype: 'float32', dims: [F, F], data: normal.whiten.flat() },
      ],
      nodes: [
        { opType: 'Gemm', name: 'hidden', inputs: ['features', 'w1', 'b1'], outputs: ['hidden_linear'] },
        { opType: 'Relu', name: 'hidden_relu', inputs: ['hidden_linear'], outputs: ['hidden'] },
        { opType: 'Gemm', name: 'logits', inputs: ['hidden', 'w2', 'b2'], outputs: ['logits'] },
        { opType: 'Softmax', name: 'softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: { int: -1 } } },
        { opType: 'ArgMax', name: 'argmax', inputs: ['probabilities'], outputs: ['label'], attributes: { axis: { int: 1 }, keepdims: { int: 0 } } },
        { opType: 'Sub', name: 'centre', inputs: ['features', 'normal_mean'], outputs: ['deviation'] },
        { opType: 'MatMul', name: 'whiten', inputs: ['deviation', 'normal_whiten'], outputs: ['whitened'] },
        { opType: 'ReduceSumSquare', name: 'squared_distance', inputs: ['whitened'], outputs: ['distance_squared'], attributes: { axes: { ints: [1] }, keepdims: { int: 0 } } },
        { opType: 'Sqrt', name: 'distance', inputs: ['distance_squared'], outputs: ['anomaly_score'] },
      ],
    },
  });

  return {
    bytes,
    card,
    trainAccuracy: trainCorrect / TRAIN_COUNT,
    heldOutAccuracy: heldOutCorrect / HELD_OUT_COUNT,
    heldOutCorrect,
    anomalyThreshold,
    normalAboveThreshold: share((l) => l === 0),
    faultAboveThreshold: share((l) => l !== 0),
  };
}

function main(): void {
  const at = process.argv.indexOf('--out');
  const out = at >= 0 && process.argv[at + 1] ? path.resolve(process.argv[at + 1]!) : DEFAULT_OUT;
  const model = trainDemoModel();
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, model.bytes);
  const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
  console.log(`wrote ${out} (${model.bytes.length} bytes)`);
  console.log(`train accuracy: ${pct(model.trainAccuracy)} (${TRAIN_COUNT} readings, seed ${TRAIN_SEED})`);
  console.log(`held-out accuracy: ${model.heldOutAccuracy.toFixed(4)} (${model.heldOutCorrect}/${HELD_OUT_COUNT}, seed ${HELD_OUT_SEED}; goal >= ${ACCURACY_GOAL})`);
  console.log(`anomaly threshold ${model.anomalyThreshold}: held-out normal above it ${pct(model.normalAboveThreshold)}, faulty above it ${pct(model.faultAboveThreshold)}`);
}

if (require.main === module) main();
