/**
 * The tensor shape onnx-infer puts on msg.payload: `{ dtype, dims, data }` with data a flat,
 * row-major plain array. int64 values may be numbers or decimal strings; non-finite floats may be
 * numbers (in-process) or the strings "NaN", "Infinity", "-Infinity" (after a JSON round trip).
 */
import { EdgeMlError } from '../errors';
import { checkDims } from '../tensor-dims';

export type TensorValue = number | string | boolean | bigint;

export interface TensorLike {
  dtype: string;
  dims: number[];
  data: ArrayLike<TensorValue>;
}

export type TensorMap = Record<string, TensorLike>;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isArrayLikeData(v: unknown): v is ArrayLike<TensorValue> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}

/** Validates msg.payload as a map of named tensors; throws EDGEML_FORMAT_INPUT otherwise. */
export function asTensorMap(payload: unknown): TensorMap {
  if (!isObj(payload) || Object.keys(payload).length === 0) {
    throw new EdgeMlError('EDGEML_FORMAT_INPUT', 'msg.payload must be an object of named output tensors { dtype, dims, data }', {
      reason: 'not an object of tensors',
    });
  }
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(payload)) {
    if (!isObj(t) || typeof t.dtype !== 'string' || !Array.isArray(t.dims) || !isArrayLikeData(t.data)) {
      throw new EdgeMlError('EDGEML_FORMAT_INPUT', `output "${name}" is not a tensor { dtype, dims, data }`, {
        reason: `output "${name}" is not a tensor`,
      });
    }
    const data = t.data as ArrayLike<TensorValue>;
    const dims = checkDims(t.dims, data.length, name);
    if (Array.isArray(data)) {
      for (let i = 0; i < data.length; i++) {
        const kind = typeof data[i];
        if (kind !== 'number' && kind !== 'string' && kind !== 'boolean' && kind !== 'bigint') {
          throw new EdgeMlError('EDGEML_FORMAT_INPUT', `output "${name}" holds a ${kind} at index ${i}`, {
            reason: `output "${name}" holds ${data[i] === null ? 'null' : `a ${kind}`} at index ${i} (values are numbers, strings or booleans)`,
          });
        }
      }
    }
    out[name] = { dtype: t.dtype, dims: [...dims], data };
  }
  return out;
}

/** One element as a JS number: decimal strings and the non-finite spellings parse, booleans are 0/1. */
export function elementToNumber(v: TensorValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'string') return NaN;
  const s = v.trim();
  if (s === 'NaN') return NaN;
  if (s === 'Infinity' || s === '+Infinity') return Infinity;
  if (s === '-Infinity') return -Infinity;
  return s === '' ? NaN : Number(s);
}

export function tensorNumbers(t: TensorLike): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = elementToNumber(t.data[i] as TensorValue);
  return out;
}

export const isStringTensor = (t: TensorLike): boolean => t.dtype === 'string';
export const isIntegerTensor = (t: TensorLike): boolean => /^u?int(8|16|32|64)$/.test(t.dtype) || t.dtype === 'bool';
export const isFloatTensor = (t: TensorLike): boolean => /^(float|double|bfloat)/.test(t.dtype);

/** Rows of a tensor: the last dimension is the row length (a [1, C] or [C] tensor is one row). */
export function tensorRows(values: number[], dims: number[]): number[][] {
  const width = dims.length === 0 ? 1 : (dims[dims.length - 1] ?? 1);
  // dims are checked where tensors enter (checkDims); a width that is not a positive integer would
  // never step through the values, so it yields no rows even if a caller skipped the check.
  if (!Number.isSafeInteger(width) || width <= 0 || values.length === 0) return [];
  const rows: number[][] = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width));
  return rows;
}

/**
 * A JSON-safe copy of a tensor for passthrough: numbers stay numbers; non-finite values become the
 * strings "NaN", "Infinity", "-Infinity" (the conformance-data convention); 64-bit integers beyond
 * 2^53 stay decimal strings; BigInt becomes a number when exact, else a decimal string.
 */
export function jsonSafeTensor(t: TensorLike): { dtype: string; dims: number[]; data: Array<number | string | boolean> } {
  const data = new Array<number | string | boolean>(t.data.length);
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i] as TensorValue;
    if (typeof v === 'number') data[i] = Number.isFinite(v) ? (v === 0 ? 0 : v) : String(v);
    else if (typeof v === 'bigint') data[i] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    else if (typeof v === 'string' && t.dtype !== 'string' && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) data[i] = Number(v);
    else data[i] = v;
  }
  return { dtype: t.dtype, dims: [...t.dims], data };
}
