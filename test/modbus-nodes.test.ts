/**
 * modbus-decode and modbus-encode in real flows: the message shapes the Modbus nodes deliver,
 * outputs, statuses, and every kind of bad input ending at a Catch node with a stable code while
 * the node keeps working. Expected values are built with Node's Buffer API, independent of the codec.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type FlowNode, type Msg, ROOT, getNode, inject, loadFlow, nextMessage, nextStatus, unloadFlow } from './helpers/flow';

afterEach(() => unloadFlow());

/** One node under test on a tab with Catch, Complete and Status nodes scoped to it. */
async function load(type: 'modbus-decode' | 'modbus-encode', config: Record<string, unknown>): Promise<void> {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    { id: 'n', z: 'tab', type, ...config, wires: [['out']] },
    { id: 'out', z: 'tab', type: 'helper' },
    { id: 'catcher', z: 'tab', type: 'catch', scope: ['n'], uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
    { id: 'completer', z: 'tab', type: 'complete', scope: ['n'], uncaught: false, wires: [['completed']] },
    { id: 'completed', z: 'tab', type: 'helper' },
    { id: 'statuser', z: 'tab', type: 'status', scope: ['n'], wires: [['statuses']] },
    { id: 'statuses', z: 'tab', type: 'helper' },
  ];
  await loadFlow(['modbus-decode', 'modbus-encode'], flow);
}

/** Sends one message and resolves with what reached the output and the Complete node. */
async function roundTrip(msg: Record<string, unknown>): Promise<Msg> {
  const out = nextMessage('out');
  const completed = nextMessage('completed');
  inject('n', msg);
  const [result] = await Promise.all([out, completed]);
  return result;
}

/** Sends one bad message; it must reach the Catch node with `code`, and nothing may reach the output. */
async function expectError(msg: Record<string, unknown>, code: string): Promise<Msg> {
  let leaked: Msg | undefined;
  const onOut = (m: Msg): void => {
    leaked = m;
  };
  getNode('out').on('input', onOut);
  const caught = nextMessage('caught');
  inject('n', msg);
  const got = await caught;
  getNode('out').removeListener('input', onOut);
  const error = got.error as { code?: string; message?: string; source?: { id?: string } };
  assert.equal(error.code, code, `${error.message}`);
  assert.equal(error.source?.id, 'n');
  assert.equal(leaked, undefined, 'a failed message must not be sent on');
  return got;
}

// --- independent register builders (Buffer API) ---------------------------------------------
const words = (buf: Buffer): number[] => Array.from({ length: buf.length / 2 }, (_, i) => buf.readUInt16BE(2 * i));
const float32Cdab = (v: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [b.readUInt16BE(2), b.readUInt16BE(0)];
};
const int16Abcd = (v: number): number[] => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return words(b);
};
const uint32Abcd = (v: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return words(b);
};
const uint64Dcba = (v: bigint): number[] => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v); // DCBA = the bytes little-endian; registers are read big-endian off the wire
  return words(b);
};
const ascii = (s: string, registers: number): number[] => words(Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(2 * registers - s.length)]));

const FIELDS = [
  { name: 'temperature', register: 0, type: 'float32', unit: '°C' },
  { name: 'pressure', register: 2, type: 'int16', order: 'ABCD', scale: 0.1, unit: 'bar' },
  { name: 'count', register: 3, type: 'uint32', order: 'ABCD' },
  { name: 'energy', register: 5, type: 'uint64', order: 'DCBA', unit: 'Wh' },
  { name: 'label', register: 9, type: 'string', order: 'ABCD', length: 2 },
  { name: 'alarm', register: 11, type: 'bit', bit: 3 },
];
const ENERGY = BigInt('12345678901234567890'); // beyond 2^53: must stay exact
const SAMPLE = [...float32Cdab(21.7), ...int16Abcd(-153), ...uint32Abcd(4000000000), ...uint64Dcba(ENERGY), ...ascii('OK', 2), 0b1000];
const EXPECTED = { temperature: Math.fround(21.7), pressure: -153 * 0.1, count: 4000000000, energy: ENERGY.toString(), label: 'OK', alarm: true };

test('modbus-decode: object output with units, raw registers and done() (Complete node)', async () => {
  await load('modbus-decode', { fields: FIELDS, order: 'CDAB' });
  const msg = await roundTrip({ payload: SAMPLE, topic: 'plc1' });
  assert.deepEqual(msg.payload, EXPECTED);
  assert.deepEqual(msg.units, { temperature: '°C', pressure: 'bar', energy: 'Wh' });
  assert.deepEqual(msg.registers, SAMPLE);
  assert.deepEqual(msg.invalid, []);
  assert.equal(msg.topic, 'plc1');
});

test('modbus-decode: array output is a feature vector in field order, with the names beside it', async () => {
  await load('modbus-decode', { fields: FIELDS, order: 'CDAB', output: 'array' });
  const msg = await roundTrip({ payload: SAMPLE });
  assert.deepEqual(msg.payload, Object.values(EXPECTED));
  assert.deepEqual(msg.fields, Object.keys(EXPECTED));
});

test('modbus-decode: 64-bit integers as BigInt or decimal string on request', async () => {
  await load('modbus-decode', { fields: [{ name: 'energy', register: 0, type: 'uint64', order: 'DCBA' }], int64: 'bigint' });
  assert.equal(((await roundTrip({ payload: uint64Dcba(ENERGY) })).payload as { energy: bigint }).energy, ENERGY);
  await unloadFlow();
  await load('modbus-decode', { fields: [{ name: 'energy', register: 0, type: 'uint64', order: 'DCBA' }], int64: 'string' });
  assert.deepEqual((await roundTrip({ payload: uint64Dcba(BigInt(42)) })).payload, { energy: '42' });
});

test('modbus-decode: NaN and infinities are passed on unchanged and flagged, never 0', async () => {
  await load('modbus-decode', {
    fields: [
      { name: 'a', register: 0, type: 'float32', order: 'CDAB' },
      { name: 'b', register: 2, type: 'float32', order: 'CDAB' },
      { name: 'c', register: 4, type: 'float32', order: 'CDAB' },
    ],
  });
  const warn = nextStatus('n', (s) => s.fill === 'yellow');
  const msg = await roundTrip({ payload: [...float32Cdab(NaN), ...float32Cdab(1.25), ...float32Cdab(-Infinity)] });
  const values = msg.payload as Record<string, number>;
  assert.ok(Number.isNaN(values.a));
  assert.equal(values.b, 1.25);
  assert.equal(values.c, -Infinity);
  assert.deepEqual(msg.invalid, ['a', 'c']);
  await warn;
});

test('modbus-decode: reads every register shape the Modbus nodes deliver', async () => {
  await load('modbus-decode', { fields: FIELDS, order: 'CDAB' });
  const buffer = Buffer.from(SAMPLE.flatMap((r) => [r >> 8, r & 0xff]));
  const shapes: Array<[string, Record<string, unknown>]> = [
    ['Buffer payload', { payload: buffer }],
    ['modbus-serial result { data, buffer }', { payload: { data: SAMPLE, buffer } }],
    ['node-red-contrib-modbus responseBuffer.buffer', { payload: { something: 'else' }, responseBuffer: { data: SAMPLE, buffer } }],
    ['JSON-serialised Buffer', { payload: JSON.parse(JSON.stringify(buffer)) }],
    ['Uint16Array', { payload: Uint16Array.from(SAMPLE) }],
  ];
  for (const [what, msg] of shapes) {
    const out = await roundTrip(msg);
    assert.deepEqual(out.payload, EXPECTED, what);
    assert.deepEqual(out.registers, SAMPLE, what);
  }
});

test('modbus-decode: absolute addressing takes the first register from modbusRequest or modbus (modbus-server-in messages unchanged)', async () => {
  await load('modbus-decode', {
    addressing: 'absolute',
    fields: [
      { name: 'setpoint', register: 102, type: 'float32', order: 'CDAB' },
      { name: 'mode', register: 101, type: 'uint16' },
    ],
  });
  const registers = [7, 3, ...float32Cdab(55.5)];
  const fromServer = await roundTrip({ payload: registers, modbusRequest: { unitid: 1, fc: 16, address: 100, quantity: 4 } });
  assert.deepEqual(fromServer.payload, { setpoint: 55.5, mode: 3 });
  assert.deepEqual(fromServer.modbusRequest, { unitid: 1, fc: 16, address: 100, quantity: 4 });
  const fromModbus = await roundTrip({ payload: registers.slice(1), modbus: { address: 101 } });
  assert.deepEqual(fromModbus.payload, { setpoint: 55.5, mode: 3 });
  await expectError({ payload: registers }, 'EDGEML_MODBUS_NO_ADDRESS');
  await expectError({ payload: registers, modbusRequest: { address: 102 } }, 'EDGEML_MODBUS_FIELD_BEFORE_START');
  await expectError({ payload: registers.slice(0, 3), modbusRequest: { address: 100 } }, 'EDGEML_MODBUS_TOO_FEW_REGISTERS');
  assert.deepEqual((await roundTrip({ payload: registers, modbusRequest: { address: 100 } })).payload, { setpoint: 55.5, mode: 3 });
});

test('modbus-decode: every bad input reaches the Catch node with a stable code, and the node keeps working', async () => {
  await load('modbus-decode', { fields: FIELDS, order: 'CDAB' });
  const statuses: string[] = [];
  getNode('statuses').on('input', (m: Msg) => statuses.push(String((m.status as { fill?: string }).fill)));
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ payload: SAMPLE.slice(0, SAMPLE.length - 1) }, 'EDGEML_MODBUS_TOO_FEW_REGISTERS'],
    [{ payload: [] }, 'EDGEML_MODBUS_TOO_FEW_REGISTERS'],
    [{ payload: SAMPLE.map((r, i) => (i === 4 ? 65536 : r)) }, 'EDGEML_MODBUS_REGISTER_RANGE'],
    [{ payload: SAMPLE.map((r, i) => (i === 4 ? -1 : r)) }, 'EDGEML_MODBUS_REGISTER_RANGE'],
    [{ payload: SAMPLE.map((r, i) => (i === 2 ? 1.5 : r)) }, 'EDGEML_MODBUS_REGISTER_NOT_INTEGER'],
    [{ payload: SAMPLE.map((r, i) => (i === 2 ? '12' : r)) }, 'EDGEML_MODBUS_REGISTER_NOT_INTEGER'],
    [{ payload: SAMPLE.map((r, i) => (i === 2 ? null : r)) }, 'EDGEML_MODBUS_REGISTER_NOT_INTEGER'],
    [{ payload: SAMPLE.map((r, i) => (i === 2 ? BigInt(r) : r)) }, 'EDGEML_MODBUS_REGISTER_NOT_INTEGER'],
    [{ payload: SAMPLE.map((r, i) => (i === 2 ? NaN : r)) }, 'EDGEML_MODBUS_REGISTER_NOT_INTEGER'],
    [{ payload: 'hello' }, 'EDGEML_MODBUS_PAYLOAD_TYPE'],
    [{ payload: 42 }, 'EDGEML_MODBUS_PAYLOAD_TYPE'],
    [{}, 'EDGEML_MODBUS_PAYLOAD_TYPE'],
    [{ payload: Buffer.from([1, 2, 3]) }, 'EDGEML_MODBUS_BUFFER_ODD'],
  ];
  for (const [msg, code] of bad) {
    await expectError(msg, code);
    // the next good message still comes out right
    const green = new Promise<void>((resolve) => {
      const onStatus = (m: Msg): void => {
        if ((m.status as { fill?: string }).fill !== 'green') return;
        getNode('statuses').removeListener('input', onStatus);
        resolve();
      };
      getNode('statuses').on('input', onStatus);
    });
    assert.deepEqual((await roundTrip({ payload: SAMPLE })).payload, EXPECTED, `after ${code}`);
    await green; // the Status node sees the node recover
  }
  // each error turned the status red, each following good message green again
  assert.deepEqual(
    statuses,
    bad.flatMap(() => ['red', 'green']),
  );
});

test('modbus-decode: an invalid field table fails every message with EDGEML_MODBUS_FIELDS_INVALID', async () => {
  const tables: unknown[] = [
    [],
    [{ name: 'a', register: 0, type: 'float128' }],
    [{ name: 'a', register: -1, type: 'uint16' }],
    [
      { name: 'a', register: 0, type: 'uint16' },
      { name: 'a', register: 1, type: 'uint16' },
    ],
    [{ name: 's', register: 0, type: 'string' }],
    [{ name: 'b', register: 0, type: 'bit', bit: 16 }],
    [{ name: 'x', register: 0, type: 'uint16', order: 'ACBD' }],
    [{ name: 'x', register: 0, type: 'uint16', scale: 0 }],
  ];
  for (const fields of tables) {
    await load('modbus-decode', { fields });
    await expectError({ payload: [1, 2, 3, 4] }, 'EDGEML_MODBUS_FIELDS_INVALID');
    await unloadFlow();
  }
});

// --- modbus-encode -----------------------------------------------------------------------------

test('modbus-encode: named values -> registers, plus the Flex-Write object', async () => {
  await load('modbus-encode', { fields: FIELDS, order: 'CDAB', address: '40', unitid: '3' });
  const msg = await roundTrip({ payload: { ...EXPECTED, pressure: -15.3, energy: ENERGY } });
  assert.deepEqual(msg.payload, SAMPLE);
  assert.deepEqual(msg.registers, SAMPLE);
  assert.deepEqual(msg.flexWrite, { value: SAMPLE, fc: 16, unitid: 3, address: 40, quantity: SAMPLE.length });
  // values in field order work the same
  assert.deepEqual((await roundTrip({ payload: Object.values(EXPECTED) })).payload, SAMPLE);
});

test('modbus-encode: Flex-Write mode puts { value, fc, unitid, address, quantity } in msg.payload; absolute addressing uses the register number', async () => {
  await load('modbus-encode', {
    payload: 'flex-write',
    addressing: 'absolute',
    fields: [
      { name: 'setpoint', register: 201, type: 'float32', order: 'CDAB' },
      { name: 'mode', register: 200, type: 'uint16' },
    ],
  });
  const msg = await roundTrip({ payload: { setpoint: 55.5, mode: 3 } });
  const registers = [3, ...float32Cdab(55.5)];
  assert.deepEqual(msg.payload, { value: registers, fc: 16, unitid: 1, address: 200, quantity: 3 });
  assert.deepEqual(msg.registers, registers);
});

test('modbus-encode: inverse scaling rounds to the nearest raw step', async () => {
  await load('modbus-encode', { fields: [{ name: 't', register: 0, type: 'int16', scale: 0.1, offset: -40 }] });
  for (const value of [23.46, -40, 0.04, -12.35]) {
    const [raw] = (await roundTrip({ payload: { t: value } })).payload as number[];
    const signed = (raw! << 16) >> 16;
    assert.ok(Math.abs(signed * 0.1 - 40 - value) <= 0.05 + 1e-9, `${value} -> ${signed}`);
  }
});

test('modbus-encode: every bad value reaches the Catch node with a stable code, and the node keeps working', async () => {
  await load('modbus-encode', { fields: FIELDS, order: 'CDAB' });
  const good = { ...EXPECTED, pressure: -15.3, energy: ENERGY.toString() };
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ payload: { ...good, pressure: 3276.8 } }, 'EDGEML_MODBUS_VALUE_RANGE'],
    [{ payload: { ...good, count: -1 } }, 'EDGEML_MODBUS_VALUE_RANGE'],
    [{ payload: { ...good, count: 4294967296 } }, 'EDGEML_MODBUS_VALUE_RANGE'],
    [{ payload: { ...good, energy: '18446744073709551616' } }, 'EDGEML_MODBUS_VALUE_RANGE'],
    [{ payload: { ...good, temperature: 1e39 } }, 'EDGEML_MODBUS_VALUE_RANGE'],
    [{ payload: { ...good, count: 1.5 } }, 'EDGEML_MODBUS_VALUE_NOT_INTEGER'],
    [{ payload: { ...good, temperature: 'warm' } }, 'EDGEML_MODBUS_VALUE_NOT_NUMERIC'],
    [{ payload: { ...good, count: '12' } }, 'EDGEML_MODBUS_VALUE_NOT_NUMERIC'],
    [{ payload: { ...good, energy: '1.5' } }, 'EDGEML_MODBUS_VALUE_NOT_NUMERIC'],
    [{ payload: { ...good, count: undefined } }, 'EDGEML_MODBUS_VALUE_MISSING'],
    [{ payload: Object.values(good).slice(0, 3) }, 'EDGEML_MODBUS_VALUE_MISSING'],
    [{ payload: { ...good, label: 'TOO LONG' } }, 'EDGEML_MODBUS_STRING_TOO_LONG'],
    [{ payload: { ...good, label: 42 } }, 'EDGEML_MODBUS_VALUE_TYPE'],
    [{ payload: { ...good, alarm: 'yes' } }, 'EDGEML_MODBUS_VALUE_TYPE'],
    [{ payload: 'hello' }, 'EDGEML_MODBUS_PAYLOAD_TYPE'],
  ];
  for (const [msg, code] of bad) {
    await expectError(msg, code);
    assert.deepEqual((await roundTrip({ payload: good })).payload, SAMPLE, `after ${code}`);
  }
});

test('modbus-encode: a table with gaps or overlaps is refused (a write must not zero unnamed registers)', async () => {
  const tables: Array<[unknown, string]> = [
    [
      [
        { name: 'a', register: 0, type: 'uint16' },
        { name: 'b', register: 2, type: 'uint16' },
      ],
      'EDGEML_MODBUS_ENCODE_GAP',
    ],
    [
      [
        { name: 'a', register: 0, type: 'uint32' },
        { name: 'b', register: 1, type: 'uint16' },
      ],
      'EDGEML_MODBUS_ENCODE_OVERLAP',
    ],
    [
      [
        { name: 'a', register: 0, type: 'uint16' },
        { name: 'b', register: 0, type: 'bit', bit: 1 },
      ],
      'EDGEML_MODBUS_ENCODE_OVERLAP',
    ],
    [[{ name: 'a', register: 0, type: 'nope' }], 'EDGEML_MODBUS_FIELDS_INVALID'],
  ];
  for (const [fields, code] of tables) {
    await load('modbus-encode', { fields });
    await expectError({ payload: { a: 1, b: 1 } }, code);
    await unloadFlow();
  }
  // bits may share a register: each sets its own bit
  await load('modbus-encode', {
    fields: [
      { name: 'run', register: 0, type: 'bit', bit: 0 },
      { name: 'fault', register: 0, type: 'bit', bit: 15 },
    ],
  });
  assert.deepEqual((await roundTrip({ payload: { run: true, fault: 1 } })).payload, [0x8001]);
});

test('the example flow loads and both of its paths run without errors', async () => {
  const example = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'modbus-decode-encode.json'), 'utf8')) as FlowNode[];
  assert.equal(example[0]!.type, 'tab');
  // inject/debug/comment are not loaded under the test helper: stand helpers in for them
  const flow: FlowNode[] = [
    ...example.map((n) => (['inject', 'debug', 'comment'].includes(n.type) ? { ...n, type: 'helper' } : n)),
    { id: 'catcher', z: example[0]!.id, type: 'catch', uncaught: false, wires: [['caught']] },
    { id: 'caught', z: example[0]!.id, type: 'helper' },
  ];
  await loadFlow(['modbus-decode', 'modbus-encode'], flow);
  let errors = 0;
  getNode('caught').on('input', () => errors++);
  const injects = example.filter((n) => n.type === 'inject');
  assert.equal(injects.length, 2);
  for (const node of injects) {
    const target = (node.wires as string[][])[0]![0]!;
    const sink = (example.find((n) => n.id === target)!.wires as string[][])[0]![0]!;
    const out = nextMessage(sink);
    inject(target, { payload: JSON.parse(node.payload as string) });
    const msg = await out;
    assert.ok(msg.payload !== undefined);
  }
  const decoded = example.find((n) => n.type === 'modbus-decode')!;
  const encoded = example.find((n) => n.type === 'modbus-encode')!;
  assert.equal((decoded.fields as unknown[]).length, 6);
  assert.equal(encoded.payload, 'flex-write');
  assert.equal(errors, 0);
});
