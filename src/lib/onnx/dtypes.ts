/**
 * Tensor element types as ONNX Runtime names them, the typed array behind each, and float16
 * conversion (Node 20 has no Float16Array, so ORT takes and returns float16 as raw Uint16 bits).
 */
export const ONNX_DTYPES = ['float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string'] as const;

export type OnnxDtype = (typeof ONNX_DTYPES)[number];

export type NumericArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** Tensor contents in the form ORT accepts: a typed array (bool as Uint8Array, float16 as bits) or strings. */
export type TensorStorage = NumericArray | string[];

/** A tensor ready to hand to ORT (and cheap to post to a worker). */
export interface TensorData {
  dtype: OnnxDtype;
  dims: number[];
  data: TensorStorage;
}

export function isOnnxDtype(value: unknown): value is OnnxDtype {
  return typeof value === 'string' && (ONNX_DTYPES as readonly string[]).includes(value);
}

export const isFloatDtype = (d: OnnxDtype): boolean => d === 'float32' || d === 'float64' || d === 'float16';
export const is64BitIntDtype = (d: OnnxDtype): boolean => d === 'int64' || d === 'uint64';

/** Integer ranges of the 8..32-bit integer types. */
export const INT_RANGE: Partial<Record<OnnxDtype, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

export function allocate(dtype: OnnxDtype, length: number): TensorStorage {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'float16':
    case 'uint16':
      return new Uint16Array(length);
    case 'int8':
      return new Int8Array(length);
    case 'uint8':
    case 'bool':
      return new Uint8Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'uint32':
      return new Uint32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'uint64':
      return new BigUint64Array(length);
    case 'string':
      return new Array<string>(length).fill('');
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of a number (round to nearest even). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  e = half >>> 10;
  return sign | half;
}

/** The number a half-precision bit pattern stands for. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
