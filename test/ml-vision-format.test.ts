/**
 * Detection and segmentation decoding in ml-format: hand-computed boxes for each output layout,
 * letterbox/crop undone, NMS properties (fast-check), segmentation areas and masks, bad outputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { detect, iou, nms, resolveDetectionOptions, type Candidate, type DetectionSpec } from '../src/lib/format/detection';
import { segment, maskPng, UNSEEN } from '../src/lib/format/segmentation';
import { formatPrediction, resolveFormatOptions } from '../src/lib/format/format';
import { segmentationMasks } from '../src/lib/format/vision';
import { planGeometry } from '../src/lib/image/geometry';
import { isEdgeMlError } from '../src/lib/errors';
import type { TensorMap } from '../src/lib/format/tensor';

const opt = (s: DetectionSpec) => resolveDetectionOptions(s, undefined);
const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-4, `${what}: ${a} vs ${b}`);

/**
 * Three candidates in model pixels (640 x 640 letterbox of a 1280 x 960 image: scale 0.5, 80 rows
 * of padding on top). A: class 1, centre (100, 180) size 40 x 60; B overlaps A (same class, lower
 * score); C: class 0.
 */
const CANDS = [
  { cx: 100, cy: 180, w: 40, h: 60, scores: [0.1, 0.9] },
  { cx: 104, cy: 182, w: 40, h: 60, scores: [0.05, 0.8] },
  { cx: 400, cy: 300, w: 100, h: 50, scores: [0.7, 0.2] },
  { cx: 10, cy: 10, w: 5, h: 5, scores: [0.1, 0.1] },
];
const geometry = planGeometry(1280, 960, { width: 640, height: 640 }, 'letterbox');
// Expected in original pixels, by hand: x = (cx - w/2 - 0) / 0.5, y = (cy - h/2 - 80) / 0.5
const EXPECT_A = { label: 'scratch', score: 0.9, box: { x: 160, y: 140, w: 80, h: 120 } };
const EXPECT_C = { label: 'part', score: 0.7, box: { x: 700, y: 390, w: 200, h: 100 } };

function yoloTensor(layout: 'channels-first' | 'boxes-first', objectness: boolean): TensorMap {
  const K = 4 + (objectness ? 1 : 0) + 2;
  const N = CANDS.length;
  const data = new Float32Array(K * N);
  CANDS.forEach((c, i) => {
    // with objectness 0.5, class scores doubled (capped at 1 would change them: use halves instead)
    const values = [c.cx, c.cy, c.w, c.h, ...(objectness ? [1] : []), ...c.scores];
    values.forEach((v, k) => {
      data[layout === 'channels-first' ? k * N + i : i * K + k] = v;
    });
  });
  return { output0: { dtype: 'float32', dims: layout === 'channels-first' ? [1, K, N] : [1, N, K], data: Array.from(data) } };
}

for (const layout of ['channels-first', 'boxes-first'] as const) {
  for (const objectness of [false, true]) {
    test(`YOLO ${layout}${objectness ? ' with objectness' : ''}: boxes in original pixels, NMS drops the overlapping one`, () => {
      // 'auto' must guess the layout from the shape (7 < 4 boxes is false for boxes-first)
      const [r] = detect(yoloTensor(layout, objectness), opt({ objectness, layout: layout === 'channels-first' ? 'auto' : layout }), [geometry], ['part', 'scratch']);
      assert.equal(r!.detections.length, 2);
      const [a, c] = r!.detections;
      for (const [got, want] of [
        [a!, EXPECT_A],
        [c!, EXPECT_C],
      ] as const) {
        assert.equal(got.label, want.label);
        close(got.score, want.score, 'score');
        for (const k of ['x', 'y', 'w', 'h'] as const) close(got.box[k], want.box[k], k);
      }
      assert.deepEqual(r!.counts, { scratch: 1, part: 1 });
    });
  }
}

test('YOLO objectness multiplies the class score; without geometry boxes stay in model pixels', () => {
  const t: TensorMap = { y: { dtype: 'float32', dims: [1, 1, 7], data: [50, 60, 20, 10, 0.5, 0.2, 0.8] } };
  const [r] = detect(t, opt({ objectness: true, layout: 'boxes-first' }), [], undefined);
  assert.equal(r!.detections.length, 1);
  close(r!.detections[0]!.score, 0.4, 'score');
  assert.equal(r!.detections[0]!.label, '1');
  assert.deepEqual(r!.detections[0]!.box, { x: 40, y: 55, w: 20, h: 10 });
});

test('SSD: boxes/classes/scores/count, normalized yxyx corners, center-crop undone', () => {
  // 640x480 image center-cropped to 300x300: crop x = 80, 480 x 480, scale 300 / 480 = 0.625
  const g = planGeometry(640, 480, { width: 300, height: 300 }, 'center-crop');
  const tensors: TensorMap = {
    detection_boxes: { dtype: 'float32', dims: [1, 3, 4], data: [0.25, 0.5, 0.75, 1.0, 0, 0, 0.5, 0.5, 0.1, 0.1, 0.2, 0.2] },
    detection_classes: { dtype: 'float32', dims: [1, 3], data: [2, 0, 1] },
    detection_scores: { dtype: 'float32', dims: [1, 3], data: [0.95, 0.6, 0.99] },
    num_detections: { dtype: 'float32', dims: [1], data: [2] },
  };
  const [r] = detect(tensors, opt({ format: 'ssd' }), [g], ['a', 'b', 'c']);
  // the third box is beyond the count and must not appear
  assert.equal(r!.detections.length, 2);
  // box 1: x 0.5..1.0 of 300 -> 150..300 model px -> /0.625 + 80 -> 320..560; y 0.25..0.75 -> 75..225 -> 120..360
  assert.deepEqual(r!.detections[0], { label: 'c', score: r!.detections[0]!.score, box: { x: 320, y: 120, w: 240, h: 240 } });
  close(r!.detections[0]!.score, 0.95, 'score');
  assert.deepEqual(r!.detections[1]!.box, { x: 80, y: 0, w: 240, h: 240 });
  assert.deepEqual(r!.counts, { c: 1, a: 1 });
});

test('SSD in model pixels (xyxy, not normalized) and per-class score matrix', () => {
  const tensors: TensorMap = {
    boxes: { dtype: 'float32', dims: [1, 2, 4], data: [10, 20, 30, 60, 0, 0, 8, 8] },
    scores: { dtype: 'float32', dims: [1, 2, 3], data: [0.1, 0.2, 0.7, 0.3, 0.3, 0.1] },
  };
  const [r] = detect(tensors, opt({ format: 'ssd', box: 'xyxy', normalized: false, scoreThreshold: 0.5 }), [], ['x', 'y', 'z']);
  assert.equal(r!.detections.length, 1);
  assert.deepEqual(r!.detections[0]!.box, { x: 10, y: 20, w: 20, h: 40 });
  assert.equal(r!.detections[0]!.label, 'z');
});

test('bad detection outputs: coded errors', () => {
  const code = (f: () => unknown, c: string): void => assert.throws(f, (e: unknown) => isEdgeMlError(e) && e.code === c);
  code(() => detect({ y: { dtype: 'float32', dims: [12], data: new Array(12).fill(0) } }, opt({}), [], undefined), 'EDGEML_FORMAT_OUTPUT_MISSING');
  code(() => detect({ y: { dtype: 'float32', dims: [1, 2, 3, 4], data: new Array(24).fill(0) } }, opt({}), [], undefined), 'EDGEML_FORMAT_OUTPUT_SHAPE');
  code(() => detect({ y: { dtype: 'float32', dims: [1, 4, 3], data: new Array(12).fill(0) } }, opt({}), [], undefined), 'EDGEML_FORMAT_OUTPUT_SHAPE');
  code(() => detect({ scores: { dtype: 'float32', dims: [1, 2], data: [1, 1] } }, opt({ format: 'ssd' }), [], undefined), 'EDGEML_FORMAT_OUTPUT_MISSING');
  code(
    () =>
      detect(
        { b: { dtype: 'float32', dims: [1, 2, 4], data: new Array(8).fill(0) }, s: { dtype: 'float32', dims: [1, 2], data: [1, 1] } },
        opt({ format: 'ssd', outputs: { boxes: 'b', scores: 'nope' } }),
        [],
        undefined,
      ),
    'EDGEML_FORMAT_OUTPUT_MISSING',
  );
  code(
    () =>
      resolveFormatOptions({}, {}) &&
      formatPrediction({ tensors: { y: { dtype: 'float32', dims: [1, 3, 2], data: [0, 0, 0, 0, 0, 0] } }, time: 0 }, { ...resolveFormatOptions({ task: 'detection' }), task: 'detection' }),
    'EDGEML_FORMAT_OUTPUT_SHAPE',
  );
  // NaN scores and boxes are skipped, not reported as boxes
  const [r] = detect({ y: { dtype: 'float32', dims: [1, 2, 6], data: [NaN, 1, 1, 1, 0.9, 0.1, 1, 1, 1, 1, NaN, 0.2] } }, opt({ layout: 'boxes-first' }), [], undefined);
  assert.equal(r!.detections.length, 0);
});

const candidate = fc
  .record({
    x1: fc.integer({ min: 0, max: 100 }),
    y1: fc.integer({ min: 0, max: 100 }),
    w: fc.integer({ min: 1, max: 60 }),
    h: fc.integer({ min: 1, max: 60 }),
    score: fc.double({ min: 0, max: 1, noNaN: true }),
    cls: fc.integer({ min: 0, max: 2 }),
  })
  .map((c): Candidate => ({ x1: c.x1, y1: c.y1, x2: c.x1 + c.w, y2: c.y1 + c.h, score: c.score, cls: c.cls }));

test('NMS properties: kept boxes of a class never overlap above the threshold; sorted; idempotent; every dropped box is covered', () => {
  fc.assert(
    fc.property(fc.array(candidate, { maxLength: 60 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), fc.integer({ min: 1, max: 80 }), (cands, thr, max) => {
      const kept = nms(cands, thr, max);
      assert.ok(kept.length <= max);
      for (let i = 0; i < kept.length; i++) {
        if (i > 0) assert.ok(kept[i - 1]!.score >= kept[i]!.score, 'sorted by score');
        for (let j = i + 1; j < kept.length; j++) if (kept[i]!.cls === kept[j]!.cls) assert.ok(iou(kept[i]!, kept[j]!) <= thr, 'no overlap above threshold');
      }
      assert.deepEqual(nms(kept, thr, max), kept, 'idempotent');
      if (kept.length < max) {
        for (const c of cands) {
          if (kept.includes(c)) continue;
          assert.ok(
            kept.some((k) => k.cls === c.cls && k.score >= c.score && iou(k, c) > thr),
            'a dropped box overlaps a kept, higher box of its class',
          );
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('IoU by hand', () => {
  const a: Candidate = { x1: 0, y1: 0, x2: 10, y2: 10, score: 1, cls: 0 };
  assert.equal(iou(a, { ...a, x1: 5, x2: 15 }), 50 / 150);
  assert.equal(iou(a, { ...a, x1: 10, x2: 20 }), 0);
  assert.equal(iou(a, a), 1);
});

test('segmentation: argmax of logits, letterbox undone, areas over the original pixels, PNG mask', () => {
  // 8 x 4 original, letterboxed to 8 x 8 (2 rows of padding above and below); 4 x 4 logits
  // (mask at half the input resolution): the left half is class 1, the right half class 2
  const g = planGeometry(8, 4, { width: 8, height: 8 }, 'letterbox');
  const C = 3;
  const data = new Array<number>(C * 16).fill(0);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) data[(x < 2 ? 1 : 2) * 16 + y * 4 + x] = 5;
  const [r] = segment('logits', { dtype: 'float32', dims: [1, C, 4, 4], data }, [g], ['bg', 'left', 'right']);
  assert.equal(r!.width, 8);
  assert.equal(r!.height, 4);
  assert.deepEqual(r!.areas, { left: 0.5, right: 0.5 });
  for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) assert.equal(r!.classMap[y * 8 + x], x < 4 ? 1 : 2);
  const png = PNG.sync.read(maskPng(r!));
  assert.equal(png.width, 8);
  assert.equal(png.data[0], 1);
  assert.equal(png.data[7 * 4], 2);
});

test('segmentation: class map, center-crop leaves unseen pixels out of the areas', () => {
  // 6 x 2 original, center-cropped to 2 x 2: crop x = 2..3; class map all 3
  const g = planGeometry(6, 2, { width: 2, height: 2 }, 'center-crop');
  const [r] = segment('map', { dtype: 'int64', dims: [1, 2, 2], data: [3, 3, 3, 3] }, [g], undefined);
  assert.deepEqual(r!.areas, { '3': 1 });
  assert.deepEqual(Array.from(r!.classMap), [UNSEEN, UNSEEN, 3, 3, UNSEEN, UNSEEN, UNSEEN, UNSEEN, 3, 3, UNSEEN, UNSEEN]);
  assert.throws(
    () => segment('map', { dtype: 'float32', dims: [1, 2, 2], data: [0.5, 0, 0, 0] }, [g], undefined),
    (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_FORMAT_OUTPUT_SHAPE',
  );
  assert.throws(
    () => segment('map', { dtype: 'float32', dims: [4], data: [0, 0, 0, 0] }, [g], undefined),
    (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_FORMAT_OUTPUT_SHAPE',
  );
});

test('formatPrediction: detection and segmentation payloads from the card task, mask beside the payload', () => {
  const o = resolveFormatOptions({ segmentationMask: true }, { task: 'segmentation', labels: ['a', 'b'] });
  const [p] = formatPrediction({ tensors: { m: { dtype: 'int64', dims: [1, 1, 2, 2], data: [0, 1, 1, 1] } }, time: 1000 }, o);
  assert.equal(p!.task, 'segmentation');
  assert.deepEqual(p!.areas, { a: 0.25, b: 0.75 });
  assert.ok(segmentationMasks.get(p!) instanceof Buffer);
  const d = resolveFormatOptions({}, { task: 'detection', labels: ['part', 'scratch'], detection: { layout: 'channels-first' } });
  const [q] = formatPrediction({ tensors: yoloTensor('channels-first', false), time: 1000, geometry }, d);
  assert.equal(q!.detections?.length, 2);
  assert.deepEqual(q!.counts, { scratch: 1, part: 1 });
});

test('segmentation: a probability map [1, 1, H, W] is thresholded (default 0.5, or the set threshold); a class map is not', () => {
  const data = [0.1, 0.35, 0.6, 0.95];
  const expected = (t: number): number[] => data.map((p) => (p > t ? 1 : 0));
  const [d] = segment('prob', { dtype: 'float32', dims: [1, 1, 2, 2], data }, [], ['background', 'text']);
  assert.deepEqual(Array.from(d!.classMap), expected(0.5));
  assert.deepEqual(d!.areas, { background: expected(0.5).filter((k) => k === 0).length / 4, text: expected(0.5).filter((k) => k === 1).length / 4 });
  const [s] = segment('prob', { dtype: 'float32', dims: [1, 1, 2, 2], data }, [], undefined, 0.3);
  assert.deepEqual(Array.from(s!.classMap), expected(0.3));
  // with the threshold set, a [B, H, W] map is probabilities too
  const [h] = segment('prob', { dtype: 'float32', dims: [1, 2, 2], data }, [], undefined, 0.9);
  assert.deepEqual(Array.from(h!.classMap), expected(0.9));
  // whole numbers and no threshold: still a class map (class 3 stays 3)
  const [c] = segment('map', { dtype: 'float32', dims: [1, 1, 2, 2], data: [0, 3, 3, 1] }, [], undefined);
  assert.deepEqual(Array.from(c!.classMap), [0, 3, 3, 1]);
  // through formatPrediction, with the threshold from the config
  const o = resolveFormatOptions({ segmentationThreshold: 0.3 }, { task: 'segmentation' });
  const [p] = formatPrediction({ tensors: { prob: { dtype: 'float32', dims: [1, 1, 2, 2], data } }, time: 1000 }, o);
  assert.deepEqual(p!.areas, { '0': expected(0.3).filter((k) => k === 0).length / 4, '1': expected(0.3).filter((k) => k === 1).length / 4 });
});

test('segmentation: one value that is not a whole number anywhere in a [B, 1, H, W] batch makes every row probabilities, whatever comes before it', () => {
  const rowWhole = [0, 1, 1, 0];
  const rowFraction = [0.2, 0.7, 0.9, 0.1];
  const byThreshold = (row: number[]): number[] => row.map((p) => (p > 0.5 ? 1 : 0));
  const maps = segment('prob', { dtype: 'float32', dims: [2, 1, 2, 2], data: [...rowWhole, ...rowFraction] }, [], undefined).map((r) => Array.from(r.classMap));
  assert.deepEqual(maps, [byThreshold(rowWhole), byThreshold(rowFraction)]);
  // a whole number that is no class index (-1) is not an error when a fraction follows: probabilities
  const neg = [0, -1, 1, 0];
  const negMaps = segment('prob', { dtype: 'float32', dims: [2, 1, 2, 2], data: [...neg, ...rowFraction] }, [], undefined).map((r) => Array.from(r.classMap));
  assert.deepEqual(negMaps, [byThreshold(neg), byThreshold(rowFraction)]);
  // ... and is one when none does
  assert.throws(
    () => segment('map', { dtype: 'float32', dims: [2, 1, 2, 2], data: [...neg, ...rowWhole] }, [], undefined),
    (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_FORMAT_OUTPUT_SHAPE',
  );
});

test('segmentation: a probability map with NaN or Infinity is refused with a code', () => {
  for (const bad of [NaN, Infinity]) {
    assert.throws(
      () => segment('prob', { dtype: 'float32', dims: [1, 1, 2, 2], data: [0.2, bad, 0.4, 0.5] }, [], undefined, 0.3),
      (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_FORMAT_OUTPUT_SHAPE' && e.params.output === 'prob',
    );
  }
});
