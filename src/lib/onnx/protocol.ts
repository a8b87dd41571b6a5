/** Messages between the main thread (ModelSession) and the session worker thread. */
import type { ExecutionProvider, SessionSettings } from './session-settings';
import type { ModelCard } from '../model-card';
import type { TensorStorage } from './dtypes';
import type { IoSpec } from './tensor-input';
import type { JsonTensor } from './tensor-output';
import type { OrtRuntimeName } from './runtime-loader';

/** An EdgeMlError flattened for postMessage. */
export interface WireError {
  code: string;
  message: string;
  params: Record<string, string | number>;
}

/** What a loaded model is: identity, inputs/outputs and its model card. */
export interface ModelDescription {
  path: string;
  name: string;
  version: string;
  sha256: string;
  sizeBytes: number;
  producer: string;
  description: string;
  opsets: Array<{ domain: string; version: number }>;
  inputs: IoSpec[];
  outputs: IoSpec[];
  metadata: Record<string, string>;
  card: ModelCard;
  /** True when the file carries at least one edgeml.* key. */
  hasCard: boolean;
  /** Outputs renamed by removing ZipMap (sklearn classifiers): the map output -> its probability tensor. */
  rewritten: Array<{ from: string; to: string; labels?: string[] }>;
  /** Time to read, parse and create the session, in ms. */
  loadMs: number;
  /** The ONNX Runtime build serving the model (for inspect: the one that would serve it). */
  runtime?: OrtRuntimeName;
  /** Why onnxruntime-node is not the one serving, when onnxruntime-web stands in for it. */
  runtimeFallback?: string;
  /** Inspect only: why no ONNX Runtime can serve the model on this device (with the fix). */
  runtimeProblem?: string;
  /** The execution provider serving the model (load/reload only). */
  provider?: ExecutionProvider;
  /** Preferred providers skipped on this device, and why (load/reload only). */
  providerSkipped?: string;
}

export interface ModelRef {
  name: string;
  version: string;
  sha256: string;
  /** The ONNX Runtime build that answered. */
  runtime?: OrtRuntimeName;
  /** The execution provider that answered. */
  provider?: ExecutionProvider;
}

export interface RunOptions {
  /** Only these outputs (all tensor outputs when absent or empty). */
  outputs?: string[];
  featureOrder?: string[];
  /** Stack messages along the batch dimension when the model has one. */
  batch: boolean;
}

/** One message's answer as the main thread hands it on: JSON-safe tensors. */
export type RunResult = { ok: true; payload: Record<string, JsonTensor>; inferenceMs: number; batchSize: number } | { ok: false; error: WireError };

/** An output as ONNX Runtime returned it: a typed array (moved to the main thread, not copied) or strings. */
export interface WireTensor {
  dtype: string;
  dims: number[];
  data: TensorStorage;
}

/** One run of several messages stacked along the batch dimension: its outputs hold every message's rows. */
export interface WireBatch {
  outputs: Record<string, WireTensor>;
  /** Rows in the outputs (the sum of the messages' rows). */
  rows: number;
  /** Messages in the batch. */
  size: number;
  inferenceMs: number;
}

/**
 * One message's answer as the worker sends it: its own run's outputs, already JSON-safe (small
 * arrays of numbers cost less to post than typed arrays), or its rows of a batch; `whole`: a run of
 * its own whose big outputs travel as a batch of one (typed arrays, moved), used entire.
 */
export type WireRunResult = RunResult | { ok: true; batch: number; row: number; rows: number; whole?: boolean };

/** `session` picks one of the sessions the worker serves (one worker thread hosts many models). */
export type WorkerRequest =
  | { op: 'load'; id: number; session: number; path: string; settings: SessionSettings }
  | { op: 'reload'; id: number; session: number; path: string }
  /** `bytes`: the file as the caller read it (confined, size-checked); read from `path` when absent. */
  | { op: 'inspect'; id: number; session: number; path: string; bytes?: Uint8Array }
  | { op: 'run'; id: number; session: number; items: unknown[]; options: RunOptions }
  | { op: 'close'; id: number; session: number };

export type WorkerReply =
  | { id: number; ok: true; op: 'load' | 'inspect'; description: ModelDescription }
  | { id: number; ok: true; op: 'reload'; description: ModelDescription; unchanged: boolean }
  | { id: number; ok: true; op: 'run'; model: ModelRef; results: WireRunResult[]; batches: WireBatch[] }
  | { id: number; ok: true; op: 'close' }
  | { id: number; ok: false; error: WireError };
