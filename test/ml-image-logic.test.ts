/**
 * ml-image without Node-RED: geometry plans checked by hand, pixel-exact letterbox and crop on
 * synthetic images, bilinear against an analytic gradient, normalization and layout, EXIF
 * orientation, and every refused input, for both backends (sharp and pure JS).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ImagePreprocessor } from '../src/lib/image/preprocess';
import { planGeometry, toOriginal } from '../src/lib/image/geometry';
import { resolveImageOptions, type ImageSpec } from '../src/lib/image/options';
import { parseModelCard } from '../src/lib/model-card';
import { isEdgeMlError } from '../src/lib/errors';
import { at, jpegOf, pngOf, rawRgb, withExifOrientation } from './helpers/images';
import { ROOT } from './helpers/flow';

const sharpPre = new ImagePreprocessor('sharp');
const jsPre = new ImagePreprocessor('js');
const WORKER_FILE = path.join(ROOT, 'nodes', 'ml-image.decode.worker.js');
const workerPre = new ImagePreprocessor('js', WORKER_FILE);
// what ml-image runs where sharp loads: decode, resize and layout in the worker thread
const sharpWorkerPre = new ImagePreprocessor('sharp', WORKER_FILE);
const BACKENDS: Array<[string, ImagePreprocessor]> = [
  ['sharp', sharpPre],
  ['js', jsPre],
  ['js-worker', workerPre],
  ['sharp-worker', sharpWorkerPre],
];
after(() => Promise.all([workerPre.close(), sharpWorkerPre.close()]));

const opts = (spec: ImageSpec, maxPixels?: number) => resolveImageOptions(spec, undefined, maxPixels);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isEdgeMlError(e), `coded error, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('sharp loads on this machine (the fallback is tested separately)', () => {
  assert.equal(sharpPre.backend, 'sharp');
  assert.equal(jsPre.backend, 'js');
});

test('geometry plans: stretch, letterbox and center-crop computed by hand', () => {
  const s = planGeometry(640, 480, { width: 224, height: 224 }, 'stretch');
  assert.deepEqual(s.scale, { x: 224 / 640, y: 224 / 480 });
  assert.deepEqual(s.pad, { left: 0, top: 0, right: 0, bottom: 0 });
  // letterbox 640x480 -> 640x640: scale 1, 80 rows of padding above and below
  const l = planGeometry(640, 480, { width: 640, height: 640 }, 'letterbox');
  assert.deepEqual(l.resized, { width: 640, height: 480 });
  assert.deepEqual(l.pad, { left: 0, top: 80, right: 0, bottom: 80 });
  // 100x300 -> 64x64: scale 64/300, width round(21.33) = 21, pad (64 - 21) / 2 -> 21 left, 22 right
  const t = planGeometry(100, 300, { width: 64, height: 64 }, 'letterbox');
  assert.deepEqual(t.resized, { width: 21, height: 64 });
  assert.deepEqual(t.pad, { left: 21, top: 0, right: 22, bottom: 0 });
  // center-crop 640x480 -> 224x224: the centred 480x480 square starting at x = 80
  const c = planGeometry(640, 480, { width: 224, height: 224 }, 'center-crop');
  assert.deepEqual(c.crop, { x: 80, y: 0, width: 480, height: 480 });
  assert.deepEqual(toOriginal(c, 0, 0), { x: 80, y: 0 });
  assert.deepEqual(toOriginal(c, 224, 224), { x: 560, y: 480 });
  assert.deepEqual(toOriginal(l, 320, 80), { x: 320, y: 0 });
});

for (const [name, pre] of BACKENDS) {
  test(`${name}: letterbox is pixel-exact on a solid image (pad rows, image rows, geometry)`, async () => {
    const png = pngOf(200, 100, () => [10, 200, 30]);
    const r = await pre.prepare(png, opts({ width: 64, height: 64, resize: 'letterbox', pad: 114, dtype: 'uint8', layout: 'NHWC' }));
    assert.deepEqual(r.tensor.dims, [1, 64, 64, 3]);
    assert.equal(r.tensor.dtype, 'uint8');
    // scale 64/200 = 0.32 -> 64 x 32, 16 rows of padding above and below
    assert.deepEqual(r.geometry[0]?.pad, { left: 0, top: 16, right: 0, bottom: 16 });
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const expected = y < 16 || y >= 48 ? [114, 114, 114] : [10, 200, 30];
        for (let c = 0; c < 3; c++) assert.equal(at(r.tensor, 'NHWC', 0, c, y, x), expected[c], `(${x},${y}) channel ${c}`);
      }
    }
  });

  test(`${name}: center-crop takes exactly the centred region`, async () => {
    // three 100-pixel-wide bands: red | green | blue; a square crop of 300x100 is the green band
    const png = pngOf(300, 100, (x) => (x < 100 ? [255, 0, 0] : x < 200 ? [0, 255, 0] : [0, 0, 255]));
    const r = await pre.prepare(png, opts({ width: 50, height: 50, resize: 'center-crop', dtype: 'uint8', layout: 'NCHW' }));
    assert.deepEqual(r.geometry[0]?.crop, { x: 100, y: 0, width: 100, height: 100 });
    for (let i = 0; i < 50 * 50; i++) {
      assert.equal(r.tensor.data[i], 0, 'red plane');
      assert.equal(r.tensor.data[2500 + i], 255, 'green plane');
      assert.equal(r.tensor.data[5000 + i], 0, 'blue plane');
    }
  });

  test(`${name}: bilinear resampling of a gradient within 2 levels of the analytic value`, async () => {
    // p(x, y) = x on a 256-wide image; stretched to 64: the value at output column u is the
    // gradient at its centre, (u + 0.5) * 4 - 0.5, for any resampler that reproduces linear ramps
    const png = pngOf(256, 32, (x, y) => [x, y * 8, 255 - x]);
    const r = await pre.prepare(png, opts({ width: 64, height: 16, dtype: 'uint8', layout: 'NCHW' }));
    let worst = 0;
    for (let v = 1; v < 15; v++) {
      for (let u = 1; u < 63; u++) {
        const ex = (u + 0.5) * 4 - 0.5;
        const ey = ((v + 0.5) * 2 - 0.5) * 8;
        worst = Math.max(worst, Math.abs(at(r.tensor, 'NCHW', 0, 0, v, u) - ex), Math.abs(at(r.tensor, 'NCHW', 0, 2, v, u) - (255 - ex)), Math.abs(at(r.tensor, 'NCHW', 0, 1, v, u) - ey));
      }
    }
    assert.ok(worst <= 2, `worst deviation ${worst}`);
  });

  test(`${name}: normalization (p * scale - mean) / std per channel, BGR order, NCHW and NHWC`, async () => {
    const png = pngOf(8, 8, () => [200, 100, 50]);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const r = await pre.prepare(png, opts({ width: 4, height: 4, order: 'BGR', layout, mean, std }));
      assert.equal(r.tensor.dtype, 'float32');
      const bgr = [50, 100, 200];
      for (let c = 0; c < 3; c++) {
        const expected = Math.fround((bgr[c]! / 255 - mean[c]!) / std[c]!);
        assert.ok(Math.abs(at(r.tensor, layout, 0, c, 2, 1) - expected) < 1e-6, `${layout} channel ${c}`);
      }
    }
    const grey = await pre.prepare(png, opts({ width: 4, height: 4, channels: 1, scale: 1, dtype: 'float32' }));
    assert.deepEqual(grey.tensor.dims, [1, 1, 4, 4]);
    assert.equal(grey.tensor.data[5], Math.round(0.299 * 200 + 0.587 * 100 + 0.114 * 50));
  });

  test(`${name}: EXIF orientations 1-8 turn the image as it is meant to be seen`, async () => {
    // 48x32 stored image: quadrants TL red, TR green, BL blue, BR white
    const W = 48;
    const H = 32;
    const colour = (x: number, y: number): [number, number, number] => (y < H / 2 ? (x < W / 2 ? [255, 0, 0] : [0, 255, 0]) : x < W / 2 ? [0, 0, 255] : [255, 255, 255]);
    const base = jpegOf(W, H, colour, 98);
    // Where each displayed corner comes from in the stored image (EXIF 2.3, orientation tag)
    const source: Record<number, (x: number, y: number, w: number, h: number) => [number, number]> = {
      1: (x, y) => [x, y],
      2: (x, y, w) => [w - 1 - x, y],
      3: (x, y, w, h) => [w - 1 - x, h - 1 - y],
      4: (x, y, _w, h) => [x, h - 1 - y],
      5: (x, y) => [y, x],
      6: (x, y, _w, h) => [y, h - 1 - x],
      7: (x, y, w, h) => [w - 1 - y, h - 1 - x],
      8: (x, y, w) => [w - 1 - y, x],
    };
    for (let o = 1; o <= 8; o++) {
      const jpg = withExifOrientation(base, o);
      const swap = o >= 5;
      const dw = swap ? H : W;
      const dh = swap ? W : H;
      const r = await pre.prepare(jpg, opts({ width: dw, height: dh, dtype: 'uint8', layout: 'NHWC' }));
      assert.equal(r.geometry[0]?.width, dw, `orientation ${o} width`);
      assert.equal(r.geometry[0]?.height, dh, `orientation ${o} height`);
      for (const [x, y] of [
        [4, 4],
        [dw - 5, 4],
        [4, dh - 5],
        [dw - 5, dh - 5],
      ] as Array<[number, number]>) {
        const [sx, sy] = source[o]!(x, y, W, H);
        const want = colour(sx, sy);
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(at(r.tensor, 'NHWC', 0, c, y, x) - want[c]!) < 40, `orientation ${o} at (${x},${y}) channel ${c}`);
      }
    }
  });

  test(`${name}: raw pixels (1, 3, 4 channels) and an array batch`, async () => {
    const rgb = rawRgb(10, 10, () => [1, 2, 3]);
    const grey = { data: new Uint8Array(100).fill(77), width: 10, height: 10, channels: 1 };
    const rgba = { data: Array.from({ length: 400 }, (_, i) => [9, 8, 7, 0][i % 4]!), width: 10, height: 10, channels: 4 };
    const r = await pre.prepare(
      [{ data: rgb, width: 10, height: 10, channels: 3 }, grey, rgba, pngOf(20, 10, () => [5, 5, 5])],
      opts({ width: 5, height: 5, dtype: 'uint8', layout: 'NHWC', resize: 'letterbox' }),
    );
    assert.deepEqual(r.tensor.dims, [4, 5, 5, 3]);
    assert.equal(r.batch, true);
    assert.equal(r.geometry.length, 4);
    assert.deepEqual(
      [0, 1, 2].map((c) => at(r.tensor, 'NHWC', 0, c, 2, 2)),
      [1, 2, 3],
    );
    assert.deepEqual(
      [0, 1, 2].map((c) => at(r.tensor, 'NHWC', 1, c, 2, 2)),
      [77, 77, 77],
    );
    assert.deepEqual(
      [0, 1, 2].map((c) => at(r.tensor, 'NHWC', 2, c, 2, 2)),
      [9, 8, 7],
    );
    assert.deepEqual(r.geometry[3]?.pad, { left: 0, top: 1, right: 0, bottom: 1 });
    // JSON round trip of a Buffer ({ type: 'Buffer', data }) is still an image
    const single = await pre.prepare(JSON.parse(JSON.stringify(pngOf(4, 4, () => [9, 9, 9]))), opts({ width: 2, height: 2, dtype: 'uint8' }));
    assert.equal(single.batch, false);
    assert.equal(single.tensor.data[0], 9);
  });

  test(`${name}: refused inputs carry stable codes`, async () => {
    const o = opts({ width: 8, height: 8 });
    await rejectsWith(pre.prepare(Buffer.from('this is not an image at all'), o), 'EDGEML_IMAGE_FORMAT');
    await rejectsWith(pre.prepare(Buffer.alloc(0), o), 'EDGEML_IMAGE_FORMAT');
    const jpg = jpegOf(64, 64, (x, y) => [x * 4, y * 4, 0]);
    await rejectsWith(pre.prepare(jpg.subarray(0, Math.floor(jpg.length / 2)), o), 'EDGEML_IMAGE_CORRUPT');
    await rejectsWith(pre.prepare(jpg.subarray(0, 40), o), 'EDGEML_IMAGE_CORRUPT');
    const png = pngOf(16, 16, () => [1, 1, 1]);
    await rejectsWith(pre.prepare(png.subarray(0, png.length - 20), o), 'EDGEML_IMAGE_CORRUPT');
    // a corrupted compressed stream (IDAT bytes flipped) with a valid frame
    const broken = Buffer.from(png);
    for (let i = 45; i < broken.length - 20; i++) broken[i] = 0xa5;
    await rejectsWith(pre.prepare(broken, o), 'EDGEML_IMAGE_CORRUPT');
    await rejectsWith(pre.prepare({ data: new Uint8Array(10), width: 2, height: 2, channels: 5 }, o), 'EDGEML_IMAGE_CHANNELS');
    await rejectsWith(pre.prepare({ data: new Uint8Array(11), width: 2, height: 2, channels: 3 }, o), 'EDGEML_IMAGE_RAW_LENGTH');
    await rejectsWith(pre.prepare({ data: [1, 2, 300, 4], width: 2, height: 2, channels: 1 }, o), 'EDGEML_IMAGE_INPUT');
    await rejectsWith(pre.prepare('/tmp/picture.jpg', o), 'EDGEML_IMAGE_INPUT');
    await rejectsWith(pre.prepare([], o), 'EDGEML_IMAGE_INPUT');
    await rejectsWith(pre.prepare(42, o), 'EDGEML_IMAGE_INPUT');
    await rejectsWith(pre.prepare([png, 'x'], o), 'EDGEML_IMAGE_INPUT');
    // still works after all that
    const ok = await pre.prepare(png, o);
    assert.deepEqual(ok.tensor.dims, [1, 3, 8, 8]);
  });
}

test('decompression bomb: a 4000 x 4000 PNG of 60 kB is refused on its header with a 1 MP limit, for both backends', async () => {
  const big = pngOf(4000, 4000, () => [0, 0, 0]);
  assert.ok(big.length < 200_000, `bomb is small: ${big.length} bytes`);
  for (const [name, pre] of BACKENDS) {
    await rejectsWith(pre.prepare(big, opts({ width: 8, height: 8 }, 1_000_000)), 'EDGEML_IMAGE_TOO_LARGE').catch((e: Error) => assert.fail(`${name}: ${e.message}`));
    await rejectsWith(pre.prepare({ data: new Uint8Array(4), width: 2000, height: 2000, channels: 1 }, opts({ width: 8, height: 8 }, 1_000_000)), 'EDGEML_IMAGE_TOO_LARGE');
  }
  // a forged header claiming 60000 x 60000 is refused without reading further
  const forged = Buffer.from(pngOf(2, 2, () => [0, 0, 0]));
  forged.writeUInt32BE(60000, 16);
  forged.writeUInt32BE(60000, 20);
  await rejectsWith(sharpPre.prepare(forged, opts({ width: 8, height: 8 })), 'EDGEML_IMAGE_TOO_LARGE');
});

test('options: node over card over defaults; bad card keys and settings are coded', () => {
  const card = parseModelCard({ 'edgeml.image': JSON.stringify({ width: 224, height: 160, layout: 'NHWC', mean: [0.5], std: [0.25, 0.5, 1] }) });
  const o = resolveImageOptions({ height: 96 }, card.image);
  assert.equal(o.width, 224);
  assert.equal(o.height, 96);
  assert.equal(o.layout, 'NHWC');
  assert.deepEqual(o.mean, [0.5, 0.5, 0.5]);
  assert.equal(o.scale, 1 / 255);
  for (const bad of [{ width: 0 }, { layout: 'CHW' }, { std: [0] }, { channels: 2 }, { pad: 300 }, 'x']) {
    assert.throws(
      () => parseModelCard({ 'edgeml.image': JSON.stringify(bad) }),
      (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_MODELCARD_INVALID',
    );
  }
  assert.throws(
    () => resolveImageOptions({}, undefined),
    (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_IMAGE_CONFIG',
  );
  assert.throws(
    () => resolveImageOptions({ width: 2, height: 2, mean: [1, 2] }, undefined),
    (e: unknown) => isEdgeMlError(e) && e.code === 'EDGEML_IMAGE_CONFIG',
  );
});

test('the worker thread (sharp and JS decoders) gives the same tensors as the inline pipeline, small and large, batch and NHWC/BGR/grey too', async () => {
  const jpeg = jpegOf(320, 200, (x, y) => [x & 255, y & 255, (x + y) & 255], 90);
  const png = pngOf(100, 300, (x, y) => [(x * 2) & 255, y & 255, 200]);
  const cases: ImageSpec[] = [
    { width: 224, height: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    { width: 640, height: 640, resize: 'letterbox', pad: 114 },
    { width: 600, height: 600, layout: 'NHWC', order: 'BGR', resize: 'center-crop', mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.4] },
    { width: 1024, height: 512, channels: 1, resize: 'letterbox' },
    { width: 96, height: 64, dtype: 'uint8' },
  ];
  for (const spec of cases) {
    const o = opts(spec);
    for (const [name, inWorker, inline] of [
      ['sharp', sharpWorkerPre, sharpPre],
      ['js', workerPre, jsPre],
    ] as const) {
      const a = await inWorker.prepare([jpeg, png], o);
      const b = await inline.prepare([jpeg, png], o);
      assert.deepEqual(a.tensor.dims, b.tensor.dims);
      assert.deepEqual(a.geometry, b.geometry);
      assert.equal(a.tensor.data.constructor, b.tensor.data.constructor);
      // the worker copies nothing it shares: the tensor is a whole buffer of its own
      assert.equal(a.tensor.data.byteLength, a.tensor.data.buffer.byteLength);
      let diff = 0;
      for (let i = 0; i < a.tensor.data.length; i++) if (a.tensor.data[i] !== b.tensor.data[i]) diff++;
      assert.equal(diff, 0, `${name} ${JSON.stringify(spec)}: ${diff} values differ`);
    }
  }
});

/** A thread's scheduling policy from /proc (field 41 of stat): 0 normal, 5 SCHED_IDLE. */
function policyOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
}

const chrtMissing = process.platform !== 'linux' ? 'thread policies are Linux only' : spawnSync('chrt', ['--version']).status === 0 ? false : 'chrt (util-linux) is not installed';

test('background priority: the worker thread and the libvips threads run at SCHED_IDLE; normal leaves them as they are', { skip: chrtMissing }, async (t) => {
  const bg = new ImagePreprocessor('sharp', WORKER_FILE, 'background');
  const normal = new ImagePreprocessor('js', WORKER_FILE, 'normal');
  t.after(() => Promise.all([bg.close(), normal.close()]));
  const jpeg = jpegOf(320, 200, (x, y) => [x & 255, y & 255, 90], 90);
  await bg.prepare([jpeg, jpeg], opts({ width: 64, height: 64 }));
  await normal.prepare(jpeg, opts({ width: 64, height: 64 }));
  const bgInfo = (await bg.info())!;
  const normalInfo = (await normal.info())!;
  assert.equal(bgInfo.priority, 'idle');
  assert.equal(policyOf(bgInfo.threadId!), 5, 'the background worker thread is SCHED_IDLE');
  const vips = readdirSync('/proc/self/task').filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('libvips'));
  assert.ok(vips.length > 0, 'libvips started threads');
  assert.deepEqual(
    vips.map((tid) => policyOf(Number(tid))),
    vips.map(() => 5),
    'every libvips thread is SCHED_IDLE',
  );
  assert.equal(normalInfo.priority, 'normal');
  assert.equal(policyOf(normalInfo.threadId!), 0, 'a normal-priority worker keeps the normal policy');
  assert.equal(policyOf(process.pid), 0, 'the main thread is never touched');
});
