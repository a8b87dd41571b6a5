/**
 * ml-image's work without Node-RED: one image or an array of them -> one batch tensor onnx-infer
 * takes, plus each image's geometry. sharp (libvips) when it loads, else the pure-JS pipeline; all
 * of it (decode, resize, layout) in a worker thread at background priority (see ./worker.ts), or
 * inline where no worker file is given (scripts, benchmarks and the reference in tests).
 */
import { isRawImageObject, checkRawImage, inputError, layoutTensorYielding, type ImageTensor, type RawImage } from './pixels';
import type { ImageGeometry } from './geometry';
import { prepareJs, type PreparedImage, type PrepareRequest } from './js-pipeline';
import type { ImagePriority, PriorityState } from './priority';
import { loadSharp, prepareSharp, type SharpFactory } from './sharp-pipeline';
import { ImageWorker, type WorkerInfo } from './worker';
import type { ImageOptions } from './options';

export type BackendChoice = 'auto' | 'sharp' | 'js';

export interface PreprocessResult {
  tensor: ImageTensor;
  geometry: ImageGeometry[];
  /** The input was an array (a batch), even of one. */
  batch: boolean;
  /** What the image threads run at (worker only; see ./priority.ts). */
  priority?: PriorityState;
}

/** Max images per message: a batch that large is a mistake, not a workload. */
export const MAX_BATCH = 256;

function isJsonBuffer(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}

/** One input item -> encoded bytes or checked raw pixels. */
export function asImageInput(v: unknown, maxPixels: number): Uint8Array | RawImage {
  if (v instanceof Uint8Array) return v;
  if (isJsonBuffer(v)) return Uint8Array.from(v.data);
  if (isRawImageObject(v)) return checkRawImage(v, maxPixels);
  if (typeof v === 'string') throw inputError('a string (read the file as a single Buffer, e.g. file-in with "a single Buffer object")');
  throw inputError(v === null || v === undefined ? 'nothing' : Array.isArray(v) ? 'a nested array' : `a ${typeof v}`);
}

export class ImagePreprocessor {
  readonly backend: 'sharp' | 'js';
  /** Set when sharp was wanted (auto or sharp) but did not load. */
  readonly fallbackReason: string | undefined;
  readonly backendVersion: string;
  private readonly sharp: SharpFactory | undefined;
  private readonly worker: ImageWorker | undefined;

  constructor(choice: BackendChoice = 'auto', workerFile?: string, priority: ImagePriority = 'background') {
    const loaded = choice !== 'js' ? loadSharp() : undefined;
    this.sharp = loaded && 'sharp' in loaded ? loaded.sharp : undefined;
    this.backend = this.sharp ? 'sharp' : 'js';
    this.backendVersion = loaded && 'sharp' in loaded ? loaded.version : 'jpeg-js + pngjs';
    this.fallbackReason = loaded && 'error' in loaded ? loaded.error : undefined;
    // started on the first image
    this.worker = workerFile ? new ImageWorker(workerFile, { backend: this.backend, priority }) : undefined;
  }

  /** The worker's thread and priority (undefined when the work runs inline). */
  info(): Promise<WorkerInfo | undefined> {
    return this.worker ? this.worker.info() : Promise.resolve(undefined);
  }

  async prepare(payload: unknown, o: ImageOptions): Promise<PreprocessResult> {
    const batch = Array.isArray(payload);
    const items = batch ? (payload as unknown[]) : [payload];
    if (items.length === 0) throw inputError('an empty array');
    if (items.length > MAX_BATCH) throw inputError(`${items.length} images in one message (at most ${MAX_BATCH})`);
    const inputs = items.map((v) => asImageInput(v, o.maxPixels));
    const req: PrepareRequest = { width: o.width, height: o.height, resize: o.resize, maxPixels: o.maxPixels };
    if (this.worker) return { ...(await this.worker.batch(inputs, req, o)), batch };
    const sharp = this.sharp;
    const prepared: PreparedImage[] = sharp ? await Promise.all(inputs.map((i) => prepareSharp(sharp, i, req))) : inputs.map((i) => prepareJs(i, req));
    return { tensor: await layoutTensorYielding(prepared, o), geometry: prepared.map((p) => p.geometry), batch };
  }

  close(): Promise<void> {
    return this.worker ? this.worker.close() : Promise.resolve();
  }
}
