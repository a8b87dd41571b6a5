/**
 * Store-and-forward in front of a link that is sometimes down (an MQTT broker being restarted, a
 * cellular modem reconnecting). While the link is up and nothing waits, a value goes straight out;
 * otherwise it waits in a bounded FIFO and is sent, in arrival order, once the link is back. Each
 * push settles when its value was delivered (for MQTT QoS 1: acknowledged by the broker), or
 * rejects when the value had to be dropped. Nothing here touches Node-RED or MQTT.
 *
 * Bounds: the hold by count (`capacity`) and by bytes (`maxBytes`); what is handed to the link but
 * not yet confirmed by `maxInFlight`. A link that is up but confirms nothing (a frozen broker) thus
 * fills the hold, where the bounds and the overflow policy apply, instead of the link's own queue.
 */
import { EdgeMlError } from '../errors';

export const OUTBOX_OVERFLOW = ['drop-oldest', 'drop-newest'] as const;
export type OutboxOverflow = (typeof OUTBOX_OVERFLOW)[number];

export interface OutboxOptions<T> {
  /** Values held at most while the link is down (or not confirming). */
  capacity: number;
  /** Bytes held at most (sum of `sizeOf`); default unbounded. */
  maxBytes?: number;
  /** Values handed to the link and not yet confirmed, at most; default unbounded. */
  maxInFlight?: number;
  /** Size of a value in bytes, for `maxBytes` (default 0). */
  sizeOf?: (value: T) => number;
  overflow: OutboxOverflow;
  /** Whether a value handed to deliver() now is taken over by the link (checked right before each delivery). */
  isOpen: () => boolean;
  /** Hands a value to the link; resolves when the link confirms it. Called in arrival order. */
  deliver: (value: T) => Promise<void>;
}

interface Held<T> {
  value: T;
  bytes: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface OutboxCounts {
  delivered: number;
  dropped: number;
  failed: number;
  held: number;
  heldBytes: number;
  inFlight: number;
}

export class Outbox<T> {
  private readonly queue: Array<Held<T>> = [];
  private readonly flying = new Set<Held<T>>();
  private readonly counts = { delivered: 0, dropped: 0, failed: 0 };
  private heldBytes = 0;
  private closed = false;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly options: OutboxOptions<T>) {
    if (!(options.capacity >= 1)) throw new EdgeMlError('EDGEML_OUTBOX_CONFIG', 'capacity must be at least 1', { reason: 'capacity < 1' });
  }

  get stats(): OutboxCounts {
    return { ...this.counts, held: this.queue.length, heldBytes: this.heldBytes, inFlight: this.flying.size };
  }

  /** True while the link is open but every in-flight slot waits for a confirmation. */
  get awaitingAcks(): boolean {
    return this.options.maxInFlight !== undefined && this.flying.size >= this.options.maxInFlight;
  }

  /** Queues a value (or sends it at once); settles when it is delivered or dropped. */
  push(value: T): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => this.admit({ value, bytes: this.options.sizeOf?.(value) ?? 0, resolve, reject }));
  }

  /**
   * Takes values another instance held (a redeploy hands them over), ahead of anything new, in
   * their order. They have no one waiting for them; the bounds apply as to any value.
   */
  adopt(values: T[]): void {
    const noop = (): void => undefined;
    for (const value of values) this.admit({ value, bytes: this.options.sizeOf?.(value) ?? 0, resolve: noop, reject: noop });
  }

  /** Sends what is held, in order, for as long as the link stays open and in-flight slots are free. */
  flush(): void {
    while (this.queue.length > 0 && !this.closed && this.canSend()) {
      const item = this.queue.shift()!;
      this.heldBytes -= item.bytes;
      this.send(item);
    }
  }

  /** Resolves once nothing is held or in flight, or after `timeoutMs`; true when empty. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.idleWaiters.indexOf(wake);
        if (i >= 0) this.idleWaiters.splice(i, 1);
        resolve(this.isIdle());
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(wake);
    });
  }

  /**
   * Stops the outbox and returns the values not confirmed: held ones, then those in flight (which
   * the link may still deliver: at least once). Their pushes stay unsettled; use close() to reject.
   */
  detach(): T[] {
    this.closed = true;
    const held = this.queue.splice(0).map((h) => h.value);
    const flying = [...this.flying].map((h) => h.value);
    this.flying.clear();
    this.heldBytes = 0;
    return [...flying, ...held];
  }

  /** Rejects everything still held (the owner is closing). */
  close(): void {
    this.closed = true;
    this.heldBytes = 0;
    for (const item of this.queue.splice(0)) item.reject(closedError());
  }

  private canSend(): boolean {
    return this.options.isOpen() && (this.options.maxInFlight === undefined || this.flying.size < this.options.maxInFlight);
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.flying.size === 0;
  }

  private admit(item: Held<T>): void {
    if (this.queue.length === 0 && this.canSend()) {
      this.send(item);
      return;
    }
    const { capacity, maxBytes } = this.options;
    if (maxBytes !== undefined && item.bytes > maxBytes) {
      this.drop(item, overflowError(capacity, maxBytes));
      return;
    }
    const full = (): boolean => this.queue.length >= capacity || (maxBytes !== undefined && this.heldBytes + item.bytes > maxBytes);
    if (this.options.overflow === 'drop-newest') {
      if (full()) return this.drop(item, overflowError(capacity, maxBytes));
    } else {
      while (full() && this.queue.length > 0) {
        const victim = this.queue.shift()!;
        this.heldBytes -= victim.bytes;
        this.drop(victim, overflowError(capacity, maxBytes));
      }
    }
    this.queue.push(item);
    this.heldBytes += item.bytes;
  }

  private drop(item: Held<T>, err: EdgeMlError): void {
    this.counts.dropped++;
    item.reject(err);
  }

  private send(item: Held<T>): void {
    this.flying.add(item);
    let delivery: Promise<void>;
    try {
      delivery = this.options.deliver(item.value);
    } catch (e) {
      delivery = Promise.reject(e);
    }
    delivery.then(
      () => {
        if (!this.flying.delete(item)) return; // detached: handed over meanwhile
        this.counts.delivered++;
        item.resolve();
        this.settled();
      },
      (e: unknown) => {
        if (!this.flying.delete(item)) return;
        this.counts.failed++;
        item.reject(e instanceof Error ? e : new Error(String(e)));
        this.settled();
      },
    );
  }

  private settled(): void {
    this.flush();
    if (this.isIdle()) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

function overflowError(capacity: number, maxBytes: number | undefined): EdgeMlError {
  const bytes = maxBytes === undefined ? '' : ` or ${maxBytes} bytes`;
  return new EdgeMlError('EDGEML_OUTBOX_OVERFLOW', `outbox full (${capacity} messages${bytes} held), a message was dropped`, {
    capacity,
    maxBytes: maxBytes ?? 0,
  });
}

function closedError(): EdgeMlError {
  return new EdgeMlError('EDGEML_OUTBOX_CLOSED', 'the outbox closed before the message was sent', {});
}
