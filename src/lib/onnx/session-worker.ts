/**
 * The worker-thread side of a model session: owns the ONNX Runtime session(s), turns payloads into
 * tensors and tensors into JSON-safe answers, so the Node-RED event loop never waits on a model.
 * Runs are done one at a time in arrival order; a reload builds the new session beside the old one
 * and swaps between two runs, so no message is answered by a half-loaded model.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createWithProviders, DEFAULT_SESSION_SETTINGS, describeSkipped, type ProviderChoice, type SessionSettings } from './session-settings';
import type { MessagePort } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { EdgeMlError, toEdgeMlError } from '../errors';
import { parseModelCard, MODEL_CARD_PREFIX } from '../model-card';
import { hasBatchDimension, splittable, stackable, stackFeeds } from './batching';
import { isOnnxDtype } from './dtypes';
import type { ModelDescription, ModelRef, RunOptions, WireBatch, WireError, WireRunResult, WireTensor, WorkerReply, WorkerRequest } from './protocol';
import { buildFeeds, sampleFeeds } from './tensor-input';
import type { Feeds, IoSpec } from './tensor-input';
import { modelIdentity, readModelInfo, sha256Hex } from './model-file';
import { MODEL_LOAD_MAX_BYTES, readRegularFile } from './model-paths';
import type { ModelFileInfo } from './model-file';
import { runtime } from './runtime-loader';
import { toJsonTensor } from './tensor-output';
import type { JsonTensor } from './tensor-output';
import { stripZipMap } from './zipmap';
import type { Ort, OrtRuntime } from './runtime-loader';

interface LoadedModel {
  session: ort.InferenceSession;
  /** The runtime that created the session: its Tensor class is the one the session accepts. */
  ort: Ort;
  description: ModelDescription;
}

function wire(e: unknown, fallback: string): WireError {
  const err = toEdgeMlError(e, fallback);
  return { code: err.code, message: err.message, params: err.params };
}

function ioSpecs(meta: readonly ort.InferenceSession.ValueMetadata[], fromFile: ModelFileInfo['inputs'] | undefined): IoSpec[] {
  return meta.map((m) => {
    const file = fromFile?.find((v) => v.name === m.name);
    if (!m.isTensor) return { name: m.name, isTensor: false, dtype: '', dims: [] };
    const dtype = isOnnxDtype(m.type) ? m.type : ('' as const);
    const ortDims = m.shape.map((d) => (typeof d === 'number' && d < 0 ? null : d));
    // ORT reports [] both for scalars and for unknown shapes; the file's own declaration is the tie-breaker.
    const dims = ortDims.length === 0 && file && file.dims.length > 0 ? file.dims : ortDims;
    return { name: m.name, isTensor: dtype !== '', dtype, dims };
  });
}

/** A regular file only, opened without blocking: a FIFO or device named as a model never holds a thread of the file pool. */
function readModelBytes(file: string): Promise<Uint8Array> {
  return readRegularFile(file, MODEL_LOAD_MAX_BYTES);
}

/** Reads, checks and describes a model file; with `session` also creates its ORT session. */
export async function loadModel(
  file: string,
  settings: SessionSettings,
  /** The file's bytes (and their hash) when the caller has read them already. */
  read?: { bytes: Uint8Array; sha256: string },
): Promise<LoadedModel> {
  const started = performance.now();
  const bytes = read?.bytes ?? (await readModelBytes(file));
  const info = readModelInfo(bytes);
  const card = parseModelCard(info.metadata);
  const { bytes: runnable, rewritten } = stripZipMap(bytes);
  const serving = runtime(); // throws EDGEML_ONNX_RUNTIME_UNAVAILABLE (with the fix) when none loads
  let session: ort.InferenceSession;
  let chosen: ProviderChoice<ort.InferenceSession>;
  try {
    chosen = await createWithProviders(settings, serving.name, (options) => serving.ort.InferenceSession.create(runnable, options as ort.InferenceSession.SessionOptions), {
      ...serving.sessionOptions,
    });
    session = chosen.session;
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0] ?? String(e);
    throw new EdgeMlError('EDGEML_ONNX_LOAD_FAILED', `ONNX Runtime cannot load ${file}: ${reason}`, { path: file, reason });
  }
  const description: ModelDescription = {
    path: file,
    ...modelIdentity(file, bytes, info, read?.sha256),
    sizeBytes: bytes.byteLength,
    producer: [info.producerName, info.producerVersion].filter(Boolean).join(' '),
    description: card.description ?? info.docString,
    opsets: info.opsets,
    inputs: ioSpecs(session.inputMetadata, info.inputs),
    outputs: ioSpecs(session.outputMetadata, info.outputs),
    metadata: info.metadata,
    card,
    hasCard: Object.keys(info.metadata).some((k) => k.startsWith(MODEL_CARD_PREFIX)),
    rewritten,
    loadMs: 0,
    ...runtimeFields(serving),
    provider: chosen.provider,
  };
  if (chosen.skipped.length > 0) description.providerSkipped = describeSkipped(chosen.skipped);
  description.loadMs = performance.now() - started;
  return { session, ort: serving.ort, description };
}

function runtimeFields(serving: OrtRuntime): Pick<ModelDescription, 'runtime' | 'runtimeFallback'> {
  return serving.fallbackReason === undefined ? { runtime: serving.name } : { runtime: serving.name, runtimeFallback: serving.fallbackReason };
}

/** Which runtime would serve the model, or why none can (the editor shows it beside the model). */
function runtimeOrProblem(): Pick<ModelDescription, 'runtime' | 'runtimeFallback' | 'runtimeProblem'> {
  try {
    return runtimeFields(runtime());
  } catch (e) {
    return { runtimeProblem: toEdgeMlError(e, 'EDGEML_ONNX_RUNTIME_UNAVAILABLE').message };
  }
}

/** Describes a model file without creating a session (for the editor). */
export async function inspectModel(file: string, given?: Uint8Array): Promise<ModelDescription> {
  const bytes = given ?? (await readModelBytes(file));
  const info = readModelInfo(bytes);
  const spec = (v: ModelFileInfo['inputs'][number]): IoSpec => ({
    name: v.name,
    isTensor: v.kind === 'tensor',
    dtype: isOnnxDtype(v.dtype) ? v.dtype : '',
    dims: v.dims,
  });
  return {
    path: file,
    ...modelIdentity(file, bytes, info),
    sizeBytes: bytes.byteLength,
    producer: [info.producerName, info.producerVersion].filter(Boolean).join(' '),
    description: info.metadata[`${MODEL_CARD_PREFIX}description`] ?? info.docString,
    opsets: info.opsets,
    inputs: info.inputs.map(spec),
    outputs: info.outputs.map(spec),
    metadata: info.metadata,
    card: (() => {
      try {
        return parseModelCard(info.metadata);
      } catch {
        return {};
      }
    })(),
    hasCard: Object.keys(info.metadata).some((k) => k.startsWith(MODEL_CARD_PREFIX)),
    rewritten: [],
    loadMs: 0,
    ...runtimeOrProblem(),
  };
}

/** Why `next` cannot replace `current`: inputs must keep names, dtypes and fixed sizes. */
export function incompatibility(current: IoSpec[], next: IoSpec[]): string | undefined {
  for (const old of current) {
    const now = next.find((i) => i.name === old.name);
    if (!now) return `input "${old.name}" is gone`;
    if (now.dtype !== old.dtype) return `input "${old.name}" changed from ${old.dtype} to ${now.dtype}`;
    if (old.dims.length > 0 && now.dims.length > 0) {
      if (now.dims.length !== old.dims.length) return `input "${old.name}" changed rank`;
      for (let i = 0; i < old.dims.length; i++) {
        const n = now.dims[i];
        if (typeof n === 'number' && n >= 0 && n !== old.dims[i]) return `input "${old.name}" dimension ${i} changed to ${n}`;
      }
    }
  }
  const added = next.find((i) => !current.some((c) => c.name === i.name));
  if (added) return `new input "${added.name}"`;
  return undefined;
}

function toOrtFeeds(runtimeApi: Ort, feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    out[name] = new runtimeApi.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
  }
  return out;
}

/**
 * A batch's outputs as they go to the main thread, which cuts each message's rows. A typed array that is only a window on a larger buffer
 * (onnxruntime-web's memory, say) is copied out first: posting a view sends its whole buffer.
 */
function wireOutputs(result: ort.InferenceSession.ReturnType): Record<string, WireTensor> {
  const out: Record<string, WireTensor> = {};
  for (const [name, value] of Object.entries(result)) {
    const t = value as ort.Tensor;
    let data = t.data as WireTensor['data'];
    if (ArrayBuffer.isView(data) && (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer))) {
      data = data.slice();
    }
    out[name] = { dtype: t.type, dims: [...t.dims], data };
  }
  return out;
}

/** The buffers of a reply's typed arrays, moved rather than copied by postMessage. */
function transferables(reply: WorkerReply): ArrayBuffer[] {
  if (!reply.ok || reply.op !== 'run') return [];
  const buffers = new Set<ArrayBuffer>();
  for (const b of reply.batches) {
    for (const t of Object.values(b.outputs)) if (ArrayBuffer.isView(t.data)) buffers.add(t.data.buffer as ArrayBuffer);
  }
  return [...buffers];
}

function runError(e: unknown): EdgeMlError {
  if (e instanceof EdgeMlError) return e;
  const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  return new EdgeMlError('EDGEML_ONNX_RUN_FAILED', `inference failed: ${reason}`, { reason });
}

/**
 * Outputs up to this size are made JSON-safe here and posted as arrays (cheaper for small ones);
 * bigger ones travel as typed arrays: a 50 MB output as a JS array is built once, on the main
 * thread, instead of here and again by the structured clone there.
 */
const JSON_REPLY_MAX_BYTES = 256 * 1024;

function outputBytes(result: ort.InferenceSession.ReturnType): number {
  let n = 0;
  for (const value of Object.values(result)) {
    const data = (value as ort.Tensor).data;
    n += ArrayBuffer.isView(data) ? data.byteLength : 0;
  }
  return n;
}

/** A run's input up to this size is kept as the sample a reload tests the new model with; a bigger one is not kept alive for it. */
const SAMPLE_MAX_BYTES = 1024 * 1024;
/** After this many input bytes the worker collects its garbage as soon as it is idle (see serveSessionWorker). */
const COLLECT_AFTER_BYTES = 32 * 1024 * 1024;
/** Input bytes the worker's runs have built since its last collection (all sessions of the thread). */
let inputBytesSinceCollect = 0;

function feedBytes(feeds: Feeds): number {
  let n = 0;
  for (const t of Object.values(feeds)) n += ArrayBuffer.isView(t.data) ? t.data.byteLength : (t.data as string[]).reduce((a, s) => a + s.length, 0);
  return n;
}

/** The worker's state machine; `handle` answers one request. Exported for in-process benchmarks. */
export class SessionWorker {
  private current: LoadedModel | undefined;
  private settings: SessionSettings = DEFAULT_SESSION_SETTINGS;
  private lastGoodFeeds: Feeds | undefined;
  /** Runs and swaps happen strictly one after another. */
  private chain: Promise<unknown> = Promise.resolve();

  /** The last good input becomes the reload sample only when small: a 50 MB input must not stay alive for it. */
  private keepSample(feeds: Feeds): void {
    if (feedBytes(feeds) <= SAMPLE_MAX_BYTES) this.lastGoodFeeds = feeds;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.chain.then(task, task);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async handle(req: WorkerRequest): Promise<WorkerReply> {
    try {
      switch (req.op) {
        case 'load': {
          this.settings = req.settings;
          const loaded = await loadModel(req.path, req.settings);
          await this.serial(async () => {
            const old = this.current;
            this.current = loaded;
            this.lastGoodFeeds = undefined;
            await old?.session.release();
          });
          return { id: req.id, ok: true, op: 'load', description: loaded.description };
        }
        case 'reload':
          return await this.reload(req.id, req.path);
        case 'inspect':
          return { id: req.id, ok: true, op: 'inspect', description: await inspectModel(req.path, req.bytes) };
        case 'run':
          return await this.serial(() => this.run(req.id, req.items, req.options));
        case 'close':
          await this.serial(async () => {
            const old = this.current;
            this.current = undefined;
            await old?.session.release();
          });
          return { id: req.id, ok: true, op: 'close' };
      }
    } catch (e) {
      return { id: req.id, ok: false, error: wire(e, 'EDGEML_ONNX_LOAD_FAILED') };
    }
  }

  private async reload(id: number, file: string): Promise<WorkerReply> {
    const current = this.current;
    let candidate: LoadedModel;
    try {
      const bytes = await readModelBytes(file);
      const sha256 = sha256Hex(bytes);
      // Unchanged bytes (a touch, a copy of the same file) need no new session.
      if (current && sha256 === current.description.sha256) {
        return { id, ok: true, op: 'reload', description: current.description, unchanged: true };
      }
      candidate = await loadModel(file, this.settings, { bytes, sha256 });
    } catch (e) {
      throw reloadError(e);
    }
    try {
      await this.serial(async () => {
        const serving = this.current;
        if (serving) {
          const why = incompatibility(serving.description.inputs, candidate.description.inputs);
          if (why) throw new EdgeMlError('EDGEML_ONNX_RELOAD_FAILED', `the new model is not compatible: ${why}`, { reason: why });
        }
        // A real input the old model answered is the best sample; zeros otherwise.
        const sample = this.lastGoodFeeds ?? sampleFeeds(candidate.description.inputs);
        try {
          await candidate.session.run(toOrtFeeds(candidate.ort, sample));
        } catch (e) {
          throw new EdgeMlError('EDGEML_ONNX_RELOAD_FAILED', `the new model fails on a sample input: ${runError(e).message}`, {
            reason: `fails on a sample input: ${runError(e).params.reason ?? runError(e).message}`,
          });
        }
        this.current = candidate;
        await serving?.session.release();
      });
    } catch (e) {
      await candidate.session.release().catch(() => undefined);
      throw reloadError(e);
    }
    return { id, ok: true, op: 'reload', description: candidate.description, unchanged: false };
  }

  private async run(id: number, items: unknown[], options: RunOptions): Promise<WorkerReply> {
    const model = this.current;
    if (!model) throw new EdgeMlError('EDGEML_ONNX_MODEL_NOT_LOADED', 'no model is loaded', { reason: 'no model is loaded' });
    const d = model.description;
    const ref: ModelRef = { name: d.name, version: d.version, sha256: d.sha256, ...(d.runtime ? { runtime: d.runtime } : {}), ...(d.provider ? { provider: d.provider } : {}) };
    const results: WireRunResult[] = new Array(items.length);
    const batches: WireBatch[] = [];
    const tensorOutputs = d.outputs.filter((o) => o.isTensor).map((o) => o.name);
    let fetches = tensorOutputs;
    if (options.outputs && options.outputs.length > 0) {
      const unknown = options.outputs.find((o) => !d.outputs.some((x) => x.name === o));
      if (unknown !== undefined) {
        const error = wire(
          new EdgeMlError('EDGEML_ONNX_OUTPUT_UNKNOWN', `the model has no output "${unknown}"`, { output: unknown, outputs: d.outputs.map((o) => o.name).join(', ') }),
          'EDGEML_ONNX_OUTPUT_UNKNOWN',
        );
        return { id, ok: true, op: 'run', model: ref, results: items.map(() => ({ ok: false, error })), batches };
      }
      fetches = options.outputs;
    }
    const ctx = { inputs: d.inputs, card: d.card, forbidNaN: d.hasCard && d.card.nan !== 'allow', featureOrder: options.featureOrder };
    const feeds: Array<Feeds | undefined> = items.map((payload, i) => {
      try {
        const built = buildFeeds(payload, ctx);
        inputBytesSinceCollect += feedBytes(built);
        return built;
      } catch (e) {
        results[i] = { ok: false, error: wire(e, 'EDGEML_ONNX_INPUT_FORM') };
        return undefined;
      }
    });

    // ORT's run() waits for the next event-loop turn before it runs; started together, the runs of
    // one request share that turn instead of paying one each (they still run one after another, in
    // order, so each one's time is the time since the previous one finished).
    let previousEnd = performance.now();
    const runOne = async (i: number): Promise<void> => {
      try {
        const out = await model.session.run(toOrtFeeds(model.ort, feeds[i]!), fetches);
        const end = performance.now();
        if (outputBytes(out) > JSON_REPLY_MAX_BYTES) {
          // big outputs go as typed arrays (moved, not copied) and become JSON-safe on the main thread
          const batch = batches.push({ outputs: wireOutputs(out), rows: 1, size: 1, inferenceMs: end - previousEnd }) - 1;
          results[i] = { ok: true, batch, row: 0, rows: 1, whole: true };
        } else {
          results[i] = { ok: true, payload: jsonPayload(out), inferenceMs: end - previousEnd, batchSize: 1 };
        }
        previousEnd = end;
        this.keepSample(feeds[i]!);
      } catch (e) {
        previousEnd = performance.now();
        results[i] = { ok: false, error: wire(runError(e), 'EDGEML_ONNX_RUN_FAILED') };
      }
    };

    const pending = feeds.map((f, i) => (f ? i : -1)).filter((i) => i >= 0);
    if (!options.batch || pending.length < 2 || !hasBatchDimension(d.inputs)) {
      await Promise.all(pending.map(runOne));
      return { id, ok: true, op: 'run', model: ref, results, batches };
    }
    // Group messages whose inputs stack (same dtypes and trailing dims), in arrival order.
    const groups: number[][] = [];
    for (const i of pending) {
      const group = groups.find((g) => stackable(feeds[g[0]!]!, feeds[i]!));
      if (group) group.push(i);
      else groups.push([i]);
    }
    for (const group of groups) {
      if (group.length === 1) {
        await runOne(group[0]!);
        continue;
      }
      const { feeds: stacked, rows } = stackFeeds(group.map((i) => feeds[i]!));
      const total = rows.reduce((a, b) => a + b, 0);
      let outputs: Record<string, WireTensor> | undefined;
      let ms = 0;
      try {
        const started = performance.now();
        const out = await model.session.run(toOrtFeeds(model.ort, stacked), fetches);
        ms = performance.now() - started;
        outputs = wireOutputs(out);
      } catch {
        outputs = undefined; // one bad message must not fail the others: run them one by one
      }
      if (!outputs || !splittable(outputs, total)) {
        for (const i of group) await runOne(i);
        continue;
      }
      const batch = batches.push({ outputs, rows: total, size: group.length, inferenceMs: ms }) - 1;
      let row = 0;
      group.forEach((i, k) => {
        results[i] = { ok: true, batch, row, rows: rows[k]! };
        row += rows[k]!;
      });
      this.keepSample(feeds[group[0]!]!);
    }
    return { id, ok: true, op: 'run', model: ref, results, batches };
  }
}

function reloadError(e: unknown): EdgeMlError {
  const err = toEdgeMlError(e, 'EDGEML_ONNX_RELOAD_FAILED');
  if (err.code === 'EDGEML_ONNX_RELOAD_FAILED') return err;
  const reason = String(err.params.reason ?? err.message);
  return new EdgeMlError('EDGEML_ONNX_RELOAD_FAILED', `reload failed, the old model keeps serving: ${reason}`, { reason, cause: err.code });
}

/** One run's outputs as they go on msg.payload. */
function jsonPayload(result: ort.InferenceSession.ReturnType): Record<string, JsonTensor> {
  const out: Record<string, JsonTensor> = {};
  for (const [name, value] of Object.entries(result)) {
    const t = value as ort.Tensor;
    out[name] = toJsonTensor(t.type, t.dims, t.data as ArrayLike<unknown>);
  }
  return out;
}

/**
 * The worker's garbage collector, when it can be had: V8 exposes `gc` to contexts created while
 * --expose-gc is set, so the flag is set for one new context and cleared again (the process's other
 * contexts, Node-RED's function nodes among them, do not get it).
 */
let collect: (() => void) | null | undefined;
function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  collect = null;
  try {
    const own = (globalThis as { gc?: unknown }).gc;
    if (typeof own === 'function') collect = own as () => void;
    else {
      setFlagsFromString('--expose-gc');
      try {
        const gc: unknown = runInNewContext('gc');
        if (typeof gc === 'function') collect = gc as () => void;
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
    }
  } catch {
    collect = null; // no collector: V8 collects on its own schedule
  }
  return collect;
}

/**
 * Wires the worker thread's port to one SessionWorker per session it hosts.
 *
 * Memory: the inputs a run copies into this thread (the posted payloads, their tensors) are
 * garbage after the answer, but V8 collects a thread's heap only when that thread allocates
 * more. A burst of big inputs followed by quiet left them all alive for good (10 x 50 MB: +400 MB
 * after the main thread's GC, kept after the flow was removed). So once the thread is idle after
 * COLLECT_AFTER_BYTES of input, or after a session is closed, it collects at once.
 */
export function serveSessionWorker(port: MessagePort): void {
  const sessions = new Map<number, SessionWorker>();
  let busy = 0;
  let closedSince = false;
  let scheduled = false;
  const collectWhenIdle = (): void => {
    if (scheduled || busy > 0 || (inputBytesSinceCollect < COLLECT_AFTER_BYTES && !closedSince)) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (busy > 0) return; // more work came in: collected after it
      inputBytesSinceCollect = 0;
      closedSince = false;
      collector()?.();
    });
  };
  port.on('message', (req: WorkerRequest) => {
    let worker = sessions.get(req.session);
    if (!worker) {
      worker = new SessionWorker();
      if (req.op !== 'close' && req.op !== 'inspect') sessions.set(req.session, worker);
    }
    if (req.op === 'close') sessions.delete(req.session);
    busy++;
    void worker.handle(req).then((reply) => {
      busy--;
      port.postMessage(reply, transferables(reply));
      if (req.op === 'close' || req.op === 'inspect') closedSince = true;
      collectWhenIdle();
    });
  });
}
