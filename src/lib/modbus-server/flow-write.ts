/**
 * Messages from the flow that write the server's memory (so a master can read results back).
 * Accepted shapes, first match wins:
 *   1. msg.payload = { value | values, address, area | register | fc, quantity? }  (Flex-Write style,
 *      modbus-encode's "flex-write" output, node-red-contrib-modbus server memory messages)
 *   2. msg.payload = register array | single value, with the address from msg.flexWrite.address
 *      (modbus-encode's default output), else msg.address, else the node's default address.
 * Area: holding | input | coils | discrete; fc 5/15 mean coils, 6/16 holding registers.
 * msg.modbus / msg.modbusRequest are deliberately NOT read: on a message that came from this node
 * they describe the master's write, and writing back there would overwrite the master's inputs.
 */
import { EdgeMlError } from '../errors';
import { type MemoryArea, isMemoryArea } from './memory';

export interface FlowWrite {
  area: MemoryArea;
  address: number;
  values: unknown[];
}

export interface FlowWriteDefaults {
  area: MemoryArea;
  /** undefined: a message must name its address. */
  address?: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function areaOfFc(fc: unknown): MemoryArea | undefined {
  if (fc === undefined || fc === null || fc === '') return undefined;
  const n = Number(fc);
  if (n === 5 || n === 15) return 'coils';
  if (n === 6 || n === 16) return 'holding';
  throw new EdgeMlError('EDGEML_MODBUS_SERVER_AREA', `Function code ${String(fc)} is not a write (use 5, 6, 15 or 16)`, { area: `fc ${String(fc)}` });
}

function areaOf(value: unknown): MemoryArea | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const name = String(value).toLowerCase();
  if (isMemoryArea(name)) return name;
  throw new EdgeMlError('EDGEML_MODBUS_SERVER_AREA', `Unknown memory area ${String(value)} (holding, input, coils, discrete)`, { area: String(value) });
}

function addressOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' ? Number(value.trim()) : value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) return n;
  throw new EdgeMlError('EDGEML_MODBUS_SERVER_ADDRESS', `Address must be an integer 0..65535, got ${String(value)}`, { value: String(value) });
}

function valuesOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'number' || typeof value === 'boolean') return [value];
  const kind = value === null ? 'null' : typeof value;
  throw new EdgeMlError('EDGEML_MODBUS_SERVER_PAYLOAD', `Cannot write ${kind}: use a register array, a value, or { address, value }`, { type: kind });
}

export function parseFlowWrite(msg: Record<string, unknown>, defaults: FlowWriteDefaults): FlowWrite {
  const p = msg.payload;
  let values: unknown[];
  let address: number | undefined;
  let area: MemoryArea | undefined;
  let quantity: unknown;
  if (isRecord(p) && ('value' in p || 'values' in p)) {
    values = valuesOf('values' in p ? p.values : p.value);
    address = addressOf(p.address);
    area = areaOf(p.area) ?? areaOf(p.register) ?? areaOfFc(p.fc);
    quantity = p.quantity;
  } else {
    values = valuesOf(p);
    const flexWrite = isRecord(msg.flexWrite) ? msg.flexWrite : undefined;
    address = addressOf(flexWrite?.address) ?? addressOf(msg.address);
    area = areaOf(msg.area) ?? areaOfFc(flexWrite?.fc);
  }
  address ??= defaults.address;
  if (address === undefined) {
    throw new EdgeMlError('EDGEML_MODBUS_SERVER_NO_ADDRESS', "No address: set msg.payload.address, msg.address or the node's write address", {});
  }
  if (quantity !== undefined && quantity !== null && quantity !== '' && Number(quantity) !== values.length) {
    throw new EdgeMlError('EDGEML_MODBUS_SERVER_QUANTITY', `quantity ${String(quantity)} does not match ${values.length} values`, {
      quantity: String(quantity),
      count: values.length,
    });
  }
  return { area: area ?? defaults.area, address, values };
}
