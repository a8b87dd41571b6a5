/**
 * Reads an ONNX model file (onnx.proto) without ONNX Runtime and without a protobuf library:
 * inputs, outputs, dtypes, shapes (symbolic dimensions too), opsets and metadata_props. The whole
 * message tree is checked against onnx.proto's field numbers and wire types, so a file that is not
 * an ONNX model is refused with EDGEML_ONNX_MODEL_INVALID instead of half-read.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { EdgeMlError } from '../errors';
import type { ModelIdentity } from '../metrics';
import { MODEL_CARD_PREFIX } from '../model-card';
import { ProtoError, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, decodeFields, fieldInt64, fieldMessage, fieldString } from './protobuf';
import type { ProtoField } from './protobuf';

export interface ValueInfo {
  name: string;
  kind: 'tensor' | 'sequence' | 'map' | 'other';
  /** ORT names: float32 float64 float16 int8 uint8 int16 uint16 int32 uint32 int64 uint64 bool string; '' if not a tensor. */
  dtype: string;
  /** number, symbolic name, or null if unknown. [] when the shape is not declared (or a scalar). */
  dims: Array<number | string | null>;
}

export interface ModelFileInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graphName: string;
  opsets: Array<{ domain: string; version: number }>;
  /** Graph inputs that are not initializers. */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  metadata: Record<string, string>;
}

/** onnx.proto field numbers used by this package (checked against onnx-proto's generated code). */
export const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
export const OPSET = { domain: 1, version: 2 } as const;
export const STRING_ENTRY = { key: 1, value: 2 } as const;
export const GRAPH = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12, valueInfo: 13, sparseInitializer: 15 } as const;
export const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6, domain: 7 } as const;
export const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, tensors: 10, graphs: 11, type: 20 } as const;
export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;
export const VALUE_INFO = { name: 1, type: 2, docString: 3 } as const;
export const TYPE = { tensor: 1, sequence: 4, map: 5, sparseTensor: 8, optional: 9 } as const;
export const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
export const SEQUENCE_TYPE = { elemType: 1 } as const;
export const MAP_TYPE = { keyType: 1, valueType: 2 } as const;
export const SHAPE = { dim: 1 } as const;
export const DIMENSION = { value: 1, param: 2 } as const;
export const TENSOR = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8, rawData: 9, doubleData: 10, uint64Data: 11 } as const;
export const SPARSE_TENSOR = { values: 1 } as const;

/** TensorProto.DataType code -> the name ONNX Runtime uses (beyond ORT's list: ONNX's own names). */
export const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
  17: 'float8e4m3fn',
  18: 'float8e4m3fnuz',
  19: 'float8e5m2',
  20: 'float8e5m2fnuz',
  21: 'uint4',
  22: 'int4',
  23: 'float4e2m1',
};

export function dataTypeCode(name: string): number {
  for (const [code, n] of Object.entries(DATA_TYPE_NAMES)) if (n === name) return Number(code);
  throw new RangeError(`unknown ONNX data type ${name}`);
}

// ---- structure check --------------------------------------------------------------------------

type Rule = { kind: 'varint' | 'string' | 'bytes' | 'fixed32' | 'fixed64' } | { kind: 'packed'; element: number } | { kind: 'message'; of: string };

const V: Rule = { kind: 'varint' };
const S: Rule = { kind: 'string' };
const B: Rule = { kind: 'bytes' };
const F32: Rule = { kind: 'fixed32' };
const PV: Rule = { kind: 'packed', element: WIRE_VARINT };
const PF32: Rule = { kind: 'packed', element: WIRE_FIXED32 };
const PF64: Rule = { kind: 'packed', element: WIRE_FIXED64 };
const M = (of: string): Rule => ({ kind: 'message', of });

/** Expected wire types per message (onnx.proto). Fields not listed are accepted and kept as they are. */
const SCHEMA: Record<string, Record<number, Rule>> = {
  Model: { 1: V, 2: S, 3: S, 4: S, 5: V, 6: S, 7: M('Graph'), 8: M('OpsetId'), 14: M('StringEntry'), 20: B, 25: B, 26: B },
  OpsetId: { 1: S, 2: V },
  StringEntry: { 1: S, 2: S },
  Graph: { 1: M('Node'), 2: S, 5: M('Tensor'), 10: S, 11: M('ValueInfo'), 12: M('ValueInfo'), 13: M('ValueInfo'), 14: B, 15: M('SparseTensor'), 16: M('StringEntry') },
  Node: { 1: S, 2: S, 3: S, 4: S, 5: M('Attribute'), 6: S, 7: S, 8: S, 9: M('StringEntry'), 10: B },
  Attribute: {
    1: S,
    2: F32,
    3: V,
    4: B,
    5: M('Tensor'),
    6: M('Graph'),
    7: PF32,
    8: PV,
    9: B,
    10: M('Tensor'),
    11: M('Graph'),
    13: S,
    14: M('Type'),
    15: M('Type'),
    20: V,
    21: S,
    22: M('SparseTensor'),
    23: M('SparseTensor'),
  },
  ValueInfo: { 1: S, 2: M('Type'), 3: S, 4: M('StringEntry') },
  Type: { 1: M('TensorType'), 4: M('SequenceType'), 5: M('MapType'), 6: S, 7: B, 8: M('TensorType'), 9: M('SequenceType') },
  TensorType: { 1: V, 2: M('Shape') },
  SequenceType: { 1: M('Type') },
  MapType: { 1: V, 2: M('Type') },
  Shape: { 1: M('Dimension') },
  Dimension: { 1: V, 2: S, 3: S },
  Tensor: { 1: PV, 2: V, 3: B, 4: PF32, 5: PV, 6: B, 7: PV, 8: S, 9: B, 10: PF64, 11: PV, 12: S, 13: M('StringEntry'), 14: V, 16: M('StringEntry') },
  SparseTensor: { 1: M('Tensor'), 2: M('Tensor'), 3: PV },
};

const WIRE_OF: Record<string, number> = { varint: WIRE_VARINT, string: WIRE_LEN, bytes: WIRE_LEN, fixed32: WIRE_FIXED32, fixed64: WIRE_FIXED64 };

function checkMessage(type: string, fields: ProtoField[], path: string, depth: number): void {
  if (depth > 64) throw new ProtoError(`${path}: nested too deeply`);
  const rules = SCHEMA[type]!;
  for (const f of fields) {
    const rule = rules[f.no];
    if (!rule) continue;
    const where = `${path}.${f.no}`;
    if (rule.kind === 'packed') {
      if (f.wireType !== rule.element && f.wireType !== WIRE_LEN) throw new ProtoError(`${where}: wire type ${f.wireType} where ${type} expects a repeated number`);
      continue;
    }
    const expected = rule.kind === 'message' ? WIRE_LEN : WIRE_OF[rule.kind]!;
    if (f.wireType !== expected) throw new ProtoError(`${where}: wire type ${f.wireType} where ${type} expects ${rule.kind}`);
    if (rule.kind === 'string') fieldString(f);
    else if (rule.kind === 'message') checkMessage(rule.of, fieldMessage(f), `${path}.${f.no}`, depth + 1);
  }
}

function invalid(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_MODEL_INVALID', `not an ONNX model: ${reason}`, { reason });
}

/** A decoded, structure-checked model: its top-level fields and its graph's fields. */
export interface DecodedModel {
  fields: ProtoField[];
  graphField: ProtoField;
  graph: ProtoField[];
  irVersion: number;
}

/** Decodes and checks a model; throws EDGEML_ONNX_MODEL_INVALID when it is not an ONNX model. */
export function decodeModel(bytes: Uint8Array): DecodedModel {
  if (!(bytes instanceof Uint8Array)) throw invalid('not a byte buffer');
  let fields: ProtoField[];
  try {
    fields = decodeFields(bytes);
    checkMessage('Model', fields, 'model', 0);
  } catch (e) {
    if (e instanceof ProtoError) throw invalid(e.message);
    throw e;
  }
  const ir = last(fields, MODEL.irVersion);
  if (!ir) throw invalid('no ir_version');
  const irVersion = Number(fieldInt64(ir));
  if (irVersion < 1 || irVersion > 1000) throw invalid(`ir_version ${irVersion} out of range`);
  const graphField = last(fields, MODEL.graph);
  if (!graphField) throw invalid('no graph');
  if (irVersion >= 3 && !fields.some((f) => f.no === MODEL.opsetImport)) throw invalid('no opset_import');
  return { fields, graphField, graph: fieldMessage(graphField), irVersion };
}

// ---- field access helpers ---------------------------------------------------------------------

/** The last occurrence of a singular field (protobuf semantics: the last one wins). */
export function last(fields: ProtoField[], no: number): ProtoField | undefined {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i]!.no === no) return fields[i];
  return undefined;
}

export function str(fields: ProtoField[], no: number): string {
  const f = last(fields, no);
  return f ? fieldString(f) : '';
}

export function strings(fields: ProtoField[], no: number): string[] {
  return fields.filter((f) => f.no === no).map(fieldString);
}

export function int(fields: ProtoField[], no: number): number {
  const f = last(fields, no);
  return f ? Number(fieldInt64(f)) : 0;
}

export function messages(fields: ProtoField[], no: number): ProtoField[][] {
  return fields.filter((f) => f.no === no).map(fieldMessage);
}

/** Reads a TypeProto into kind, dtype and dims. */
export function readType(type: ProtoField[] | undefined): Omit<ValueInfo, 'name'> {
  if (!type) return { kind: 'other', dtype: '', dims: [] };
  const tensor = last(type, TYPE.tensor);
  if (tensor) {
    const t = fieldMessage(tensor);
    const shape = last(t, TENSOR_TYPE.shape);
    const dims = shape
      ? messages(fieldMessage(shape), SHAPE.dim).map((d): number | string | null => {
          const value = last(d, DIMENSION.value);
          const param = last(d, DIMENSION.param);
          if (value) {
            const n = Number(fieldInt64(value));
            return n >= 0 ? n : null;
          }
          if (param) return fieldString(param) || null;
          return null;
        })
      : [];
    return { kind: 'tensor', dtype: DATA_TYPE_NAMES[int(t, TENSOR_TYPE.elemType)] ?? '', dims };
  }
  if (last(type, TYPE.sequence)) return { kind: 'sequence', dtype: '', dims: [] };
  if (last(type, TYPE.map)) return { kind: 'map', dtype: '', dims: [] };
  return { kind: 'other', dtype: '', dims: [] };
}

export function readValueInfo(fields: ProtoField[]): ValueInfo {
  const type = last(fields, VALUE_INFO.type);
  return { name: str(fields, VALUE_INFO.name), ...readType(type ? fieldMessage(type) : undefined) };
}

/** Names of the graph's initializers (dense and sparse). */
export function initializerNames(graph: ProtoField[]): Set<string> {
  const names = new Set(messages(graph, GRAPH.initializer).map((t) => str(t, TENSOR.name)));
  for (const sparse of messages(graph, GRAPH.sparseInitializer)) {
    const values = last(sparse, SPARSE_TENSOR.values);
    if (values) names.add(str(fieldMessage(values), TENSOR.name));
  }
  return names;
}

/** Reads a model's description. Throws EDGEML_ONNX_MODEL_INVALID on anything that is not an ONNX model. */
export function readModelInfo(bytes: Uint8Array): ModelFileInfo {
  const model = decodeModel(bytes);
  const { fields, graph } = model;
  const initializers = initializerNames(graph);
  const metadata: Record<string, string> = {};
  for (const entry of messages(fields, MODEL.metadataProps)) metadata[str(entry, STRING_ENTRY.key)] = str(entry, STRING_ENTRY.value);
  return {
    irVersion: model.irVersion,
    producerName: str(fields, MODEL.producerName),
    producerVersion: str(fields, MODEL.producerVersion),
    domain: str(fields, MODEL.domain),
    modelVersion: int(fields, MODEL.modelVersion),
    docString: str(fields, MODEL.docString),
    graphName: str(graph, GRAPH.name),
    opsets: messages(fields, MODEL.opsetImport).map((o) => ({ domain: str(o, OPSET.domain), version: int(o, OPSET.version) })),
    inputs: messages(graph, GRAPH.input)
      .map(readValueInfo)
      .filter((v) => !initializers.has(v.name)),
    outputs: messages(graph, GRAPH.output).map(readValueInfo),
    metadata,
  };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Name, version and sha256 of a model file: the model card's edgeml.name / edgeml.version, else the
 * graph name / ModelProto.model_version, else the file name / ''. One rule for the worker's model
 * description, the editor's inspection and the update node's questions about files. `sha256` when
 * the caller has hashed the bytes already.
 */
export function modelIdentity(file: string, bytes: Uint8Array, info: Pick<ModelFileInfo, 'metadata' | 'graphName' | 'modelVersion'>, sha256 = sha256Hex(bytes)): ModelIdentity {
  return {
    name: info.metadata[`${MODEL_CARD_PREFIX}name`] ?? (info.graphName || path.basename(file, path.extname(file))),
    version: info.metadata[`${MODEL_CARD_PREFIX}version`] ?? (info.modelVersion ? String(info.modelVersion) : ''),
    sha256,
  };
}
