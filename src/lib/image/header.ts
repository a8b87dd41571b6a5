/**
 * What an encoded image says about itself before any pixel is decoded: format, size, EXIF
 * orientation. The pixel limit is checked on this, so a decompression bomb is refused unopened.
 */
import { EdgeMlError } from '../errors';

export type ImageFormat = 'jpeg' | 'png';

export interface ImageHeader {
  format: ImageFormat;
  /** Stored size (before orientation). */
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
}

export function notAnImage(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_IMAGE_FORMAT', `not a JPEG or PNG image: ${reason}`, { reason });
}

export function corrupt(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_IMAGE_CORRUPT', `the image cannot be decoded: ${reason}`, { reason });
}

export function tooLarge(width: number, height: number, limit: number): EdgeMlError {
  return new EdgeMlError('EDGEML_IMAGE_TOO_LARGE', `image of ${width} x ${height} pixels exceeds the limit of ${limit} pixels`, {
    width,
    height,
    pixels: width * height,
    limit,
  });
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function sniffFormat(buf: Uint8Array): ImageFormat | undefined {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && PNG_SIGNATURE.every((b, i) => buf[i] === b)) return 'png';
  return undefined;
}

const u16be = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);
const u32be = (b: Uint8Array, o: number): number => (u16be(b, o) * 65536 + u16be(b, o + 2)) >>> 0;

/** EXIF orientation from an APP1 segment's payload ("Exif\0\0" + TIFF); 1 when absent or unreadable. */
function exifOrientation(b: Uint8Array, start: number, end: number): number {
  if (end - start < 14 || b[start] !== 0x45 || b[start + 1] !== 0x78 || b[start + 2] !== 0x69 || b[start + 3] !== 0x66) return 1;
  const t = start + 6;
  const little = b[t] === 0x49 && b[t + 1] === 0x49;
  if (!little && !(b[t] === 0x4d && b[t + 1] === 0x4d)) return 1;
  const r16 = (o: number): number => (little ? (b[o] as number) | ((b[o + 1] as number) << 8) : u16be(b, o));
  const r32 = (o: number): number => (little ? (r16(o) + r16(o + 2) * 65536) >>> 0 : u32be(b, o));
  const ifd = t + r32(t + 4);
  if (ifd + 2 > end) return 1;
  const count = r16(ifd);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > end) return 1;
    if (r16(e) === 0x0112) {
      const v = r16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

function jpegHeader(b: Uint8Array): ImageHeader {
  let o = 2;
  let orientation = 1;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) throw corrupt(`no JPEG marker at byte ${o}`);
    const marker = b[o + 1] as number;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2;
      continue;
    }
    const len = u16be(b, o + 2);
    if (len < 2) throw corrupt(`JPEG segment of length ${len} at byte ${o}`);
    const end = o + 2 + len;
    if (end > b.length) throw corrupt('truncated JPEG header');
    if (marker === 0xe1) orientation = exifOrientation(b, o + 4, end);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (len < 8) throw corrupt('short JPEG frame header');
      const height = u16be(b, o + 5);
      const width = u16be(b, o + 7);
      if (width === 0 || height === 0) throw corrupt(`JPEG frame of ${width} x ${height}`);
      return { format: 'jpeg', width, height, orientation };
    }
    if (marker === 0xda || marker === 0xd9) break;
    o = end;
  }
  throw corrupt('truncated JPEG: no frame header');
}

/** The end-of-image marker within the last bytes (cameras sometimes append a few bytes after it). */
function hasJpegEnd(b: Uint8Array): boolean {
  for (let i = b.length - 2; i >= Math.max(2, b.length - 64); i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
  return false;
}

function pngHeader(b: Uint8Array): ImageHeader {
  if (b.length < 33 || u32be(b, 12) !== 0x49484452) throw corrupt('truncated PNG: no IHDR chunk');
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  if (width === 0 || height === 0) throw corrupt(`PNG of ${width} x ${height}`);
  return { format: 'png', width, height, orientation: 1 };
}

/** Reads the header and refuses what must not be decoded: unknown formats, truncation, too many pixels. */
export function readHeader(buf: Uint8Array, maxPixels: number): ImageHeader {
  const format = sniffFormat(buf);
  if (!format) throw notAnImage(buf.length === 0 ? 'empty buffer' : `starts with ${Array.from(buf.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ')}`);
  const h = format === 'jpeg' ? jpegHeader(buf) : pngHeader(buf);
  if (h.width * h.height > maxPixels) throw tooLarge(h.width, h.height, maxPixels);
  if (format === 'jpeg' && !hasJpegEnd(buf)) throw corrupt('truncated JPEG: no end-of-image marker');
  if (format === 'png' && !(buf.length >= 12 && u32be(buf, buf.length - 8) === 0x49454e44)) throw corrupt('truncated PNG: no IEND chunk');
  return h;
}
