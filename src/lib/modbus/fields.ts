/**
 * The register map: the `fields` table shared by modbus-decode and modbus-encode (a public contract:
 * users' exported flows carry it), its validation, and CSV import.
 */
import { EdgeMlError } from '../errors';

export const FIELD_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string', 'bit'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** Byte order of a value across its registers: letters name the big-endian bytes A (high) .. D. */
export const BYTE_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** One row of the table as stored in the node config (optional properties may be missing or ''). */
export interface RegisterFieldConfig {
  name: string;
  register: number | string;
  type: FieldType | string;
  order?: ByteOrder | string;
  scale?: number | string;
  offset?: number | string;
  unit?: string;
  decimals?: number | string;
  length?: number | string;
  bit?: number | string;
}

/** A validated field with every default filled in. */
export interface RegisterField {
  name: string;
  /** first register: relative index, or absolute register number with absolute addressing */
  register: number;
  type: FieldType;
  order: ByteOrder;
  scale: number;
  offset: number;
  unit: string;
  /** round the scaled value to this many decimals; undefined: no rounding */
  decimals: number | undefined;
  /** registers of a string */
  length: number;
  /** 0..15, 0 the least significant */
  bit: number;
}

/** Registers a field of this type occupies (strings: their `length`). */
export function registerCount(type: FieldType, length = 1): number {
  switch (type) {
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length;
    default:
      return 1;
  }
}

export function isFieldType(value: unknown): value is FieldType {
  return typeof value === 'string' && (FIELD_TYPES as readonly string[]).includes(value);
}

export function isByteOrder(value: unknown): value is ByteOrder {
  return typeof value === 'string' && (BYTE_ORDERS as readonly string[]).includes(value);
}

function invalid(index: number, name: string, reason: string): EdgeMlError {
  const field = name || `#${index + 1}`;
  return new EdgeMlError('EDGEML_MODBUS_FIELDS_INVALID', `Field ${field}: ${reason}`, { field, reason });
}

/** '' / undefined / null -> undefined; numeric strings (editor inputs) -> numbers; anything else NaN. */
function optionalNumber(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return NaN;
}

/** Validates one row; throws EDGEML_MODBUS_FIELDS_INVALID naming the field and the reason. */
export function normalizeField(raw: RegisterFieldConfig, index: number, defaultOrder: ByteOrder = 'ABCD'): RegisterField {
  if (!raw || typeof raw !== 'object') throw invalid(index, '', 'is not an object');
  const name = typeof raw.name === 'string' ? raw.name.trim() : '';
  if (!name) throw invalid(index, '', 'has no name');
  // it would set the prototype of the output object instead of a property
  if (name === '__proto__') throw invalid(index, name, 'this name is reserved');
  if (!isFieldType(raw.type)) throw invalid(index, name, `unknown type "${String(raw.type)}"`);
  const type = raw.type;
  const register = optionalNumber(raw.register);
  if (register === undefined || !Number.isInteger(register) || register < 0 || register > 65535) {
    throw invalid(index, name, 'register must be an integer 0..65535');
  }
  const order = raw.order === undefined || raw.order === '' ? defaultOrder : raw.order;
  if (!isByteOrder(order)) throw invalid(index, name, `unknown byte order "${String(raw.order)}"`);
  const scale = optionalNumber(raw.scale) ?? 1;
  if (!Number.isFinite(scale) || scale === 0) throw invalid(index, name, 'scale must be a finite number other than 0');
  const offset = optionalNumber(raw.offset) ?? 0;
  if (!Number.isFinite(offset)) throw invalid(index, name, 'offset must be a finite number');
  const decimals = optionalNumber(raw.decimals);
  if (decimals !== undefined && (!Number.isInteger(decimals) || decimals < 0 || decimals > 15)) {
    throw invalid(index, name, 'decimals must be an integer 0..15');
  }
  let length = 1;
  if (type === 'string') {
    const l = optionalNumber(raw.length);
    if (l === undefined || !Number.isInteger(l) || l < 1 || l > 125) throw invalid(index, name, 'a string needs a length of 1..125 registers');
    length = l;
  }
  let bit = 0;
  if (type === 'bit') {
    const b = optionalNumber(raw.bit);
    if (b === undefined || !Number.isInteger(b) || b < 0 || b > 15) throw invalid(index, name, 'a bit field needs bit 0..15');
    bit = b;
  }
  if ((type === 'string' || type === 'bit') && (scale !== 1 || offset !== 0)) {
    throw invalid(index, name, `a ${type} field cannot be scaled`);
  }
  if (register + registerCount(type, length) > 65536) throw invalid(index, name, 'the field runs past register 65535');
  const unit = typeof raw.unit === 'string' ? raw.unit : '';
  return { name, register, type, order, scale, offset, unit, decimals, length, bit };
}

/** Validates the whole table: every row, at least one row, unique names. */
export function normalizeFields(raw: unknown, defaultOrder: unknown = 'ABCD'): RegisterField[] {
  const order = defaultOrder === undefined || defaultOrder === '' ? 'ABCD' : defaultOrder;
  if (!isByteOrder(order)) {
    throw new EdgeMlError('EDGEML_MODBUS_FIELDS_INVALID', `Unknown byte order "${String(defaultOrder)}"`, {
      field: '-',
      reason: `unknown byte order "${String(defaultOrder)}"`,
    });
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new EdgeMlError('EDGEML_MODBUS_FIELDS_INVALID', 'The field table is empty', { field: '-', reason: 'the table has no fields' });
  }
  const seen = new Set<string>();
  return raw.map((row: RegisterFieldConfig, i) => {
    const field = normalizeField(row, i, order);
    if (seen.has(field.name)) throw invalid(i, field.name, 'the name is used twice');
    seen.add(field.name);
    return field;
  });
}

/** Splits one CSV line (commas or semicolons, double quotes with "" escapes). */
function splitCsvLine(line: string, separator: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === separator) {
      cells.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  cells.push(cell.trim());
  return cells;
}

const CSV_COLUMNS = ['name', 'register', 'type', 'order', 'scale', 'offset', 'unit', 'decimals', 'length', 'bit'] as const;

/**
 * Parses a pasted register map: columns name, register, type, order, scale, offset, unit (then
 * optionally decimals, length, bit). A header row naming the columns may reorder them; empty
 * lines and lines starting with # are skipped. Every row is validated; errors name the line.
 */
export function parseRegisterMapCsv(text: string, defaultOrder: ByteOrder = 'ABCD'): RegisterField[] {
  const lines = text.split(/\r?\n/);
  const separator = lines.some((l) => l.includes(';')) && !lines.some((l) => l.includes(',')) ? ';' : ',';
  let columns: readonly string[] = CSV_COLUMNS;
  const fields: RegisterField[] = [];
  const seen = new Set<string>();
  lines.forEach((line, lineIndex) => {
    if (!line.trim() || line.trim().startsWith('#')) return;
    const cells = splitCsvLine(line, separator);
    const lower = cells.map((c) => c.toLowerCase());
    if (fields.length === 0 && lower.includes('name') && lower.includes('type')) {
      columns = lower;
      return;
    }
    const row: Record<string, string> = {};
    columns.forEach((col, i) => {
      if (cells[i] !== undefined) row[col] = cells[i]!;
    });
    if (row.type) row.type = row.type.toLowerCase();
    if (row.order) row.order = row.order.toUpperCase();
    try {
      const field = normalizeField(row as unknown as RegisterFieldConfig, fields.length, defaultOrder);
      if (seen.has(field.name)) throw invalid(fields.length, field.name, 'the name is used twice');
      seen.add(field.name);
      fields.push(field);
    } catch (e) {
      const err = e as EdgeMlError;
      const reason = `line ${lineIndex + 1}: ${String(err.params?.reason ?? err.message)}`;
      throw new EdgeMlError('EDGEML_MODBUS_FIELDS_INVALID', reason, { field: String(err.params?.field ?? '-'), reason });
    }
  });
  if (fields.length === 0) {
    throw new EdgeMlError('EDGEML_MODBUS_FIELDS_INVALID', 'The CSV has no fields', { field: '-', reason: 'the CSV has no rows' });
  }
  return fields;
}
