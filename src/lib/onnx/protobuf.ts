/**
 * A small, dependency-free protobuf wire-format reader and writer, enough to read and rewrite ONNX
 * files. Decoding keeps every field's byte range, so a rewrite copies the fields it does not touch
 * byte for byte (unknown fields and future ONNX additions survive).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_GROUP_START = 3;
export const WIRE_GROUP_END = 4;
export const WIRE_FIXED32 = 5;

/** Groups nested deeper than this are refused (ONNX uses none; embedded messages stop at 64 too). */
export const MAX_GROUP_DEPTH = 64;

/** Thrown on bytes that are not a well-formed protobuf message. */
export class ProtoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtoError';
  }
}

/** One field occurrence: where it sits in `bytes` and, for varints, its value. */
export interface ProtoField {
  no: number;
  wireType: number;
  /** The buffer the offsets refer to. */
  bytes: Uint8Array;
  /** Whole field, tag included: bytes.subarray(start, end) re-emits it unchanged. */
  start: number;
  end: number;
  /** Payload: the length-delimited contents, the fixed bytes, or the group body. */
  dataStart: number;
  dataEnd: number;
  /** Varint fields only (as unsigned 64 bit). */
  varint: bigint;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Reads a varint at `pos`; returns value (unsigned 64 bit) and the position after it. */
export function readVarint(bytes: Uint8Array, pos: number, end = bytes.length): { value: bigint; next: number } {
  // Fast path in plain numbers for the first 28 bits (tags and lengths), BigInt only beyond.
  let low = 0;
  let shift = 0;
  let i = pos;
  while (i < end && shift < 28) {
    const b = bytes[i++]!;
    low |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: BigInt(low >>> 0), next: i };
    shift += 7;
  }
  let value = BigInt(low >>> 0);
  let big = 28n;
  while (i < end) {
    const b = bytes[i++]!;
    value |= BigInt(b & 0x7f) << big;
    if ((b & 0x80) === 0) {
      if (i - pos > 10) throw new ProtoError(`varint longer than 10 bytes at offset ${pos}`);
      return { value: BigInt.asUintN(64, value), next: i };
    }
    big += 7n;
    if (i - pos >= 10) throw new ProtoError(`varint longer than 10 bytes at offset ${pos}`);
  }
  throw new ProtoError(`truncated varint at offset ${pos}`);
}

function readSmall(bytes: Uint8Array, pos: number, end: number, what: string): { value: number; next: number } {
  const { value, next } = readVarint(bytes, pos, end);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtoError(`${what} too large at offset ${pos}`);
  return { value: Number(value), next };
}

/**
 * Splits a message into its fields (one entry per occurrence, in file order). Throws ProtoError on
 * anything malformed: truncation, a bad wire type, field number 0, an unmatched group.
 */
export function decodeFields(bytes: Uint8Array, start = 0, end = bytes.length): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = start;
  while (pos < end) {
    const field = readField(bytes, pos, end);
    if (field.wireType === WIRE_GROUP_END) throw new ProtoError(`unexpected end-group at offset ${pos}`);
    fields.push(field);
    pos = field.end;
  }
  return fields;
}

/** One field at `pos`; with `flat`, a group start is only its tag (the caller tracks the nesting). */
function readField(bytes: Uint8Array, pos: number, end: number, flat = false): ProtoField {
  const tag = readSmall(bytes, pos, end, 'tag');
  const no = Math.floor(tag.value / 8);
  const wireType = tag.value & 7;
  if (no === 0 || no > 536870911) throw new ProtoError(`invalid field number ${no} at offset ${pos}`);
  let p = tag.next;
  const field: ProtoField = { no, wireType, bytes, start: pos, end: p, dataStart: p, dataEnd: p, varint: 0n };
  switch (wireType) {
    case WIRE_VARINT: {
      const v = readVarint(bytes, p, end);
      field.varint = v.value;
      field.dataEnd = field.end = v.next;
      return field;
    }
    case WIRE_FIXED64:
    case WIRE_FIXED32: {
      const size = wireType === WIRE_FIXED64 ? 8 : 4;
      if (p + size > end) throw new ProtoError(`truncated fixed${size * 8} field ${no} at offset ${pos}`);
      field.dataEnd = field.end = p + size;
      return field;
    }
    case WIRE_LEN: {
      const len = readSmall(bytes, p, end, 'length');
      p = len.next;
      if (p + len.value > end) throw new ProtoError(`field ${no} at offset ${pos} runs past the end of its message`);
      field.dataStart = p;
      field.dataEnd = field.end = p + len.value;
      return field;
    }
    case WIRE_GROUP_START: {
      // Deprecated groups: skip to the matching end-group so the field can still be copied whole.
      // A loop with a stack of the open groups, not a recursion: 200,000 nested groups in a hostile
      // file must end in a ProtoError (or be skipped), never in a stack overflow.
      if (flat) return field;
      const open = [no];
      while (true) {
        if (p >= end) throw new ProtoError(`unterminated group ${no} at offset ${pos}`);
        const inner = readField(bytes, p, end, true);
        if (inner.wireType === WIRE_GROUP_START) {
          if (open.length >= MAX_GROUP_DEPTH) throw new ProtoError(`groups nested deeper than ${MAX_GROUP_DEPTH} at offset ${p}`);
          open.push(inner.no);
        } else if (inner.wireType === WIRE_GROUP_END) {
          const closes = open.pop()!;
          if (inner.no !== closes) throw new ProtoError(`group ${closes} closed by ${inner.no} at offset ${p}`);
          if (open.length === 0) {
            field.dataEnd = p;
            field.end = inner.end;
            return field;
          }
        }
        p = inner.end;
      }
    }
    case WIRE_GROUP_END:
      return field;
    default:
      throw new ProtoError(`invalid wire type ${wireType} for field ${no} at offset ${pos}`);
  }
}

/** The payload of a field (length-delimited contents, fixed bytes). A view, not a copy. */
export function fieldData(f: ProtoField): Uint8Array {
  return f.bytes.subarray(f.dataStart, f.dataEnd);
}

/** The whole field, tag included (for copying it unchanged). */
export function fieldRaw(f: ProtoField): Uint8Array {
  return f.bytes.subarray(f.start, f.end);
}

/** The fields of an embedded message field. */
export function fieldMessage(f: ProtoField): ProtoField[] {
  return decodeFields(f.bytes, f.dataStart, f.dataEnd);
}

/** A string field, checked to be valid UTF-8. */
export function fieldString(f: ProtoField): string {
  try {
    return utf8.decode(fieldData(f));
  } catch {
    throw new ProtoError(`field ${f.no} at offset ${f.start} is not valid UTF-8`);
  }
}

/** A signed 64-bit varint (int64/int32 semantics) as bigint. */
export function fieldInt64(f: ProtoField): bigint {
  return BigInt.asIntN(64, f.varint);
}

export function fieldFloat(f: ProtoField): number {
  return new DataView(f.bytes.buffer, f.bytes.byteOffset + f.dataStart, 4).getFloat32(0, true);
}

export function fieldDouble(f: ProtoField): number {
  return new DataView(f.bytes.buffer, f.bytes.byteOffset + f.dataStart, 8).getFloat64(0, true);
}

/** Repeated int64 values of a field number: packed (LEN) and unpacked (varint) occurrences alike. */
export function repeatedInt64(fields: ProtoField[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wireType === WIRE_VARINT) out.push(fieldInt64(f));
    else if (f.wireType === WIRE_LEN) {
      let p = f.dataStart;
      while (p < f.dataEnd) {
        const v = readVarint(f.bytes, p, f.dataEnd);
        out.push(BigInt.asIntN(64, v.value));
        p = v.next;
      }
    } else throw new ProtoError(`field ${no} has wire type ${f.wireType}, expected varint`);
  }
  return out;
}

/** Repeated float values of a field number: packed and unpacked occurrences alike. */
export function repeatedFloat(fields: ProtoField[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wireType === WIRE_FIXED32) out.push(fieldFloat(f));
    else if (f.wireType === WIRE_LEN) {
      if ((f.dataEnd - f.dataStart) % 4 !== 0) throw new ProtoError(`packed floats of field ${no} not a multiple of 4 bytes`);
      const view = new DataView(f.bytes.buffer, f.bytes.byteOffset + f.dataStart, f.dataEnd - f.dataStart);
      for (let i = 0; i < view.byteLength; i += 4) out.push(view.getFloat32(i, true));
    } else throw new ProtoError(`field ${no} has wire type ${f.wireType}, expected fixed32`);
  }
  return out;
}

/**
 * Builds a protobuf message; fields are written in call order. Output is kept as a list of chunks
 * (large payloads and embedded messages by reference) and joined once in finish(), so a model
 * with large initializers is copied once, not once per nesting level.
 */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(512);
  private pos = 0;
  private total = 0;

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = this.cur.subarray(this.pos);
    this.pos = 0;
  }

  private room(extra: number): void {
    if (this.pos + extra <= this.cur.length) return;
    this.flush();
    if (this.cur.length < extra) this.cur = new Uint8Array(Math.max(4096, extra));
    else if (this.cur.length < 16) this.cur = new Uint8Array(4096);
  }

  private rawVarint(value: number | bigint): void {
    // Negative numbers are written as 64-bit two's complement (10 bytes), as protobuf requires.
    let v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : value;
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new RangeError(`varint value ${v} is not an integer`);
      if (v < 0 || v > Number.MAX_SAFE_INTEGER) v = BigInt.asUintN(64, BigInt(v));
    }
    this.room(10);
    const start = this.pos;
    if (typeof v === 'number') {
      while (v > 0x7f) {
        this.cur[this.pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      this.cur[this.pos++] = v;
    } else {
      while (v > 0x7fn) {
        this.cur[this.pos++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.cur[this.pos++] = Number(v);
    }
    this.total += this.pos - start;
  }

  private tag(no: number, wireType: number): void {
    this.rawVarint(no * 8 + wireType);
  }

  private fixed(size: number, set: (view: DataView) => void): void {
    this.room(size);
    set(new DataView(this.cur.buffer, this.cur.byteOffset + this.pos, size));
    this.pos += size;
    this.total += size;
  }

  /** int32 / int64 / uint64 / enum / bool. */
  varint(no: number, value: number | bigint | boolean): this {
    this.tag(no, WIRE_VARINT);
    this.rawVarint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    return this;
  }

  float(no: number, value: number): this {
    this.tag(no, WIRE_FIXED32);
    this.fixed(4, (d) => d.setFloat32(0, value, true));
    return this;
  }

  double(no: number, value: number): this {
    this.tag(no, WIRE_FIXED64);
    this.fixed(8, (d) => d.setFloat64(0, value, true));
    return this;
  }

  fixed32(no: number, value: number): this {
    this.tag(no, WIRE_FIXED32);
    this.fixed(4, (d) => d.setUint32(0, value >>> 0, true));
    return this;
  }

  fixed64(no: number, value: bigint): this {
    this.tag(no, WIRE_FIXED64);
    this.fixed(8, (d) => d.setBigUint64(0, BigInt.asUintN(64, value), true));
    return this;
  }

  /** A length-delimited field. Large payloads are kept by reference until finish(): do not change them. */
  bytes(no: number, data: Uint8Array): this {
    this.tag(no, WIRE_LEN);
    this.rawVarint(data.length);
    return this.raw(data);
  }

  string(no: number, value: string): this {
    return this.bytes(no, utf8Encoder.encode(value));
  }

  /** An embedded message, built by `build` on a fresh writer (its chunks are taken over, not copied). */
  message(no: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    inner.flush();
    this.tag(no, WIRE_LEN);
    this.rawVarint(inner.total);
    this.flush();
    for (const c of inner.chunks) this.chunks.push(c);
    this.total += inner.total;
    return this;
  }

  packedVarints(no: number, values: ReadonlyArray<number | bigint>): this {
    return this.message(no, (inner) => {
      for (const v of values) inner.rawVarint(v);
    });
  }

  packedFloats(no: number, values: ArrayLike<number>): this {
    const data = new Uint8Array(values.length * 4);
    const view = new DataView(data.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
    return this.bytes(no, data);
  }

  /** Bytes that are already encoded fields (e.g. fieldRaw of a decoded field). Kept by reference when large. */
  raw(data: Uint8Array): this {
    if (data.length > 256) {
      this.flush();
      this.chunks.push(data);
    } else {
      this.room(data.length);
      this.cur.set(data, this.pos);
      this.pos += data.length;
    }
    this.total += data.length;
    return this;
  }

  get length(): number {
    return this.total;
  }

  /** The message as one new buffer. */
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
