/**
 * The bounded queue in front of a model session: at most `size` messages wait; on overflow the
 * oldest or the newest is dropped, or the newcomer is refused with EDGEML_ONNX_QUEUE_FULL. Waiting
 * messages go to the worker in order, several per request (with micro-batching, up to maxBatch run
 * as one), with a small number of requests in flight so the worker never idles between them.
 */
import { EdgeMlError } from '../errors';
import type { ModelRef, RunResult } from './protocol';

export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'error';

/** Input bytes that may wait in one node's queue unless settings.js edgeMl.maxQueuedBytes says otherwise: 256 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 256 * 1024 * 1024;

export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = ['drop-oldest', 'drop-newest', 'error'];

export interface QueueOptions {
  size: number;
  overflow: OverflowPolicy;
  batch: boolean;
  maxBatch: number;
  /** How long a lone message waits for company when batching (0: what arrives in the same event-loop turn). */
  batchWindowMs: number;
  /** Requests handed to the worker before the previous answer is back. */
  inFlight: number;
  /** Without batching, messages that may travel to the worker in one request (each still runs alone). */
  maxPerRequest: number;
  /**
   * Input bytes one request may carry (push's `bytes`); a request takes messages while they fit, at
   * least one. Big inputs then travel (and are copied into the worker) a few at a time, not all at once.
   */
  maxRequestBytes?: number;
  /** Input bytes that may wait (besides `size` messages): beyond it the overflow policy applies as for a full queue. */
  maxWaitingBytes?: number;
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
  private readonly waiting: Array<{ token: T; payload: unknown; since: number; bytes: number }> = [];
  private running = 0;
  private waitingBytes = 0;
  /** The pending departure of a partial batch. */
  private timer: { kind: 'timeout'; handle: NodeJS.Timeout } | { kind: 'immediate'; handle: NodeJS.Immediate } | undefined;
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

  /** `bytes`: the input's size (input-check.ts), for maxRequestBytes. */
  push(token: T, payload: unknown, bytes = 0): void {
    if (this.closed) {
      this.events.fail(token, new EdgeMlError('EDGEML_ONNX_CLOSED', 'the node is closing', {}));
      return;
    }
    const maxBytes = this.options.maxWaitingBytes ?? Infinity;
    // full by count, or by bytes while anything waits (one message alone may always wait)
    const full = (): boolean => this.waiting.length >= this.options.size || (this.waiting.length > 0 && this.waitingBytes + bytes > maxBytes);
    if (full()) {
      if (this.options.overflow === 'error') {
        const waiting = this.waiting.length;
        this.events.fail(token, new EdgeMlError('EDGEML_ONNX_QUEUE_FULL', `the queue is full (${waiting} messages waiting)`, { size: waiting }));
        return;
      }
      if (this.options.overflow === 'drop-newest') {
        this.droppedCount++;
        this.events.dropped(token);
        this.events.changed();
        return;
      }
      while (full()) {
        this.droppedCount++;
        const oldest = this.waiting.shift()!;
        this.waitingBytes -= oldest.bytes;
        this.events.dropped(oldest.token);
      }
    }
    this.waitingBytes += bytes;
    this.waiting.push({ token, payload, since: this.options.batch ? performance.now() : 0, bytes });
    this.events.changed();
    this.pump();
  }

  /**
   * Without batching, whatever waits goes at once (up to maxPerRequest per request). With batching,
   * a full batch goes as soon as a request slot is free; a partial one only while the worker is
   * idle, and never in the turn of the event loop it became ready in: it leaves on the next turn
   * (setImmediate) or when its oldest message has waited batchWindowMs, so messages already on their
   * way (Node-RED delivers each in its own immediate) travel with it. While the worker is busy,
   * messages gather into the next batch instead of trickling after it one by one.
   */
  private pump(): void {
    const { batch, maxBatch, maxPerRequest, inFlight } = this.options;
    const want = batch ? maxBatch : maxPerRequest;
    while (!this.closed && this.running < inFlight && this.waiting.length > 0) {
      if (batch && this.waiting.length < want) {
        if (this.running === 0) this.schedulePartial(want);
        return; // otherwise pumped again when the running request is answered
      }
      this.dispatch(want);
    }
  }

  private schedulePartial(want: number): void {
    if (this.timer) return;
    const fire = (): void => {
      this.timer = undefined;
      // timers may fire a little early: the window is over when the timer says so
      if (this.running === 0) this.dispatch(want);
      this.pump();
    };
    const wait = this.options.batchWindowMs - (performance.now() - this.waiting[0]!.since);
    this.timer = wait > 0 ? { kind: 'timeout', handle: setTimeout(fire, wait) } : { kind: 'immediate', handle: setImmediate(fire) };
  }

  private cancelPartial(): void {
    if (!this.timer) return;
    if (this.timer.kind === 'timeout') clearTimeout(this.timer.handle);
    else clearImmediate(this.timer.handle);
    this.timer = undefined;
  }

  private dispatch(want: number): void {
    this.cancelPartial();
    const budget = this.options.maxRequestBytes ?? Infinity;
    let take = 0;
    let bytes = 0;
    while (take < want && take < this.waiting.length && (take === 0 || bytes + this.waiting[take]!.bytes <= budget)) bytes += this.waiting[take++]!.bytes;
    const jobs = this.waiting.splice(0, take);
    this.waitingBytes -= bytes;
    if (jobs.length === 0) return;
    this.running++;
    this.events.changed();
    this.runner(jobs.map((j) => j.payload))
      .then(
        ({ model, results }) => {
          jobs.forEach((job, i) => this.events.answer(job.token, results[i]!, model));
        },
        (err: Error) => {
          for (const job of jobs) this.events.fail(job.token, err);
        },
      )
      .finally(() => {
        this.running--;
        this.events.changed();
        this.pump();
      });
  }

  /** Refuses everything still waiting (the node is closing). */
  close(): void {
    this.closed = true;
    this.cancelPartial();
    const left = this.waiting.splice(0);
    this.waitingBytes = 0;
    for (const job of left) this.events.fail(job.token, new EdgeMlError('EDGEML_ONNX_CLOSED', 'the node is closing', {}));
  }
}
