/**
 * The pure-JS pipeline in a worker thread, so decoding a frame never blocks Node-RED's event loop.
 * One request at a time per worker; pixels move as transferred buffers, errors keep their code.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { EdgeMlError, isEdgeMlError, type ErrorParams } from '../errors';
import { prepareJs, type PreparedImage, type PrepareRequest } from './js-pipeline';
import { annotateJs, type AnnotateRequest } from './annotate';
import type { RawImage } from './pixels';

/** Resize for ml-image, or (with `annotate`) draw ml-format's annotated JPEG. */
type WorkRequest = { id: number; input: Uint8Array | RawImage } & ({ req: PrepareRequest; annotate?: undefined } | { annotate: AnnotateRequest; req?: undefined });

type WorkResult = PreparedImage | Uint8Array;
type WorkReply = { id: number; ok: true; result: WorkResult } | { id: number; ok: false; error: { code: string; message: string; params: ErrorParams } };

export function serveImageWorker(port: MessagePort): void {
  port.on('message', (m: WorkRequest) => {
    let reply: WorkReply;
    try {
      const input = m.input instanceof Uint8Array ? m.input : { ...m.input, data: new Uint8Array(m.input.data) };
      reply = { id: m.id, ok: true, result: m.annotate ? annotateJs(input, m.annotate) : prepareJs(input, m.req) };
    } catch (e) {
      const err = isEdgeMlError(e) ? e : new EdgeMlError('EDGEML_IMAGE_CORRUPT', String(e), { reason: String(e) });
      reply = { id: m.id, ok: false, error: { code: err.code, message: err.message, params: err.params } };
    }
    const transfer = reply.ok ? [(reply.result instanceof Uint8Array ? reply.result : reply.result.pixels.data).buffer as ArrayBuffer] : [];
    port.postMessage(reply, transfer);
  });
}

/** A lazily started worker; a crashed worker fails what it held and is started again on the next image. */
export class ImageWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly file: string) {}

  prepare(input: Uint8Array | RawImage, req: PrepareRequest): Promise<PreparedImage> {
    return this.run(input, { req }) as Promise<PreparedImage>;
  }

  /** The annotated JPEG (see ./annotate.ts), drawn in the worker. */
  annotate(input: Uint8Array | RawImage, annotate: AnnotateRequest): Promise<Uint8Array> {
    return this.run(input, { annotate }) as Promise<Uint8Array>;
  }

  private run(input: Uint8Array | RawImage, work: { req: PrepareRequest } | { annotate: AnnotateRequest }): Promise<WorkResult> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Copy: the caller's Buffer may be a slice of a pooled ArrayBuffer that must not move.
      const data = input instanceof Uint8Array ? new Uint8Array(input) : new Uint8Array(input.data);
      const msg = { id, input: input instanceof Uint8Array ? data : { ...input, data }, ...work } as WorkRequest;
      worker.postMessage(msg, [data.buffer]);
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
