/** What decoding and encoding registers share: byte orders, value ranges and the scratch bytes. */
import type { ByteOrder, FieldType } from './fields';

export const TWO_32 = 4294967296;
export const FLOAT32_MAX = 3.4028234663852886e38;
// BigInt() calls, not literals: the editor bundle targets ES2018.
export const INT64_MIN = BigInt('-9223372036854775808');
export const INT64_MAX = BigInt('9223372036854775807');
export const UINT64_MAX = BigInt('18446744073709551615');
export const BIG_ZERO = BigInt(0);

export const INT_RANGE: Partial<Record<FieldType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

export function orderFlags(order: ByteOrder): { reverse: boolean; swap: boolean } {
  return { reverse: order === 'CDAB' || order === 'DCBA', swap: order === 'BADC' || order === 'DCBA' };
}

export const swapBytes = (w: number): number => ((w & 0xff) << 8) | (w >>> 8);

/** Eight scratch bytes: a value is put together (or taken apart) here in big-endian order. */
export const scratch = new DataView(new ArrayBuffer(8));
