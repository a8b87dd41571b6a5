/**
 * Background priority for image work: the image worker thread and libvips's worker threads run at
 * the Linux SCHED_IDLE policy, so Node-RED's event loop (and everything else at normal priority)
 * always gets the CPU first. Measured on 2 cores (bench/results/vision.json): with the image threads
 * at normal priority, a woken event loop waited for up to one scheduler slice (about 3 ms) behind
 * them; lowering only their nice value does not help with the EEVDF scheduler (Linux 6.6+), which
 * lets a running thread finish its slice whatever its weight, but a SCHED_IDLE thread is preempted
 * at once.
 *
 * Node has no API for a thread's scheduling policy; util-linux's `chrt` sets it (Debian, Raspberry
 * Pi OS and the RevPi image have it; an unprivileged user may lower its own threads). Where `chrt`
 * is missing or refused, the thread gets nice 19 instead, and elsewhere (not Linux) nothing changes.
 * Only our own threads are touched: this worker, and the threads libvips names `libvips_*`.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

export type ImagePriority = 'background' | 'normal';

/** What the image threads run at: SCHED_IDLE, nice 19, unchanged (normal wanted), or not supported here. */
export type PriorityState = 'idle' | 'nice' | 'normal' | 'unsupported';

const LINUX = process.platform === 'linux';

/** This thread's id on Linux (a worker thread's own, not the process id). */
export function threadId(): number | undefined {
  if (!LINUX) return undefined;
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}

/** One thread to SCHED_IDLE (or nice 19 where chrt is missing or refused). */
function demote(tid: number): Promise<PriorityState> {
  return new Promise((resolve) => {
    execFile('chrt', ['--idle', '--pid', '0', String(tid)], { timeout: 5000 }, (err) => {
      if (!err) return resolve('idle');
      try {
        os.setPriority(tid, 19);
        resolve('nice');
      } catch {
        resolve('unsupported');
      }
    });
  });
}

/** The threads of this process libvips started (names `libvips_worker` and the like). */
function libvipsThreads(known: Set<number>): number[] {
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return found;
  }
  for (const t of tasks) {
    const tid = Number(t);
    if (known.has(tid)) continue;
    known.add(tid);
    try {
      if (readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('libvips')) found.push(tid);
    } catch {
      // the thread ended in between
    }
  }
  return found;
}

/**
 * Keeps the image threads at background priority: `start()` once in the worker thread, `adopt()`
 * after work that may have started libvips threads (a readdir when nothing is new).
 */
export class BackgroundPriority {
  private state: PriorityState;
  private readonly seen = new Set<number>();
  private pending: Promise<unknown> = Promise.resolve();

  constructor(private readonly wanted: ImagePriority) {
    this.state = wanted === 'normal' ? 'normal' : LINUX ? 'idle' : 'unsupported';
  }

  get current(): PriorityState {
    return this.state;
  }

  start(): Promise<void> {
    const tid = threadId();
    if (this.wanted === 'normal' || tid === undefined) return Promise.resolve();
    this.seen.add(tid);
    return this.apply([tid]);
  }

  adopt(): Promise<void> {
    if (this.wanted === 'normal' || !LINUX || this.state === 'unsupported') return Promise.resolve();
    const fresh = libvipsThreads(this.seen);
    return fresh.length ? this.apply(fresh) : (this.pending as Promise<void>);
  }

  private apply(tids: number[]): Promise<void> {
    const done = this.pending.then(async () => {
      for (const tid of tids) {
        const s = await demote(tid);
        // the weakest result is what the image work as a whole runs at
        if (s === 'unsupported' || (s === 'nice' && this.state === 'idle')) this.state = s;
      }
    });
    this.pending = done;
    return done;
  }
}
