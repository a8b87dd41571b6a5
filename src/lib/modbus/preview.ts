/**
 * What the editor shows beside a field: the registers it occupies and a sample value encoded in the
 * chosen byte order (so a user can match it against the PLC's documentation), or why the row is invalid.
 */
import { EdgeMlError } from '../errors';
import { type ByteOrder, type FieldType, type RegisterFieldConfig, normalizeField, registerCount } from './fields';
import { compileEncoder } from './encode';

export type FieldPreview = { ok: true; from: number; to: number; sample: string; registers: string[]; decimal: number[] } | { ok: false; field: string; reason: string };

// Samples whose bytes are easy to tell apart in every order.
const SAMPLES: Record<FieldType, number | string | boolean> = {
  int16: 0x1234,
  uint16: 0x1234,
  int32: 0x12345678,
  uint32: 0x12345678,
  int64: '81985529216486895', // 0x0123456789ABCDEF
  uint64: '81985529216486895',
  float32: 123.456,
  float64: 123.456,
  string: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  bit: true,
};

const hex = (w: number): string => '0x' + w.toString(16).toUpperCase().padStart(4, '0');

export function previewField(row: RegisterFieldConfig, defaultOrder: ByteOrder = 'ABCD'): FieldPreview {
  try {
    const field = normalizeField(row, 0, defaultOrder);
    const n = registerCount(field.type, field.length);
    let sample = SAMPLES[field.type];
    if (field.type === 'string') sample = (sample as string).repeat(Math.ceil((2 * field.length) / 26)).slice(0, 2 * field.length);
    // the sample is a raw value: show it before scaling so the registers match it
    const encode = compileEncoder([{ ...field, scale: 1, offset: 0 }]);
    const { registers } = encode({ [field.name]: sample });
    const shown =
      field.type === 'int64' || field.type === 'uint64'
        ? '0x0123456789ABCDEF'
        : field.type === 'int16' || field.type === 'uint16'
          ? '0x1234'
          : field.type === 'int32' || field.type === 'uint32'
            ? '0x12345678'
            : field.type === 'string'
              ? JSON.stringify(sample)
              : String(sample);
    return { ok: true, from: field.register, to: field.register + n - 1, sample: shown, registers: registers.map(hex), decimal: registers };
  } catch (e) {
    const err = e as EdgeMlError;
    return { ok: false, field: String(err.params?.field ?? ''), reason: String(err.params?.reason ?? err.message) };
  }
}
