/**
 * Semantic segmentation output -> per-pixel classes in original-image pixels: argmax over the
 * class axis of logits [B, C, H, W], a class map [B, H, W] / [B, 1, H, W] taken as it is, or a
 * probability map [B, 1, H, W] (text detectors such as PaddleOCR's DB): class 1 where p > threshold.
 * Mapped back through ml-image's geometry (nearest neighbour); pixels the model never saw (outside
 * a center-crop) are class 255 in the mask and not counted in the areas.
 */
import { PNG } from 'pngjs';
import { EdgeMlError } from '../errors';
import type { ImageGeometry } from '../image/geometry';
import { tensorNumbers, type TensorLike } from './tensor';

export const UNSEEN = 255;

export interface SegmentationResult {
  /** Share of the seen original pixels per label, 0..1; labels with no pixel are left out. */
  areas: Record<string, number>;
  /** Class per original pixel (row-major), UNSEEN outside the crop. */
  classMap: Uint8Array;
  width: number;
  height: number;
}

function shapeError(output: string, dims: readonly number[]): EdgeMlError {
  return new EdgeMlError(
    'EDGEML_FORMAT_OUTPUT_SHAPE',
    `output "${output}" has the shape [${dims.join(', ')}]; segmentation needs logits [batch, classes, height, width] or a class map [batch, height, width]`,
    {
      output,
      dims: JSON.stringify(dims),
      expected: 'logits [batch, classes, height, width] or a class map [batch, height, width]',
    },
  );
}

/** Class 1 where the probability p > threshold (PaddleOCR's DB uses 0.3), unless a threshold is set. */
export const DEFAULT_PROBABILITY_THRESHOLD = 0.5;

/**
 * A single-channel map as class indices: its number of classes, or undefined when `orProbabilities`
 * (a [B, 1, H, W] map and no threshold set) and it holds a value that is not a whole number: then
 * it is a probability map (a class map holds only whole numbers; a 0/1 map gives the same classes
 * either way). One pass either way.
 */
function hasFraction(v: ArrayLike<number>, from: number): boolean {
  for (let i = from; i < v.length; i++) if (!Number.isInteger(v[i])) return true;
  return false;
}

function readClassMap(name: string, dims: readonly number[], v: ArrayLike<number>, base: number, map: Uint8Array, orProbabilities: boolean): number | undefined {
  let classes = 0;
  for (let i = 0; i < map.length; i++) {
    const k = v[base + i] as number;
    if (!Number.isInteger(k) || k < 0 || k >= UNSEEN) {
      // probabilities when any value of the tensor is not a whole number (only this error case looks ahead)
      if (orProbabilities && (!Number.isInteger(k) || hasFraction(v, base + i))) return undefined;
      throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_SHAPE', `output "${name}": class map value ${k} at ${i} is not a class index 0..254`, {
        output: name,
        dims: JSON.stringify(dims),
        expected: 'class indices 0..254',
      });
    }
    map[i] = k;
    if (k + 1 > classes) classes = k + 1;
  }
  return classes;
}

/** Class 1 where p > threshold, else 0; a value that is not a finite number is refused. */
function thresholdMap(name: string, dims: readonly number[], v: ArrayLike<number>, base: number, map: Uint8Array, threshold: number): void {
  for (let i = 0; i < map.length; i++) {
    const p = v[base + i] as number;
    if (!Number.isFinite(p)) {
      throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_SHAPE', `output "${name}": probability map value ${p} at ${i} is not a finite number`, {
        output: name,
        dims: JSON.stringify(dims),
        expected: 'probabilities (finite numbers)',
      });
    }
    map[i] = p > threshold ? 1 : 0;
  }
}

/** The model-resolution class map of each batch row (`threshold`: see isProbabilityMap). */
export function classMaps(name: string, t: TensorLike, threshold?: number): Array<{ map: Uint8Array; width: number; height: number; classes: number }> {
  const dims = t.dims.map(Number);
  let batch: number;
  let C: number;
  let H: number;
  let W: number;
  if (dims.length === 4) [batch, C, H, W] = dims as [number, number, number, number];
  else if (dims.length === 3) {
    [batch, H, W] = dims as [number, number, number];
    C = 1;
  } else throw shapeError(name, dims);
  if (!(batch >= 1 && C >= 1 && H >= 1 && W >= 1) || C > 255) throw shapeError(name, dims);
  const v = tensorNumbers(t);
  const plane = H * W;
  type ClassMap = { map: Uint8Array; width: number; height: number; classes: number };
  // One channel is a class map (a 1-class logit map would be all class 0 anyway), or probabilities.
  if (C === 1 && threshold === undefined) {
    const maps: ClassMap[] = [];
    for (let b = 0; b < batch; b++) {
      const map = new Uint8Array(plane);
      const classes = readClassMap(name, dims, v, b * plane, map, dims.length === 4);
      if (classes === undefined) break;
      maps.push({ map, width: W, height: H, classes });
    }
    if (maps.length === batch) return maps;
  }
  const out: ClassMap[] = [];
  for (let b = 0; b < batch; b++) {
    const map = new Uint8Array(plane);
    const base = b * C * plane;
    if (C === 1) thresholdMap(name, dims, v, base, map, threshold ?? DEFAULT_PROBABILITY_THRESHOLD);
    else {
      for (let i = 0; i < plane; i++) {
        let best = 0;
        let top = v[base + i] as number;
        for (let k = 1; k < C; k++) {
          const s = v[base + k * plane + i] as number;
          if (s > top) {
            top = s;
            best = k;
          }
        }
        map[i] = best;
      }
    }
    out.push({ map, width: W, height: H, classes: C === 1 ? 2 : C });
  }
  return out;
}

/** A model-resolution class map -> original-image pixels (nearest neighbour through the geometry). */
export function toOriginalMap(m: { map: Uint8Array; width: number; height: number }, g: ImageGeometry | undefined): { map: Uint8Array; width: number; height: number } {
  if (!g) return m;
  const W = g.width;
  const H = g.height;
  const out = new Uint8Array(W * H).fill(UNSEEN);
  // model-input pixels per mask pixel (the mask may be smaller than the input, e.g. stride 4)
  const fx = m.width / g.input.width;
  const fy = m.height / g.input.height;
  const xs = new Int32Array(W);
  for (let x = 0; x < W; x++) {
    const inCrop = x >= g.crop.x && x < g.crop.x + g.crop.width;
    const mx = Math.floor(((x + 0.5 - g.crop.x) * g.scale.x + g.pad.left) * fx);
    xs[x] = inCrop ? Math.max(0, Math.min(m.width - 1, mx)) : -1;
  }
  for (let y = 0; y < H; y++) {
    if (y < g.crop.y || y >= g.crop.y + g.crop.height) continue;
    const my = Math.max(0, Math.min(m.height - 1, Math.floor(((y + 0.5 - g.crop.y) * g.scale.y + g.pad.top) * fy)));
    const row = my * m.width;
    for (let x = 0; x < W; x++) {
      const mx = xs[x] as number;
      if (mx >= 0) out[y * W + x] = m.map[row + mx] as number;
    }
  }
  return { map: out, width: W, height: H };
}

export function segment(name: string, t: TensorLike, geometry: ReadonlyArray<ImageGeometry | undefined>, labels: readonly string[] | undefined, threshold?: number): SegmentationResult[] {
  return classMaps(name, t, threshold).map((m, i) => {
    const o = toOriginalMap(m, geometry[i] ?? geometry[0]);
    const counts = new Float64Array(256);
    for (let j = 0; j < o.map.length; j++) counts[o.map[j] as number]!++;
    const seen = o.map.length - (counts[UNSEEN] as number);
    const areas: Record<string, number> = {};
    for (let k = 0; k < UNSEEN; k++) {
      if (counts[k]! > 0 && seen > 0) areas[labels?.[k] ?? String(k)] = (counts[k] as number) / seen;
    }
    return { areas, classMap: o.map, width: o.width, height: o.height };
  });
}

/** An 8-bit greyscale PNG whose pixel values are the class indices (255: not seen by the model). */
export function maskPng(r: SegmentationResult): Buffer {
  const png = new PNG({ width: r.width, height: r.height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(r.classMap.buffer, r.classMap.byteOffset, r.classMap.byteLength);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}
