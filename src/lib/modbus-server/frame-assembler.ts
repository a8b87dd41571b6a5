/**
 * Frame mode: masters that write a block one register at a time (FC 6, or several FC 16) would
 * otherwise produce one message per register, each showing a half-updated block. The assembler
 * watches writes into a register block and says when the block is complete: a trigger register
 * was written, every register of the block was written since the last frame, or no write came
 * for a quiet time. Any enabled condition completes the frame.
 */
import { EdgeMlError } from '../errors';

export type FrameReason = 'trigger' | 'complete' | 'quiet';

export interface FrameOptions {
  /** First register of the block. */
  start: number;
  /** Number of registers in the block. */
  length: number;
  /** A register whose write completes the frame (inside or outside the block); undefined: off. */
  trigger?: number;
  /** Complete the frame when every register of the block was written since the last frame. */
  whenAllWritten: boolean;
  /** Complete the frame after this many ms without a write into the block; 0: off. */
  quietMs: number;
}

export function checkFrameOptions(o: FrameOptions, holdingSize: number): void {
  const bad = (reason: string): never => {
    throw new EdgeMlError('EDGEML_MODBUS_SERVER_CONFIG', `Frame mode: ${reason}`, { reason: `frame mode: ${reason}` });
  };
  if (!Number.isInteger(o.start) || o.start < 0) bad('block start must be an integer >= 0');
  if (!Number.isInteger(o.length) || o.length < 1) bad('block length must be an integer >= 1');
  if (o.start + o.length > holdingSize) bad(`block ${o.start}..${o.start + o.length - 1} lies outside the holding registers (${holdingSize})`);
  if (o.trigger !== undefined && (!Number.isInteger(o.trigger) || o.trigger < 0 || o.trigger >= holdingSize)) bad('trigger register outside the holding registers');
  if (!Number.isFinite(o.quietMs) || o.quietMs < 0) bad('quiet time must be >= 0 ms');
  if (o.trigger === undefined && !o.whenAllWritten && o.quietMs === 0) bad('choose a trigger register, "all written" or a quiet time');
}

export interface FrameWriteOutcome {
  /** The write touched the block or the trigger register (it belongs to the frame, not emitted alone). */
  belongs: boolean;
  /** Set when this write completes the frame. */
  reason?: FrameReason;
}

export class FrameAssembler {
  private readonly written: Uint8Array;
  private writtenCount = 0;
  private writesSinceFrame = 0;
  private quietTimer: ReturnType<typeof setTimeout> | undefined;

  /** `onQuiet` is called when the quiet time elapses with writes pending. */
  constructor(
    readonly options: FrameOptions,
    private readonly onQuiet: () => void,
  ) {
    this.written = new Uint8Array(options.length);
  }

  /** Registers one applied holding-register write (address, quantity). */
  noteWrite(address: number, quantity: number): FrameWriteOutcome {
    const { start, length, trigger, whenAllWritten, quietMs } = this.options;
    const from = Math.max(address, start);
    const to = Math.min(address + quantity, start + length);
    const hitsBlock = from < to;
    const hitsTrigger = trigger !== undefined && trigger >= address && trigger < address + quantity;
    if (!hitsBlock && !hitsTrigger) return { belongs: false };
    if (hitsBlock) {
      this.writesSinceFrame++;
      for (let r = from; r < to; r++) {
        if (this.written[r - start] === 0) {
          this.written[r - start] = 1;
          this.writtenCount++;
        }
      }
    }
    if (hitsTrigger) return { belongs: true, reason: 'trigger' };
    if (whenAllWritten && this.writtenCount === length) return { belongs: true, reason: 'complete' };
    if (quietMs > 0) {
      if (this.quietTimer) clearTimeout(this.quietTimer);
      this.quietTimer = setTimeout(() => {
        this.quietTimer = undefined;
        if (this.writesSinceFrame > 0) this.onQuiet();
      }, quietMs);
    }
    return { belongs: true };
  }

  /** Number of writes into the block since the last frame. */
  get pendingWrites(): number {
    return this.writesSinceFrame;
  }

  /** Starts a new frame (call after emitting one). */
  reset(): void {
    this.written.fill(0);
    this.writtenCount = 0;
    this.writesSinceFrame = 0;
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }

  dispose(): void {
    this.reset();
  }
}
