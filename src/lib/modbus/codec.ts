/**
 * Register codec: 16-bit Modbus registers <-> named, typed, scaled values, over a field table.
 * The field table is compiled once (per node) into one reader/writer per field, so a message only
 * pays for the loads it needs. No Node-RED and no Node.js APIs here (the editor bundles it too).
 */
import { EdgeMlError } from '../errors';
import { type ByteOrder, type FieldType, type RegisterField, registerCount } from './fields';

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
export type RegisterDecoder = (
  registers: ArrayLike<unknown>,
  firstAddress?: number,
  invalid?: string[],
) => Record<string, DecodedValue> | DecodedValue[];

const TWO_32 = 4294967296;
const FLOAT32_MAX = 3.4028234663852886e38;
// BigInt() calls, not literals: the editor bundle targets ES2018.
const INT64_MIN = BigInt('-9223372036854775808');
const INT64_MAX = BigInt('9223372036854775807');
const UINT64_MAX = BigInt('18446744073709551615');
const BIG_ZERO = BigInt(0);

const INT_RANGE: Partial<Record<FieldType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

function orderFlags(order: ByteOrder): { reverse: boolean; swap: boolean } {
  return { reverse: order === 'CDAB' || order === 'DCBA', swap: order === 'BADC' || order === 'DCBA' };
}

const swapBytes = (w: number): number => ((w & 0xff) << 8) | (w >>> 8);

// ---------------------------------------------------------------------------------------------
// registers in messages

/** Register values of the shapes the Modbus nodes deliver; throws a coded error for anything else. */
export function registersFromBytes(bytes: Uint8Array): number[] {
  if (bytes.length % 2 !== 0) {
    throw new EdgeMlError('EDGEML_MODBUS_BUFFER_ODD', `A register buffer needs an even number of bytes, got ${bytes.length}`, {
      bytes: bytes.length,
    });
  }
  const out = new Array<number>(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (bytes[2 * i]! << 8) | bytes[2 * i + 1]!;
  return out;
}

export interface RegisterSource {
  payload?: unknown;
  responseBuffer?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Finds the registers in a message: msg.payload as an array of registers (node-red-contrib-modbus,
 * modbus-serial), a Buffer, a modbus-serial result ({ data, buffer }), a JSON-serialised Buffer,
 * or node-red-contrib-modbus's msg.responseBuffer.buffer.
 */
export function registersOf(msg: RegisterSource): ArrayLike<unknown> {
  const p = msg.payload;
  if (Array.isArray(p)) return p;
  if (p instanceof Uint8Array) return registersFromBytes(p);
  if (p instanceof Uint16Array) return p;
  if (isRecord(p)) {
    if (p.type === 'Buffer' && Array.isArray(p.data)) return registersFromBytes(Uint8Array.from(p.data as number[]));
    if (Array.isArray(p.data)) return p.data;
    if (p.buffer instanceof Uint8Array) return registersFromBytes(p.buffer);
  }
  const rb = msg.responseBuffer;
  if (isRecord(rb) && rb.buffer instanceof Uint8Array) return registersFromBytes(rb.buffer);
  const kind = p === null ? 'null' : Array.isArray(p) ? 'array' : typeof p;
  throw new EdgeMlError(
    'EDGEML_MODBUS_PAYLOAD_TYPE',
    `msg.payload must be an array of registers or a Buffer, got ${kind}`,
    { type: kind },
  );
}

/** Throws a coded error for the first element that is not an integer 0..65535. */
export function checkRegisters(registers: ArrayLike<unknown>): void {
  for (let i = 0; i < registers.length; i++) {
    const r = registers[i];
    // one test for the common case: an integer 0..65535 survives & 0xffff unchanged
    if (typeof r === 'number' && (r & 0xffff) === r) continue;
    if (typeof r !== 'number' || !Number.isInteger(r)) {
      throw new EdgeMlError('EDGEML_MODBUS_REGISTER_NOT_INTEGER', `Register ${i} is not an integer: ${String(r)}`, {
        index: i,
        value: String(r),
      });
    }
    throw new EdgeMlError('EDGEML_MODBUS_REGISTER_RANGE', `Register ${i} is out of 0..65535: ${r}`, { index: i, value: r });
  }
}

// ---------------------------------------------------------------------------------------------
// decoding

type RawReader = (regs: ArrayLike<number>, at: number) => DecodedValue;

const scratch = new DataView(new ArrayBuffer(8));

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
        return signed
          ? (r, at) => (swapBytes(r[at + hiAt]!) << 16) | swapBytes(r[at + loAt]!)
          : (r, at) => swapBytes(r[at + hiAt]!) * 65536 + swapBytes(r[at + loAt]!);
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

/**
 * Source text that reads a field straight from `r` (registers) into scratch DataView `D`, for the
 * generated decoder; undefined where a reader closure is called instead (strings, 64-bit integers).
 * Every number in it comes from a validated field, so the text is safe to compile.
 */
function inlineRead(field: RegisterField, access: 'absolute' | 'relative' | 'locals'): { setup: string[]; value: string } | undefined {
  const { reverse, swap } = orderFlags(field.order);
  const n = registerCount(field.type, field.length);
  // 'locals': the generated decoder holds register k in local xk
  const at = field.register;
  const reg = (k: number): string => (access === 'absolute' ? `r[${at + k} - b]` : access === 'locals' ? `x${at + k}` : `r[${at + k}]`);
  // the k-th register of the big-endian value; DataView's little-endian flag does the byte swap
  const put = (k: number): string => `D.setUint16(${2 * k}, ${reg(reverse ? n - 1 - k : k)}${swap ? ', true' : ''});`;
  const loads = Array.from({ length: n }, (_, k) => put(k));
  let setup: string[] = [];
  let value: string;
  switch (field.type) {
    case 'uint16':
      value = swap ? `((${reg(0)} & 255) << 8 | ${reg(0)} >>> 8)` : reg(0);
      break;
    case 'int16':
      value = swap ? `(((${reg(0)} & 255) << 24) >> 16 | ${reg(0)} >>> 8)` : `(${reg(0)} << 16 >> 16)`;
      break;
    case 'uint32':
      setup = loads;
      value = 'D.getUint32(0)';
      break;
    case 'int32':
      setup = loads;
      value = 'D.getInt32(0)';
      break;
    case 'float32':
      setup = loads;
      value = 'D.getFloat32(0)';
      break;
    case 'float64':
      setup = loads;
      value = 'D.getFloat64(0)';
      break;
    default:
      return undefined;
  }
  if (field.scale !== 1 || field.offset !== 0) value = `(${value} * (${field.scale}) + (${field.offset}))`;
  if (field.decimals !== undefined) value = `RD(${value}, ${field.decimals})`;
  return { setup, value };
}

function tooFew(field: RegisterField, needed: number, got: number): EdgeMlError {
  return new EdgeMlError(
    'EDGEML_MODBUS_TOO_FEW_REGISTERS',
    `Field ${field.name} needs registers up to index ${needed - 1} but the message has ${got}`,
    { field: field.name, needed, got },
  );
}

export interface CompileOptions {
  /** false: closures only (for runtimes that forbid code generation from strings) */
  codegen?: boolean;
}

/** Compiles the field table into a decoder (validate the table first with normalizeFields). */
export function compileDecoder(fields: readonly RegisterField[], options: DecodeOptions & CompileOptions = {}): RegisterDecoder {
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

  if (options.codegen !== false) {
    // One straight-line function per table: a call site per field (each stays monomorphic and
    // inlinable) and an object literal with the field names (one hidden class), which is what a
    // hand-written decoder gets. Names enter only as JSON string literals; numbers are validated.
    const lines = ['return function decodeFields(r, a, inv) {'];
    // a map spanning many registers (long strings, far-apart fields) reads from r instead of locals
    const unrolled = !absolute && lastEnd <= 128;
    if (!unrolled) lines.push('var b = prelude(r, a);');
    else {
      // Relative addressing (the hot path of most flows): the prelude's checks inlined, each register
      // of the map loaded once into a local that the reads below use. x & 65535 is a number and equals
      // x only for an integer 0..65535 (never for strings, null, NaN); BigInt and Symbol throw on &.
      // Any doubt goes to the prelude, which throws the coded error naming the register.
      const locals = Array.from({ length: lastEnd }, (_, k) => k);
      lines.push(
        'var n = r.length;',
        `if (n < ${lastEnd}) prelude(r, a);`,
        ...locals.map((k) => `var x${k} = r[${k}];`),
        'var ok = true;',
        `try { ok = ${locals.map((k) => `(x${k} & 65535) === x${k}`).join(' && ')}; for (var i = ${lastEnd}; ok && i < n; i++) ok = (r[i] & 65535) === r[i]; } catch (e) { ok = false; }`,
        'if (!ok) prelude(r, a);',
        'var b = 0;',
      );
    }
    for (let i = 0; i < count; i++) {
      const inline = inlineRead(fields[i]!, absolute ? 'absolute' : unrolled ? 'locals' : 'relative');
      if (inline === undefined) lines.push(`var v${i} = R${i}(r, ${starts[i]} - b);`);
      else lines.push(...inline.setup, `var v${i} = ${inline.value};`);
    }
    for (let i = 0; i < count; i++) if (isFloat[i]) lines.push(`if (v${i} - v${i} !== 0 && inv) inv.push(${JSON.stringify(names[i])});`);
    const values = asArray
      ? `[${names.map((_, i) => `v${i}`).join(', ')}]`
      : `{ ${names.map((n, i) => `${JSON.stringify(n)}: v${i}`).join(', ')} }`;
    lines.push(`return ${values};`, '};');
    try {
      const factory = new Function('prelude', 'D', 'RD', ...readers.map((_, i) => `R${i}`), lines.join('\n')) as (...args: unknown[]) => RegisterDecoder;
      return factory(prelude, scratch, roundTo, ...readers);
    } catch {
      // code generation disallowed here: the closure decoder below gives the same results
    }
  }

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
export function decodeRegisters(
  registers: ArrayLike<unknown>,
  fields: readonly RegisterField[],
  options: DecodeOptions = {},
  firstAddress?: number,
): DecodeResult {
  const invalid: string[] = [];
  const values = compileDecoder(fields, options)(registers, firstAddress, invalid);
  return { values, invalid };
}

// ---------------------------------------------------------------------------------------------
// encoding

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
  if (typeof value !== 'number' || Number.isNaN(value) && field.type !== 'float32' && field.type !== 'float64') {
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
