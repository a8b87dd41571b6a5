/** Registers in messages: finding them in the shapes Modbus nodes deliver, and checking them. */
import { EdgeMlError } from '../errors';

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
  throw new EdgeMlError('EDGEML_MODBUS_PAYLOAD_TYPE', `msg.payload must be an array of registers or a Buffer, got ${kind}`, { type: kind });
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
