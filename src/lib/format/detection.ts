/**
 * Object detection output -> boxes in original-image pixels: YOLO-style single output ([1, 4+C, N]
 * or [1, N, 4+C], optionally with an objectness column after the box) and SSD-style separate
 * outputs (boxes, classes, scores, count). Score threshold, class-wise NMS, max detections, and the
 * letterbox/crop undone with ml-image's geometry.
 *
 *   edgeml.detection  { "format": "yolo" | "ssd", "layout": "auto" | "channels-first" | "boxes-first",
 *                       "objectness": false, "box": "cxcywh" | "xyxy" | "yxyx" | "xywh",
 *                       "normalized": false, "outputs": { "boxes", "scores", "classes", "count" },
 *                       "scoreThreshold": 0.25, "iouThreshold": 0.45, "maxDetections": 100 }
 */
import { EdgeMlError } from '../errors';
import { assignChoices, isPlainObject } from '../spec-fields';
import { toOriginal, type ImageGeometry } from '../image/geometry';
import { tensorNumbers, type TensorLike, type TensorMap } from './tensor';

export type DetectionFormat = 'yolo' | 'ssd';
export type YoloLayout = 'auto' | 'channels-first' | 'boxes-first';
export type BoxEncoding = 'cxcywh' | 'xyxy' | 'yxyx' | 'xywh';
export type DetectionOutputs = { boxes?: string; scores?: string; classes?: string; count?: string };

export interface DetectionSpec {
  format?: DetectionFormat;
  layout?: YoloLayout;
  objectness?: boolean;
  box?: BoxEncoding;
  normalized?: boolean;
  outputs?: DetectionOutputs;
  scoreThreshold?: number;
  iouThreshold?: number;
  maxDetections?: number;
}

export interface DetectionOptions {
  format: DetectionFormat;
  layout: YoloLayout;
  objectness: boolean;
  box: BoxEncoding;
  normalized: boolean;
  outputs: DetectionOutputs;
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
}

export const DETECTION_FORMATS: readonly DetectionFormat[] = ['yolo', 'ssd'];
export const YOLO_LAYOUTS: readonly YoloLayout[] = ['auto', 'channels-first', 'boxes-first'];
export const BOX_ENCODINGS: readonly BoxEncoding[] = ['cxcywh', 'xyxy', 'yxyx', 'xywh'];

const isObj = isPlainObject;

export function checkDetectionSpec(raw: unknown, fail: (field: string, reason: string) => EdgeMlError): DetectionSpec {
  if (!isObj(raw)) throw fail('', 'expected an object');
  const spec: DetectionSpec = {};
  assignChoices(spec, raw, fail, { format: DETECTION_FORMATS, layout: YOLO_LAYOUTS, box: BOX_ENCODINGS });
  for (const k of ['objectness', 'normalized'] as const) {
    if (raw[k] === undefined) continue;
    if (typeof raw[k] !== 'boolean') throw fail(k, 'expected true or false');
    spec[k] = raw[k] as boolean;
  }
  for (const k of ['scoreThreshold', 'iouThreshold'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw fail(k, 'expected a number 0..1');
    spec[k] = v;
  }
  if (raw.maxDetections !== undefined) {
    const v = raw.maxDetections;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw fail('maxDetections', 'expected a positive integer');
    spec.maxDetections = v;
  }
  if (raw.outputs !== undefined) {
    const o = raw.outputs;
    if (!isObj(o) || !Object.values(o).every((s) => typeof s === 'string')) throw fail('outputs', 'expected an object of output names');
    spec.outputs = o as DetectionOutputs;
  }
  return spec;
}

export function parseDetectionCard(raw: unknown): DetectionSpec {
  return checkDetectionSpec(raw, (field, reason) => {
    const key = field ? `edgeml.detection.${field}` : 'edgeml.detection';
    return new EdgeMlError('EDGEML_MODELCARD_INVALID', `model card key ${key}: ${reason}`, { key, reason });
  });
}

/** Node settings over the card over defaults (format "auto": SSD when the card names a boxes output or more than one output exists). */
export function resolveDetectionOptions(node: DetectionSpec, card: DetectionSpec | undefined): DetectionOptions {
  const c = card ?? {};
  const pick = <K extends keyof DetectionSpec>(k: K): DetectionSpec[K] => (node[k] !== undefined ? node[k] : c[k]);
  const format = pick('format') ?? 'yolo';
  return {
    format,
    layout: pick('layout') ?? 'auto',
    objectness: pick('objectness') ?? false,
    box: pick('box') ?? (format === 'ssd' ? 'yxyx' : 'cxcywh'),
    normalized: pick('normalized') ?? format === 'ssd',
    outputs: { ...(c.outputs ?? {}), ...(node.outputs ?? {}) },
    scoreThreshold: pick('scoreThreshold') ?? 0.25,
    iouThreshold: pick('iouThreshold') ?? 0.45,
    maxDetections: pick('maxDetections') ?? 100,
  };
}

/** A candidate box in model-input coordinates (pixels, or fractions when normalized). */
export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  cls: number;
}

export interface Detection {
  label: string;
  score: number;
  box: { x: number; y: number; w: number; h: number };
}

export interface DetectionResult {
  detections: Detection[];
  counts: Record<string, number>;
}

function shapeError(output: string, dims: readonly number[], expected: string): EdgeMlError {
  return new EdgeMlError('EDGEML_FORMAT_OUTPUT_SHAPE', `output "${output}" has the shape [${dims.join(', ')}]; ${expected}`, {
    output,
    dims: JSON.stringify(dims),
    expected,
  });
}

function missing(role: string, tensors: TensorMap): EdgeMlError {
  return new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', `no output for the detection ${role}`, { output: role, role, available: Object.keys(tensors).join(', ') });
}

/** Box values in the given encoding -> corners (x1, y1, x2, y2). */
export function toCorners(a: number, b: number, c: number, d: number, enc: BoxEncoding): [number, number, number, number] {
  switch (enc) {
    case 'cxcywh':
      return [a - c / 2, b - d / 2, a + c / 2, b + d / 2];
    case 'xywh':
      return [a, b, a + c, b + d];
    case 'yxyx':
      return [b, a, d, c];
    default:
      return [a, b, c, d];
  }
}

export function iou(p: Candidate, q: Candidate): number {
  const w = Math.min(p.x2, q.x2) - Math.max(p.x1, q.x1);
  const h = Math.min(p.y2, q.y2) - Math.max(p.y1, q.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (p.x2 - p.x1) * (p.y2 - p.y1) + (q.x2 - q.x1) * (q.y2 - q.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy class-wise non-maximum suppression: highest score first (ties: earlier candidate), a box
 * is kept unless it overlaps a kept box of its class by more than `iouThreshold`; at most `max` kept.
 */
export function nms(candidates: readonly Candidate[], iouThreshold: number, max: number): Candidate[] {
  const order = candidates.map((_, i) => i).sort((i, j) => (candidates[j] as Candidate).score - (candidates[i] as Candidate).score || i - j);
  const kept: Candidate[] = [];
  const byClass = new Map<number, Candidate[]>();
  for (const i of order) {
    if (kept.length >= max) break;
    const c = candidates[i] as Candidate;
    const same = byClass.get(c.cls) ?? [];
    if (same.some((k) => iou(k, c) > iouThreshold)) continue;
    same.push(c);
    byClass.set(c.cls, same);
    kept.push(c);
  }
  return kept;
}

/** Batch rows of a YOLO-style output: candidates above the threshold for each row. */
export function decodeYolo(name: string, t: TensorLike, o: DetectionOptions): Candidate[][] {
  const dims = t.dims.map(Number);
  if (dims.length !== 2 && dims.length !== 3) throw shapeError(name, dims, 'a YOLO-style output is [batch, 4 + classes, boxes] or [batch, boxes, 4 + classes]');
  const [batch, d1, d2] = dims.length === 3 ? (dims as [number, number, number]) : [1, dims[0] as number, dims[1] as number];
  const extra = o.objectness ? 1 : 0;
  const fits = (k: number): boolean => k - 4 - extra >= (o.objectness ? 0 : 1);
  // auto: the axis that can hold a box and scores; if both can, the shorter one (N boxes >> 4 + C)
  const channelsFirst = o.layout === 'auto' ? fits(d1) && (!fits(d2) || d1 < d2) : o.layout === 'channels-first';
  const K = channelsFirst ? d1 : d2;
  const N = channelsFirst ? d2 : d1;
  const C = K - 4 - extra;
  if (C < 0 || (C === 0 && !o.objectness)) throw shapeError(name, dims, `${K} values per box is too few for a box${o.objectness ? ', objectness' : ''} and class scores`);
  const v = tensorNumbers(t);
  const rows: Candidate[][] = [];
  for (let b = 0; b < batch; b++) {
    const base = b * K * N;
    const at = channelsFirst ? (i: number, k: number): number => v[base + k * N + i] as number : (i: number, k: number): number => v[base + i * K + k] as number;
    const out: Candidate[] = [];
    for (let i = 0; i < N; i++) {
      const obj = o.objectness ? at(i, 4) : 1;
      let cls = 0;
      let best = C === 0 ? 1 : -Infinity;
      for (let k = 0; k < C; k++) {
        const s = at(i, 4 + extra + k);
        if (s > best) {
          best = s;
          cls = k;
        }
      }
      const score = best * obj;
      if (!(score >= o.scoreThreshold) || !Number.isFinite(score)) continue;
      const [x1, y1, x2, y2] = toCorners(at(i, 0), at(i, 1), at(i, 2), at(i, 3), o.box);
      if (![x1, y1, x2, y2].every(Number.isFinite)) continue;
      out.push({ x1, y1, x2, y2, score, cls });
    }
    rows.push(out);
  }
  return rows;
}

const byName = (tensors: TensorMap, re: RegExp): string | undefined => Object.keys(tensors).find((n) => re.test(n));

/** SSD-style separate outputs: boxes [B, N, 4], scores [B, N] (or [B, N, C]), classes [B, N], count [B]. */
export function decodeSsd(tensors: TensorMap, o: DetectionOptions): Candidate[][] {
  const names = Object.keys(tensors);
  const pick = (role: keyof DetectionOutputs, re: RegExp): string | undefined => {
    const n = o.outputs[role];
    if (n !== undefined) {
      if (!tensors[n]) throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', `output "${n}" (role ${role}) is not in msg.payload`, { output: n, role, available: names.join(', ') });
      return n;
    }
    return byName(tensors, re);
  };
  const boxesName = pick('boxes', /box|loc/i) ?? names.find((n) => (tensors[n] as TensorLike).dims[(tensors[n] as TensorLike).dims.length - 1] === 4);
  if (!boxesName) throw missing('boxes', tensors);
  const scoresName = pick('scores', /score|conf/i);
  if (!scoresName) throw missing('scores', tensors);
  const classesName = pick('classes', /class|label/i);
  const countName = pick('count', /num|count/i);
  const bt = tensors[boxesName] as TensorLike;
  const st = tensors[scoresName] as TensorLike;
  const bd = bt.dims.map(Number);
  if (bd[bd.length - 1] !== 4 || bd.length < 2) throw shapeError(boxesName, bd, 'boxes need 4 values per box');
  const N = bd[bd.length - 2] as number;
  const batch = bd.length === 3 ? (bd[0] as number) : 1;
  const boxes = tensorNumbers(bt);
  const scores = tensorNumbers(st);
  const perClass = scores.length === batch * N ? 1 : scores.length / (batch * N);
  if (!Number.isInteger(perClass) || perClass < 1) throw shapeError(scoresName, st.dims.map(Number), `scores need ${N} values (or ${N} x classes) per image`);
  if (perClass === 1 && !classesName && names.length > 2) throw missing('classes', tensors);
  const classes = classesName ? tensorNumbers(tensors[classesName] as TensorLike) : undefined;
  if (classes && classes.length !== batch * N) throw shapeError(classesName as string, (tensors[classesName as string] as TensorLike).dims.map(Number), `classes need ${N} values per image`);
  const counts = countName ? tensorNumbers(tensors[countName] as TensorLike) : undefined;
  const rows: Candidate[][] = [];
  for (let b = 0; b < batch; b++) {
    const n = counts ? Math.max(0, Math.min(N, Math.floor(counts[b] ?? N))) : N;
    const out: Candidate[] = [];
    for (let i = 0; i < n; i++) {
      const j = b * N + i;
      let score: number;
      let cls: number;
      if (perClass === 1) {
        score = scores[j] as number;
        cls = classes ? Math.round(classes[j] as number) : 0;
      } else {
        cls = 0;
        score = -Infinity;
        for (let k = 0; k < perClass; k++) {
          const s = scores[j * perClass + k] as number;
          if (s > score) {
            score = s;
            cls = k;
          }
        }
      }
      if (!(score >= o.scoreThreshold) || !Number.isFinite(score) || !Number.isFinite(cls)) continue;
      const [x1, y1, x2, y2] = toCorners(boxes[j * 4] as number, boxes[j * 4 + 1] as number, boxes[j * 4 + 2] as number, boxes[j * 4 + 3] as number, o.box);
      if (![x1, y1, x2, y2].every(Number.isFinite)) continue;
      out.push({ x1, y1, x2, y2, score, cls });
    }
    rows.push(out);
  }
  return rows;
}

/** Kept candidates -> the payload's detections (original-image pixels when a geometry is known) and counts. */
export function toDetections(kept: readonly Candidate[], o: DetectionOptions, geometry: ImageGeometry | undefined, labels: readonly string[] | undefined): DetectionResult {
  const detections: Detection[] = [];
  const counts: Record<string, number> = {};
  for (const c of kept) {
    let { x1, y1, x2, y2 } = c;
    if (o.normalized && geometry) {
      x1 *= geometry.input.width;
      x2 *= geometry.input.width;
      y1 *= geometry.input.height;
      y2 *= geometry.input.height;
    }
    if (geometry) {
      const p = toOriginal(geometry, Math.min(x1, x2), Math.min(y1, y2));
      const q = toOriginal(geometry, Math.max(x1, x2), Math.max(y1, y2));
      // Clamped to the image: a box reaching into the letterbox padding ends at the image border.
      x1 = Math.max(0, Math.min(geometry.width, p.x));
      y1 = Math.max(0, Math.min(geometry.height, p.y));
      x2 = Math.max(0, Math.min(geometry.width, q.x));
      y2 = Math.max(0, Math.min(geometry.height, q.y));
    }
    const label = labels?.[c.cls] ?? String(c.cls);
    const z = (v: number): number => (v === 0 ? 0 : v);
    detections.push({ label, score: z(c.score), box: { x: z(Math.min(x1, x2)), y: z(Math.min(y1, y2)), w: z(Math.abs(x2 - x1)), h: z(Math.abs(y2 - y1)) } });
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return { detections, counts };
}

/** The whole detection path for one inference result: one result per batch row. */
export function detect(tensors: TensorMap, o: DetectionOptions, geometry: ReadonlyArray<ImageGeometry | undefined>, labels: readonly string[] | undefined): DetectionResult[] {
  let rows: Candidate[][];
  if (o.format === 'ssd') rows = decodeSsd(tensors, o);
  else {
    const name = o.outputs.boxes ?? Object.keys(tensors).find((n) => (tensors[n] as TensorLike).dims.length >= 2);
    if (!name) throw missing('boxes', tensors);
    const t = tensors[name];
    if (!t) throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', `output "${name}" (role boxes) is not in msg.payload`, { output: name, role: 'boxes', available: Object.keys(tensors).join(', ') });
    rows = decodeYolo(name, t, o);
  }
  return rows.map((cands, i) => toDetections(nms(cands, o.iouThreshold, o.maxDetections), o, geometry[i] ?? geometry[0], labels));
}
