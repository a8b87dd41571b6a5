/**
 * Synthetic test images. Pixels are defined by plain functions here, encoded by pngjs (lossless)
 * or jpeg-js, so a decoded, resized tensor is checked against the function, not against the code
 * under test.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export type PixelFn = (x: number, y: number) => [number, number, number];

export function rawRgb(width: number, height: number, f: PixelFn): Buffer {
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = f(x, y);
      const i = (y * width + x) * 3;
      out[i] = r;
      out[i + 1] = g;
      out[i + 2] = b;
    }
  }
  return out;
}

export function pngOf(width: number, height: number, f: PixelFn): Buffer {
  const png = new PNG({ width, height });
  const raw = rawRgb(width, height, f);
  for (let i = 0; i < width * height; i++) {
    png.data[i * 4] = raw[i * 3] as number;
    png.data[i * 4 + 1] = raw[i * 3 + 1] as number;
    png.data[i * 4 + 2] = raw[i * 3 + 2] as number;
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}

export function jpegOf(width: number, height: number, f: PixelFn, quality = 95): Buffer {
  const raw = rawRgb(width, height, f);
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[i * 4] = raw[i * 3] as number;
    rgba[i * 4 + 1] = raw[i * 3 + 1] as number;
    rgba[i * 4 + 2] = raw[i * 3 + 2] as number;
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width, height }, quality).data;
}

/**
 * Inserts an APP1 Exif segment with one Orientation entry right after SOI (written here by hand
 * from the EXIF layout, so the orientation parser is checked against an independent writer).
 */
export function withExifOrientation(jpg: Buffer, orientation: number, littleEndian = orientation % 2 === 0): Buffer {
  const tiff = Buffer.alloc(8 + 2 + 12 + 4);
  const u16 = (v: number, at: number): number => (littleEndian ? tiff.writeUInt16LE(v, at) : tiff.writeUInt16BE(v, at));
  const u32 = (v: number, at: number): number => (littleEndian ? tiff.writeUInt32LE(v, at) : tiff.writeUInt32BE(v, at));
  tiff.write(littleEndian ? 'II' : 'MM', 0, 'ascii');
  u16(42, 2); // TIFF magic
  u32(8, 4); // IFD0 right after the header
  u16(1, 8); // one entry
  u16(0x0112, 10); // Orientation
  u16(3, 12); // SHORT
  u32(1, 14); // one value
  u16(orientation, 18);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'binary'), tiff]);
  const seg = Buffer.alloc(4);
  seg[0] = 0xff;
  seg[1] = 0xe1;
  seg.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpg.subarray(0, 2), seg, payload, jpg.subarray(2)]);
}

/** A value read from a tensor laid out NCHW or NHWC. */
export function at(t: { dims: number[]; data: ArrayLike<number> }, layout: 'NCHW' | 'NHWC', n: number, c: number, y: number, x: number): number {
  const d = t.dims;
  if (layout === 'NCHW') {
    const [, C, H, W] = d as [number, number, number, number];
    return t.data[((n * C + c) * H + y) * W + x] as number;
  }
  const [, H, W, C] = d as [number, number, number, number];
  return t.data[((n * H + y) * W + x) * C + c] as number;
}
