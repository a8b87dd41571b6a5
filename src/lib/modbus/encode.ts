/** Encoding: named values -> 16-bit Modbus registers over a field table (modbus-encode). */
import { EdgeMlError } from '../errors';
import { FLOAT32_MAX, INT64_MAX, INT64_MIN, INT_RANGE, BIG_ZERO, UINT64_MAX, orderFlags, scratch, swapBytes } from './bytes';
import { type ByteOrder, type RegisterField, registerCount } from './fields';

export type EncodableValue = number | string | boolean | bigint;

export interface EncodeResult {
  registers: number[];
  /** the block's first register: relative index, or absolute register number */
  first: number;
}

export type ValueEncoder = (values: Record<string, unknown> | readonly unknown[]) => EncodeResult;

function valueError(code: string, field: RegisterField, value: unknown, message: string, extra: Record<string, string | number> = {}): EdgeMlError {
  return new EdgeMlError(code, `Field ${field.name}: ${message}`, { field: field.name, value: describe(value), ...extra });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Applies inverse scaling; rounds to an integer for integer types when the field is scaled. */
function unscale(field: RegisterField, value: number, integer: boolean): number {
  const scaled = field.scale !== 1 || field.offset !== 0;
  if (!scaled) {
    if (integer && !Number.isInteger(value)) {
      throw valueError('EDGEML_MODBUS_VALUE_NOT_INTEGER', field, value, `${field.type} needs an integer`, { type: field.type });
    }
    return value;
  }
  const raw = (value - field.offset) / field.scale;
  return integer ? Math.round(raw) : raw;
}

function numberValue(field: RegisterField, value: unknown): number {
  if (typeof value !== 'number' || (Number.isNaN(value) && field.type !== 'float32' && field.type !== 'float64')) {
    throw valueError('EDGEML_MODBUS_VALUE_NOT_NUMERIC', field, value, 'the value is not a number', { type: field.type });
  }
  return value;
}

/** Writes the field's big-endian bytes (already in scratch) to out[at..] in the field's order. */
function store(out: number[], at: number, n: number, order: ByteOrder): void {
  const { reverse, swap } = orderFlags(order);
  for (let k = 0; k < n; k++) {
    const w = scratch.getUint16(2 * k);
    out[reverse ? at + n - 1 - k : at + k] = swap ? swapBytes(w) : w;
  }
}

function bigValue(field: RegisterField, value: unknown): bigint {
  const scaled = field.scale !== 1 || field.offset !== 0;
  if (typeof value === 'bigint' && !scaled) return value;
  if (typeof value === 'string' && !scaled) {
    if (!/^-?\d+$/.test(value.trim())) {
      throw valueError('EDGEML_MODBUS_VALUE_NOT_NUMERIC', field, value, 'the value is not an integer', { type: field.type });
    }
    return BigInt(value.trim());
  }
  const n = unscale(field, numberValue(field, typeof value === 'bigint' ? Number(value) : value), true);
  if (!Number.isFinite(n)) throw valueError('EDGEML_MODBUS_VALUE_NOT_NUMERIC', field, value, 'the value is not finite', { type: field.type });
  return BigInt(n);
}

function rangeError(field: RegisterField, value: unknown, min: string | number, max: string | number): EdgeMlError {
  return valueError('EDGEML_MODBUS_VALUE_RANGE', field, value, `the value does not fit ${field.type} (${min}..${max})`, {
    type: field.type,
    min: String(min),
    max: String(max),
  });
}

/** Writes one field's value into out at index `at` (bits OR into the register). */
function writeField(field: RegisterField, value: unknown, out: number[], at: number): void {
  switch (field.type) {
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32': {
      const [min, max] = INT_RANGE[field.type]!;
      const n = unscale(field, numberValue(field, value), true);
      if (!(n >= min && n <= max)) throw rangeError(field, value, min, max);
      if (field.type === 'int16' || field.type === 'uint16') scratch.setUint16(0, n & 0xffff);
      else scratch.setUint32(0, n >>> 0);
      store(out, at, registerCount(field.type), field.order);
      return;
    }
    case 'float32': {
      const n = unscale(field, numberValue(field, value), false);
      if (Number.isFinite(n) && Math.abs(n) > FLOAT32_MAX && !Number.isFinite(Math.fround(n))) {
        throw rangeError(field, value, -FLOAT32_MAX, FLOAT32_MAX);
      }
      scratch.setFloat32(0, n);
      store(out, at, 2, field.order);
      return;
    }
    case 'float64':
      scratch.setFloat64(0, unscale(field, numberValue(field, value), false));
      store(out, at, 4, field.order);
      return;
    case 'int64':
    case 'uint64': {
      const b = bigValue(field, value);
      if (field.type === 'int64') {
        if (b < INT64_MIN || b > INT64_MAX) throw rangeError(field, value, INT64_MIN.toString(), INT64_MAX.toString());
        scratch.setBigInt64(0, b);
      } else {
        if (b < BIG_ZERO || b > UINT64_MAX) throw rangeError(field, value, 0, UINT64_MAX.toString());
        scratch.setBigUint64(0, b);
      }
      store(out, at, 4, field.order);
      return;
    }
    case 'string': {
      if (typeof value !== 'string') {
        throw valueError('EDGEML_MODBUS_VALUE_TYPE', field, value, 'a string field needs a string', { expected: 'string' });
      }
      if (value.length > 2 * field.length) {
        throw valueError('EDGEML_MODBUS_STRING_TOO_LONG', field, value, `at most ${2 * field.length} characters fit`, {
          max: 2 * field.length,
        });
      }
      const swap = field.order === 'BADC' || field.order === 'DCBA';
      for (let k = 0; k < field.length; k++) {
        const a = value.charCodeAt(2 * k) || 0;
        const b = value.charCodeAt(2 * k + 1) || 0;
        if (a > 255 || b > 255) {
          throw valueError('EDGEML_MODBUS_VALUE_TYPE', field, value, 'only characters 0..255 fit a register string', { expected: 'latin1' });
        }
        out[at + k] = swap ? (b << 8) | a : (a << 8) | b;
      }
      return;
    }
    case 'bit': {
      if (value !== true && value !== false && value !== 0 && value !== 1) {
        throw valueError('EDGEML_MODBUS_VALUE_TYPE', field, value, 'a bit field needs true/false or 1/0', { expected: 'boolean' });
      }
      const mask = 1 << field.bit;
      out[at] = value === true || value === 1 ? (out[at] ?? 0) | mask : (out[at] ?? 0) & ~mask & 0xffff;
      return;
    }
  }
}

/**
 * Compiles the field table into an encoder. The fields must cover one contiguous block of registers
 * without overlaps (bit fields may share a register; its other bits are written as 0): a write must
 * never put zeros into registers the table does not name.
 */
export function compileEncoder(fields: readonly RegisterField[]): ValueEncoder {
  let first = Infinity;
  let end = 0;
  for (const f of fields) {
    first = Math.min(first, f.register);
    end = Math.max(end, f.register + registerCount(f.type, f.length));
  }
  const owner = new Array<string | undefined>(end - first);
  const bitOwner = new Array<boolean>(end - first).fill(false);
  for (const f of fields) {
    for (let k = 0; k < registerCount(f.type, f.length); k++) {
      const i = f.register - first + k;
      const clash = f.type === 'bit' ? owner[i] !== undefined && !bitOwner[i] : owner[i] !== undefined;
      if (clash) {
        throw new EdgeMlError('EDGEML_MODBUS_ENCODE_OVERLAP', `Fields ${owner[i]} and ${f.name} both write register ${first + i}`, {
          field: f.name,
          other: owner[i]!,
          register: first + i,
        });
      }
      owner[i] = f.name;
      bitOwner[i] = f.type === 'bit';
    }
  }
  const gap = owner.findIndex((o) => o === undefined);
  if (gap >= 0) {
    throw new EdgeMlError('EDGEML_MODBUS_ENCODE_GAP', `No field covers register ${first + gap}; a write would put 0 there`, {
      register: first + gap,
    });
  }
  const size = end - first;
  return (values) => {
    const isArray = Array.isArray(values);
    if (!isArray && (typeof values !== 'object' || values === null)) {
      throw new EdgeMlError('EDGEML_MODBUS_PAYLOAD_TYPE', 'msg.payload must be an object of named values or an array', {
        type: values === null ? 'null' : typeof values,
      });
    }
    const out = new Array<number>(size).fill(0);
    fields.forEach((field, i) => {
      const value = isArray ? (values as readonly unknown[])[i] : (values as Record<string, unknown>)[field.name];
      if (value === undefined || value === null) {
        throw new EdgeMlError('EDGEML_MODBUS_VALUE_MISSING', `No value for field ${field.name}`, { field: field.name });
      }
      writeField(field, value, out, field.register - first);
    });
    return { registers: out, first };
  };
}

export function encodeValues(values: Record<string, unknown> | readonly unknown[], fields: readonly RegisterField[]): EncodeResult {
  return compileEncoder(fields)(values);
}

/**
 * What node-red-contrib-modbus Flex-Write (and Modbus-Write, which takes payload.value) read from
 * msg.payload for a write of holding registers: FC 16 covers one register as well as many.
 */
export interface FlexWritePayload {
  value: number[];
  fc: 16;
  unitid: number;
  address: number;
  quantity: number;
}
