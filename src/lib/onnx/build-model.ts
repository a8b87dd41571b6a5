/**
 * A tiny ONNX model writer on the package's own protobuf writer: nodes with attributes, float/int
 * initializers, typed inputs/outputs (symbolic dims too), opsets and metadata_props. Scripts and
 * tests use it to make models without Python. Output is deterministic: same spec, same bytes.
 */
import { ProtoWriter } from './protobuf';
import { ATTRIBUTE, ATTRIBUTE_TYPE, DIMENSION, GRAPH, MAP_TYPE, MODEL, NODE, OPSET, SEQUENCE_TYPE, SHAPE, STRING_ENTRY, TENSOR, TENSOR_TYPE, TYPE, VALUE_INFO, dataTypeCode } from './model-file';

export type TensorElementType = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'string';

/** A constant tensor (initializer or tensor attribute). Numbers in row-major order. */
export interface TensorSpec {
  name?: string;
  dtype: TensorElementType;
  dims: number[];
  data: ArrayLike<number> | ReadonlyArray<bigint> | ReadonlyArray<string> | ReadonlyArray<boolean>;
}

export type Dim = number | string | null;

/** A value's type: tensor (dims undefined = rank unknown), sequence or map. */
export type TypeSpec = { tensor: TensorElementType; dims?: Dim[] } | { sequence: TypeSpec } | { map: { key: TensorElementType; value: TypeSpec } };

export interface ValueSpec {
  name: string;
  type: TypeSpec;
  docString?: string;
}

export type AttributeSpec =
  { float: number } | { int: number | bigint } | { string: string } | { floats: number[] } | { ints: Array<number | bigint> } | { strings: string[] } | { tensor: TensorSpec } | { graph: GraphSpec };

export interface NodeSpec {
  opType: string;
  domain?: string;
  name?: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeSpec>;
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: TensorSpec[];
  valueInfo?: ValueSpec[];
  docString?: string;
}

export interface ModelSpec {
  irVersion?: number;
  opsets: Array<{ domain: string; version: number }>;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: GraphSpec;
  metadata?: Record<string, string>;
}

/** A tensor-typed value (the usual case). */
export function tensorValue(name: string, dtype: TensorElementType, dims?: Dim[]): ValueSpec {
  return dims === undefined ? { name, type: { tensor: dtype } } : { name, type: { tensor: dtype, dims } };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function writeTensor(w: ProtoWriter, t: TensorSpec): void {
  w.packedVarints(TENSOR.dims, t.dims);
  w.varint(TENSOR.dataType, dataTypeCode(t.dtype));
  if (t.name !== undefined) w.string(TENSOR.name, t.name);
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) throw new RangeError(`tensor ${t.name ?? ''}: ${t.data.length} values for dims [${t.dims.join(',')}]`);
  if (t.dtype === 'string') {
    for (const s of t.data as ReadonlyArray<string>) w.string(TENSOR.stringData, s);
    return;
  }
  // Numbers go into raw_data, little-endian, as ONNX specifies (float32 copied in one go on little-endian hosts).
  if (t.dtype === 'float32' && LITTLE_ENDIAN) {
    const floats = Float32Array.from(t.data as ArrayLike<number>);
    w.bytes(TENSOR.rawData, new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength));
    return;
  }
  const size = { float32: 4, float64: 8, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1 }[t.dtype];
  const raw = new Uint8Array(count * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < count; i++) {
    const v = t.data[i]!;
    const n = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    switch (t.dtype) {
      case 'float32':
        view.setFloat32(i * 4, Number(n), true);
        break;
      case 'float64':
        view.setFloat64(i * 8, Number(n), true);
        break;
      case 'int8':
        view.setInt8(i, Number(n));
        break;
      case 'uint8':
      case 'bool':
        view.setUint8(i, Number(n));
        break;
      case 'int16':
        view.setInt16(i * 2, Number(n), true);
        break;
      case 'uint16':
        view.setUint16(i * 2, Number(n), true);
        break;
      case 'int32':
        view.setInt32(i * 4, Number(n), true);
        break;
      case 'uint32':
        view.setUint32(i * 4, Number(n), true);
        break;
      case 'int64':
        view.setBigInt64(i * 8, BigInt(n as number | bigint), true);
        break;
      case 'uint64':
        view.setBigUint64(i * 8, BigInt(n as number | bigint), true);
        break;
    }
  }
  w.bytes(TENSOR.rawData, raw);
}

function writeType(w: ProtoWriter, type: TypeSpec): void {
  if ('tensor' in type) {
    const tensorType = type;
    w.message(TYPE.tensor, (t) => {
      t.varint(TENSOR_TYPE.elemType, dataTypeCode(tensorType.tensor));
      if (tensorType.dims) {
        const dims = tensorType.dims;
        t.message(TENSOR_TYPE.shape, (s) => {
          for (const d of dims) {
            s.message(SHAPE.dim, (dim) => {
              if (typeof d === 'number') dim.varint(DIMENSION.value, d);
              else if (typeof d === 'string') dim.string(DIMENSION.param, d);
            });
          }
        });
      }
    });
  } else if ('sequence' in type) {
    const element = type.sequence;
    w.message(TYPE.sequence, (s) => s.message(SEQUENCE_TYPE.elemType, (e) => writeType(e, element)));
  } else {
    const map = type.map;
    w.message(TYPE.map, (m) => {
      m.varint(MAP_TYPE.keyType, dataTypeCode(map.key));
      m.message(MAP_TYPE.valueType, (v) => writeType(v, map.value));
    });
  }
}

function writeValue(w: ProtoWriter, v: ValueSpec): void {
  w.string(VALUE_INFO.name, v.name);
  w.message(VALUE_INFO.type, (t) => writeType(t, v.type));
  if (v.docString) w.string(VALUE_INFO.docString, v.docString);
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeSpec): void {
  w.string(ATTRIBUTE.name, name);
  if ('float' in a) w.float(ATTRIBUTE.f, a.float).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.FLOAT);
  else if ('int' in a) w.varint(ATTRIBUTE.i, a.int).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.INT);
  else if ('string' in a) w.string(ATTRIBUTE.s, a.string).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.STRING);
  else if ('floats' in a) w.packedFloats(ATTRIBUTE.floats, a.floats).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.FLOATS);
  else if ('ints' in a) w.packedVarints(ATTRIBUTE.ints, a.ints).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.INTS);
  else if ('strings' in a) {
    for (const s of a.strings) w.string(ATTRIBUTE.strings, s);
    w.varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.STRINGS);
  } else if ('tensor' in a) {
    const tensor = a.tensor;
    w.message(ATTRIBUTE.t, (t) => writeTensor(t, tensor)).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.TENSOR);
  } else {
    const graph = a.graph;
    w.message(ATTRIBUTE.g, (g) => writeGraph(g, graph)).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.GRAPH);
  }
}

/** Encodes one NodeProto (also used by the ZipMap rewrite). */
export function encodeNode(node: NodeSpec): Uint8Array {
  const w = new ProtoWriter();
  writeNode(w, node);
  return w.finish();
}

/** Encodes one ValueInfoProto. */
export function encodeValueInfo(value: ValueSpec): Uint8Array {
  const w = new ProtoWriter();
  writeValue(w, value);
  return w.finish();
}

function writeNode(w: ProtoWriter, n: NodeSpec): void {
  for (const i of n.inputs) w.string(NODE.input, i);
  for (const o of n.outputs) w.string(NODE.output, o);
  if (n.name) w.string(NODE.name, n.name);
  w.string(NODE.opType, n.opType);
  for (const [name, a] of Object.entries(n.attributes ?? {})) w.message(NODE.attribute, (aw) => writeAttribute(aw, name, a));
  if (n.domain) w.string(NODE.domain, n.domain);
}

function writeGraph(w: ProtoWriter, g: GraphSpec): void {
  for (const n of g.nodes) w.message(GRAPH.node, (nw) => writeNode(nw, n));
  w.string(GRAPH.name, g.name);
  for (const t of g.initializers ?? []) {
    if (!t.name) throw new RangeError('an initializer needs a name');
    w.message(GRAPH.initializer, (tw) => writeTensor(tw, t));
  }
  if (g.docString) w.string(GRAPH.docString, g.docString);
  for (const v of g.inputs) w.message(GRAPH.input, (vw) => writeValue(vw, v));
  for (const v of g.outputs) w.message(GRAPH.output, (vw) => writeValue(vw, v));
  for (const v of g.valueInfo ?? []) w.message(GRAPH.valueInfo, (vw) => writeValue(vw, v));
}

/** Writes a ModelProto. Field order follows onnx.proto's numbering, as ONNX's own serializer does. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.varint(MODEL.irVersion, spec.irVersion ?? 8);
  if (spec.producerName) w.string(MODEL.producerName, spec.producerName);
  if (spec.producerVersion) w.string(MODEL.producerVersion, spec.producerVersion);
  if (spec.domain) w.string(MODEL.domain, spec.domain);
  if (spec.modelVersion !== undefined) w.varint(MODEL.modelVersion, spec.modelVersion);
  if (spec.docString) w.string(MODEL.docString, spec.docString);
  w.message(MODEL.graph, (g) => writeGraph(g, spec.graph));
  for (const o of spec.opsets) {
    w.message(MODEL.opsetImport, (ow) => {
      if (o.domain) ow.string(OPSET.domain, o.domain);
      ow.varint(OPSET.version, o.version);
    });
  }
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    w.message(MODEL.metadataProps, (m) => m.string(STRING_ENTRY.key, key).string(STRING_ENTRY.value, value));
  }
  return w.finish();
}
