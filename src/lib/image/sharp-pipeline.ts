/** The libvips pipeline (sharp): decode, EXIF orientation, crop and resize off the event loop. */
import type { Sharp, SharpOptions } from 'sharp';
import { planGeometry } from './geometry';
import { corrupt, readHeader } from './header';
import type { PreparedImage, PrepareRequest } from './js-pipeline';
import { toRgb, type RawImage } from './pixels';

export type SharpFactory = (input?: Buffer | Uint8Array, options?: SharpOptions) => Sharp;

/** sharp when its native part loads here, else why not (the caller falls back to pure JS). */
export function loadSharp(): { sharp: SharpFactory; version: string } | { error: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('sharp') as SharpFactory & { versions?: { sharp?: string; vips?: string } };
    // Keep libvips from holding decoded images between messages, and leave a core to Node-RED.
    (mod as unknown as { cache(o: boolean): void }).cache(false);
    return { sharp: mod, version: `sharp ${mod.versions?.sharp ?? '?'} (libvips ${mod.versions?.vips ?? '?'})` };
  } catch (e) {
    return { error: e instanceof Error ? (e.message.split('\n')[0] ?? 'sharp failed to load') : String(e) };
  }
}

export async function prepareSharp(sharp: SharpFactory, input: Uint8Array | RawImage, req: PrepareRequest): Promise<PreparedImage> {
  let pipeline: Sharp;
  let width: number;
  let height: number;
  let orientation = 1;
  if (input instanceof Uint8Array) {
    const header = readHeader(input, req.maxPixels);
    orientation = header.orientation;
    const swap = orientation >= 5;
    width = swap ? header.height : header.width;
    height = swap ? header.width : header.height;
    pipeline = sharp(input, { failOn: 'error', limitInputPixels: req.maxPixels }).rotate();
  } else {
    // Alpha is dropped before resizing (libvips would premultiply it and darken transparent pixels).
    const rgb = input.channels === 4 || input.channels === 2 ? toRgb(input) : input;
    width = rgb.width;
    height = rgb.height;
    pipeline = sharp(rgb.data, { raw: { width, height, channels: rgb.channels as 1 | 3 }, limitInputPixels: req.maxPixels });
  }
  const geometry = planGeometry(width, height, { width: req.width, height: req.height }, req.resize, orientation);
  const { crop, resized } = geometry;
  if (crop.x !== 0 || crop.y !== 0 || crop.width !== width || crop.height !== height) {
    pipeline = pipeline.extract({ left: crop.x, top: crop.y, width: crop.width, height: crop.height });
  }
  try {
    const { data, info } = await pipeline
      .resize(resized.width, resized.height, { fit: 'fill', kernel: 'linear' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== resized.width || info.height !== resized.height) throw new Error(`libvips returned ${info.width} x ${info.height}`);
    return { pixels: { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels }, geometry };
  } catch (e) {
    throw corrupt(e instanceof Error ? (e.message.split('\n')[0] ?? 'libvips error') : String(e));
  }
}
