/**
 * The pure codec: fast-check properties (encode then decode returns the value, for every type and
 * byte order, both decoder builds), the field-table validation, CSV import and the editor preview.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BYTE_ORDERS,
  type FieldType,
  type RegisterFieldConfig,
  compileDecoder,
  compileEncoder,
  decodeRegisters,
  encodeValues,
  normalizeFields,
  parseRegisterMapCsv,
  previewField,
} from '../src/lib/modbus';
import { EdgeMlError } from '../src/lib/errors';

const big = (s: string): bigint => BigInt(s);
const VALUES: Record<Exclude<FieldType, 'string' | 'bit'>, fc.Arbitrary<number | bigint>> = {
  int16: fc.integer({ min: -32768, max: 32767 }),
  uint16: fc.integer({ min: 0, max: 65535 }),
  int32: fc.integer({ min: -2147483648, max: 2147483647 }),
  uint32: fc.integer({ min: 0, max: 4294967295 }),
  int64: fc.bigInt({ min: big('-9223372036854775808'), max: big('9223372036854775807') }),
  uint64: fc.bigInt({ min: big('0'), max: big('18446744073709551615') }),
  float32: fc.float(), // float32-representable, with NaN, infinities and -0
  float64: fc.double(),
};

for (const [type, values] of Object.entries(VALUES)) {
  for (const order of BYTE_ORDERS) {
    test(`property ${type} ${order} encodes and decodes back`, () => {
      fc.assert(
        fc.property(values, fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (value, at, tail, absolute) => {
          const fields = normalizeFields([{ name: 'x', register: absolute ? 1000 + at : at, type, order }]);
          const { registers } = encodeValues({ x: value }, fields);
          // surround the value with other registers, as a real read of a block would
          const block = [...Array<number>(at).fill(0xbeef), ...registers, ...Array<number>(tail).fill(0x1234)];
          const decode = compileDecoder(fields, { int64: 'bigint', addressing: absolute ? 'absolute' : 'relative' });
          const got = (decode(block, absolute ? 1000 : undefined) as Record<string, unknown>).x;
          return Object.is(got, value);
        }),
        { numRuns: 150 },
      );
    });
  }
}

test(`property scaled integers come back to the same raw register`, () => {
  const types = ['int16', 'uint16', 'int32', 'uint32'] as const;
  fc.assert(
    fc.property(fc.constantFrom(...types), fc.constantFrom(...BYTE_ORDERS), fc.constantFrom(0.1, 0.01, 10, 2.5, -0.5), fc.constantFrom(0, -40, 273.15), fc.nat(), (type, order, scale, offset, n) => {
      const [min, max] = { int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647], uint32: [0, 4294967295] }[type];
      const raw = min! + (n % (max! - min! + 1));
      const plain = normalizeFields([{ name: 'x', register: 0, type, order }]);
      const scaled = normalizeFields([{ name: 'x', register: 0, type, order, scale, offset }]);
      const registers = encodeValues({ x: raw }, plain).registers;
      const engineering = (compileDecoder(scaled, {})(registers) as Record<string, number>).x!;
      return Object.is(engineering, raw * scale + offset) && encodeValues({ x: engineering }, scaled).registers.join() === registers.join();
    }),
    { numRuns: 300 },
  );
});

test(`property strings and bits encode and decode back in every order`, () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom(...BYTE_ORDERS),
      fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 16 }),
      fc.integer({ min: 0, max: 15 }),
      fc.boolean(),
      (length, order, codes, bit, on) => {
        const text = String.fromCharCode(...codes.slice(0, 2 * length));
        const fields = normalizeFields([
          { name: 's', register: 0, type: 'string', length, order },
          { name: 'b', register: length, type: 'bit', bit },
        ]);
        const { registers } = encodeValues({ s: text, b: on }, fields);
        const got = compileDecoder(fields, {})(registers) as Record<string, unknown>;
        return got.s === text && got.b === on && registers[length] === (on ? 1 << bit : 0);
      },
    ),
    { numRuns: 300 },
  );
});
test('64-bit integers: auto gives exact numbers up to 2^53 - 1 and decimal strings beyond', () => {
  const fields = normalizeFields([{ name: 'x', register: 0, type: 'int64' }]);
  for (const value of ['9007199254740991', '-9007199254740991', '9007199254740992', '-9223372036854775808']) {
    const { registers } = encodeValues({ x: value }, fields);
    const got = (decodeRegisters(registers, fields).values as Record<string, unknown>).x;
    const safe = Number.isSafeInteger(Number(value)) && String(Number(value)) === value;
    assert.equal(typeof got, safe ? 'number' : 'string', value);
    assert.equal(String(got), value);
  }
});

test('a mixed table decodes the same as object and as array, and flags exactly the non-finite float fields', () => {
  const fields = normalizeFields([
    { name: 'f', register: 10, type: 'float32', order: 'DCBA', decimals: 2 },
    { name: 'd', register: 12, type: 'float64', order: 'BADC', scale: 2, offset: 1 },
    { name: 'i', register: 16, type: 'int16', order: 'BADC' },
    { name: 'u', register: 17, type: 'uint16', order: 'DCBA' },
    { name: 'q', register: 18, type: 'uint64', order: 'CDAB' },
    { name: 's', register: 22, type: 'string', length: 2, order: 'BADC' },
  ]);
  const asObject = compileDecoder(fields, { addressing: 'absolute', output: 'object' });
  const asArray = compileDecoder(fields, { addressing: 'absolute', output: 'array' });
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 14, maxLength: 14 }), (registers) => {
      const a: string[] = [];
      const b: string[] = [];
      const x = asObject(registers, 10, a) as Record<string, unknown>;
      const y = asArray(registers, 10, b) as unknown[];
      assert.deepEqual(
        fields.map((f) => x[f.name]),
        y,
      );
      assert.deepEqual(a, b);
      // the float fields read independently with Buffer: DCBA = the four bytes reversed; BADC = bytes swapped in each word
      const bytes = (from: number, n: number): Buffer => Buffer.from(registers.slice(from, from + n).flatMap((r) => [r >> 8, r & 255]));
      const f = bytes(0, 2).reverse().readFloatBE(0);
      const d = bytes(2, 4).swap16().readDoubleBE(0) * 2 + 1; // scale 2, offset 1
      assert.deepEqual(a, [...(Number.isFinite(f) ? [] : ['f']), ...(Number.isFinite(d) ? [] : ['d'])]);
    }),
    { numRuns: 300 },
  );
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof EdgeMlError, String(e));
    return e.code;
  }
  return 'no error';
}

test('field table validation names the field and the reason', () => {
  const bad: RegisterFieldConfig[][] = [
    [{ name: '', register: 0, type: 'uint16' }],
    [{ name: '__proto__', register: 0, type: 'uint16' }],
    [{ name: 'a', register: 1.5, type: 'uint16' }],
    [{ name: 'a', register: 65535, type: 'uint32' }],
    [{ name: 'a', register: 0, type: 'string', length: 0 }],
    [{ name: 'a', register: 0, type: 'bit', bit: -1 }],
    [{ name: 'a', register: 0, type: 'bit', bit: 1, scale: 2 }],
    [{ name: 'a', register: 0, type: 'uint16', decimals: 16 }],
    [{ name: 'a', register: 0, type: 'uint16', offset: 'x' }],
  ];
  for (const table of bad)
    assert.equal(
      codeOf(() => normalizeFields(table)),
      'EDGEML_MODBUS_FIELDS_INVALID',
      JSON.stringify(table),
    );
  // editor inputs arrive as strings; blanks mean the defaults
  const [f] = normalizeFields([{ name: ' t ', register: '4', type: 'int16', order: '', scale: '0.1', offset: '', decimals: '1' }], 'CDAB');
  assert.deepEqual(f, { name: 't', register: 4, type: 'int16', order: 'CDAB', scale: 0.1, offset: 0, unit: '', decimals: 1, length: 1, bit: 0 });
});

test('CSV register maps: plain, with a header in another column order, quoted, with semicolons; errors name the line', () => {
  const plain = parseRegisterMapCsv('temp,0,float32,CDAB,,,°C\npressure,2,int16,,0.1,-1,bar\n# comment\n\nname tag,3,uint16');
  assert.deepEqual(
    plain.map((f) => [f.name, f.register, f.type, f.order, f.scale, f.offset, f.unit]),
    [
      ['temp', 0, 'float32', 'CDAB', 1, 0, '°C'],
      ['pressure', 2, 'int16', 'ABCD', 0.1, -1, 'bar'],
      ['name tag', 3, 'uint16', 'ABCD', 1, 0, ''],
    ],
  );
  const header = parseRegisterMapCsv('Type;Name;Register;Unit;Length\nstring;"serial; no";10;;4\nFLOAT64;x;14;m', 'DCBA');
  assert.deepEqual(
    header.map((f) => [f.name, f.type, f.register, f.length, f.order, f.unit]),
    [
      ['serial; no', 'string', 10, 4, 'DCBA', ''],
      ['x', 'float64', 14, 1, 'DCBA', 'm'],
    ],
  );
  assert.equal(
    codeOf(() => parseRegisterMapCsv('a,0,uint16\nb,x,uint16')),
    'EDGEML_MODBUS_FIELDS_INVALID',
  );
  try {
    parseRegisterMapCsv('a,0,uint16\nb,x,uint16');
  } catch (e) {
    assert.match(String((e as EdgeMlError).params.reason), /^line 2: /);
  }
  assert.equal(
    codeOf(() => parseRegisterMapCsv('a,0,uint16\na,1,uint16')),
    'EDGEML_MODBUS_FIELDS_INVALID',
  );
  assert.equal(
    codeOf(() => parseRegisterMapCsv('\n# nothing\n')),
    'EDGEML_MODBUS_FIELDS_INVALID',
  );
});

test('editor preview: the registers a field reads and a sample in its byte order', () => {
  const sample = Buffer.alloc(4);
  sample.writeUInt32BE(0x12345678);
  const hex = (w: number): string => '0x' + w.toString(16).toUpperCase().padStart(4, '0');
  const [hi, lo] = [sample.readUInt16BE(0), sample.readUInt16BE(2)];
  const swapped = (w: number): number => ((w & 0xff) << 8) | (w >> 8);
  const expected: Record<string, number[]> = { ABCD: [hi, lo], CDAB: [lo, hi], BADC: [swapped(hi), swapped(lo)], DCBA: [swapped(lo), swapped(hi)] };
  for (const order of BYTE_ORDERS) {
    const p = previewField({ name: 'x', register: 7, type: 'uint32', order });
    assert.ok(p.ok);
    if (p.ok) {
      assert.deepEqual([p.from, p.to], [7, 8]);
      assert.deepEqual(p.registers, expected[order]!.map(hex));
      assert.deepEqual(p.decimal, expected[order], 'the same registers in decimal, as an inject needs them');
    }
  }
  const bit = previewField({ name: 'b', register: 3, type: 'bit', bit: 4 });
  assert.ok(bit.ok && bit.registers[0] === hex(1 << 4));
  const bad = previewField({ name: 'x', register: 0, type: 'string' });
  assert.ok(!bad.ok && /length/.test(bad.reason));
});

test('encoder refuses gaps and overlaps; decoder allows overlapping views of the same registers', () => {
  assert.equal(
    codeOf(() =>
      compileEncoder(
        normalizeFields([
          { name: 'a', register: 0, type: 'uint16' },
          { name: 'b', register: 2, type: 'uint16' },
        ]),
      ),
    ),
    'EDGEML_MODBUS_ENCODE_GAP',
  );
  const overlapping = normalizeFields([
    { name: 'word', register: 0, type: 'uint16' },
    { name: 'flag', register: 0, type: 'bit', bit: 0 },
  ]);
  assert.deepEqual(decodeRegisters([3], overlapping).values, { word: 3, flag: true });
});

test('a map spanning more than 128 registers decodes its far field right and names bad registers', () => {
  const fields = normalizeFields([
    { name: 'a', register: 0, type: 'float32', order: 'CDAB' },
    { name: 'text', register: 2, type: 'string', length: 125 },
    { name: 'z', register: 130, type: 'int32', order: 'BADC', scale: 0.5 },
  ]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 132, maxLength: 140 }), (registers) => {
      // z: int32 BADC at registers 130..131, scale 0.5, read independently with Buffer
      const z =
        Buffer.from(registers.slice(130, 132).flatMap((r) => [r >> 8, r & 255]))
          .swap16()
          .readInt32BE(0) * 0.5;
      assert.equal((compileDecoder(fields)(registers) as Record<string, number>).z, z);
    }),
    { numRuns: 50 },
  );
  assert.equal(
    codeOf(() => compileDecoder(fields)(new Array(131).fill(0))),
    'EDGEML_MODBUS_TOO_FEW_REGISTERS',
  );
  assert.equal(
    codeOf(() => compileDecoder(fields)([...new Array(131).fill(0), 70000])),
    'EDGEML_MODBUS_REGISTER_RANGE',
  );
});
