/**
 * The message contract between the nodes, in one place: what each node reads from `msg` and what
 * it writes. The runtimes type the messages they send with these, so a change to what a node
 * writes is a change here, where every reader sees it. JSON Schemas of the same shapes are
 * published in schemas/ (onnx-infer-output, ml-format-payload, ml-format-event) for consumers
 * outside Node-RED; test/contracts-flow.test.ts validates each hop of the classic flow
 * (modbus-server-in -> modbus-decode -> ml-guard -> onnx-infer -> ml-format) against them.
 *
 * Every node passes on the properties it does not name here (Node-RED's usual practice), except
 * where noted (ml-format's "keep other properties" off).
 */
import type { DriftReport } from './drift/drift';
import type { GuardAction, GuardIssue, GuardStats } from './guard/guard';
import type { DecodedValue, FlexWritePayload } from './modbus';
import type { ModelCard } from './model-card';
import type { AnomalyEvent } from './format/anomaly';
import type { PredictionPayload } from './format/format';
import type { ModelRef } from './onnx/protocol';
import type { JsonTensor } from './onnx/tensor-output';

/** A property bag: what a node does not name it leaves as it found it. */
export type Passthrough = Record<string, unknown>;

// ---------------------------------------------------------------- modbus-server-in

/** msg.modbus: where a master's write landed. */
export interface ModbusWriteInfo {
  fc: number;
  unitId: number;
  address: number;
  quantity: number;
  area: 'holding' | 'input' | 'coils' | 'discrete';
  client: { address: string; port: number };
  /** Frame mode: why the block was sent and how many writes it gathered. */
  frame?: { reason: string; writes: number };
}

/** What modbus-server-in sends for each write (or each complete block in frame mode). */
export interface ModbusServerOutput extends Passthrough {
  /** The registers (0..65535) or coil states the master wrote. */
  payload: number[] | boolean[];
  modbus: ModbusWriteInfo;
  /** The same request as node-red-contrib-modbus shapes it (its decode and flex nodes read it). */
  modbusRequest: { unitid: number; fc: number; address: number; quantity: number };
  topic?: string;
}

/** What modbus-server-in reads: a write into its own memory from the flow. */
export type ModbusServerInput = Passthrough & {
  payload: number | number[] | boolean | boolean[] | { address?: number; value: unknown; area?: string };
  address?: number;
  area?: string;
};

// ---------------------------------------------------------------- modbus-decode / modbus-encode

/**
 * What modbus-decode reads: registers in msg.payload (an array of 16-bit values, a Buffer, a
 * Uint16Array, or node-red-contrib-modbus's { data, buffer }; or msg.responseBuffer.buffer); with
 * absolute addressing the first register's address in msg.modbusRequest.address or msg.modbus.address.
 */
export interface ModbusDecodeInput extends Passthrough {
  payload: unknown;
  modbusRequest?: { address?: number | string };
  modbus?: { address?: number };
  responseBuffer?: { buffer?: Uint8Array };
}

/** What modbus-decode writes. */
export interface ModbusDecodeOutput extends Passthrough {
  /** Field name -> decoded value (output "object"), or the values in field order (output "array"). */
  payload: Record<string, DecodedValue> | DecodedValue[];
  /** The registers it decoded from, as an array. */
  registers: number[];
  /** Field name -> unit, for fields that declare one. */
  units: Record<string, string>;
  /** Output "array" only: the field names in the order of payload. */
  fields?: string[];
  /** Fields whose value is NaN or +-Infinity (float registers holding those patterns). */
  invalid: string[];
}

/** What modbus-encode writes: registers for a write node, or a flex-write request. */
export interface ModbusEncodeOutput extends Passthrough {
  payload: number[] | FlexWritePayload;
  registers: number[];
  flexWrite?: FlexWritePayload;
}

// ---------------------------------------------------------------- ml-guard

/** A feature vector, by name or in the model's feature order. */
export type FeatureVector = Record<string, unknown> | unknown[];

/** What ml-guard reads: the features in msg.payload; msg.modelCard (or its model's card) for limits. */
export interface MlGuardInput extends Passthrough {
  payload: FeatureVector;
  modelCard?: ModelCard;
  /** "stats" or "reset-stats": answer with the counters on the second output instead. */
  command?: 'stats' | 'reset-stats';
}

/** msg.guard: what the checks found and what was done. */
export interface GuardFindings {
  ok: boolean;
  action: GuardAction;
  issues: GuardIssue[];
}

/** What ml-guard writes on a checked message (output 1: passed or flagged; output 2: routed). */
export interface MlGuardOutput extends Passthrough {
  /** The features, same shape as received, replacements applied. */
  payload: FeatureVector;
  guard: GuardFindings;
}

/** ml-guard's answer to a "stats" command (second output). */
export interface MlGuardStatsOutput extends Passthrough {
  topic: 'guard/stats';
  payload: GuardStats;
}

// ---------------------------------------------------------------- onnx-infer

/** What onnx-infer reads: the model input at its configured property (msg.payload by default). */
export interface OnnxInferInput extends Passthrough {
  /** A feature vector, named features, a tensor { data, dims?, dtype? }, or a map input name -> any of these. */
  payload?: unknown;
  /** true: reload the model file instead of running. */
  reload?: boolean;
}

/** What onnx-infer writes for each message it ran (schemas/onnx-infer-output.schema.json). */
export interface OnnxInferOutput extends Passthrough {
  /** Output name -> tensor, JSON-safe (non-finite floats as "NaN"/"Infinity"/"-Infinity"). */
  payload: Record<string, JsonTensor>;
  model: ModelRef;
  /** The card of the model that answered, when its file carries one. */
  modelCard?: ModelCard;
  inferenceMs: number;
  /** Present when the message ran in a batch of more than one. */
  batchSize?: number;
  /** Named input features (an object by name), kept from the input. */
  features?: Record<string, unknown>;
}

/** What onnx-infer writes in answer to msg.reload. */
export interface OnnxInferReloadOutput extends Passthrough {
  payload: { reloaded: boolean; path: string; name: string; version: string; sha256: string };
  model: { name: string; version: string; sha256: string };
}

// ---------------------------------------------------------------- ml-format

/** What ml-format reads: onnx-infer's output (payload, model, inferenceMs, modelCard). */
export type MlFormatInput = Pick<OnnxInferOutput, 'payload'> & Partial<Omit<OnnxInferOutput, 'payload'>>;

/** What ml-format writes on its first output (schemas/ml-format-payload.schema.json), one per row. */
export interface MlFormatOutput extends Passthrough {
  payload: PredictionPayload;
  topic: string;
}

/** What ml-format writes on its second output when an anomaly starts or ends (ml-format-event.schema.json). */
export interface MlFormatEventOutput {
  topic: string;
  payload: AnomalyEvent & { ts: string; model: PredictionPayload['model'] };
}

// ---------------------------------------------------------------- ml-drift, ml-outbox, ml-model-update

/** What ml-drift reads: features like ml-guard; writes a report per window. */
export interface MlDriftOutput {
  topic: 'drift';
  payload: DriftReport;
}

/** What ml-outbox reads: msg.topic (unless the node has one) and msg.payload (objects sent as JSON). */
export interface MlOutboxInput extends Passthrough {
  topic?: string;
  payload?: unknown;
}

/** What ml-model-update reads: a command in msg.payload ("rollback", "report", or { command }). */
export interface MlModelUpdateInput extends Passthrough {
  payload: 'rollback' | 'report' | 'status' | { command: 'rollback' | 'report' | 'status' };
}
