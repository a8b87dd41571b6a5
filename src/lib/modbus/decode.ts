/**
 * Decoding: 16-bit Modbus registers -> named, typed, scaled values over a field table, compiled
 * once (per node) into one reader per field, so a message only pays for the loads it needs.
 * No Node-RED and no Node.js APIs here (the editor bundles it too).
 */
import { EdgeMlError } from '../errors';
import { TWO_32, orderFlags, scratch, swapBytes } from './bytes';
import { type RegisterField, registerCount } from './fields';
import { checkRegisters } from './registers';

/** How 64-bit integers come out: auto = number when exact (|v| <= 2^53 - 1), else a decimal string. */
export type Int64Mode = 'auto' | 'number' | 'string' | 'bigint';
export const INT64_MODES: readonly Int64Mode[] = ['auto', 'number', 'string', 'bigint'];
export type OutputShape = 'object' | 'array';
export type Addressing = 'relative' | 'absolute';

export type DecodedValue = number | string | boolean | bigint;

export interface DecodeOptions {
  output?: OutputShape;
  int64?: Int64Mode;
  addressing?: Addressing;
}

export interface DecodeResult {
  values: Record<string, DecodedValue> | DecodedValue[];
  /** names of the float fields that decoded to NaN or an infinity (passed on unchanged) */
  invalid: string[];
}

/**
 * registers -> values. `firstAddress`: register number of registers[0] (absolute addressing only).
 * `invalid`: if given, receives the names of float fields that decoded to NaN or an infinity.
 */
export type RegisterDecoder = (registers: ArrayLike<unknown>, firstAddress?: number, invalid?: string[]) => Record<string, DecodedValue> | DecodedValue[];

type RawReader = (regs: ArrayLike<number>, at: number) => DecodedValue;

/** Puts `n` registers into the scratch bytes in big-endian (ABCD) order. */
function load(regs: ArrayLike<number>, at: number, n: number, reverse: boolean, swap: boolean): void {
  for (let k = 0; k < n; k++) {
    const w = regs[reverse ? at + n - 1 - k : at + k]!;
    scratch.setUint16(2 * k, swap ? swapBytes(w) : w);
  }
}

function int64Out(signed: boolean, mode: Int64Mode): DecodedValue {
  const hi = signed ? scratch.getInt32(0) : scratch.getUint32(0);
  const lo = scratch.getUint32(4);
  const approx = hi * TWO_32 + lo; // exact whenever the true value is a safe integer
  if (mode === 'number') return Number.isSafeInteger(approx) ? approx : Number(signed ? scratch.getBigInt64(0) : scratch.getBigUint64(0));
  if (mode === 'auto' && Number.isSafeInteger(approx)) return approx;
  const big = signed ? scratch.getBigInt64(0) : scratch.getBigUint64(0);
  return mode === 'bigint' ? big : big.toString();
}

function rawReader(field: RegisterField, int64: Int64Mode): RawReader {
  const { reverse, swap } = orderFlags(field.order);
  switch (field.type) {
    case 'uint16':
      return swap ? (r, at) => swapBytes(r[at]!) : (r, at) => r[at]!;
    case 'int16':
      return swap ? (r, at) => (swapBytes(r[at]!) << 16) >> 16 : (r, at) => (r[at]! << 16) >> 16;
    case 'uint32':
    case 'int32': {
      const signed = field.type === 'int32';
      const hiAt = reverse ? 1 : 0;
      const loAt = reverse ? 0 : 1;
      if (swap) {
        return signed ? (r, at) => (swapBytes(r[at + hiAt]!) << 16) | swapBytes(r[at + loAt]!) : (r, at) => swapBytes(r[at + hiAt]!) * 65536 + swapBytes(r[at + loAt]!);
      }
      return signed ? (r, at) => (r[at + hiAt]! << 16) | r[at + loAt]! : (r, at) => r[at + hiAt]! * 65536 + r[at + loAt]!;
    }
    case 'float32':
      return (r, at) => {
        load(r, at, 2, reverse, swap);
        return scratch.getFloat32(0);
      };
    case 'float64':
      return (r, at) => {
        load(r, at, 4, reverse, swap);
        return scratch.getFloat64(0);
      };
    case 'int64':
    case 'uint64': {
      const signed = field.type === 'int64';
      return (r, at) => {
        load(r, at, 4, reverse, swap);
        return int64Out(signed, int64);
      };
    }
    case 'string': {
      const n = field.length;
      // ABCD/CDAB: first character in the high byte; BADC/DCBA: in the low byte
      return (r, at) => {
        let s = '';
        for (let k = 0; k < n; k++) {
          const w = r[at + k]!;
          s += swap ? String.fromCharCode(w & 0xff, w >>> 8) : String.fromCharCode(w >>> 8, w & 0xff);
        }
        let end = s.length;
        while (end > 0 && s.charCodeAt(end - 1) === 0) end--;
        return end === s.length ? s : s.slice(0, end);
      };
    }
    case 'bit': {
      const mask = 1 << field.bit;
      return (r, at) => (r[at]! & mask) !== 0;
    }
  }
}

function roundTo(value: number, decimals: number): number {
  if (!Number.isFinite(value)) return value;
  return Number(value.toFixed(decimals));
}

/** A reader that applies scale, offset and decimals after the raw read. */
function fieldReader(field: RegisterField, int64: Int64Mode): RawReader {
  const raw = rawReader(field, int64);
  const { scale, offset, decimals } = field;
  const scaled = scale !== 1 || offset !== 0;
  if (!scaled && decimals === undefined) return raw;
  if (decimals === undefined) return (r, at) => Number(raw(r, at)) * scale + offset;
  if (!scaled) return (r, at) => roundTo(Number(raw(r, at)), decimals);
  return (r, at) => roundTo(Number(raw(r, at)) * scale + offset, decimals);
}

function tooFew(field: RegisterField, needed: number, got: number): EdgeMlError {
  return new EdgeMlError('EDGEML_MODBUS_TOO_FEW_REGISTERS', `Field ${field.name} needs registers up to index ${needed - 1} but the message has ${got}`, { field: field.name, needed, got });
}

/** Compiles the field table into a decoder (validate the table first with normalizeFields). */
export function compileDecoder(fields: readonly RegisterField[], options: DecodeOptions = {}): RegisterDecoder {
  const int64 = options.int64 ?? 'auto';
  const asArray = options.output === 'array';
  const absolute = options.addressing === 'absolute';
  const count = fields.length;
  const readers = fields.map((f) => fieldReader(f, int64));
  const names = fields.map((f) => f.name);
  const starts = fields.map((f) => f.register);
  const ends = fields.map((f) => f.register + registerCount(f.type, f.length));
  const isFloat = fields.map((f) => f.type === 'float32' || f.type === 'float64' || f.scale !== 1 || f.offset !== 0);
  let lastEnd = 0;
  let lastField = 0;
  let firstStart = Infinity;
  let firstField = 0;
  for (let i = 0; i < count; i++) {
    if (ends[i]! > lastEnd) [lastEnd, lastField] = [ends[i]!, i];
    if (starts[i]! < firstStart) [firstStart, firstField] = [starts[i]!, i];
  }

  /** Validates the registers and returns the register number of index 0 (0 when relative). */
  const prelude = (registers: ArrayLike<unknown>, firstAddress: number | undefined): number => {
    checkRegisters(registers);
    let base = 0;
    if (absolute) {
      if (typeof firstAddress !== 'number' || !Number.isInteger(firstAddress) || firstAddress < 0) {
        throw new EdgeMlError('EDGEML_MODBUS_NO_ADDRESS', 'Absolute addressing needs msg.modbusRequest.address or msg.modbus.address', {});
      }
      base = firstAddress;
      if (firstStart < base) {
        const f = fields[firstField]!;
        throw new EdgeMlError('EDGEML_MODBUS_FIELD_BEFORE_START', `Field ${f.name} (register ${f.register}) lies before the first register ${base}`, {
          field: f.name,
          register: f.register,
          address: base,
        });
      }
    }
    if (lastEnd - base > registers.length) throw tooFew(fields[lastField]!, lastEnd - base, registers.length);
    return base;
  };

  const anyFloat = isFloat.some(Boolean);
  return (registers, firstAddress, invalid) => {
    const base = prelude(registers, firstAddress);
    const regs = registers as ArrayLike<number>;
    const flag = anyFloat && invalid !== undefined;
    if (asArray) {
      const values = new Array<DecodedValue>(count);
      for (let i = 0; i < count; i++) {
        const v = readers[i]!(regs, starts[i]! - base);
        values[i] = v;
        if (flag && isFloat[i] && !Number.isFinite(v as number)) invalid.push(names[i]!);
      }
      return values;
    }
    const values: Record<string, DecodedValue> = {};
    for (let i = 0; i < count; i++) {
      const v = readers[i]!(regs, starts[i]! - base);
      values[names[i]!] = v;
      if (flag && isFloat[i] && !Number.isFinite(v as number)) invalid.push(names[i]!);
    }
    return values;
  };
}

/** One-off decode (compiles the table each call; nodes keep a compiled decoder instead). */
export function decodeRegisters(registers: ArrayLike<unknown>, fields: readonly RegisterField[], options: DecodeOptions = {}, firstAddress?: number): DecodeResult {
  const invalid: string[] = [];
  const values = compileDecoder(fields, options)(registers, firstAddress, invalid);
  return { values, invalid };
}
