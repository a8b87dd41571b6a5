/**
 * Store-and-forward in front of a link that is sometimes down (an MQTT broker being restarted, a
 * cellular modem reconnecting). While the link is up and nothing waits, a value goes straight out;
 * otherwise it waits in a bounded FIFO and is sent, in arrival order, once the link is back. Each
 * push settles when its value was delivered (for MQTT QoS 1: acknowledged by the broker), or
 * rejects when the value had to be dropped. Nothing here touches Node-RED or MQTT.
 */
import { EdgeMlError } from '../errors';

export const OUTBOX_OVERFLOW = ['drop-oldest', 'drop-newest'] as const;
export type OutboxOverflow = (typeof OUTBOX_OVERFLOW)[number];

export interface OutboxOptions<T> {
  /** Values held at most while the link is down. */
  capacity: number;
  overflow: OutboxOverflow;
  /** Whether a value handed to deliver() now is taken over by the link (checked right before each delivery). */
  isOpen: () => boolean;
  /** Hands a value to the link; resolves when the link confirms it. Called in arrival order. */
  deliver: (value: T) => Promise<void>;
}

interface Held<T> {
  value: T;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface OutboxCounts {
  delivered: number;
  dropped: number;
  failed: number;
  held: number;
}

export class Outbox<T> {
  private readonly queue: Array<Held<T>> = [];
  private readonly counts = { delivered: 0, dropped: 0, failed: 0 };
  private closed = false;

  constructor(private readonly options: OutboxOptions<T>) {
    if (!(options.capacity >= 1)) throw new EdgeMlError('EDGEML_OUTBOX_CONFIG', 'capacity must be at least 1', { reason: 'capacity < 1' });
  }

  get stats(): OutboxCounts {
    return { ...this.counts, held: this.queue.length };
  }

  /** Queues a value (or sends it at once); settles when it is delivered or dropped. */
  push(value: T): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => {
      const item: Held<T> = { value, resolve, reject };
      if (this.queue.length === 0 && this.options.isOpen()) {
        this.send(item);
        return;
      }
      if (this.queue.length >= this.options.capacity) {
        const victim = this.options.overflow === 'drop-oldest' ? this.queue.shift()! : item;
        this.counts.dropped++;
        victim.reject(
          new EdgeMlError('EDGEML_OUTBOX_OVERFLOW', `outbox full (${this.options.capacity} held), a message was dropped`, {
            capacity: this.options.capacity,
          }),
        );
        if (victim === item) return;
      }
      this.queue.push(item);
    });
  }

  /** Sends what is held, in order, for as long as the link stays open. Call when the link may be back. */
  flush(): void {
    while (this.queue.length > 0 && !this.closed && this.options.isOpen()) this.send(this.queue.shift()!);
  }

  /** Rejects everything still held (the owner is closing). */
  close(): void {
    this.closed = true;
    for (const item of this.queue.splice(0)) item.reject(closedError());
  }

  private send(item: Held<T>): void {
    let delivery: Promise<void>;
    try {
      delivery = this.options.deliver(item.value);
    } catch (e) {
      delivery = Promise.reject(e);
    }
    delivery.then(
      () => {
        this.counts.delivered++;
        item.resolve();
      },
      (e: unknown) => {
        this.counts.failed++;
        item.reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }
}

function closedError(): EdgeMlError {
  return new EdgeMlError('EDGEML_OUTBOX_CLOSED', 'the outbox closed before the message was sent', {});
}
