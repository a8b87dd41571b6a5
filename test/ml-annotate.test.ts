/**
 * ml-format's annotated image (msg.annotated) in a real Node-RED flow: ml-image (keeping msg.image)
 * -> onnx-infer (a real ONNX Runtime session) -> ml-format. The JPEG is decoded here and its pixels
 * checked where the published boxes say: the box colour on each edge, the label bar above the
 * box, the image unchanged inside. Both ways of drawing (sharp, pure JS in the worker), the
 * segmentation blend, and the bad inputs (no msg.image, not an image, the wrong size): the
 * prediction still goes out, a Catch node gets a coded error, the next message is annotated.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { helper, inject, nextMessage, nodeModule, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { fixedDetector, redSegmenter } from './helpers/vision-models';
import { jpegOf, pngOf, withExifOrientation, type PixelFn } from './helpers/images';
import { PALETTE } from '../src/lib/image/annotate';

type Box = { x: number; y: number; w: number; h: number };
type Det = { label: string; score: number; box: Box };

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'annotate-'));
});
afterEach(() => unloadFlow());
after(() => rmSync(dir, { recursive: true, force: true }));

const LABELS = ['part', 'scratch'];
const detectorCard = { name: 'fixed-detector', task: 'detection' as const, labels: LABELS, image: { width: 320, height: 320, resize: 'letterbox' as const, pad: 114 } };
/** Scene: a soft gradient, so "unchanged" means something at every pixel. */
const scene: PixelFn = (x, y) => [60 + Math.round(x / 8), 80 + Math.round(y / 8), 120];

/** Two boxes in model-input pixels: a part and a scratch. */
const CANDIDATES = [
  { cx: 80, cy: 150, w: 60, h: 70, scores: [0.9, 0.05] },
  { cx: 220, cy: 170, w: 80, h: 50, scores: [0.1, 0.7] },
];

function detectorFile(): string {
  const file = path.join(dir, 'detector.onnx');
  writeFileSync(file, fixedDetector(320, CANDIDATES, detectorCard));
  return file;
}

function flow(modelFile: string, format: Record<string, unknown>, image: Record<string, unknown> = { keepOriginal: true }): FlowNode[] {
  return [
    { id: 'model', type: 'onnx-model', path: modelFile, watch: false, threads: '1' },
    { id: 'img', type: 'ml-image', model: 'model', wires: [['infer']], ...image },
    { id: 'infer', type: 'onnx-infer', model: 'model', property: 'payload', queueSize: '10', overflow: 'error', wires: [['fmt']] },
    { id: 'fmt', type: 'ml-format', model: 'model', annotate: true, wires: [['out'], []], ...format },
    { id: 'out', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: ['fmt'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

async function start(nodes: FlowNode[]): Promise<void> {
  await helper.load([nodeModule('onnx-model'), nodeModule('ml-image'), nodeModule('onnx-infer'), nodeModule('ml-format')], nodes, {});
}

function decoded(buf: unknown): { width: number; height: number; px: (x: number, y: number) => [number, number, number] } {
  assert.ok(Buffer.isBuffer(buf), 'msg.annotated is a Buffer');
  assert.deepEqual([...buf.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
  const d = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false });
  const c = d.data.length / (d.width * d.height);
  return { width: d.width, height: d.height, px: (x, y) => [d.data[(y * d.width + x) * c]!, d.data[(y * d.width + x) * c + 1]!, d.data[(y * d.width + x) * c + 2]!] };
}

const near = (got: readonly number[], want: readonly number[], tol: number, what: string): void =>
  assert.ok(
    got.every((v, i) => Math.abs(v - want[i]!) <= tol),
    `${what}: got ${got.join(',')}, want ${want.join(',')} (±${tol})`,
  );

/** JPEG tolerance: quality 85 on a flat colour edge, and on the smooth gradient inside. */
const EDGE_TOL = 40;
const INSIDE_TOL = 12;

function checkBoxes(img: ReturnType<typeof decoded>, detections: Det[]): void {
  assert.ok(detections.length >= 2);
  for (const d of detections) {
    const colour = PALETTE[LABELS.indexOf(d.label)]!;
    // pixel edges of the box in the original image, from the published box alone
    const x0 = Math.round(d.box.x);
    const y0 = Math.round(d.box.y);
    const x1 = Math.round(d.box.x + d.box.w) - 1;
    const y1 = Math.round(d.box.y + d.box.h) - 1;
    const xm = Math.round((x0 + x1) / 2);
    const ym = Math.round((y0 + y1) / 2);
    near(img.px(x0 + 1, ym), colour, EDGE_TOL, `${d.label} left edge (${x0 + 1},${ym})`);
    near(img.px(x1 - 1, ym), colour, EDGE_TOL, `${d.label} right edge`);
    near(img.px(xm, y0 + 1), colour, EDGE_TOL, `${d.label} top edge`);
    near(img.px(xm, y1 - 1), colour, EDGE_TOL, `${d.label} bottom edge`);
    // the label bar starts at the box's left edge, above the box
    near(img.px(x0 + 2, y0 - 4), colour, EDGE_TOL, `${d.label} label bar`);
    // inside and outside the box, away from the lines: the original image
    for (const [x, y] of [
      [x0 + 15, ym],
      [xm, ym],
      [x1 - 15, y1 - 15],
      [x0 - 10, y1],
      [x1 + 10, ym],
    ] as const) {
      near(img.px(x, y), scene(x, y), INSIDE_TOL, `${d.label} (${x},${y}) unchanged`);
    }
  }
}

for (const backend of ['auto', 'js'] as const) {
  test(`detection (${backend === 'auto' ? 'sharp' : 'pure JS in the worker'}): msg.annotated has each box drawn where the published box is`, async () => {
    await start(flow(detectorFile(), { annotateBackend: backend }));
    const out = nextMessage('out', 20000);
    // 640 x 480 letterboxed to 320: the boxes come back scaled by 2 and shifted by the padding
    inject('img', { payload: jpegOf(640, 480, scene, 95) });
    const msg = await out;
    const p = msg.payload as { detections: Det[] };
    const img = decoded(msg.annotated);
    assert.equal(img.width, 640);
    assert.equal(img.height, 480);
    checkBoxes(img, p.detections);
    assert.ok(Buffer.isBuffer(msg.image), 'msg.image stays');
  });
}

test('an EXIF-rotated JPEG (orientation 6): the boxes are drawn on the image as it is shown, with both ways of drawing', async () => {
  // stored 480 x 640, shown 640 x 480 turned 90 degrees clockwise: shown (x, y) is stored (y, 639 - x)
  const stored = withExifOrientation(
    jpegOf(480, 640, (sx, sy) => scene(639 - sy, sx), 95),
    6,
  );
  for (const backend of ['auto', 'js']) {
    await start(flow(detectorFile(), { annotateBackend: backend }));
    const out = nextMessage('out', 20000);
    inject('img', { payload: stored });
    const msg = await out;
    const img = decoded(msg.annotated);
    assert.deepEqual([img.width, img.height], [640, 480]);
    checkBoxes(img, (msg.payload as { detections: Det[] }).detections);
    await unloadFlow();
  }
});

test('segmentation: the classes other than the background blended over the image at one half, the background unchanged', async () => {
  const card = { name: 'red-segmenter', task: 'segmentation' as const, labels: ['background', 'red'], image: { width: 32, height: 32, resize: 'letterbox' as const } };
  const file = path.join(dir, 'segmenter.onnx');
  writeFileSync(file, redSegmenter(32, card));
  const red: PixelFn = (x) => (x < 64 ? [230, 40, 40] : [20, 60, 90]);
  for (const backend of ['auto', 'js']) {
    await start(flow(file, { annotateBackend: backend }));
    const out = nextMessage('out', 20000);
    inject('img', { payload: pngOf(128, 64, red) });
    const msg = await out;
    const img = decoded(msg.annotated);
    assert.deepEqual([img.width, img.height], [128, 64]);
    const colour = PALETTE[1]!;
    for (const [x, y] of [
      [10, 10],
      [40, 50],
      [100, 20],
      [120, 60],
    ] as const) {
      const want = x < 64 ? red(x, y).map((v, i) => v * 0.5 + colour[i]! * 0.5) : red(x, y);
      near(img.px(x, y), want, INSIDE_TOL, `${backend} (${x},${y})`);
    }
    await unloadFlow();
  }
});

test('bad input: a coded error for a Catch node, the prediction still goes out, the next message is annotated', async () => {
  const model = detectorFile();
  // without "Keep the image in msg.image" in ml-image
  await start(flow(model, {}, { keepOriginal: false }));
  let out = nextMessage('out', 20000);
  let caught = nextMessage('caught', 20000);
  inject('img', { payload: jpegOf(640, 480, scene) });
  let [msg, err] = await Promise.all([out, caught]);
  assert.equal(msg.annotated, undefined);
  assert.equal((msg.payload as { detections: Det[] }).detections.length, 2);
  const e = err.error as { code: string; message: string };
  assert.equal(e.code, 'EDGEML_FORMAT_ANNOTATE_IMAGE');
  assert.match(e.message, /Keep the image in msg\.image/);
  await unloadFlow();

  // msg.image replaced between onnx-infer and ml-format: not an image, another size, then good raw pixels
  await start(
    flow(model, {})
      .map((n) => (n.id === 'infer' ? { ...n, wires: [['mid']] } : n))
      .concat({ id: 'mid', type: 'helper' }),
  );
  const cases: Array<{ image: unknown; code: string | undefined }> = [
    { image: Buffer.from('not an image at all'), code: 'EDGEML_IMAGE_FORMAT' },
    { image: jpegOf(200, 100, scene), code: 'EDGEML_FORMAT_ANNOTATE_IMAGE' },
    { image: { data: Buffer.alloc(640 * 480 * 3, 7), width: 640, height: 480, channels: 3 }, code: undefined },
  ];
  for (const c of cases) {
    const mid = nextMessage('mid', 20000);
    inject('img', { payload: jpegOf(640, 480, scene) });
    const inferred = await mid;
    out = nextMessage('out', 20000);
    caught = c.code ? nextMessage('caught', 20000) : Promise.resolve({} as Msg);
    inject('fmt', { ...inferred, image: c.image });
    [msg, err] = await Promise.all([out, caught]);
    assert.equal((msg.payload as { detections: Det[] }).detections.length, 2, 'the prediction goes out');
    if (c.code) {
      assert.equal(msg.annotated, undefined);
      assert.equal((err.error as { code: string }).code, c.code);
    } else {
      const img = decoded(msg.annotated);
      assert.deepEqual([img.width, img.height], [640, 480]);
    }
  }
});
