/**
 * Modbus TCP request handling: the MBAP stream framer and the PDU processor for function codes
 * 1, 2, 3, 4, 5, 6, 15, 16. Limits follow the Modbus Application Protocol Specification V1.1b3
 * (quantities, byte counts, exception codes). Pure: bytes in, bytes and write events out.
 */
import type { ModbusMemory } from './memory';

export const EXCEPTION = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
} as const;

/** MBAP header (7 bytes incl. unit id) + PDU of at most 253 bytes. */
export const MBAP_HEADER_LENGTH = 7;
export const MAX_PDU_LENGTH = 253;
export const MAX_ADU_LENGTH = MBAP_HEADER_LENGTH + MAX_PDU_LENGTH;

export const LIMITS = {
  readBits: 2000,
  readRegisters: 125,
  writeBits: 1968,
  writeRegisters: 123,
} as const;

export type WriteFunctionCode = 5 | 6 | 15 | 16;

/** A write a master made, already applied to memory. */
export interface AppliedWrite {
  fc: WriteFunctionCode;
  area: 'holding' | 'coils';
  address: number;
  quantity: number;
  /** Registers as 16-bit numbers, coils as booleans, in address order. */
  values: number[] | boolean[];
}

export interface PduResult {
  /** The response PDU (function code + data, or exception). */
  response: Uint8Array;
  write?: AppliedWrite;
  exception?: number;
}

function exception(fc: number, code: number): PduResult {
  return { response: Uint8Array.of((fc | 0x80) & 0xff, code), exception: code };
}

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

function packBits(bits: Uint8Array, address: number, quantity: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(quantity / 8));
  for (let i = 0; i < quantity; i++) if (bits[address + i]) bytes[i >> 3]! |= 1 << (i & 7);
  return bytes;
}

/**
 * Processes one request PDU against memory. Validation order as in the specification's state
 * diagrams: function code (01), quantity / byte count (03), address range (02), then execution.
 */
export function processPdu(pdu: Uint8Array, memory: ModbusMemory): PduResult {
  if (pdu.length < 1) return exception(0, EXCEPTION.ILLEGAL_FUNCTION);
  const fc = pdu[0]!;
  switch (fc) {
    case 1:
    case 2: {
      if (pdu.length !== 5) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const address = u16(pdu, 1);
      const quantity = u16(pdu, 3);
      if (quantity < 1 || quantity > LIMITS.readBits) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const area = fc === 1 ? 'coils' : 'discrete';
      if (!memory.covers(area, address, quantity)) return exception(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
      const data = packBits(memory[area], address, quantity);
      const response = new Uint8Array(2 + data.length);
      response[0] = fc;
      response[1] = data.length;
      response.set(data, 2);
      return { response };
    }
    case 3:
    case 4: {
      if (pdu.length !== 5) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const address = u16(pdu, 1);
      const quantity = u16(pdu, 3);
      if (quantity < 1 || quantity > LIMITS.readRegisters) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const area = fc === 3 ? 'holding' : 'input';
      if (!memory.covers(area, address, quantity)) return exception(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
      const response = new Uint8Array(2 + quantity * 2);
      response[0] = fc;
      response[1] = quantity * 2;
      const words = memory[area];
      for (let i = 0; i < quantity; i++) {
        const w = words[address + i]!;
        response[2 + 2 * i] = w >> 8;
        response[3 + 2 * i] = w & 0xff;
      }
      return { response };
    }
    case 5: {
      if (pdu.length !== 5) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const address = u16(pdu, 1);
      const value = u16(pdu, 3);
      if (value !== 0x0000 && value !== 0xff00) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      if (!memory.covers('coils', address, 1)) return exception(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
      memory.coils[address] = value === 0xff00 ? 1 : 0;
      return { response: pdu.slice(), write: { fc: 5, area: 'coils', address, quantity: 1, values: [value === 0xff00] } };
    }
    case 6: {
      if (pdu.length !== 5) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const address = u16(pdu, 1);
      const value = u16(pdu, 3);
      if (!memory.covers('holding', address, 1)) return exception(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
      memory.holding[address] = value;
      return { response: pdu.slice(), write: { fc: 6, area: 'holding', address, quantity: 1, values: [value] } };
    }
    case 15: {
      if (pdu.length < 6) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const address = u16(pdu, 1);
      const quantity = u16(pdu, 3);
      const byteCount = pdu[5]!;
      if (quantity < 1 || quantity > LIMITS.writeBits || byteCount !== Math.ceil(quantity / 8) || pdu.length !== 6 + byteCount) {
        return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      }
      if (!memory.covers('coils', address, quantity)) return exception(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
      const values: boolean[] = new Array<boolean>(quantity);
      for (let i = 0; i < quantity; i++) {
        const bit = (pdu[6 + (i >> 3)]! >> (i & 7)) & 1;
        values[i] = bit === 1;
        memory.coils[address + i] = bit;
      }
      return { response: pdu.slice(0, 5), write: { fc: 15, area: 'coils', address, quantity, values } };
    }
    case 16: {
      if (pdu.length < 6) return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      const address = u16(pdu, 1);
      const quantity = u16(pdu, 3);
      const byteCount = pdu[5]!;
      if (quantity < 1 || quantity > LIMITS.writeRegisters || byteCount !== quantity * 2 || pdu.length !== 6 + byteCount) {
        return exception(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
      }
      if (!memory.covers('holding', address, quantity)) return exception(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
      const values: number[] = new Array<number>(quantity);
      for (let i = 0; i < quantity; i++) values[i] = u16(pdu, 6 + 2 * i);
      // the whole block lands in one synchronous step: no read can see half of it
      memory.holding.set(values, address);
      return { response: pdu.slice(0, 5), write: { fc: 16, area: 'holding', address, quantity, values } };
    }
    default:
      return exception(fc, EXCEPTION.ILLEGAL_FUNCTION);
  }
}

export interface MbapFrame {
  transactionId: number;
  unitId: number;
  pdu: Uint8Array;
}

export type FramerResult = { frames: MbapFrame[]; error?: 'protocol' | 'length' };

/**
 * Splits a TCP byte stream into Modbus TCP frames. The buffer never holds more than one maximal
 * frame, so a slow or hostile sender cannot make it grow. A frame whose header cannot be trusted
 * (protocol id not 0, length outside 2..254) ends the stream: after it there is no way to resync.
 */
export class MbapFramer {
  private pending = new Uint8Array(0);
  private failed = false;

  push(chunk: Uint8Array): FramerResult {
    const frames: MbapFrame[] = [];
    if (this.failed) return { frames, error: 'length' };
    let data = chunk;
    if (this.pending.length > 0) {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending, 0);
      data.set(chunk, this.pending.length);
    }
    let at = 0;
    while (data.length - at >= 6) {
      const protocolId = u16(data, at + 2);
      const length = u16(data, at + 4);
      if (protocolId !== 0) return this.fail(frames, 'protocol');
      if (length < 2 || length > MAX_PDU_LENGTH + 1) return this.fail(frames, 'length');
      if (data.length - at < 6 + length) break;
      frames.push({ transactionId: u16(data, at), unitId: data[at + 6]!, pdu: data.slice(at + 7, at + 6 + length) });
      at += 6 + length;
    }
    this.pending = at === data.length ? new Uint8Array(0) : data.slice(at);
    return { frames };
  }

  /** Bytes of a request that has started but is not complete yet. */
  get hasPartial(): boolean {
    return this.pending.length > 0;
  }

  private fail(frames: MbapFrame[], error: 'protocol' | 'length'): FramerResult {
    this.failed = true;
    this.pending = new Uint8Array(0);
    return { frames, error };
  }
}

/** Write function codes (5, 6, 15, 16): what a broadcast (unit 0) may carry. */
export function isWriteRequest(pdu: Uint8Array): boolean {
  const fc = pdu[0];
  return fc === 5 || fc === 6 || fc === 15 || fc === 16;
}

/** MBAP header + PDU for a response. */
export function encodeAdu(transactionId: number, unitId: number, pdu: Uint8Array): Uint8Array {
  const adu = new Uint8Array(7 + pdu.length);
  adu[0] = transactionId >> 8;
  adu[1] = transactionId & 0xff;
  adu[4] = (pdu.length + 1) >> 8;
  adu[5] = (pdu.length + 1) & 0xff;
  adu[6] = unitId;
  adu.set(pdu, 7);
  return adu;
}
