/**
 * ml-image's preprocessing steps: node settings over the model card's `edgeml.image` over defaults.
 *
 *   edgeml.image  { "width": 224, "height": 224, "layout": "NCHW" | "NHWC", "order": "RGB" | "BGR",
 *                   "channels": 3 | 1, "resize": "stretch" | "letterbox" | "center-crop", "pad": 114,
 *                   "scale": 0.00392156862745098, "mean": [..], "std": [..], "dtype": "float32" | "uint8" }
 */
import { EdgeMlError } from '../errors';
import { assignChoices, isPlainObject } from '../spec-fields';

export type ImageLayout = 'NCHW' | 'NHWC';
export type ChannelOrder = 'RGB' | 'BGR';
export type ResizeMode = 'stretch' | 'letterbox' | 'center-crop';
export type ImageDtype = 'float32' | 'uint8';

/** What the card (or the node) may say; every key optional. */
export interface ImageSpec {
  width?: number;
  height?: number;
  layout?: ImageLayout;
  order?: ChannelOrder;
  channels?: 1 | 3;
  resize?: ResizeMode;
  pad?: number;
  scale?: number;
  mean?: number[];
  std?: number[];
  dtype?: ImageDtype;
}

export interface ImageOptions {
  width: number;
  height: number;
  layout: ImageLayout;
  order: ChannelOrder;
  channels: 1 | 3;
  resize: ResizeMode;
  /** Letterbox fill, 0..255 in pixel units (before scale/mean/std). */
  pad: number;
  scale: number;
  mean: number[];
  std: number[];
  dtype: ImageDtype;
  /** Decoded pixels allowed per image (decompression-bomb limit). */
  maxPixels: number;
}

export const DEFAULT_MAX_PIXELS = 25_000_000;
/** Largest model input side accepted (a 8192 x 8192 x 3 float tensor is already 800 MB). */
export const MAX_SIDE = 8192;

export const LAYOUTS: readonly ImageLayout[] = ['NCHW', 'NHWC'];
export const ORDERS: readonly ChannelOrder[] = ['RGB', 'BGR'];
export const RESIZE_MODES: readonly ResizeMode[] = ['stretch', 'letterbox', 'center-crop'];
export const DTYPES: readonly ImageDtype[] = ['float32', 'uint8'];

const isObj = isPlainObject;

/**
 * Checks one spec (from the card or the node). `fail(field, reason)` makes the error: the card
 * reports EDGEML_MODELCARD_INVALID, the node EDGEML_IMAGE_CONFIG.
 */
export function checkImageSpec(raw: unknown, fail: (field: string, reason: string) => EdgeMlError): ImageSpec {
  if (!isObj(raw)) throw fail('', 'expected an object');
  const spec: ImageSpec = {};
  const side = (k: 'width' | 'height'): void => {
    const v = raw[k];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SIDE) throw fail(k, `expected an integer 1..${MAX_SIDE}`);
    spec[k] = v;
  };
  side('width');
  side('height');
  assignChoices(spec, raw, fail, { layout: LAYOUTS, order: ORDERS, resize: RESIZE_MODES, dtype: DTYPES });
  if (raw.channels !== undefined) {
    if (raw.channels !== 1 && raw.channels !== 3) throw fail('channels', 'expected 1 or 3');
    spec.channels = raw.channels;
  }
  if (raw.pad !== undefined) {
    if (typeof raw.pad !== 'number' || !(raw.pad >= 0 && raw.pad <= 255)) throw fail('pad', 'expected a number 0..255');
    spec.pad = raw.pad;
  }
  if (raw.scale !== undefined) {
    if (typeof raw.scale !== 'number' || !Number.isFinite(raw.scale) || raw.scale === 0) throw fail('scale', 'expected a non-zero number');
    spec.scale = raw.scale;
  }
  for (const k of ['mean', 'std'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    const list = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) throw fail(k, 'expected a number or an array of numbers');
    if (k === 'std' && list.some((x) => x === 0)) throw fail(k, 'a std of 0');
    spec[k] = list as number[];
  }
  return spec;
}

/** Parses the card's `edgeml.image` value (already JSON-parsed). */
export function parseImageCard(raw: unknown): ImageSpec {
  return checkImageSpec(raw, (field, reason) => {
    const key = field ? `edgeml.image.${field}` : 'edgeml.image';
    return new EdgeMlError('EDGEML_MODELCARD_INVALID', `model card key ${key}: ${reason}`, { key, reason });
  });
}

export function configError(field: string, reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_IMAGE_CONFIG', `ml-image setting ${field}: ${reason}`, { field, reason });
}

/** A per-channel list of the right length: one value applies to all channels. */
function perChannel(list: number[] | undefined, channels: number, fallback: number, field: string): number[] {
  if (!list) return new Array<number>(channels).fill(fallback);
  if (list.length === 1) return new Array<number>(channels).fill(list[0] as number);
  if (list.length !== channels) throw configError(field, `${list.length} values for ${channels} channels`);
  return list;
}

/** Node settings over the card over defaults; throws EDGEML_IMAGE_CONFIG without a target size. */
export function resolveImageOptions(node: ImageSpec, card: ImageSpec | undefined, maxPixels = DEFAULT_MAX_PIXELS): ImageOptions {
  const c = card ?? {};
  const pick = <K extends keyof ImageSpec>(k: K): ImageSpec[K] => (node[k] !== undefined ? node[k] : c[k]);
  const width = pick('width');
  const height = pick('height');
  if (width === undefined || height === undefined) throw configError('width', 'no target size: set width and height here or edgeml.image in the model card');
  const channels = pick('channels') ?? 3;
  if (!Number.isInteger(maxPixels) || maxPixels < 1) throw configError('maxPixels', 'expected a positive integer');
  return {
    width,
    height,
    layout: pick('layout') ?? 'NCHW',
    order: pick('order') ?? 'RGB',
    channels,
    resize: pick('resize') ?? 'stretch',
    pad: pick('pad') ?? 0,
    scale: pick('scale') ?? 1 / 255,
    mean: perChannel(pick('mean'), channels, 0, 'mean'),
    std: perChannel(pick('std'), channels, 1, 'std'),
    dtype: pick('dtype') ?? 'float32',
    maxPixels,
  };
}
