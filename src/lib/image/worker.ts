/**
 * The pure-JS pipeline in a worker thread, so decoding a frame never blocks Node-RED's event loop;
 * the tensor layout of large frames (either backend): the tensor is allocated and written here
 * and moved to the main thread, so a 5 MB frame costs the event loop neither the writing nor the
 * page faults of fresh memory; and ml-format's annotated JPEG without sharp. One request at a time
 * per worker; pixels, tensors and JPEGs move as transferred buffers, errors keep their code.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { EdgeMlError, isEdgeMlError, type ErrorParams } from '../errors';
import { annotateJs, type AnnotateRequest } from './annotate';
import type { ImageGeometry } from './geometry';
import { prepareJs, type PreparedImage, type PrepareRequest } from './js-pipeline';
import type { ImageOptions } from './options';
import { layoutTensor, type ImageTensor, type RawImage } from './pixels';

type WorkRequest =
  | { id: number; op: 'prepare'; input: Uint8Array | RawImage; req: PrepareRequest }
  | { id: number; op: 'annotate'; input: Uint8Array | RawImage; annotate: AnnotateRequest }
  | { id: number; op: 'layout'; images: PreparedImage[]; options: ImageOptions };

type WorkResult = PreparedImage | ImageTensor | Uint8Array;
type WorkReply = { id: number; ok: true; result: WorkResult } | { id: number; ok: false; error: { code: string; message: string; params: ErrorParams } };

/** A view on a whole buffer of its own can be moved; anything else (a pooled slice) is copied first. */
function movable(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data : new Uint8Array(data);
}

/** A copy of the caller's input: its Buffer may be a slice of a pooled ArrayBuffer that must not move. */
function copied(input: Uint8Array | RawImage): { data: Uint8Array; moved: Uint8Array | RawImage } {
  const data = input instanceof Uint8Array ? new Uint8Array(input) : new Uint8Array(input.data);
  return { data, moved: input instanceof Uint8Array ? data : { ...input, data } };
}

/** The buffer a result moves in. */
function bufferOf(result: WorkResult): ArrayBuffer {
  if (result instanceof Uint8Array) return result.buffer as ArrayBuffer;
  return ('pixels' in result ? result.pixels.data.buffer : result.data.buffer) as ArrayBuffer;
}

export function serveImageWorker(port: MessagePort): void {
  port.on('message', (m: WorkRequest) => {
    let reply: WorkReply;
    try {
      if (m.op === 'layout') reply = { id: m.id, ok: true, result: layoutTensor(m.images, m.options) };
      else {
        const input = m.input instanceof Uint8Array ? m.input : { ...m.input, data: new Uint8Array(m.input.data) };
        reply = { id: m.id, ok: true, result: m.op === 'annotate' ? annotateJs(input, m.annotate) : prepareJs(input, m.req) };
      }
    } catch (e) {
      const err = isEdgeMlError(e) ? e : new EdgeMlError('EDGEML_IMAGE_CORRUPT', String(e), { reason: String(e) });
      reply = { id: m.id, ok: false, error: { code: err.code, message: err.message, params: err.params } };
    }
    port.postMessage(reply, reply.ok ? [bufferOf(reply.result)] : []);
  });
}

/** A lazily started worker; a crashed worker fails what it held and is started again on the next image. */
export class ImageWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly file: string) {}

  prepare(input: Uint8Array | RawImage, req: PrepareRequest): Promise<PreparedImage> {
    const { data, moved } = copied(input);
    return this.send((id) => ({ id, op: 'prepare', input: moved, req }), [data.buffer as ArrayBuffer]) as Promise<PreparedImage>;
  }

  /** The annotated JPEG (see ./annotate.ts), drawn in the worker. */
  annotate(input: Uint8Array | RawImage, annotate: AnnotateRequest): Promise<Uint8Array> {
    const { data, moved } = copied(input);
    return this.send((id) => ({ id, op: 'annotate', input: moved, annotate }), [data.buffer as ArrayBuffer]) as Promise<Uint8Array>;
  }

  /**
   * The batch tensor, laid out in the worker. The resized pixels are ours (from sharp or from this
   * worker) and move there; the tensor moves back.
   */
  layout(images: Array<{ pixels: RawImage; geometry: ImageGeometry }>, options: ImageOptions): Promise<ImageTensor> {
    const moved: PreparedImage[] = images.map(({ pixels, geometry }) => ({ pixels: { ...pixels, data: movable(pixels.data) }, geometry }));
    const transfer = [...new Set(moved.map((p) => p.pixels.data.buffer as ArrayBuffer))];
    return this.send((id) => ({ id, op: 'layout', images: moved, options }), transfer) as Promise<ImageTensor>;
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
    const w = new Worker(this.file);
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
