/**
 * The bounded queue in front of a model session: at most `size` messages wait; on overflow the
 * oldest or the newest is dropped, or the newcomer is refused with EDGEML_ONNX_QUEUE_FULL. Waiting
 * messages go to the worker in order, one (or, with micro-batching, up to maxBatch) at a time, with
 * a small number of requests in flight so the worker never idles between them.
 */
import { EdgeMlError } from '../errors';
import type { ModelRef, RunResult } from './protocol';

export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'error';

export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = ['drop-oldest', 'drop-newest', 'error'];

export interface QueueOptions {
  size: number;
  overflow: OverflowPolicy;
  batch: boolean;
  maxBatch: number;
  /** How long a lone message waits for company when batching (0: only what is already queued). */
  batchWindowMs: number;
  /** Requests handed to the worker before the previous answer is back. */
  inFlight: number;
  /** Without batching, messages that may travel to the worker in one request (each still runs alone). */
  maxPerRequest: number;
}

export interface QueueEvents<T> {
  answer(token: T, result: RunResult, model: ModelRef): void;
  fail(token: T, err: Error): void;
  dropped(token: T): void;
  /** Queue length or in-flight count changed. */
  changed(): void;
}

export type BatchRunner = (payloads: unknown[]) => Promise<{ model: ModelRef; results: RunResult[] }>;

export class InferQueue<T> {
  private readonly waiting: Array<{ token: T; payload: unknown }> = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  droppedCount = 0;

  constructor(
    private readonly options: QueueOptions,
    private readonly runner: BatchRunner,
    private readonly events: QueueEvents<T>,
  ) {}

  get length(): number {
    return this.waiting.length;
  }

  get inFlight(): number {
    return this.running;
  }

  push(token: T, payload: unknown): void {
    if (this.closed) {
      this.events.fail(token, new EdgeMlError('EDGEML_ONNX_CLOSED', 'the node is closing', {}));
      return;
    }
    if (this.waiting.length >= this.options.size) {
      if (this.options.overflow === 'error') {
        this.events.fail(
          token,
          new EdgeMlError('EDGEML_ONNX_QUEUE_FULL', `the queue is full (${this.options.size} messages waiting)`, { size: this.options.size }),
        );
        return;
      }
      this.droppedCount++;
      if (this.options.overflow === 'drop-newest') {
        this.events.dropped(token);
        this.events.changed();
        return;
      }
      const oldest = this.waiting.shift()!;
      this.events.dropped(oldest.token);
    }
    this.waiting.push({ token, payload });
    this.events.changed();
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.running < this.options.inFlight && this.waiting.length > 0) {
      const want = this.options.batch ? this.options.maxBatch : this.options.maxPerRequest;
      if (this.options.batch && this.options.batchWindowMs > 0 && this.waiting.length < want && this.running === 0) {
        // Wait a little for more messages to share the run.
        if (!this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.dispatch(want);
            this.pump();
          }, this.options.batchWindowMs);
        }
        return;
      }
      this.dispatch(want);
    }
  }

  private dispatch(want: number): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const jobs = this.waiting.splice(0, want);
    if (jobs.length === 0) return;
    this.running++;
    this.events.changed();
    this.runner(jobs.map((j) => j.payload)).then(
      ({ model, results }) => {
        jobs.forEach((job, i) => this.events.answer(job.token, results[i]!, model));
      },
      (err: Error) => {
        for (const job of jobs) this.events.fail(job.token, err);
      },
    ).finally(() => {
      this.running--;
      this.events.changed();
      this.pump();
    });
  }

  /** Refuses everything still waiting (the node is closing). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const left = this.waiting.splice(0);
    for (const job of left) this.events.fail(job.token, new EdgeMlError('EDGEML_ONNX_CLOSED', 'the node is closing', {}));
  }
}
