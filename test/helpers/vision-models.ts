/**
 * Vision models whose outputs are known exactly, written with the repo's model builder:
 * a detector that always reports the same candidates (so decoded boxes are checked by hand), and
 * a segmenter that labels a pixel by its red channel (so the mask is computed from the image alone).
 */
import { buildModel, tensorValue } from '../../src/lib/onnx/build-model';
import { modelCardToMetadata, type ModelCard } from '../../src/lib/model-card';

/** YOLO-style candidates [cx, cy, w, h, score per class] in model-input pixels. */
export interface FixedCandidate {
  cx: number;
  cy: number;
  w: number;
  h: number;
  scores: number[];
}

/**
 * Output [1, 4 + C, N] (channels first) = the fixed candidates, plus 0 x the sum of the image so
 * the output depends on the input tensor (ONNX Runtime does not fold it away).
 */
export function fixedDetector(side: number, candidates: FixedCandidate[], card: ModelCard): Uint8Array {
  const C = candidates[0]!.scores.length;
  const K = 4 + C;
  const N = candidates.length;
  const values = new Array<number>(K * N).fill(0);
  candidates.forEach((c, i) => [c.cx, c.cy, c.w, c.h, ...c.scores].forEach((v, k) => (values[k * N + i] = v)));
  return buildModel({
    opsets: [{ domain: '', version: 13 }],
    graph: {
      name: 'fixed_detector',
      inputs: [tensorValue('images', 'float32', [1, 3, side, side])],
      outputs: [tensorValue('output0', 'float32', [1, K, N])],
      initializers: [
        { name: 'candidates', dtype: 'float32', dims: [1, K, N], data: values },
        { name: 'zero', dtype: 'float32', dims: [], data: [0] },
      ],
      nodes: [
        { opType: 'ReduceSum', inputs: ['images'], outputs: ['total'], attributes: { keepdims: { int: 0 } } },
        { opType: 'Mul', inputs: ['total', 'zero'], outputs: ['nothing'] },
        { opType: 'Add', inputs: ['candidates', 'nothing'], outputs: ['output0'] },
      ],
    },
    metadata: modelCardToMetadata(card),
  });
}

/** logits [1, 2, H, W] = [0.5 - red, red - 0.5]: class 1 where the red channel is above 0.5. */
export function redSegmenter(side: number, card: ModelCard): Uint8Array {
  return buildModel({
    opsets: [{ domain: '', version: 13 }],
    graph: {
      name: 'red_segmenter',
      inputs: [tensorValue('image', 'float32', [1, 3, side, side])],
      outputs: [tensorValue('logits', 'float32', [1, 2, side, side])],
      initializers: [
        { name: 'starts', dtype: 'int64', dims: [1], data: [0] },
        { name: 'ends', dtype: 'int64', dims: [1], data: [1] },
        { name: 'axes', dtype: 'int64', dims: [1], data: [1] },
        { name: 'half', dtype: 'float32', dims: [], data: [0.5] },
      ],
      nodes: [
        { opType: 'Slice', inputs: ['image', 'starts', 'ends', 'axes'], outputs: ['red'] },
        { opType: 'Sub', inputs: ['half', 'red'], outputs: ['background'] },
        { opType: 'Sub', inputs: ['red', 'half'], outputs: ['foreground'] },
        { opType: 'Concat', inputs: ['background', 'foreground'], outputs: ['logits'], attributes: { axis: { int: 1 } } },
      ],
    },
    metadata: modelCardToMetadata(card),
  });
}
