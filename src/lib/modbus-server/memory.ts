/**
 * The four Modbus data areas of one server, each with its own size. Registers are 16-bit words,
 * coils and discrete inputs single bits (kept as 0/1 bytes so a write is a plain copy).
 */
import { EdgeMlError } from '../errors';

export type MemoryArea = 'holding' | 'input' | 'coils' | 'discrete';
export const MEMORY_AREAS: readonly MemoryArea[] = ['holding', 'input', 'coils', 'discrete'];
export const MAX_AREA_SIZE = 65536;

export type AreaSizes = Record<MemoryArea, number>;
export const DEFAULT_SIZES: AreaSizes = { holding: 1024, input: 1024, coils: 1024, discrete: 1024 };

export function isRegisterArea(area: MemoryArea): area is 'holding' | 'input' {
  return area === 'holding' || area === 'input';
}

export function isMemoryArea(value: unknown): value is MemoryArea {
  return typeof value === 'string' && (MEMORY_AREAS as readonly string[]).includes(value);
}

export class ModbusMemory {
  readonly holding: Uint16Array;
  readonly input: Uint16Array;
  readonly coils: Uint8Array;
  readonly discrete: Uint8Array;

  constructor(sizes: Partial<AreaSizes> = {}) {
    const size = (area: MemoryArea): number => {
      const n = sizes[area] ?? DEFAULT_SIZES[area];
      if (!Number.isInteger(n) || n < 0 || n > MAX_AREA_SIZE) {
        throw new EdgeMlError('EDGEML_MODBUS_SERVER_CONFIG', `${area} size must be an integer 0..${MAX_AREA_SIZE}, got ${n}`, {
          reason: `${area} size must be an integer 0..${MAX_AREA_SIZE}, got ${n}`,
        });
      }
      return n;
    };
    this.holding = new Uint16Array(size('holding'));
    this.input = new Uint16Array(size('input'));
    this.coils = new Uint8Array(size('coils'));
    this.discrete = new Uint8Array(size('discrete'));
  }

  size(area: MemoryArea): number {
    return this[area].length;
  }

  /** True when [address, address + quantity) lies inside the area. */
  covers(area: MemoryArea, address: number, quantity: number): boolean {
    return address >= 0 && quantity >= 0 && address + quantity <= this[area].length;
  }

  readRegisters(area: 'holding' | 'input', address: number, quantity: number): number[] {
    return Array.from(this[area].subarray(address, address + quantity));
  }

  readBits(area: 'coils' | 'discrete', address: number, quantity: number): boolean[] {
    return Array.from(this[area].subarray(address, address + quantity), (b) => b === 1);
  }

  /**
   * Writes values from a flow (registers as 0..65535, bits as booleans or 0/1). Checks all values
   * and the range before touching memory, so a bad message changes nothing.
   */
  writeFromFlow(area: MemoryArea, address: number, values: readonly unknown[]): number[] | boolean[] {
    if (!Number.isInteger(address) || address < 0 || !this.covers(area, address, values.length) || values.length === 0) {
      throw new EdgeMlError('EDGEML_MODBUS_SERVER_RANGE', `${area} ${address}..${address + values.length - 1} is outside the memory (size ${this.size(area)})`, {
        area,
        from: String(address),
        to: String(address + values.length - 1),
        size: this.size(area),
      });
    }
    if (isRegisterArea(area)) {
      const words = values.map((v, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) {
          throw new EdgeMlError('EDGEML_MODBUS_SERVER_VALUE', `Value ${i} must be an integer 0..65535, got ${String(v)}`, {
            index: i,
            value: String(v),
            expected: '0..65535',
          });
        }
        return v;
      });
      this[area].set(words, address);
      return words;
    }
    const bits = values.map((v, i) => {
      if (v === true || v === 1) return true;
      if (v === false || v === 0) return false;
      throw new EdgeMlError('EDGEML_MODBUS_SERVER_VALUE', `Value ${i} must be a boolean (or 0/1), got ${String(v)}`, {
        index: i,
        value: String(v),
        expected: 'true/false',
      });
    });
    this[area].set(
      bits.map((b) => (b ? 1 : 0)),
      address,
    );
    return bits;
  }
}
