/**
 * Output tensors -> what goes on msg.payload: { dtype, dims, data } with `data` a plain array that
 * survives JSON: 64-bit integers as numbers while exact, else decimal strings; non-finite floats as
 * the strings "NaN", "Infinity", "-Infinity" (the convention of the conformance data); bool as
 * booleans; float16 as the numbers it stands for.
 */
import { fromFloat16Bits } from './dtypes';

export type JsonValue = number | string | boolean;

export interface JsonTensor {
  dtype: string;
  dims: number[];
  data: JsonValue[];
}

/** Below V8's limit for fast preallocated arrays (kInitialMaxFastElementArray, 100,000). */
const PREALLOCATE_BELOW = 65536;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function jsonFloat(x: number): JsonValue {
  if (Number.isFinite(x)) return x;
  return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
}

/** Converts raw tensor contents (as ORT returns them) to a JSON-safe tensor. */
export function toJsonTensor(dtype: string, dims: readonly number[], data: ArrayLike<unknown>): JsonTensor {
  const n = data.length;
  // Preallocated only while small: V8 makes `new Array(n)` of 100,000 or more a dictionary (a hash
  // table of boxed numbers: a 13M-value output took 7 s and ~500 MB). Filled in order from [], a
  // big array stays a packed array of doubles (8 bytes a value).
  const out: JsonValue[] = n < PREALLOCATE_BELOW ? new Array<JsonValue>(n) : [];
  switch (dtype) {
    case 'float32':
    case 'float64':
      for (let i = 0; i < n; i++) out[i] = jsonFloat(data[i] as number);
      break;
    case 'float16':
      // ORT may hand float16 back as bits (Uint16Array) or, where Float16Array exists, as numbers.
      if (data instanceof Uint16Array) for (let i = 0; i < n; i++) out[i] = jsonFloat(fromFloat16Bits(data[i]!));
      else for (let i = 0; i < n; i++) out[i] = jsonFloat(Number(data[i]));
      break;
    case 'int64':
    case 'uint64':
      for (let i = 0; i < n; i++) {
        const v = data[i] as bigint | number;
        if (typeof v === 'bigint') out[i] = v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v.toString();
        else out[i] = v;
      }
      break;
    case 'bool':
      for (let i = 0; i < n; i++) out[i] = Boolean(data[i]);
      break;
    case 'string':
      for (let i = 0; i < n; i++) out[i] = String(data[i]);
      break;
    default:
      for (let i = 0; i < n; i++) out[i] = data[i] as number;
  }
  return { dtype, dims: Array.from(dims, Number), data: out };
}
