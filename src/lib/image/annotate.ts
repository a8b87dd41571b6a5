/**
 * The annotated image ml-format puts on msg.annotated: the original image (msg.image, kept by
 * ml-image) as a JPEG with each detection's box and label drawn on it, or a segmentation's classes
 * blended over it. With sharp: an SVG overlay composed by libvips (labels as text, off the event
 * loop in libvips' threads). Without: rectangles and a label bar drawn in JS in ml-image's worker
 * thread (no font there: the bar's length shows the score instead of text).
 *
 * Boxes are in original-image pixels (after EXIF orientation), as ml-format publishes them. Lines
 * are drawn inside the box edges, `lineWidth` pixels wide; the label bar sits above the box (inside
 * its top when there is no room above).
 */
import jpeg from 'jpeg-js';
import { EdgeMlError } from '../errors';
import { decodeJs } from './js-pipeline';
import { readHeader } from './header';
import { orient, toRgb, type RawImage } from './pixels';
import { loadSharp, type SharpFactory } from './sharp-pipeline';

export type Rgb = [number, number, number];

/** Colours by class index (Ultralytics' palette order, so a YOLO user sees the colours they know). */
export const PALETTE: readonly Rgb[] = [
  [255, 56, 56],
  [255, 157, 151],
  [255, 112, 31],
  [255, 178, 29],
  [207, 210, 49],
  [72, 249, 10],
  [146, 204, 23],
  [61, 219, 134],
  [26, 147, 52],
  [0, 212, 187],
  [44, 153, 168],
  [0, 194, 255],
  [52, 69, 147],
  [100, 115, 255],
  [0, 24, 236],
  [132, 56, 255],
  [82, 0, 133],
  [203, 56, 255],
  [255, 149, 200],
  [255, 55, 199],
];

/** A class's colour: by its index in the labels, else by the label's text (stable across messages). */
export function labelColour(label: string, labels: readonly string[] | undefined): Rgb {
  let i = labels ? labels.indexOf(label) : -1;
  if (i < 0) {
    i = /^\d+$/.test(label) ? Number(label) : [...label].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  }
  return PALETTE[i % PALETTE.length] as Rgb;
}

export interface AnnotateBox {
  label: string;
  score: number;
  box: { x: number; y: number; w: number; h: number };
  colour: Rgb;
}

export interface AnnotateRequest {
  boxes: AnnotateBox[];
  /** Segmentation: class per original pixel; classes with a colour are blended at `maskAlpha`. */
  mask?: { classMap: Uint8Array; width: number; height: number; colours: Array<Rgb | null> };
  /** The size the boxes or the mask are for (msg.imageGeometry); the image must have it. */
  expect?: { width: number; height: number };
  quality: number;
  maxPixels: number;
}

export const MASK_ALPHA = 0.5;

export function annotateError(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_FORMAT_ANNOTATE_IMAGE', `annotated image: ${reason}`, { reason });
}

/** Line width and label bar height for an image of this size. */
export function strokeOf(width: number, height: number): { line: number; bar: number } {
  const side = Math.min(width, height);
  return { line: Math.max(4, Math.round(side / 120)), bar: Math.max(14, Math.round(side / 28)) };
}

interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A box -> its pixel rectangle (inclusive) clipped to the image, and where its label bar goes. */
function layout(b: AnnotateBox, width: number, height: number, bar: number, barWidth: number): { box: Rect; bar: Rect } | undefined {
  const x0 = Math.max(0, Math.round(b.box.x));
  const y0 = Math.max(0, Math.round(b.box.y));
  const x1 = Math.min(width - 1, Math.round(b.box.x + b.box.w) - 1);
  const y1 = Math.min(height - 1, Math.round(b.box.y + b.box.h) - 1);
  if (x1 < x0 || y1 < y0) return undefined;
  const by0 = y0 >= bar ? y0 - bar : y0;
  return { box: { x0, y0, x1, y1 }, bar: { x0, y0: by0, x1: Math.min(width - 1, x0 + Math.max(1, barWidth) - 1), y1: by0 + bar - 1 } };
}

function fill(img: RawImage, r: Rect, c: Rgb): void {
  const { data, width } = img;
  for (let y = Math.max(0, r.y0); y <= Math.min(img.height - 1, r.y1); y++) {
    for (let x = Math.max(0, r.x0); x <= Math.min(width - 1, r.x1); x++) {
      const i = (y * width + x) * 3;
      data[i] = c[0];
      data[i + 1] = c[1];
      data[i + 2] = c[2];
    }
  }
}

function blendMask(img: RawImage, mask: NonNullable<AnnotateRequest['mask']>): void {
  const { data } = img;
  const a = MASK_ALPHA;
  for (let p = 0; p < mask.classMap.length; p++) {
    const c = mask.colours[mask.classMap[p] as number];
    if (!c) continue;
    const i = p * 3;
    data[i] = Math.round((data[i] as number) * (1 - a) + c[0] * a);
    data[i + 1] = Math.round((data[i + 1] as number) * (1 - a) + c[1] * a);
    data[i + 2] = Math.round((data[i + 2] as number) * (1 - a) + c[2] * a);
  }
}

function checkSize(width: number, height: number, req: AnnotateRequest): void {
  const e = req.mask ?? req.expect;
  if (e && (e.width !== width || e.height !== height)) {
    throw annotateError(`msg.image is ${width} x ${height} pixels but the prediction is for ${e.width} x ${e.height} (msg.image must be the image ml-image took)`);
  }
}

/** Decoded, oriented RGB pixels of msg.image (an encoded Buffer or raw pixels). */
function pixelsOf(input: Uint8Array | RawImage, maxPixels: number): RawImage {
  if (!(input instanceof Uint8Array)) return toRgb(input);
  const { image, orientation } = decodeJs(input, maxPixels);
  return orient(toRgb(image), orientation);
}

/** The pure-JS annotation: rectangles and score-long label bars, no text. */
export function annotateJs(input: Uint8Array | RawImage, req: AnnotateRequest): Uint8Array {
  const src = pixelsOf(input, req.maxPixels);
  checkSize(src.width, src.height, req);
  // a copy: raw input pixels belong to the message
  const img: RawImage = { ...src, data: src.data === (input as RawImage).data ? new Uint8Array(src.data) : src.data };
  if (req.mask) blendMask(img, req.mask);
  const { line, bar } = strokeOf(img.width, img.height);
  for (const b of req.boxes) {
    const l = layout(b, img.width, img.height, bar, 0);
    if (!l) continue;
    const { x0, y0, x1, y1 } = l.box;
    const t = line - 1;
    fill(img, { x0, y0, x1, y1: Math.min(y1, y0 + t) }, b.colour);
    fill(img, { x0, y0: Math.max(y0, y1 - t), x1, y1 }, b.colour);
    fill(img, { x0, y0, x1: Math.min(x1, x0 + t), y1 }, b.colour);
    fill(img, { x0: Math.max(x0, x1 - t), y0, x1, y1 }, b.colour);
    const long = Math.max(line, Math.round(Math.min(1, Math.max(0, b.score)) * (x1 - x0 + 1)));
    fill(img, { ...l.bar, x1: Math.min(img.width - 1, x0 + long - 1) }, b.colour);
  }
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let p = 0, q = 0; p < img.data.length; p += 3, q += 4) {
    rgba[q] = img.data[p] as number;
    rgba[q + 1] = img.data[p + 1] as number;
    rgba[q + 2] = img.data[p + 2] as number;
    rgba[q + 3] = 255;
  }
  const out = jpeg.encode({ data: rgba, width: img.width, height: img.height }, req.quality).data;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

const xmlEscape = (s: string): string => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
const hex = (c: Rgb): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
/** Black text on light colours, white on dark ones. */
const textColour = (c: Rgb): string => (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 150 ? '#000' : '#fff');

export function labelText(b: AnnotateBox): string {
  return `${b.label} ${b.score.toFixed(2)}`;
}

/** The SVG overlay sharp composes over the image: boxes, label bars and their text. */
export function overlaySvg(width: number, height: number, boxes: readonly AnnotateBox[]): string {
  const { line, bar } = strokeOf(width, height);
  const font = Math.round(bar * 0.8);
  const parts: string[] = [];
  for (const b of boxes) {
    const text = labelText(b);
    const l = layout(b, width, height, bar, Math.ceil(text.length * font * 0.62) + 6);
    if (!l) continue;
    const { x0, y0, x1, y1 } = l.box;
    const c = hex(b.colour);
    // stroke centred half a line inside the edges, so it covers exactly the pixels annotateJs fills
    parts.push(
      `<rect x="${x0 + line / 2}" y="${y0 + line / 2}" width="${Math.max(0, x1 - x0 + 1 - line)}" height="${Math.max(0, y1 - y0 + 1 - line)}" fill="none" stroke="${c}" stroke-width="${line}"/>`,
    );
    parts.push(`<rect x="${l.bar.x0}" y="${l.bar.y0}" width="${l.bar.x1 - l.bar.x0 + 1}" height="${bar}" fill="${c}"/>`);
    parts.push(
      `<text x="${l.bar.x0 + 3}" y="${l.bar.y0 + bar - Math.round(bar * 0.22)}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="${font}" fill="${textColour(b.colour)}">${xmlEscape(text)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" shape-rendering="crispEdges">${parts.join('')}</svg>`;
}

/** The libvips annotation: decode + orientation, mask and SVG composed, JPEG encoded, all in libvips' threads. */
export async function annotateSharp(sharp: SharpFactory, input: Uint8Array | RawImage, req: AnnotateRequest): Promise<Buffer> {
  let width: number;
  let height: number;
  let base;
  if (input instanceof Uint8Array) {
    const header = readHeader(input, req.maxPixels);
    const swap = header.orientation >= 5;
    width = swap ? header.height : header.width;
    height = swap ? header.width : header.height;
    checkSize(width, height, req);
    // composite comes after rotate in libvips' pipeline: the overlay lands on the oriented image
    base = sharp(input, { failOn: 'error', limitInputPixels: req.maxPixels }).rotate();
  } else {
    const rgb = input.channels === 3 || input.channels === 1 ? input : toRgb(input);
    width = rgb.width;
    height = rgb.height;
    checkSize(width, height, req);
    base = sharp(rgb.data, { raw: { width, height, channels: rgb.channels as 1 | 3 }, limitInputPixels: req.maxPixels });
  }
  const layers: Array<{ input: Buffer; raw?: { width: number; height: number; channels: 4 } }> = [];
  if (req.mask) {
    const m = req.mask;
    const rgba = Buffer.alloc(m.width * m.height * 4);
    const alpha = Math.round(MASK_ALPHA * 255);
    for (let p = 0; p < m.classMap.length; p++) {
      const c = m.colours[m.classMap[p] as number];
      if (!c) continue;
      rgba[p * 4] = c[0];
      rgba[p * 4 + 1] = c[1];
      rgba[p * 4 + 2] = c[2];
      rgba[p * 4 + 3] = alpha;
    }
    layers.push({ input: rgba, raw: { width: m.width, height: m.height, channels: 4 } });
  }
  if (req.boxes.length) layers.push({ input: Buffer.from(overlaySvg(width, height, req.boxes)) });
  if (layers.length) base = base.composite(layers);
  return base
    .removeAlpha()
    .toColourspace('srgb')
    .jpeg({ quality: req.quality, chromaSubsampling: '4:4:4' })
    .toBuffer()
    .catch((e: unknown) => {
      throw annotateError(`msg.image cannot be decoded: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e)}`);
    });
}

export type AnnotateBackend = 'auto' | 'sharp' | 'js';

/** Runs annotations where they belong: libvips when sharp loads, else a worker (or inline without a worker). */
export class Annotator {
  readonly backend: 'sharp' | 'js';
  private readonly sharp: SharpFactory | undefined;

  constructor(
    choice: AnnotateBackend,
    private readonly runJs: (input: Uint8Array | RawImage, req: AnnotateRequest) => Promise<Uint8Array> = (input, req) => Promise.resolve().then(() => annotateJs(input, req)),
  ) {
    const loaded = choice === 'js' ? undefined : loadSharp();
    this.sharp = loaded && 'sharp' in loaded ? loaded.sharp : undefined;
    this.backend = this.sharp ? 'sharp' : 'js';
  }

  async annotate(input: Uint8Array | RawImage, req: AnnotateRequest): Promise<Buffer> {
    if (this.sharp) return annotateSharp(this.sharp, input, req);
    const out = await this.runJs(input, req);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}
