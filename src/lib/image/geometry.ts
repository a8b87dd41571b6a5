/**
 * Where the model's input pixels come from in the original image, and back. A resize plan is
 * computed from the (oriented) original size alone, so every backend crops, scales and pads alike.
 */
import type { ResizeMode } from './options';

export interface ImageGeometry {
  /** Original size after EXIF orientation. */
  width: number;
  height: number;
  /** The model input size. */
  input: { width: number; height: number };
  resize: ResizeMode;
  /** Region of the original that was resized (the whole image except for center-crop). */
  crop: { x: number; y: number; width: number; height: number };
  /** Size the crop was resized to, before padding. */
  resized: { width: number; height: number };
  /** Model pixels per original pixel. */
  scale: { x: number; y: number };
  /** Letterbox padding in model pixels. */
  pad: { left: number; top: number; right: number; bottom: number };
  /** EXIF orientation applied (1 = none). */
  orientation: number;
}

export function planGeometry(width: number, height: number, input: { width: number; height: number }, resize: ResizeMode, orientation = 1): ImageGeometry {
  const tw = input.width;
  const th = input.height;
  let crop = { x: 0, y: 0, width, height };
  let rw = tw;
  let rh = th;
  if (resize === 'letterbox') {
    const s = Math.min(tw / width, th / height);
    rw = Math.min(tw, Math.max(1, Math.round(width * s)));
    rh = Math.min(th, Math.max(1, Math.round(height * s)));
  } else if (resize === 'center-crop') {
    const s = Math.max(tw / width, th / height);
    const cw = Math.min(width, Math.max(1, Math.round(tw / s)));
    const ch = Math.min(height, Math.max(1, Math.round(th / s)));
    crop = { x: Math.floor((width - cw) / 2), y: Math.floor((height - ch) / 2), width: cw, height: ch };
  }
  const left = Math.floor((tw - rw) / 2);
  const top = Math.floor((th - rh) / 2);
  return {
    width,
    height,
    input: { width: tw, height: th },
    resize,
    crop,
    resized: { width: rw, height: rh },
    scale: { x: rw / crop.width, y: rh / crop.height },
    pad: { left, top, right: tw - rw - left, bottom: th - rh - top },
    orientation,
  };
}

/** A point in model-input pixels -> original-image pixels. */
export function toOriginal(g: ImageGeometry, x: number, y: number): { x: number; y: number } {
  return { x: (x - g.pad.left) / g.scale.x + g.crop.x, y: (y - g.pad.top) / g.scale.y + g.crop.y };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads a geometry from a message property (it may have crossed a JSON round trip); undefined if unusable. */
export function asGeometry(v: unknown): ImageGeometry | undefined {
  if (!isObj(v) || !num(v.width) || !num(v.height)) return undefined;
  const { input, crop, scale, pad, resized } = v;
  if (!isObj(input) || !num(input.width) || !num(input.height)) return undefined;
  if (!isObj(crop) || !num(crop.x) || !num(crop.y) || !num(crop.width) || !num(crop.height)) return undefined;
  if (!isObj(scale) || !num(scale.x) || !num(scale.y) || scale.x <= 0 || scale.y <= 0) return undefined;
  if (!isObj(pad) || !num(pad.left) || !num(pad.top)) return undefined;
  return {
    width: v.width,
    height: v.height,
    input: { width: input.width, height: input.height },
    resize: (typeof v.resize === 'string' ? v.resize : 'stretch') as ResizeMode,
    crop: { x: crop.x, y: crop.y, width: crop.width, height: crop.height },
    resized: isObj(resized) && num(resized.width) && num(resized.height) ? { width: resized.width, height: resized.height } : { width: input.width, height: input.height },
    scale: { x: scale.x, y: scale.y },
    pad: { left: pad.left, top: pad.top, right: num(pad.right) ? pad.right : 0, bottom: num(pad.bottom) ? pad.bottom : 0 },
    orientation: num(v.orientation) ? v.orientation : 1,
  };
}
