/**
 * Image work off the event loop, in a worker thread: a whole batch (decode with sharp or the pure-JS
 * pipeline, resize, and the tensor layout: the tensor is allocated and written here and moved to
 * the main thread, so a 5 MB frame costs the event loop neither the writing nor the page faults of
 * fresh memory), and ml-format's annotated JPEG without sharp. The thread and libvips's threads run
 * at background priority unless told otherwise (see ./priority.ts). Pixels, tensors and JPEGs move
 * as transferred buffers; errors keep their code.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { EdgeMlError, isEdgeMlError, type ErrorParams } from '../errors';
import { annotateJs, type AnnotateRequest } from './annotate';
import type { ImageGeometry } from './geometry';
import { prepareJs, type PreparedImage, type PrepareRequest } from './js-pipeline';
import type { ImageOptions } from './options';
import { layoutTensor, type ImageTensor, type RawImage } from './pixels';
import { BackgroundPriority, threadId, type ImagePriority, type PriorityState } from './priority';
import { loadSharp, prepareSharp, type SharpFactory } from './sharp-pipeline';

/** How the worker is started (its workerData). */
export interface ImageWorkerSetup {
  /** The decoder: sharp where the main thread loaded it, else the pure-JS pipeline. */
  backend: 'sharp' | 'js';
  priority: ImagePriority;
}

export interface BatchResult {
  tensor: ImageTensor;
  geometry: ImageGeometry[];
  /** What the image threads run at, once the worker has set it. */
  priority: PriorityState;
}

/** The worker's thread and what the image threads run at (for logs and tests). */
export interface WorkerInfo {
  backend: 'sharp' | 'js';
  threadId: number | undefined;
  priority: PriorityState;
}

type WorkRequest =
  | { id: number; op: 'batch'; inputs: Array<Uint8Array | RawImage>; req: PrepareRequest; options: ImageOptions }
  | { id: number; op: 'annotate'; input: Uint8Array | RawImage; annotate: AnnotateRequest }
  | { id: number; op: 'info' };

type WorkResult = BatchResult | Uint8Array | WorkerInfo;
type WorkReply = { id: number; ok: true; result: WorkResult } | { id: number; ok: false; error: { code: string; message: string; params: ErrorParams } };

/** A copy of the caller's input: its Buffer may be a slice of a pooled ArrayBuffer that must not move. */
function copied(input: Uint8Array | RawImage): { data: Uint8Array; moved: Uint8Array | RawImage } {
  const data = input instanceof Uint8Array ? new Uint8Array(input) : new Uint8Array(input.data);
  return { data, moved: input instanceof Uint8Array ? data : { ...input, data } };
}

/** The buffers a result moves in. */
function buffersOf(result: WorkResult): ArrayBuffer[] {
  if (result instanceof Uint8Array) return [result.buffer as ArrayBuffer];
  return 'tensor' in result ? [result.tensor.data.buffer as ArrayBuffer] : [];
}

/** A raw-pixel input arrives as a plain object whose data may be a Uint8Array of another realm's kind. */
function received(input: Uint8Array | RawImage): Uint8Array | RawImage {
  return input instanceof Uint8Array ? input : { ...input, data: new Uint8Array(input.data) };
}

export function serveImageWorker(port: MessagePort, setup: ImageWorkerSetup): void {
  const priority = new BackgroundPriority(setup.priority);
  void priority.start();
  let sharp: SharpFactory | undefined;
  if (setup.backend === 'sharp') {
    const loaded = loadSharp();
    if ('sharp' in loaded) sharp = loaded.sharp;
  }
  const batch = async (inputs: Array<Uint8Array | RawImage>, req: PrepareRequest, options: ImageOptions): Promise<BatchResult> => {
    let prepared: PreparedImage[];
    if (sharp) {
      const s = sharp;
      // libvips spreads a batch over its own threads
      prepared = await Promise.all(inputs.map((i) => prepareSharp(s, received(i), req)));
    } else prepared = inputs.map((i) => prepareJs(received(i), req));
    const tensor = layoutTensor(prepared, options);
    // the threads libvips started for this run join the background (and the first reply waits for this thread's own)
    await priority.adopt();
    return { tensor, geometry: prepared.map((p) => p.geometry), priority: priority.current };
  };
  const work = async (m: WorkRequest): Promise<WorkResult> => {
    if (m.op === 'batch') return batch(m.inputs, m.req, m.options);
    if (m.op === 'annotate') return annotateJs(received(m.input), m.annotate);
    await priority.adopt();
    return { backend: sharp ? 'sharp' : 'js', threadId: threadId(), priority: priority.current };
  };
  port.on('message', (m: WorkRequest) => {
    work(m).then(
      (result) => port.postMessage({ id: m.id, ok: true, result } satisfies WorkReply, buffersOf(result)),
      (e: unknown) => {
        const err = isEdgeMlError(e) ? e : new EdgeMlError('EDGEML_IMAGE_CORRUPT', String(e), { reason: String(e) });
        port.postMessage({ id: m.id, ok: false, error: { code: err.code, message: err.message, params: err.params } } satisfies WorkReply);
      },
    );
  });
}

/** A lazily started worker; a crashed worker fails what it held and is started again on the next image. */
export class ImageWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkResult) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly file: string,
    private readonly setup: ImageWorkerSetup = { backend: 'js', priority: 'background' },
  ) {}

  /** One image or a batch -> the tensor and each image's geometry. The inputs are copied, not moved. */
  batch(inputs: Array<Uint8Array | RawImage>, req: PrepareRequest, options: ImageOptions): Promise<BatchResult> {
    const copies = inputs.map(copied);
    return this.send(
      (id) => ({ id, op: 'batch', inputs: copies.map((c) => c.moved), req, options }),
      copies.map((c) => c.data.buffer as ArrayBuffer),
    ) as Promise<BatchResult>;
  }

  /** The annotated JPEG (see ./annotate.ts), drawn in the worker. */
  annotate(input: Uint8Array | RawImage, annotate: AnnotateRequest): Promise<Uint8Array> {
    const { data, moved } = copied(input);
    return this.send((id) => ({ id, op: 'annotate', input: moved, annotate }), [data.buffer as ArrayBuffer]) as Promise<Uint8Array>;
  }

  info(): Promise<WorkerInfo> {
    return this.send((id) => ({ id, op: 'info' }), []) as Promise<WorkerInfo>;
  }

  private send(request: (id: number) => WorkRequest, transfer: ArrayBuffer[]): Promise<WorkResult> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage(request(id), transfer);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.file, { workerData: this.setup });
    w.unref();
    w.on('message', (r: WorkReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new EdgeMlError(r.error.code, r.error.message, r.error.params));
    });
    const fail = (e: unknown): void => {
      if (this.worker === w) this.worker = undefined;
      const reason = e instanceof Error ? e.message : `worker exited with ${String(e)}`;
      for (const p of this.pending.values()) p.reject(new EdgeMlError('EDGEML_IMAGE_WORKER', `image decoder worker failed: ${reason}`, { reason }));
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(code));
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
