/** The pure-JS pipeline: jpeg-js / pngjs decode, EXIF orientation, crop and bilinear resize. */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { planGeometry, type ImageGeometry } from './geometry';
import { corrupt, readHeader } from './header';
import type { ResizeMode } from './options';
import { orient, resizeBilinear, toRgb, type RawImage } from './pixels';

/** What a backend needs to know to turn one image into resized RGB. */
export interface PrepareRequest {
  width: number;
  height: number;
  resize: ResizeMode;
  maxPixels: number;
}

export interface PreparedImage {
  /** The resized crop, RGB, before padding. */
  pixels: RawImage;
  geometry: ImageGeometry;
}

/** Decodes JPEG or PNG to RGB pixels as stored, refusing bombs and truncation before decoding. */
export function decodeJs(buf: Uint8Array, maxPixels: number): { image: RawImage; orientation: number } {
  const header = readHeader(buf, maxPixels);
  try {
    if (header.format === 'jpeg') {
      const d = jpeg.decode(buf, {
        useTArray: true,
        formatAsRGBA: false,
        tolerantDecoding: false,
        maxResolutionInMP: Math.ceil(maxPixels / 1e6) + 1,
        maxMemoryUsageInMB: Math.max(512, Math.ceil((maxPixels * 4) / 1e6) + 64),
      });
      const channels = d.data.length / (d.width * d.height);
      return { image: { data: d.data, width: d.width, height: d.height, channels }, orientation: header.orientation };
    }
    const p = PNG.sync.read(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
    return { image: { data: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), width: p.width, height: p.height, channels: 4 }, orientation: 1 };
  } catch (e) {
    throw corrupt(e instanceof Error ? e.message : String(e));
  }
}

/** Oriented RGB pixels -> the resized crop and its geometry. */
export function resizeToPlan(rgb: RawImage, req: PrepareRequest, orientation: number): PreparedImage {
  const geometry = planGeometry(rgb.width, rgb.height, { width: req.width, height: req.height }, req.resize, orientation);
  const pixels = resizeBilinear(rgb, geometry.crop, geometry.resized.width, geometry.resized.height);
  return { pixels, geometry };
}

export function prepareJs(input: Uint8Array | RawImage, req: PrepareRequest): PreparedImage {
  if (input instanceof Uint8Array) {
    const { image, orientation } = decodeJs(input, req.maxPixels);
    return resizeToPlan(orient(toRgb(image), orientation), req, orientation);
  }
  return resizeToPlan(toRgb(input), req, 1);
}
