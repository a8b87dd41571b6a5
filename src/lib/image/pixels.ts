/** Pixel work in plain JS: raw-image checks, EXIF orientation, bilinear resize, tensor layout. */
import { EdgeMlError } from '../errors';
import type { ImageGeometry } from './geometry';
import { tooLarge } from './header';
import type { ImageOptions } from './options';

/** 8-bit interleaved pixels, 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function inputError(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_IMAGE_INPUT', `ml-image needs an encoded image Buffer (JPEG, PNG), raw pixels { data, width, height, channels } or an array of them: ${reason}`, { reason });
}

export const isRawImageObject = (v: unknown): v is Record<string, unknown> => isObj(v) && 'data' in v && 'width' in v && 'height' in v && !Buffer.isBuffer(v);

/** Validates raw pixels; data may be a Buffer, a Uint8(Clamped)Array or an array of 0..255. */
export function checkRawImage(v: Record<string, unknown>, maxPixels: number): RawImage {
  const { width, height } = v;
  const channels = v.channels === undefined ? 3 : v.channels;
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || typeof height !== 'number' || !Number.isInteger(height) || height < 1) {
    throw inputError(`width and height must be positive integers (got ${String(width)} x ${String(height)})`);
  }
  if (typeof channels !== 'number' || ![1, 2, 3, 4].includes(channels)) {
    throw new EdgeMlError('EDGEML_IMAGE_CHANNELS', `raw image with ${String(channels)} channels; expected 1, 2, 3 or 4`, { channels: String(channels) });
  }
  if (width * height > maxPixels) throw tooLarge(width, height, maxPixels);
  let raw = v.data;
  // A Buffer that crossed a JSON round trip: { type: 'Buffer', data: [...] }.
  if (isObj(raw) && raw.type === 'Buffer' && Array.isArray(raw.data)) raw = raw.data;
  let data: Uint8Array;
  if (raw instanceof Uint8Array || raw instanceof Uint8ClampedArray) data = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  else if (Array.isArray(raw)) {
    data = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const x = raw[i];
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) throw inputError(`data[${i}] is not an integer 0..255`);
      data[i] = x;
    }
  } else throw inputError('data must be a Buffer, a Uint8Array or an array of 0..255');
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new EdgeMlError('EDGEML_IMAGE_RAW_LENGTH', `raw image data has ${data.length} bytes; ${width} x ${height} x ${channels} needs ${expected}`, {
      length: data.length,
      expected,
      width,
      height,
      channels,
    });
  }
  return { data, width, height, channels };
}

/** Any channel count -> RGB (grey replicated, alpha dropped). */
export function toRgb(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const c = img.channels;
  const src = img.data;
  for (let i = 0; i < n; i++) {
    if (c >= 3) {
      out[i * 3] = src[i * c] as number;
      out[i * 3 + 1] = src[i * c + 1] as number;
      out[i * 3 + 2] = src[i * c + 2] as number;
    } else {
      const g = src[i * c] as number;
      out[i * 3] = g;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = g;
    }
  }
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/** Applies EXIF orientation 1..8 (the stored image -> as it is meant to be seen). */
export function orient(img: RawImage, orientation: number): RawImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: W, height: H, channels: c, data } = img;
  const swap = orientation >= 5;
  const ow = swap ? H : W;
  const oh = swap ? W : H;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          sx = W - 1 - x;
          sy = y;
          break;
        case 3:
          sx = W - 1 - x;
          sy = H - 1 - y;
          break;
        case 4:
          sx = x;
          sy = H - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = H - 1 - x;
          break;
        case 7:
          sx = W - 1 - y;
          sy = H - 1 - x;
          break;
        default:
          sx = W - 1 - y;
          sy = x;
          break; // 8
      }
      const s = (sy * W + sx) * c;
      const d = (y * ow + x) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k] as number;
    }
  }
  return { data: out, width: ow, height: oh, channels: c };
}

/**
 * Bilinear resize of a region (half-pixel centres, edges clamped). When shrinking by more than 2x
 * the region is first box-averaged by an integer factor, so fine detail is not skipped (aliasing).
 */
export function resizeBilinear(img: RawImage, crop: { x: number; y: number; width: number; height: number }, rw: number, rh: number): RawImage {
  let src = img;
  let region = crop;
  const bx = Math.max(1, Math.floor(crop.width / rw));
  const by = Math.max(1, Math.floor(crop.height / rh));
  if (bx >= 2 || by >= 2) {
    src = boxShrink(img, crop, bx, by);
    region = { x: 0, y: 0, width: src.width, height: src.height };
  }
  const c = src.channels;
  const out = new Uint8Array(rw * rh * c);
  const sxScale = region.width / rw;
  const syScale = region.height / rh;
  const W = src.width;
  const data = src.data;
  const maxX = region.width - 1;
  const maxY = region.height - 1;
  const x0s = new Int32Array(rw);
  const x1s = new Int32Array(rw);
  const wxs = new Float64Array(rw);
  for (let x = 0; x < rw; x++) {
    let sx = (x + 0.5) * sxScale - 0.5;
    if (sx < 0) sx = 0;
    if (sx > maxX) sx = maxX;
    const x0 = Math.floor(sx);
    x0s[x] = (region.x + x0) * c;
    x1s[x] = (region.x + Math.min(x0 + 1, maxX)) * c;
    wxs[x] = sx - x0;
  }
  for (let y = 0; y < rh; y++) {
    let sy = (y + 0.5) * syScale - 0.5;
    if (sy < 0) sy = 0;
    if (sy > maxY) sy = maxY;
    const y0 = Math.floor(sy);
    const wy = sy - y0;
    const r0 = (region.y + y0) * W * c;
    const r1 = (region.y + Math.min(y0 + 1, maxY)) * W * c;
    let d = y * rw * c;
    for (let x = 0; x < rw; x++) {
      const wx = wxs[x] as number;
      const a = x0s[x] as number;
      const b = x1s[x] as number;
      for (let k = 0; k < c; k++) {
        const top = (data[r0 + a + k] as number) * (1 - wx) + (data[r0 + b + k] as number) * wx;
        const bottom = (data[r1 + a + k] as number) * (1 - wx) + (data[r1 + b + k] as number) * wx;
        out[d++] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { data: out, width: rw, height: rh, channels: c };
}

/** Averages bx x by blocks of a region (the last partial block averages what it has). */
function boxShrink(img: RawImage, crop: { x: number; y: number; width: number; height: number }, bx: number, by: number): RawImage {
  const c = img.channels;
  const ow = Math.ceil(crop.width / bx);
  const oh = Math.ceil(crop.height / by);
  const out = new Uint8Array(ow * oh * c);
  const sums = new Float64Array(ow * c);
  const counts = new Uint32Array(ow);
  for (let oy = 0; oy < oh; oy++) {
    sums.fill(0);
    counts.fill(0);
    const yEnd = Math.min(crop.height, (oy + 1) * by);
    for (let y = oy * by; y < yEnd; y++) {
      const row = ((crop.y + y) * img.width + crop.x) * c;
      for (let x = 0; x < crop.width; x++) {
        const ox = (x / bx) | 0;
        counts[ox]!++;
        const s = row + x * c;
        for (let k = 0; k < c; k++) sums[ox * c + k]! += img.data[s + k] as number;
      }
    }
    for (let ox = 0; ox < ow; ox++) for (let k = 0; k < c; k++) out[(oy * ow + ox) * c + k] = Math.round((sums[ox * c + k] as number) / (counts[ox] as number));
  }
  return { data: out, width: ow, height: oh, channels: c };
}

export interface ImageTensor {
  dtype: 'float32' | 'uint8';
  dims: number[];
  data: Float32Array | Uint8Array;
}

/** A tensor being laid out: written row by row, so a large frame can yield to the event loop. */
export interface TensorLayout {
  tensor: ImageTensor;
  /** Output rows over all images (batch x height). */
  rows: number;
  /** Writes output rows [from, to) (counted over all images in order); every value is written once. */
  write(from: number, to: number): void;
}

/**
 * One row of a 3-channel tensor: output values from `d` to `end` in steps of `step`, channel k at
 * `d + k * stride`, from RGB source pixels at `s` through each channel's lookup table. A function
 * of its own, with everything as parameters: as a closure over planLayout's variables the loop ran
 * 1.7x slower (context loads in the loop).
 */
function rowOf3(
  data: Float32Array | Uint8Array,
  d: number,
  end: number,
  step: number,
  stride: number,
  src: Uint8Array,
  s: number,
  l0: Float32Array,
  l1: Float32Array,
  l2: Float32Array,
  first: number,
  third: number,
): void {
  const s2 = 2 * stride;
  for (; d < end; d += step, s += 3) {
    data[d] = l0[src[s + first] as number] as number;
    data[d + stride] = l1[src[s + 1] as number] as number;
    data[d + s2] = l2[src[s + third] as number] as number;
  }
}

/**
 * Lays resized RGB crops out as one batch tensor: padding, channel order, grey conversion,
 * (p * scale - mean) / std for float32, and NCHW or NHWC. Flat loops over typed arrays.
 */
export function planLayout(images: Array<{ pixels: RawImage; geometry: ImageGeometry }>, o: ImageOptions): TensorLayout {
  const W = o.width;
  const H = o.height;
  const C = o.channels;
  const plane = W * H;
  const per = plane * C;
  const float = o.dtype === 'float32';
  // Not zero-filled: the rows write every value (a 640 x 640 float frame is 4.9 MB to clear otherwise).
  const bytes = Buffer.allocUnsafeSlow(images.length * per * (float ? 4 : 1));
  const data = float ? new Float32Array(bytes.buffer, bytes.byteOffset, images.length * per) : new Uint8Array(bytes.buffer, bytes.byteOffset, images.length * per);
  const nchw = o.layout === 'NCHW';
  // Per output channel: the value for each of 256 pixel levels (a lookup is cheaper than the arithmetic).
  const luts: Float32Array[] = [];
  for (let k = 0; k < C; k++) {
    const t = new Float32Array(256);
    for (let p = 0; p < 256; p++) t[p] = float ? (p * o.scale - (o.mean[k] as number)) / (o.std[k] as number) : p;
    luts.push(t);
  }
  const padLevel = Math.max(0, Math.min(255, Math.round(o.pad)));
  const l0 = luts[0] as Float32Array;
  const l1 = (luts[1] ?? l0) as Float32Array;
  const l2 = (luts[2] ?? l0) as Float32Array;
  // BGR swaps the source channels read for output channels 0 and 2.
  const first = o.order === 'BGR' ? 2 : 0;
  const third = o.order === 'BGR' ? 0 : 2;
  const rgbs = images.map(({ pixels }) => (pixels.channels === 3 ? pixels : toRgb(pixels)));
  const padGrey = l0[Math.round(0.299 * padLevel + 0.587 * padLevel + 0.114 * padLevel)] as number;
  const p0 = l0[padLevel] as number;
  const p1 = l1[padLevel] as number;
  const p2 = l2[padLevel] as number;
  /** Pads output pixels [x0, x1) of output row y of image n. */
  const pad = (base: number, y: number, x0: number, x1: number): void => {
    if (x1 <= x0) return;
    if (C === 1) data.fill(padGrey, base + y * W + x0, base + y * W + x1);
    else if (nchw) {
      const d = base + y * W;
      data.fill(p0, d + x0, d + x1);
      data.fill(p1, d + plane + x0, d + plane + x1);
      data.fill(p2, d + 2 * plane + x0, d + 2 * plane + x1);
    } else {
      for (let d = base + (y * W + x0) * 3, end = base + (y * W + x1) * 3; d < end; d += 3) {
        data[d] = p0;
        data[d + 1] = p1;
        data[d + 2] = p2;
      }
    }
  };
  /** Output row y of image n: padding, then the resized row, then padding. */
  const writeRow = (n: number, y: number): void => {
    const rgb = rgbs[n] as RawImage;
    const g = (images[n] as { geometry: ImageGeometry }).geometry;
    const base = n * per;
    const sy = y - g.pad.top;
    const rw = Math.min(rgb.width, W - g.pad.left);
    if (sy < 0 || sy >= rgb.height) {
      pad(base, y, 0, W);
      return;
    }
    pad(base, y, 0, g.pad.left);
    pad(base, y, g.pad.left + rw, W);
    const src = rgb.data;
    let s = sy * rgb.width * 3;
    if (C === 1) {
      let d = base + y * W + g.pad.left;
      for (let x = 0; x < rw; x++, s += 3) data[d++] = l0[Math.round(0.299 * (src[s] as number) + 0.587 * (src[s + 1] as number) + 0.114 * (src[s + 2] as number))] as number;
    } else if (nchw) {
      const d = base + y * W + g.pad.left;
      rowOf3(data, d, d + rw, 1, plane, src, s, l0, l1, l2, first, third);
    } else {
      const d = base + (y * W + g.pad.left) * 3;
      rowOf3(data, d, d + rw * 3, 3, 1, src, s, l0, l1, l2, first, third);
    }
  };
  const rows = images.length * H;
  const dims = nchw ? [images.length, C, H, W] : [images.length, H, W, C];
  return {
    tensor: { dtype: o.dtype, dims, data },
    rows,
    write(from: number, to: number): void {
      for (let r = from; r < to; r++) writeRow(Math.floor(r / H), r % H);
    },
  };
}

export function layoutTensor(images: Array<{ pixels: RawImage; geometry: ImageGeometry }>, o: ImageOptions): ImageTensor {
  const l = planLayout(images, o);
  l.write(0, l.rows);
  return l.tensor;
}

/** The same, yielding to the event loop whenever a slice has run for `sliceMs`. */
export async function layoutTensorYielding(images: Array<{ pixels: RawImage; geometry: ImageGeometry }>, o: ImageOptions, sliceMs = 2): Promise<ImageTensor> {
  const l = planLayout(images, o);
  const step = 16;
  let sliceStart = performance.now();
  for (let r = 0; r < l.rows; r += step) {
    l.write(r, Math.min(l.rows, r + step));
    if (performance.now() - sliceStart > sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  return l.tensor;
}
