/**
 * The main-thread handle of one model: a worker thread that owns the ONNX Runtime session. Every
 * call is a message to the worker and a promise for its reply, so the event loop never runs a model.
 */
import { DEFAULT_SESSION_SETTINGS, type SessionSettings } from './session-settings';
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { EdgeMlError } from '../errors';
import { answers } from './batching';
import type { ModelDescription, RunOptions, RunResult, ModelRef, WireError, WorkerReply, WorkerRequest } from './protocol';

export type SessionState = 'loading' | 'ready' | 'failed' | 'closed';

let liveWorkers = 0;
let liveSessions = 0;
/** Worker threads alive right now (tests check that redeploys release them). */
export function liveSessionWorkers(): number {
  return liveWorkers;
}
/** Model sessions open right now across all config nodes. */
export function liveModelSessions(): number {
  return liveSessions;
}

/** The code of a request that could not be posted to the worker (its contents could not be cloned). */
const UNSENDABLE = 'EDGEML_ONNX_INPUT_FORM';

export function fromWire(e: WireError): EdgeMlError {
  return new EdgeMlError(e.code, e.message, e.params);
}

type Distribute<T> = T extends unknown ? Omit<T, 'id' | 'session'> : never;
type RequestBody = Distribute<WorkerRequest>;

/**
 * One worker thread hosting the sessions of every model in this Node-RED process: starting a
 * thread and ONNX Runtime costs far more than a session, and the heavy lifting happens in ORT's own
 * threads anyway. The thread is kept once started (unref'd while no session uses it, so it never
 * holds the process open): terminating a thread that has loaded ONNX Runtime while another one
 * starts can abort the process inside the native addon, and redeploys would do exactly that.
 */
class SessionHost {
  private static readonly hosts = new Map<string, SessionHost>();
  private readonly worker: Worker;
  private nextId = 1;
  private nextSession = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private readonly crashHandlers = new Map<number, (err: EdgeMlError) => void>();
  private users = 0;
  private exited = false;
  private terminating: Promise<void> | undefined;

  static acquire(workerFile: string): SessionHost {
    let host = SessionHost.hosts.get(workerFile);
    if (!host || host.exited || host.terminating) {
      host = new SessionHost(workerFile);
      SessionHost.hosts.set(workerFile, host);
    }
    if (host.users++ === 0) host.worker.ref();
    return host;
  }

  /** Ends the shared worker threads (for tools that must exit cleanly; Node-RED never needs it). */
  static async shutdown(): Promise<void> {
    const hosts = [...SessionHost.hosts.values()];
    SessionHost.hosts.clear();
    await Promise.all(hosts.map((h) => h.terminate()));
  }

  private async terminate(): Promise<void> {
    if (this.exited) return;
    this.terminating = this.worker.terminate().then(() => undefined);
    await this.terminating;
  }

  private constructor(private readonly workerFile: string) {
    this.worker = new Worker(workerFile);
    liveWorkers++;
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      p.resolve(reply);
    });
    this.worker.on('error', (e) => this.fail(e.message));
    this.worker.on('exit', (code) => {
      if (!this.exited) {
        this.exited = true;
        liveWorkers--;
      }
      if (SessionHost.hosts.get(this.workerFile) === this) SessionHost.hosts.delete(this.workerFile);
      if (!this.terminating) this.fail(`worker exited with code ${code}`);
    });
  }

  newSessionId(onCrash: (err: EdgeMlError) => void): number {
    const id = this.nextSession++;
    this.crashHandlers.set(id, onCrash);
    return id;
  }

  private fail(reason: string): void {
    const err = new EdgeMlError('EDGEML_ONNX_WORKER_FAILED', `the inference worker stopped: ${reason}`, { reason });
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(err);
    for (const handler of this.crashHandlers.values()) handler(err);
  }

  request(session: number, body: RequestBody, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.exited) {
      return Promise.reject(new EdgeMlError('EDGEML_ONNX_WORKER_FAILED', 'the inference worker has stopped', { reason: 'stopped' }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...body, id, session } as WorkerRequest, transfer);
      } catch (e) {
        // A value structured clone cannot copy (a function, a symbol, a class the clone refuses):
        // nothing was sent. The caller may retry its items one by one.
        this.pending.delete(id);
        const reason = `cannot be sent to the inference worker: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
        reject(new EdgeMlError(UNSENDABLE, reason, { reason }));
      }
    });
  }

  /** Closes one session in the worker (its memory is freed there); an unused thread stops holding the process open. */
  async release(session: number | undefined): Promise<void> {
    if (session !== undefined) {
      this.crashHandlers.delete(session);
      if (!this.exited) await this.request(session, { op: 'close' }).catch(() => undefined);
    }
    if (--this.users === 0 && !this.exited) this.worker.unref();
  }
}

export interface RunBatchReply {
  model: ModelRef;
  results: RunResult[];
}

export type ReloadOutcome = { changed: boolean; description: ModelDescription };

/**
 * One model file served by one worker. Emits 'state' (SessionState) whenever the state changes and
 * 'reloaded' / 'reload-failed' after a reload attempt.
 */
export class ModelSession extends EventEmitter {
  state: SessionState = 'loading';
  description: ModelDescription | undefined;
  loadError: EdgeMlError | undefined;
  private readonly host: SessionHost;
  private readonly sessionId: number;
  private readonly loaded: Promise<ModelDescription>;
  private reloading: Promise<ReloadOutcome> | undefined;

  constructor(
    workerFile: string,
    /** The file being served; changes when reload(file) swaps to another file. */
    public path: string,
    settings: SessionSettings = DEFAULT_SESSION_SETTINGS,
  ) {
    super();
    this.host = SessionHost.acquire(workerFile);
    liveSessions++;
    this.sessionId = this.host.newSessionId((err) => {
      if (this.state === 'closed') return;
      this.loadError = err;
      this.setState('failed');
    });
    this.loaded = this.host.request(this.sessionId, { op: 'load', path, settings }).then((reply) => {
      if (!reply.ok) throw fromWire(reply.error);
      if (reply.op !== 'load') throw new EdgeMlError('EDGEML_INTERNAL', 'unexpected reply', { reason: 'unexpected reply' });
      return reply.description;
    });
    this.loaded.then(
      (d) => {
        if (this.state === 'closed') return;
        this.description = d;
        this.setState('ready');
      },
      (e: EdgeMlError) => {
        if (this.state === 'closed') return;
        this.loadError = e;
        this.setState('failed');
      },
    );
  }

  private setState(state: SessionState): void {
    this.state = state;
    this.emit('state', state);
  }

  /** Resolves once the model is loaded; rejects with EDGEML_ONNX_MODEL_NOT_LOADED (and why) if it is not. */
  ready(): Promise<ModelDescription> {
    if (this.state === 'ready' && this.description) return Promise.resolve(this.description);
    if (this.state === 'failed') return Promise.reject(notLoaded(this.loadError));
    if (this.state === 'closed') return Promise.reject(closedError());
    return this.loaded.catch((e: EdgeMlError) => {
      throw notLoaded(e);
    });
  }

  /** Runs several payloads (one answer each, in order); batched when options.batch allows. */
  async run(items: unknown[], options: RunOptions): Promise<RunBatchReply> {
    if (this.state === 'closed') throw closedError();
    if (this.state === 'failed') throw notLoaded(this.loadError);
    let reply: WorkerReply;
    try {
      reply = await this.host.request(this.sessionId, { op: 'run', items, options });
    } catch (e) {
      // One item the worker cannot receive must not fail the others: send them one by one, so
      // only that one is answered with the error (onnx-infer checks inputs before; this is the net).
      if (items.length < 2 || !(e instanceof EdgeMlError) || e.code !== UNSENDABLE) throw e;
      return this.runEach(items, options, e);
    }
    if (!reply.ok) throw fromWire(reply.error);
    if (reply.op !== 'run') throw new EdgeMlError('EDGEML_INTERNAL', 'unexpected reply', { reason: 'unexpected reply' });
    return { model: reply.model, results: answers(reply.results, reply.batches) };
  }

  private async runEach(items: unknown[], options: RunOptions, cause: EdgeMlError): Promise<RunBatchReply> {
    const each = await Promise.all(
      items.map((item) =>
        this.run([item], options).then(
          (r) => ({ model: r.model as ModelRef | undefined, result: r.results[0]! }),
          (e: unknown) => {
            const err = e instanceof EdgeMlError ? e : cause;
            return { model: undefined, result: { ok: false as const, error: { code: err.code, message: err.message, params: err.params } } };
          },
        ),
      ),
    );
    const model = each.find((x) => x.model)?.model;
    if (!model) throw cause;
    return { model, results: each.map((x) => x.result) };
  }

  /**
   * Loads the file (or another file, for a delivered update) beside the current model, checks it
   * and swaps. On failure the current model keeps serving. Concurrent requests share one attempt.
   */
  reload(file?: string): Promise<ReloadOutcome> {
    if (this.state === 'closed') return Promise.reject(closedError());
    if (this.reloading) return this.reloading;
    const target = file ?? this.path;
    const attempt = this.host
      .request(this.sessionId, { op: 'reload', path: target })
      .then((reply) => {
        if (!reply.ok) throw fromWire(reply.error);
        if (reply.op !== 'reload') throw new EdgeMlError('EDGEML_INTERNAL', 'unexpected reply', { reason: 'unexpected reply' });
        return { changed: !reply.unchanged, description: reply.description };
      })
      .then(
        (outcome) => {
          if (this.state !== 'closed') {
            this.path = target;
            this.description = outcome.description;
            this.loadError = undefined;
            if (this.state !== 'ready') this.setState('ready');
            this.emit('reloaded', outcome);
          }
          return outcome;
        },
        (e: EdgeMlError) => {
          if (this.state !== 'closed') this.emit('reload-failed', e);
          throw e;
        },
      );
    this.reloading = attempt;
    const clear = (): void => {
      this.reloading = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    liveSessions--;
    await this.host.release(this.sessionId);
  }
}

function closedError(): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_CLOSED', 'the model session was closed', {});
}

function notLoaded(cause: EdgeMlError | undefined): EdgeMlError {
  // No runtime at all is its own problem with its own fix: keep its code for Catch nodes.
  if (cause?.code === 'EDGEML_ONNX_RUNTIME_UNAVAILABLE') return cause;
  const reason = cause ? String(cause.params.reason ?? cause.message) : 'not loaded';
  return new EdgeMlError('EDGEML_ONNX_MODEL_NOT_LOADED', `the model is not loaded: ${reason}`, { reason });
}

/** Ends the shared session worker thread(s); only for processes that want to exit without waiting. */
export function shutdownSessionWorkers(): Promise<void> {
  return SessionHost.shutdown();
}

/**
 * Describes a model file in the session worker (the editor's model-info endpoint). With `bytes`
 * (read by the caller, e.g. confined by model-paths.ts) the worker parses those and reads nothing;
 * their buffer is moved to the worker, not copied.
 */
export async function inspectModelFile(workerFile: string, path: string, bytes?: Uint8Array): Promise<ModelDescription> {
  const host = SessionHost.acquire(workerFile);
  try {
    const transfer = bytes && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : [];
    const reply = await host.request(0, bytes ? { op: 'inspect', path, bytes } : { op: 'inspect', path }, transfer);
    if (!reply.ok) throw fromWire(reply.error);
    if (reply.op !== 'inspect') throw new EdgeMlError('EDGEML_INTERNAL', 'unexpected reply', { reason: 'unexpected reply' });
    return reply.description;
  } finally {
    await host.release(undefined);
  }
}
