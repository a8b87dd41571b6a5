/**
 * ml-image's work without Node-RED: one image or an array of them -> one batch tensor onnx-infer
 * takes, plus each image's geometry. sharp (libvips) when it loads, else the pure-JS pipeline in a
 * worker thread (or inline, where no worker file is given: scripts and benchmarks). A large tensor
 * is laid out in that worker too, whichever decoder ran (see LAYOUT_IN_WORKER_BYTES).
 */
import { isRawImageObject, checkRawImage, inputError, layoutTensorYielding, type ImageTensor, type RawImage } from './pixels';
import type { ImageGeometry } from './geometry';
import { prepareJs, type PreparedImage, type PrepareRequest } from './js-pipeline';
import { loadSharp, prepareSharp, type SharpFactory } from './sharp-pipeline';
import { ImageWorker } from './worker';
import type { ImageOptions } from './options';

export type BackendChoice = 'auto' | 'sharp' | 'js';

export interface PreprocessResult {
  tensor: ImageTensor;
  geometry: ImageGeometry[];
  /** The input was an array (a batch), even of one. */
  batch: boolean;
}

/** Max images per message: a batch that large is a mistake, not a workload. */
export const MAX_BATCH = 256;

/**
 * Tensors from this size on are laid out in the worker thread and moved back: writing a 640 x 640
 * float frame (4.9 MB) on the main thread, in fresh memory, held the event loop for 10-20 ms at
 * p99. Smaller ones (a 224 x 224 frame is 0.6 MB) cost less than the round trip.
 */
export const LAYOUT_IN_WORKER_BYTES = 1 << 20;

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

  constructor(choice: BackendChoice = 'auto', workerFile?: string) {
    if (choice !== 'js') {
      const loaded = loadSharp();
      if ('sharp' in loaded) {
        this.sharp = loaded.sharp;
        this.backend = 'sharp';
        this.backendVersion = loaded.version;
        this.fallbackReason = undefined;
        // only started for large tensors (the layout), on the first one
        this.worker = workerFile ? new ImageWorker(workerFile) : undefined;
        return;
      }
      this.fallbackReason = loaded.error;
    }
    this.backend = 'js';
    this.backendVersion = 'jpeg-js + pngjs';
    this.worker = workerFile ? new ImageWorker(workerFile) : undefined;
  }

  private prepareOne(input: Uint8Array | RawImage, req: PrepareRequest): Promise<PreparedImage> {
    if (this.sharp) return prepareSharp(this.sharp, input, req);
    if (this.worker) return this.worker.prepare(input, req);
    return Promise.resolve().then(() => prepareJs(input, req));
  }

  async prepare(payload: unknown, o: ImageOptions): Promise<PreprocessResult> {
    const batch = Array.isArray(payload);
    const items = batch ? (payload as unknown[]) : [payload];
    if (items.length === 0) throw inputError('an empty array');
    if (items.length > MAX_BATCH) throw inputError(`${items.length} images in one message (at most ${MAX_BATCH})`);
    const inputs = items.map((v) => asImageInput(v, o.maxPixels));
    const req: PrepareRequest = { width: o.width, height: o.height, resize: o.resize, maxPixels: o.maxPixels };
    // One at a time on the JS worker (it is one thread); libvips spreads a batch over its own threads.
    const prepared: PreparedImage[] = [];
    if (this.sharp) prepared.push(...(await Promise.all(inputs.map((i) => this.prepareOne(i, req)))));
    else for (const i of inputs) prepared.push(await this.prepareOne(i, req));
    const bytes = prepared.length * o.width * o.height * o.channels * (o.dtype === 'float32' ? 4 : 1);
    const tensor = this.worker && bytes >= LAYOUT_IN_WORKER_BYTES ? await this.worker.layout(prepared, o) : await layoutTensorYielding(prepared, o);
    return { tensor, geometry: prepared.map((p) => p.geometry), batch };
  }

  close(): Promise<void> {
    return this.worker ? this.worker.close() : Promise.resolve();
  }
}
