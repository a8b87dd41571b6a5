/**
 * Trains the demo part-inspection CNN and writes models/part-inspector.onnx (or --out FILE).
 * Run: npx tsx scripts/train-vision-model.ts [--out FILE]
 *
 * Seeded procedural 64x64 images (scripts/demo/parts.ts: a part with or without a scratch) ->
 * 2x2 average pool -> 3x3 conv (FILTERS filters) -> ReLU -> global max pool -> dense -> softmax,
 * trained end to end by mini-batch SGD with momentum (the max pool passes the gradient to the one
 * location that won, which makes the backward pass cheap). The model card carries the labels and
 * the image steps (edgeml.image), so ml-image and ml-format need no settings. Deterministic:
 * re-running gives a byte-identical file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildModel, tensorValue } from '../src/lib/onnx/build-model';
import { modelCardToMetadata, type ModelCard } from '../src/lib/model-card';
import { PART_LABELS, PART_SIZE, partDataset, type PartImage } from './demo/parts';
import { seededRng } from './demo/pump';

export const TRAIN_SEED = 640064;
export const HELD_OUT_SEED = 77001;
export const TRAIN_COUNT = 1200;
export const HELD_OUT_COUNT = 400;
export const FILTERS = 6;
export const EPOCHS = 20;
export const BATCH = 16;
export const LEARNING_RATE = 0.02;
export const MOMENTUM = 0.9;
export const INIT_SEED = 99;
export const ACCURACY_GOAL = 0.9;
export const MODEL_VERSION = '1.0.0';
export const DEFAULT_OUT = path.join(__dirname, '..', 'models', 'part-inspector.onnx');

const P = PART_SIZE / 2; // pooled side
const O = P - 2; // conv output side
const K = 27; // 3 x 3 x 3 weights per filter

export interface Cnn {
  conv: Float64Array; // [FILTERS, 3, 3, 3]
  convB: Float64Array; // [FILTERS]
  dense: Float64Array; // [FILTERS, 2] (Gemm B, row-major)
  denseB: Float64Array; // [2]
}

/** Input tensor of one image as ml-image makes it with the card's steps: NCHW, pixel / 255. */
export function toInput(img: PartImage): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = (img.data[i * 3 + c] as number) / 255;
  return out;
}

function pool(x: Float32Array): Float64Array {
  const out = new Float64Array(3 * P * P);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < P; y++) {
      for (let xx = 0; xx < P; xx++) {
        const b = c * PART_SIZE * PART_SIZE + 2 * y * PART_SIZE + 2 * xx;
        out[c * P * P + y * P + xx] = ((x[b] as number) + (x[b + 1] as number) + (x[b + PART_SIZE] as number) + (x[b + PART_SIZE + 1] as number)) / 4;
      }
    }
  }
  return out;
}

/** Forward pass in plain JS: logits, and for each filter the winning position and its value. */
export function forward(m: Cnn, x: Float32Array): { logits: [number, number]; feat: Float64Array; at: Int32Array; pooled: Float64Array } {
  const pooled = pool(x);
  const feat = new Float64Array(FILTERS);
  const at = new Int32Array(FILTERS);
  for (let f = 0; f < FILTERS; f++) {
    let best = -Infinity;
    let where = 0;
    for (let y = 0; y < O; y++) {
      for (let xx = 0; xx < O; xx++) {
        let s = m.convB[f] as number;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < 3; ky++) {
            const row = c * P * P + (y + ky) * P + xx;
            const w = f * K + c * 9 + ky * 3;
            s += (m.conv[w] as number) * (pooled[row] as number) + (m.conv[w + 1] as number) * (pooled[row + 1] as number) + (m.conv[w + 2] as number) * (pooled[row + 2] as number);
          }
        }
        if (s > best) {
          best = s;
          where = y * O + xx;
        }
      }
    }
    feat[f] = Math.max(0, best); // max(relu(z)) = relu(max(z))
    at[f] = best > 0 ? where : -1;
  }
  const logits: [number, number] = [m.denseB[0] as number, m.denseB[1] as number];
  for (let f = 0; f < FILTERS; f++) for (let k = 0; k < 2; k++) logits[k] += (feat[f] as number) * (m.dense[f * 2 + k] as number);
  return { logits, feat, at, pooled };
}

export function softmax2([a, b]: [number, number]): [number, number] {
  const m = Math.max(a, b);
  const ea = Math.exp(a - m);
  const eb = Math.exp(b - m);
  return [ea / (ea + eb), eb / (ea + eb)];
}

export function accuracy(m: Cnn, data: PartImage[]): number {
  let ok = 0;
  for (const img of data) {
    const [, p1] = softmax2(forward(m, toInput(img)).logits);
    if ((p1 > 0.5 ? 1 : 0) === img.label) ok++;
  }
  return ok / data.length;
}

export function train(): { model: Cnn; trainAccuracy: number; heldOutAccuracy: number } {
  const rng = seededRng(INIT_SEED);
  const m: Cnn = {
    // Half the filters start as dark-line detectors (ring minus centre, a Laplacian), the rest at
    // random: from random starts alone the max pool locks on the part's rim, the same in every image.
    conv: Float64Array.from({ length: FILTERS * K }, (_, i) => (Math.floor(i / K) < FILTERS / 2 ? (i % 9 === 4 ? -1 : 0.125) : rng.normal() * 0.3)),
    convB: new Float64Array(FILTERS),
    dense: Float64Array.from({ length: FILTERS * 2 }, () => rng.normal() * 0.3),
    denseB: new Float64Array(2),
  };
  const v = { conv: new Float64Array(m.conv.length), convB: new Float64Array(FILTERS), dense: new Float64Array(m.dense.length), denseB: new Float64Array(2) };
  const data = partDataset(TRAIN_SEED, TRAIN_COUNT);
  const inputs = data.map(toInput);
  const order = data.map((_, i) => i);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    for (let start = 0; start < order.length; start += BATCH) {
      const g = { conv: new Float64Array(m.conv.length), convB: new Float64Array(FILTERS), dense: new Float64Array(m.dense.length), denseB: new Float64Array(2) };
      const idx = order.slice(start, start + BATCH);
      for (const i of idx) {
        const { logits, feat, at, pooled } = forward(m, inputs[i] as Float32Array);
        const p = softmax2(logits);
        const y = (data[i] as PartImage).label;
        const dl = [p[0] - (y === 0 ? 1 : 0), p[1] - (y === 1 ? 1 : 0)];
        for (let k = 0; k < 2; k++) g.denseB[k]! += dl[k] as number;
        for (let f = 0; f < FILTERS; f++) {
          for (let k = 0; k < 2; k++) g.dense[f * 2 + k]! += (feat[f] as number) * (dl[k] as number);
          const where = at[f] as number;
          if (where < 0) continue;
          const dz = (dl[0] as number) * (m.dense[f * 2] as number) + (dl[1] as number) * (m.dense[f * 2 + 1] as number);
          const oy = Math.floor(where / O);
          const ox = where % O;
          g.convB[f]! += dz;
          for (let c = 0; c < 3; c++)
            for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) g.conv[f * K + c * 9 + ky * 3 + kx]! += dz * (pooled[c * P * P + (oy + ky) * P + ox + kx] as number);
        }
      }
      const lr = LEARNING_RATE / idx.length;
      for (const key of ['conv', 'convB', 'dense', 'denseB'] as const) {
        const w = m[key];
        const vel = v[key];
        const grad = g[key];
        for (let k = 0; k < w.length; k++) {
          vel[k] = MOMENTUM * (vel[k] as number) - lr * (grad[k] as number);
          w[k]! += vel[k] as number;
        }
      }
    }
    if (process.env.TRAIN_VERBOSE) console.log(`epoch ${epoch}: train accuracy ${accuracy(m, data.slice(0, 300)).toFixed(3)}`);
  }
  return { model: m, trainAccuracy: accuracy(m, data), heldOutAccuracy: accuracy(m, partDataset(HELD_OUT_SEED, HELD_OUT_COUNT)) };
}

export const CARD: ModelCard = {
  name: 'part-inspector',
  version: MODEL_VERSION,
  description: 'Demo CNN: a 64x64 image of a part -> ok / scratch. Trained on procedural images (scripts/train-vision-model.ts).',
  task: 'classification',
  labels: [...PART_LABELS],
  outputs: { scores: 'probabilities' },
  image: { width: PART_SIZE, height: PART_SIZE, layout: 'NCHW', order: 'RGB', channels: 3, resize: 'stretch', scale: 1 / 255, dtype: 'float32' },
};

const f32 = (a: Float64Array): number[] => Array.from(Float32Array.from(a));

export function toOnnx(m: Cnn): Uint8Array {
  return buildModel({
    irVersion: 8,
    opsets: [{ domain: '', version: 13 }],
    producerName: 'edge-ml train-vision-model',
    graph: {
      name: 'part_inspector',
      inputs: [tensorValue('image', 'float32', ['N', 3, PART_SIZE, PART_SIZE])],
      outputs: [tensorValue('probabilities', 'float32', ['N', 2])],
      initializers: [
        { name: 'conv_w', dtype: 'float32', dims: [FILTERS, 3, 3, 3], data: f32(m.conv) },
        { name: 'conv_b', dtype: 'float32', dims: [FILTERS], data: f32(m.convB) },
        { name: 'dense_w', dtype: 'float32', dims: [FILTERS, 2], data: f32(m.dense) },
        { name: 'dense_b', dtype: 'float32', dims: [2], data: f32(m.denseB) },
      ],
      nodes: [
        { opType: 'AveragePool', inputs: ['image'], outputs: ['pooled'], attributes: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } } },
        { opType: 'Conv', inputs: ['pooled', 'conv_w', 'conv_b'], outputs: ['conv'], attributes: { kernel_shape: { ints: [3, 3] } } },
        { opType: 'Relu', inputs: ['conv'], outputs: ['relu'] },
        { opType: 'GlobalMaxPool', inputs: ['relu'], outputs: ['gmax'] },
        { opType: 'Flatten', inputs: ['gmax'], outputs: ['feat'] },
        { opType: 'Gemm', inputs: ['feat', 'dense_w', 'dense_b'], outputs: ['logits'] },
        { opType: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: { int: 1 } } },
      ],
    },
    metadata: modelCardToMetadata(CARD),
  });
}

if (require.main === module) {
  const outArg = process.argv.indexOf('--out');
  const out = outArg > 0 ? (process.argv[outArg + 1] as string) : DEFAULT_OUT;
  const started = Date.now();
  const r = train();
  if (r.heldOutAccuracy < ACCURACY_GOAL) throw new Error(`held-out accuracy ${r.heldOutAccuracy} below the goal ${ACCURACY_GOAL}`);
  const bytes = toOnnx(r.model);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  console.log(
    `part-inspector: train ${(r.trainAccuracy * 100).toFixed(1)} %, held-out ${(r.heldOutAccuracy * 100).toFixed(1)} %, ${bytes.length} bytes, ${((Date.now() - started) / 1000).toFixed(1)} s -> ${out}`,
  );
}
