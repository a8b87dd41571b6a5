/**
 * msg.payload -> named input tensors. Accepts the forms documented for onnx-infer:
 *   - a flat or nested array, or a typed array, for a one-input model (a dynamic dimension inferred);
 *   - a tensor object { dtype, dims, data } for a one-input model;
 *   - an object keyed by input name, each value one of the above;
 *   - an object of named features, mapped by the model card's `features` or a configured order,
 *     with the card's scaler applied.
 * Every refusal is an EdgeMlError with a stable EDGEML_ONNX_* code.
 */
import { EdgeMlError } from '../errors';
import type { ModelCard } from '../model-card';
import { allocate, INT_RANGE, is64BitIntDtype, isFloatDtype, isOnnxDtype, toFloat16Bits } from './dtypes';
import type { OnnxDtype, TensorData, TensorStorage } from './dtypes';
import { checkDims } from '../tensor-dims';

/** One model input or output as the session reports it. */
export interface IoSpec {
  name: string;
  isTensor: boolean;
  /** ORT dtype name, '' for non-tensor values. */
  dtype: OnnxDtype | '';
  /** Fixed sizes as numbers, symbolic ones as their name (or null); [] when unknown or scalar. */
  dims: Array<number | string | null>;
}

export interface FeedContext {
  inputs: IoSpec[];
  card: ModelCard;
  /** NaN and +-Infinity refused in float inputs (the model card's edgeml.nan). */
  forbidNaN: boolean;
  /** Feature order configured on the node; overrides the card's `features`. */
  featureOrder?: string[];
}

export type Feeds = Record<string, TensorData>;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

const isTensorObject = (v: unknown): v is { dtype: unknown; dims: unknown; data: unknown } => isPlainObject(v) && 'dtype' in v && 'data' in v && ('dims' in v || 'shape' in v);

const isFixed = (d: number | string | null): d is number => typeof d === 'number' && d >= 0;

export function describeDims(dims: ReadonlyArray<number | string | null>): string {
  return `[${dims.map((d) => (d === null || (typeof d === 'number' && d < 0) ? '?' : String(d))).join(', ')}]`;
}

function shapeError(input: string, expected: string, actual: string): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_SHAPE', `input "${input}": shape ${actual} does not fit the model's ${expected}`, {
    input,
    expected,
    actual,
  });
}

function valueError(input: string, index: number, reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_VALUE', `input "${input}" element ${index}: ${reason}`, { input, index, reason });
}

/** Shape of a nested array plus its flat contents; ragged nesting is a shape error. */
function flattenNested(value: unknown[], input: string): { dims: number[]; flat: unknown[] } {
  const dims: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    dims.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  if (ArrayBuffer.isView(level) && !(level instanceof DataView)) dims.push((level as unknown as ArrayLike<unknown>).length);
  const ragged = (): EdgeMlError => shapeError(input, 'a rectangular array', 'a ragged array');
  const isNested = (x: unknown): boolean => typeof x === 'object' && x !== null && (Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView)));
  const last = dims.length - 1;
  // A flat array (the common case: one row of features) is its own flat contents.
  if (last === 0) {
    for (let i = 0; i < value.length; i++) if (isNested(value[i])) throw ragged();
    return { dims, flat: value };
  }
  const flat: unknown[] = [];
  const walk = (node: unknown, depth: number): void => {
    const isTyped = ArrayBuffer.isView(node) && !(node instanceof DataView);
    if ((!Array.isArray(node) && !isTyped) || (node as ArrayLike<unknown>).length !== dims[depth]) throw ragged();
    const arr = node as ArrayLike<unknown>;
    if (depth < last) {
      for (let i = 0; i < arr.length; i++) walk(arr[i], depth + 1);
      return;
    }
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i];
      if (isNested(x)) throw ragged();
      flat.push(x);
    }
  };
  walk(value, 0);
  return { dims, flat };
}

/** Checks `dims` against the model's declared shape (symbolic dimensions accept any size). */
export function checkShape(spec: IoSpec, dims: number[]): void {
  if (spec.dims.length === 0) return; // unknown rank (or a scalar): ORT itself checks
  const fits = spec.dims.length === dims.length && spec.dims.every((d, i) => !isFixed(d) || d === dims[i]);
  if (!fits) throw shapeError(spec.name, describeDims(spec.dims), describeDims(dims));
}

/**
 * The dims for `length` flat values: the model's shape with its one non-fixed dimension inferred
 * (a dynamic batch dimension, typically). Without a known shape the data stays one-dimensional.
 */
export function inferDims(spec: IoSpec, length: number): number[] {
  if (spec.dims.length === 0) return [length];
  const fixedProduct = spec.dims.reduce<number>((p, d) => (isFixed(d) ? p * d : p), 1);
  const open = spec.dims.map((d, i) => (isFixed(d) ? -1 : i)).filter((i) => i >= 0);
  const fail = (): EdgeMlError => shapeError(spec.name, describeDims(spec.dims), `${length} values`);
  if (open.length === 0) {
    if (length !== fixedProduct) throw fail();
    return spec.dims as number[];
  }
  if (fixedProduct === 0 || length % fixedProduct !== 0) throw fail();
  const rest = length / fixedProduct;
  // With several open dimensions (e.g. [N, H, W, 3]) flat values do not say which size is which:
  // 192 values could be 64 images of 1x1 or 1 image of 8x8. Only "all of them 1" is unambiguous.
  if (open.length > 1 && rest !== 1) {
    throw new EdgeMlError('EDGEML_ONNX_INPUT_AMBIGUOUS', `input "${spec.name}": ${length} flat values for ${describeDims(spec.dims)} with ${open.length} open dimensions`, {
      input: spec.name,
      expected: describeDims(spec.dims),
      count: length,
    });
  }
  return spec.dims.map((d, i) => (isFixed(d) ? d : i === open[0] ? rest : 1));
}

const storageCtors = new Map<OnnxDtype, unknown>();
/** The typed array class `allocate` uses for `dtype`. */
function storageConstructor(dtype: OnnxDtype): unknown {
  let ctor = storageCtors.get(dtype);
  if (ctor === undefined) storageCtors.set(dtype, (ctor = allocate(dtype, 0).constructor));
  return ctor;
}

/** Converts flat values to the storage of `dtype`, refusing what the dtype cannot hold. */
export function toStorage(values: ArrayLike<unknown>, dtype: OnnxDtype, input: string, forbidNaN: boolean): TensorStorage {
  const n = values.length;
  if (dtype === 'string') {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'string') {
        throw new EdgeMlError('EDGEML_ONNX_DTYPE', `input "${input}" takes strings; element ${i} is a ${typeof v}`, {
          input,
          expected: 'string',
          actual: typeof v,
        });
      }
      out[i] = v;
    }
    return out;
  }
  // Fast path: a typed array of exactly the storage type, used as it is when it is a whole buffer
  // (nothing here writes into it; in the worker it is the request's own copy): one 5 MB input less
  // to allocate and free per message, which glibc's free lists kept as a high-water mark.
  const whole = ArrayBuffer.isView(values) && values.byteOffset === 0 && values.byteLength === values.buffer.byteLength && values.buffer instanceof ArrayBuffer;
  const out = whole && values.constructor === storageConstructor(dtype) ? (values as unknown as TensorStorage) : allocate(dtype, n);
  if (ArrayBuffer.isView(values) && values.constructor === out.constructor && dtype !== 'float16' && dtype !== 'bool') {
    if (out !== (values as unknown)) (out as Float32Array).set(values as unknown as Float32Array);
    if (forbidNaN && isFloatDtype(dtype)) {
      for (let i = 0; i < n; i++) if (!Number.isFinite((out as Float32Array)[i] as number)) throw nanError(input, i, (out as Float32Array)[i] as number);
    }
    return out;
  }
  if (isFloatDtype(dtype)) {
    const target = out as Float32Array | Float64Array | Uint16Array;
    for (let i = 0; i < n; i++) {
      const x = floatValue(values[i], input, i);
      if (forbidNaN && !Number.isFinite(x)) throw nanError(input, i, x);
      target[i] = dtype === 'float16' ? toFloat16Bits(x) : x;
      // A finite number beyond the storage's range (1e39 as float32) would reach the model as Infinity.
      if (forbidNaN && dtype === 'float32' && !Number.isFinite(target[i] as number)) throw nanError(input, i, target[i] as number);
    }
    return out;
  }
  if (dtype === 'bool') {
    const target = out as Uint8Array;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === 'boolean') target[i] = v ? 1 : 0;
      else if (v === 0 || v === 1) target[i] = v;
      else if (typeof v === 'string') throw stringError(input, i, v);
      else throw valueError(input, i, `${String(v)} is not a boolean`);
    }
    return out;
  }
  if (is64BitIntDtype(dtype)) {
    const target = out as BigInt64Array | BigUint64Array;
    const [min, max] = dtype === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
    for (let i = 0; i < n; i++) {
      const big = bigIntValue(values[i], input, i);
      if (big < min || big > max) throw valueError(input, i, `${big} is out of range for ${dtype}`);
      target[i] = big;
    }
    return out;
  }
  const [min, max] = INT_RANGE[dtype]!;
  const target = out as Int32Array;
  for (let i = 0; i < n; i++) {
    let v = values[i];
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v === 'string') throw stringError(input, i, v);
    if (typeof v !== 'number') throw valueError(input, i, `${String(v)} is not a number`);
    if (!Number.isInteger(v)) throw valueError(input, i, `${v} is not an integer (${dtype})`);
    if (v < min || v > max) throw valueError(input, i, `${v} is out of range for ${dtype}`);
    target[i] = v;
  }
  return out;
}

/** NaN and +-Infinity alike: a reading that is not a number is refused wherever NaN is (the card's edgeml.nan). */
function nanError(input: string, index: number, value: number): EdgeMlError {
  const shown = String(value);
  return new EdgeMlError('EDGEML_ONNX_NAN', `input "${input}" element ${index} is ${shown}, which the model card forbids`, { input, index, value: shown });
}

function stringError(input: string, index: number, value: string): EdgeMlError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new EdgeMlError('EDGEML_ONNX_STRING_IN_NUMERIC', `input "${input}" is numeric; element ${index} is the string "${shown}"`, {
    input,
    index,
    value: shown,
  });
}

/** Non-finite floats may be spelled as strings (the JSON convention of the conformance data). */
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '+Infinity': Infinity, '-Infinity': -Infinity };

function floatValue(v: unknown, input: string, index: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const x = NON_FINITE[v];
    if (x === undefined) throw stringError(input, index, v);
    return x;
  }
  if (typeof v === 'bigint') return Number(v);
  throw valueError(input, index, `${v === null ? 'null' : typeof v} is not a number`);
}

function bigIntValue(v: unknown, input: string, index: number): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw valueError(input, index, `${v} is not an integer`);
    if (!Number.isSafeInteger(v)) throw valueError(input, index, `${v} is beyond 2^53; give it as a decimal string or BigInt`);
    return BigInt(v);
  }
  if (typeof v === 'string') {
    if (!/^[-+]?\d+$/.test(v.trim())) throw stringError(input, index, v);
    return BigInt(v.trim());
  }
  throw valueError(input, index, `${v === null ? 'null' : typeof v} is not an integer`);
}

function product(dims: number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/** One input's value (array, typed array, tensor object or single number) -> a tensor for `spec`. */
export function toTensor(spec: IoSpec, value: unknown, forbidNaN: boolean): TensorData {
  if (!spec.isTensor || spec.dtype === '') {
    throw new EdgeMlError('EDGEML_ONNX_INPUT_FORM', `input "${spec.name}" is not a tensor; only tensor inputs are supported`, {
      reason: `input "${spec.name}" is not a tensor`,
    });
  }
  const dtype = spec.dtype;
  if (isTensorObject(value)) {
    const given = value.dtype;
    if (given !== undefined && given !== null && given !== dtype) {
      throw new EdgeMlError('EDGEML_ONNX_DTYPE', `input "${spec.name}" is ${dtype}, the message gives ${String(given)}`, {
        input: spec.name,
        expected: dtype,
        actual: isOnnxDtype(given) ? given : String(given),
      });
    }
    const rawDims = (value as Record<string, unknown>).dims ?? (value as Record<string, unknown>).shape;
    const data = value.data;
    if (!Array.isArray(data) && !(ArrayBuffer.isView(data) && !(data instanceof DataView))) {
      throw new EdgeMlError('EDGEML_ONNX_INPUT_FORM', `input "${spec.name}": data must be an array`, {
        reason: `input "${spec.name}": data is not an array`,
      });
    }
    let flat = data as ArrayLike<unknown>;
    if (Array.isArray(data) && data.some((x) => Array.isArray(x))) flat = flattenNested(data, spec.name).flat;
    let dims: number[];
    if (rawDims === undefined || rawDims === null) dims = inferDims(spec, flat.length);
    else {
      // the one dims check of the package (src/lib/tensor-dims.ts): safe integers >= 0, product = data length
      dims = checkDims(rawDims, flat.length, spec.name);
    }
    checkShape(spec, dims);
    return { dtype, dims: [...dims], data: toStorage(flat, dtype, spec.name, forbidNaN) };
  }
  if (Array.isArray(value)) {
    const { dims: nestedDims, flat } = flattenNested(value, spec.name);
    const nested = nestedDims.length > 1;
    const dims = nested || (spec.dims.length === 1 && nestedDims.length === 1) ? nestedDims : inferDims(spec, flat.length);
    checkShape(spec, dims);
    return { dtype, dims, data: toStorage(flat, dtype, spec.name, forbidNaN) };
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const flat = value as unknown as ArrayLike<unknown>;
    const dims = inferDims(spec, flat.length);
    checkShape(spec, dims);
    return { dtype, dims, data: toStorage(flat, dtype, spec.name, forbidNaN) };
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || typeof value === 'string') {
    const dims = spec.dims.length === 0 ? [] : inferDims(spec, 1);
    return { dtype, dims, data: toStorage([value], dtype, spec.name, forbidNaN) };
  }
  if (value === undefined) throw missingInput(spec.name);
  throw new EdgeMlError('EDGEML_ONNX_INPUT_FORM', `input "${spec.name}": expected an array, a typed array or { dtype, dims, data }`, {
    reason: `input "${spec.name}" is ${value === null ? 'null' : typeof value}`,
  });
}

function missingInput(input: string): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_INPUT_MISSING', `the message has no value for input "${input}"`, { input });
}

/** The feature names that map a features object into the input vector, if any are known. */
export function featureNames(ctx: FeedContext): string[] | undefined {
  if (ctx.featureOrder && ctx.featureOrder.length > 0) return ctx.featureOrder;
  return ctx.card.features;
}

/** The scaler for `names`, reordered by name when the card's features differ from the configured order. */
function scalerFor(ctx: FeedContext, names: string[]): { mean: number[]; scale: number[] } | undefined {
  const scaler = ctx.card.scaler;
  if (!scaler) return undefined;
  const cardFeatures = ctx.card.features;
  if (!cardFeatures) return scaler.mean.length === names.length ? scaler : undefined;
  const mean: number[] = [];
  const scale: number[] = [];
  for (const name of names) {
    const i = cardFeatures.indexOf(name);
    mean.push(i >= 0 ? scaler.mean[i]! : 0);
    scale.push(i >= 0 ? scaler.scale[i]! : 1);
  }
  return { mean, scale };
}

function featuresToTensor(ctx: FeedContext, spec: IoSpec, names: string[], payload: Record<string, unknown>): TensorData {
  const scaler = scalerFor(ctx, names);
  // Each feature a number (one row), or all of them arrays of one length (several rows).
  const first = payload[names[0]!];
  const rows = Array.isArray(first) ? first.length : 1;
  const values = new Array<number>(rows * names.length);
  names.forEach((name, j) => {
    const raw = payload[name];
    if (raw === undefined || raw === null) {
      throw new EdgeMlError('EDGEML_ONNX_FEATURE_MISSING', `the message has no value for feature "${name}"`, { feature: name });
    }
    const column = Array.isArray(first) ? raw : [raw];
    if (!Array.isArray(column) || column.length !== rows) {
      throw shapeError(spec.name, `${rows} values per feature`, `feature "${name}" with ${Array.isArray(column) ? column.length : 1}`);
    }
    for (let r = 0; r < rows; r++) {
      const v = column[r];
      if (typeof v === 'string') throw stringError(name, r, v);
      if (typeof v !== 'number') throw valueError(name, r, `${v === null ? 'null' : typeof v} is not a number`);
      if (ctx.forbidNaN && !Number.isFinite(v)) throw nanError(name, r, v);
      values[r * names.length + j] = scaler ? (v - scaler.mean[j]!) / scaler.scale[j]! : v;
    }
  });
  const dims = spec.dims.length === 1 && rows === 1 ? [names.length] : [rows, names.length];
  checkShape(spec, dims);
  if (spec.dtype === '' || spec.dtype === 'string' || spec.dtype === 'bool') {
    throw new EdgeMlError('EDGEML_ONNX_DTYPE', `input "${spec.name}" is ${spec.dtype || 'not a tensor'}; features need a numeric input`, {
      input: spec.name,
      expected: 'a numeric type',
      actual: spec.dtype || 'non-tensor',
    });
  }
  return { dtype: spec.dtype, dims, data: toStorage(values, spec.dtype, spec.name, ctx.forbidNaN) };
}

/** Builds every input tensor from a message payload. */
export function buildFeeds(payload: unknown, ctx: FeedContext): Feeds {
  const inputs = ctx.inputs;
  const only = inputs.length === 1 ? inputs[0] : undefined;
  if (Array.isArray(payload) || (ArrayBuffer.isView(payload) && !(payload instanceof DataView)) || isTensorObject(payload) || typeof payload === 'number') {
    if (!only) {
      throw new EdgeMlError('EDGEML_ONNX_INPUT_FORM', `the model has ${inputs.length} inputs; give an object keyed by input name`, {
        reason: `an array feeds only a one-input model; this one has ${inputs.map((i) => i.name).join(', ')}`,
      });
    }
    return { [only.name]: toTensor(only, payload, ctx.forbidNaN) };
  }
  if (!isPlainObject(payload)) {
    throw new EdgeMlError('EDGEML_ONNX_INPUT_FORM', 'msg.payload must be an array, a tensor or an object', {
      reason: `payload is ${payload === null ? 'null' : typeof payload}`,
    });
  }
  const keyedByInput = inputs.some((i) => i.name in payload);
  const names = featureNames(ctx);
  if (!keyedByInput && names && names.length > 0) {
    const target = (ctx.card.input ? inputs.find((i) => i.name === ctx.card.input) : undefined) ?? inputs[0];
    if (!target) throw missingInput(ctx.card.input ?? '?');
    const feeds: Feeds = { [target.name]: featuresToTensor(ctx, target, names, payload) };
    for (const spec of inputs) if (!feeds[spec.name]) throw missingInput(spec.name);
    return feeds;
  }
  const feeds: Feeds = {};
  for (const spec of inputs) {
    if (!(spec.name in payload)) throw missingInput(spec.name);
    feeds[spec.name] = toTensor(spec, payload[spec.name], ctx.forbidNaN);
  }
  return feeds;
}

/** A stand-in input for checking that a model runs: zeros (or empty strings), open dimensions as 1. */
export function sampleFeeds(inputs: IoSpec[]): Feeds {
  const feeds: Feeds = {};
  for (const spec of inputs) {
    if (spec.dtype === '') continue;
    const dims = spec.dims.map((d) => (isFixed(d) ? d : 1));
    feeds[spec.name] = { dtype: spec.dtype, dims, data: allocate(spec.dtype, product(dims)) };
  }
  return feeds;
}
