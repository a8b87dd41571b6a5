/**
 * Writes the demo object detector models/part-detector.onnx and the demo scenes it is checked on,
 * models/demo-scenes/scene-N.jpg (scripts/demo/scenes.ts). Run: npx tsx scripts/make-part-detector.ts
 *
 * Not trained: a fixed graph that finds red, green and blue parts on a plain, unsaturated
 * background and answers in the YOLO layout [1, 4 + classes, N] (centre x, y, width, height in
 * model-input pixels, then one score per class), so ml-format decodes it like an Ultralytics
 * export. Per class, a pixel belongs to a part where its colour channel exceeds the other two by
 * THRESHOLD. For each CELL x CELL cell, a WINDOW x WINDOW window centred on it gives the extent of
 * the part pixels in it (max pooling of x, -x, y, -y, in two one-dimensional passes); the window's box counts only where the cell
 * holds part pixels and the extent does not touch the window's border (the part lies wholly
 * inside it). Every cell of a part then reports the same box, and NMS keeps one. Score: 0.5 + half
 * the share of the box the part fills (1 for a rectangle, about 0.89 for a disc). Parts of one
 * colour must lie more than a window apart. Deterministic: same bytes on every run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { buildModel, tensorValue, type NodeSpec, type TensorSpec } from '../src/lib/onnx/build-model';
import { modelCardToMetadata, type ModelCard } from '../src/lib/model-card';
import { DEMO_SCENE_SEEDS, demoScene, SCENE_LABELS, type Scene } from './demo/scenes';

export const INPUT = 640;
export const CELL = 16;
export const WINDOW = 144;
export const THRESHOLD = 0.25;
const PAD = (WINDOW - CELL) / 2;
const GRID = INPUT / CELL;
const C = SCENE_LABELS.length;
const N = C * GRID * GRID;
const BIG = 4096;

export const MODELS = path.join(__dirname, '..', 'models');
export const DETECTOR_FILE = path.join(MODELS, 'part-detector.onnx');
export const SCENES_DIR = path.join(MODELS, 'demo-scenes');

export const CARD: ModelCard = {
  name: 'part-detector',
  version: '1.0.0',
  description: 'Demo detector: red, green and blue parts on a plain light background, YOLO output layout [1, 7, 4800]. A fixed graph, not trained (scripts/make-part-detector.ts).',
  task: 'detection',
  labels: [...SCENE_LABELS],
  image: { width: INPUT, height: INPUT, layout: 'NCHW', order: 'RGB', channels: 3, resize: 'letterbox', pad: 114, scale: 1 / 255, dtype: 'float32' },
  detection: { format: 'yolo', layout: 'channels-first', box: 'cxcywh', normalized: false, scoreThreshold: 0.5, iouThreshold: 0.45, maxDetections: 50 },
};

const scalar = (name: string, v: number): TensorSpec => ({ name, dtype: 'float32', dims: [], data: [v] });
const ints = (name: string, v: number[]): TensorSpec => ({ name, dtype: 'int64', dims: [v.length], data: v });
const op = (opType: string, inputs: string[], output: string, attributes?: NodeSpec['attributes']): NodeSpec => ({ opType, inputs, outputs: [output], attributes });
/** A window pool as two one-dimensional passes (max and mean are separable): rows, then columns. */
const pool = (input: string, output: string, kind: 'MaxPool' | 'AveragePool', kernel: number, pad: number): NodeSpec[] =>
  [
    { k: [1, kernel], p: [0, pad, 0, pad], s: [1, CELL], from: input, to: `${output}_rows` },
    { k: [kernel, 1], p: [pad, 0, pad, 0], s: [CELL, 1], from: `${output}_rows`, to: output },
  ].map((pass) =>
    op(kind, [pass.from], pass.to, {
      kernel_shape: { ints: pass.k },
      strides: { ints: pass.s },
      pads: { ints: pass.p },
      ...(kind === 'AveragePool' ? { count_include_pad: { int: 1 } } : {}),
    }),
  );

export function detectorModel(): Uint8Array {
  const coords = Array.from({ length: INPUT }, (_, i) => i);
  const windowStart = Array.from({ length: GRID }, (_, j) => j * CELL - PAD);
  const nodes: NodeSpec[] = [];
  // colour channels and "how much this channel exceeds the other two"
  ['r', 'g', 'b'].forEach((ch, i) => nodes.push({ opType: 'Slice', inputs: ['images', `s${i}`, `e${i}`, 'axis1'], outputs: [ch] }));
  nodes.push(op('Max', ['g', 'b'], 'not_r'), op('Max', ['r', 'b'], 'not_g'), op('Max', ['r', 'g'], 'not_b'));
  nodes.push(op('Sub', ['r', 'not_r'], 'red'), op('Sub', ['g', 'not_g'], 'green'), op('Sub', ['b', 'not_b'], 'blue'));
  nodes.push(op('Concat', ['red', 'green', 'blue'], 'excess', { axis: { int: 1 } }));
  nodes.push(op('Greater', ['excess', 'threshold'], 'is_part'), op('Cast', ['is_part'], 'm', { to: { int: 1 } }));
  // (m - 1) * BIG: 0 on part pixels, -BIG elsewhere, so max pooling sees part pixels only
  nodes.push(op('Sub', ['m', 'one'], 'm1'), op('Mul', ['m1', 'big'], 'off'));
  for (const [axis, grid] of [
    ['x', 'xs'],
    ['y', 'ys'],
  ] as const) {
    nodes.push(op('Mul', ['m', grid], `m${axis}`), op('Add', [`m${axis}`, 'off'], `hi_${axis}_in`), op('Sub', ['off', `m${axis}`], `lo_${axis}_in`));
    nodes.push(...pool(`hi_${axis}_in`, `max_${axis}`, 'MaxPool', WINDOW, PAD), ...pool(`lo_${axis}_in`, `neg_min_${axis}`, 'MaxPool', WINDOW, PAD), op('Neg', [`neg_min_${axis}`], `min_${axis}`));
    // wholly inside the window: min > window start, max < window end
    nodes.push(op('Greater', [`min_${axis}`, `w0_${axis}`], `in_lo_${axis}`), op('Add', [`w0_${axis}`, 'window_last'], `w1_${axis}`), op('Less', [`max_${axis}`, `w1_${axis}`], `in_hi_${axis}`));
    nodes.push(op('Sub', [`max_${axis}`, `min_${axis}`], `d_${axis}`), op('Add', [`d_${axis}`, 'one'], `size_${axis}`));
    nodes.push(op('Add', [`min_${axis}`, `max_${axis}`], `sum_${axis}`), op('Add', [`sum_${axis}`, 'one'], `sum1_${axis}`), op('Mul', [`sum1_${axis}`, 'half'], `c_${axis}`));
  }
  nodes.push(op('And', ['in_lo_x', 'in_hi_x'], 'in_x'), op('And', ['in_lo_y', 'in_hi_y'], 'in_y'), op('And', ['in_x', 'in_y'], 'inside'), op('Cast', ['inside'], 'valid', { to: { int: 1 } }));
  nodes.push(...pool('m', 'has', 'MaxPool', CELL, 0));
  nodes.push(...pool('m', 'share', 'AveragePool', WINDOW, PAD), op('Mul', ['share', 'window_area'], 'count'));
  nodes.push(op('Mul', ['size_x', 'size_y'], 'area'), op('Div', ['count', 'area'], 'fill_raw'), op('Min', ['fill_raw', 'one'], 'fill'));
  nodes.push(op('Mul', ['fill', 'half'], 'fill_half'), op('Add', ['fill_half', 'half'], 'quality'));
  nodes.push(op('Mul', ['valid', 'has'], 'found'), op('Mul', ['found', 'quality'], 'score'));
  // candidates in class-major order: [cx, cy, w, h] rows, then score row k = score where class k
  for (const v of ['c_x', 'c_y', 'size_x', 'size_y']) nodes.push(op('Reshape', [v, 'row_shape'], `${v}_row`));
  nodes.push(op('Reshape', ['score', 'score_shape'], 'score_cls'), op('Mul', ['score_cls', 'eye'], 'score_grid'), op('Reshape', ['score_grid', 'scores_shape'], 'scores'));
  nodes.push(op('Concat', ['c_x_row', 'c_y_row', 'size_x_row', 'size_y_row', 'scores'], 'output0', { axis: { int: 1 } }));

  const initializers: TensorSpec[] = [
    ...[0, 1, 2].flatMap((i) => [ints(`s${i}`, [i]), ints(`e${i}`, [i + 1])]),
    ints('axis1', [1]),
    scalar('threshold', THRESHOLD),
    scalar('one', 1),
    scalar('half', 0.5),
    scalar('big', BIG),
    scalar('window_last', WINDOW - 1),
    scalar('window_area', WINDOW * WINDOW),
    { name: 'xs', dtype: 'float32', dims: [1, 1, 1, INPUT], data: coords },
    { name: 'ys', dtype: 'float32', dims: [1, 1, INPUT, 1], data: coords },
    { name: 'w0_x', dtype: 'float32', dims: [1, 1, 1, GRID], data: windowStart },
    { name: 'w0_y', dtype: 'float32', dims: [1, 1, GRID, 1], data: windowStart },
    ints('row_shape', [1, 1, N]),
    ints('score_shape', [1, 1, C, GRID * GRID]),
    { name: 'eye', dtype: 'float32', dims: [1, C, C, 1], data: Array.from({ length: C * C }, (_, i) => (Math.floor(i / C) === i % C ? 1 : 0)) },
    ints('scores_shape', [1, C, N]),
  ];
  return buildModel({
    irVersion: 8,
    opsets: [{ domain: '', version: 13 }],
    producerName: 'edge-ml make-part-detector',
    graph: {
      name: 'part_detector',
      inputs: [tensorValue('images', 'float32', [1, 3, INPUT, INPUT])],
      outputs: [tensorValue('output0', 'float32', [1, 4 + C, N])],
      initializers,
      nodes,
    },
    metadata: modelCardToMetadata(CARD),
  });
}

/** A scene as the JPEG file shipped with the example. */
export function sceneJpeg(scene: Scene): Buffer {
  const rgba = Buffer.alloc(scene.width * scene.height * 4, 255);
  for (let i = 0; i < scene.width * scene.height; i++) rgba.set(scene.data.subarray(i * 3, i * 3 + 3), i * 4);
  return jpeg.encode({ data: rgba, width: scene.width, height: scene.height }, 90).data;
}

export const sceneFile = (i: number): string => path.join(SCENES_DIR, `scene-${i + 1}.jpg`);

if (require.main === module) {
  mkdirSync(SCENES_DIR, { recursive: true });
  const model = detectorModel();
  writeFileSync(DETECTOR_FILE, model);
  DEMO_SCENE_SEEDS.forEach((seed, i) => writeFileSync(sceneFile(i), sceneJpeg(demoScene(seed))));
  console.log(`${path.relative(process.cwd(), DETECTOR_FILE)}: ${model.length} bytes; ${DEMO_SCENE_SEEDS.length} scenes in ${path.relative(process.cwd(), SCENES_DIR)}`);
}
