/**
 * The Modbus server's pure logic: memory areas, PDU processing (every function code, every
 * exception), MBAP framing, allow-list, frame assembly and flow writes. Requests and expected
 * responses are built byte by byte with Buffer here, from the specification's PDU layouts,
 * independent of the code under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXCEPTION, FrameAssembler, MbapFramer, ModbusMemory, checkFrameOptions, compileAllowList, encodeAdu, parseFlowWrite, processPdu } from '../src/lib/modbus-server';

const pdu = (...parts: Array<number | number[]>): Uint8Array => Uint8Array.from(parts.flat());
const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

test('FC16 writes the whole block at once and reports one write', () => {
  const memory = new ModbusMemory({ holding: 10 });
  const values = [0x1234, 0xabcd, 0x0001];
  const result = processPdu(pdu(16, be16(2), be16(3), 6, ...values.map(be16)), memory);
  assert.equal(hex(result.response), hex(pdu(16, be16(2), be16(3))));
  assert.deepEqual(result.write, { fc: 16, area: 'holding', address: 2, quantity: 3, values });
  assert.deepEqual(Array.from(memory.holding.subarray(2, 5)), values);
});

test('FC3/FC4 read registers big-endian; FC1/FC2 pack bits LSB first', () => {
  const memory = new ModbusMemory({ holding: 4, input: 4, coils: 12, discrete: 12 });
  memory.holding.set([1, 0x0203, 0xfffe], 0);
  memory.input.set([7, 8], 2);
  const bits = [1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1];
  memory.coils.set(bits);
  memory.discrete.set(bits.map((b) => 1 - b));
  assert.equal(hex(processPdu(pdu(3, be16(0), be16(3)), memory).response), hex(pdu(3, 6, be16(1), be16(0x0203), be16(0xfffe))));
  assert.equal(hex(processPdu(pdu(4, be16(2), be16(2)), memory).response), hex(pdu(4, 4, be16(7), be16(8))));
  // bit i of the request lands in byte i>>3, bit i&7
  const packed = (xs: number[]): number[] => [xs.slice(0, 8).reduce((a, b, i) => a | (b << i), 0), xs.slice(8).reduce((a, b, i) => a | (b << i), 0)];
  assert.equal(hex(processPdu(pdu(1, be16(0), be16(12)), memory).response), hex(pdu(1, 2, packed(bits))));
  assert.equal(hex(processPdu(pdu(2, be16(0), be16(12)), memory).response), hex(pdu(2, 2, packed(bits.map((b) => 1 - b)))));
});

test('FC5, FC6 and FC15 apply and echo as the specification says', () => {
  const memory = new ModbusMemory({ holding: 4, coils: 20 });
  const fc5 = processPdu(pdu(5, be16(3), 0xff, 0x00), memory);
  assert.equal(hex(fc5.response), hex(pdu(5, be16(3), 0xff, 0x00)));
  assert.deepEqual(fc5.write?.values, [true]);
  assert.equal(memory.coils[3], 1);
  const fc6 = processPdu(pdu(6, be16(1), be16(4242)), memory);
  assert.equal(hex(fc6.response), hex(pdu(6, be16(1), be16(4242))));
  assert.equal(memory.holding[1], 4242);
  // 10 coils from 5: 0b11001101, 0b01 (the specification's example bytes)
  const fc15 = processPdu(pdu(15, be16(5), be16(10), 2, 0xcd, 0x01), memory);
  assert.equal(hex(fc15.response), hex(pdu(15, be16(5), be16(10))));
  const expected = [1, 0, 1, 1, 0, 0, 1, 1, 1, 0].map((b) => b === 1);
  assert.deepEqual(fc15.write?.values, expected);
  assert.deepEqual(
    Array.from(memory.coils.subarray(5, 15), (b) => b === 1),
    expected,
  );
});

test('exceptions: illegal function, data value (quantity, byte count, length), data address', () => {
  const memory = new ModbusMemory({ holding: 10, input: 10, coils: 10, discrete: 10 });
  const ex = (p: Uint8Array): string => hex(processPdu(p, memory).response);
  assert.equal(ex(pdu(0x2b, 0x0e, 1, 0)), hex(pdu(0xab, EXCEPTION.ILLEGAL_FUNCTION)));
  assert.equal(ex(pdu(99)), hex(pdu(99 | 0x80, 1)));
  assert.equal(ex(pdu(3, be16(0), be16(0))), hex(pdu(0x83, 3)));
  assert.equal(ex(pdu(3, be16(0), be16(126))), hex(pdu(0x83, 3)));
  assert.equal(ex(pdu(3, be16(8), be16(3))), hex(pdu(0x83, 2)));
  assert.equal(ex(pdu(3, be16(0))), hex(pdu(0x83, 3)));
  assert.equal(ex(pdu(1, be16(0), be16(2001))), hex(pdu(0x81, 3)));
  assert.equal(ex(pdu(2, be16(10), be16(1))), hex(pdu(0x82, 2)));
  assert.equal(ex(pdu(5, be16(0), be16(0x1234))), hex(pdu(0x85, 3)));
  assert.equal(ex(pdu(5, be16(10), 0xff, 0)), hex(pdu(0x85, 2)));
  assert.equal(ex(pdu(6, be16(10), be16(1))), hex(pdu(0x86, 2)));
  assert.equal(ex(pdu(16, be16(0), be16(0), 0)), hex(pdu(0x90, 3)));
  assert.equal(ex(pdu(16, be16(0), be16(2), 3, 0, 1, 0)), hex(pdu(0x90, 3)));
  assert.equal(ex(pdu(16, be16(0), be16(2), 4, 0, 1)), hex(pdu(0x90, 3)));
  assert.equal(ex(pdu(16, be16(9), be16(2), 4, 0, 1, 0, 2)), hex(pdu(0x90, 2)));
  assert.equal(ex(pdu(15, be16(0), be16(9), 1, 0xff)), hex(pdu(0x8f, 3)));
  assert.equal(ex(pdu(15, be16(5), be16(9), 2, 0xff, 1)), hex(pdu(0x8f, 2)));
  // a rejected write changes nothing
  assert.deepEqual(Array.from(memory.holding), new Array(10).fill(0));
  assert.deepEqual(Array.from(memory.coils), new Array(10).fill(0));
});

test('framer: split and joined chunks, bad protocol id and lengths end the stream', () => {
  const a = encodeAdu(1, 1, pdu(3, be16(0), be16(1)));
  const b = encodeAdu(2, 7, pdu(6, be16(1), be16(2)));
  assert.equal(hex(a), '000100000006' + '01' + '0300000001');
  const joined = Buffer.concat([a, b]);
  for (let cut = 0; cut <= joined.length; cut++) {
    const framer = new MbapFramer();
    const frames = [...framer.push(joined.subarray(0, cut)).frames, ...framer.push(joined.subarray(cut)).frames];
    assert.deepEqual(
      frames.map((f) => [f.transactionId, f.unitId, hex(f.pdu)]),
      [
        [1, 1, '0300000001'],
        [2, 7, '0600010002'],
      ],
    );
  }
  const badProtocol = Buffer.from(a);
  badProtocol[3] = 1;
  assert.equal(new MbapFramer().push(badProtocol).error, 'protocol');
  for (const length of [0, 1, 255, 0xffff]) {
    const bad = Buffer.from(a);
    bad.writeUInt16BE(length, 4);
    assert.equal(new MbapFramer().push(bad).error, 'length', `length ${length}`);
  }
  // a partial header waits for more bytes
  assert.deepEqual(new MbapFramer().push(a.subarray(0, 5)), { frames: [] });
});

test('allow-list: addresses, CIDR ranges, IPv4-mapped IPv6, and bad entries', () => {
  const allow = compileAllowList('192.168.1.10, 10.0.0.0/24 ::1');
  assert.equal(allow('192.168.1.10'), true);
  assert.equal(allow('::ffff:192.168.1.10'), true);
  assert.equal(allow('10.0.0.255'), true);
  assert.equal(allow('10.0.1.0'), false);
  assert.equal(allow('::1'), true);
  assert.equal(allow('127.0.0.1'), false);
  assert.equal(allow(undefined), false);
  assert.equal(compileAllowList('')('203.0.113.9'), true);
  for (const bad of ['300.1.1.1', '10.0.0.0/33', 'localhost', '10.0.0.0/', '1.2.3.4/8/1']) {
    assert.equal(
      codeOf(() => compileAllowList(bad)),
      'EDGEML_MODBUS_SERVER_ALLOW_LIST',
      bad,
    );
  }
});

test('frame assembler: all-written, trigger, overlap, outside writes', () => {
  const all = new FrameAssembler({ start: 10, length: 4, whenAllWritten: true, quietMs: 0 }, () => assert.fail('no quiet time set'));
  assert.deepEqual(all.noteWrite(0, 2), { belongs: false });
  assert.deepEqual(all.noteWrite(10, 1), { belongs: true });
  assert.deepEqual(all.noteWrite(10, 1), { belongs: true });
  assert.deepEqual(all.noteWrite(8, 4), { belongs: true }); // covers 10, 11
  assert.deepEqual(all.noteWrite(12, 5), { belongs: true, reason: 'complete' });
  assert.equal(all.pendingWrites, 4);
  all.reset();
  assert.deepEqual(all.noteWrite(13, 1), { belongs: true });

  const trig = new FrameAssembler({ start: 0, length: 4, trigger: 20, whenAllWritten: false, quietMs: 0 }, () => undefined);
  assert.deepEqual(trig.noteWrite(0, 4), { belongs: true });
  assert.deepEqual(trig.noteWrite(20, 1), { belongs: true, reason: 'trigger' });
  assert.equal(
    codeOf(() => checkFrameOptions({ start: 0, length: 4, whenAllWritten: false, quietMs: 0 }, 10)),
    'EDGEML_MODBUS_SERVER_CONFIG',
  );
  assert.equal(
    codeOf(() => checkFrameOptions({ start: 8, length: 4, whenAllWritten: true, quietMs: 0 }, 10)),
    'EDGEML_MODBUS_SERVER_CONFIG',
  );
});

test('frame assembler: quiet time fires once after the last write', async () => {
  let fired = 0;
  let resolveQuiet: () => void = () => undefined;
  const quiet = new Promise<void>((r) => (resolveQuiet = r));
  const assembler = new FrameAssembler({ start: 0, length: 4, whenAllWritten: false, quietMs: 30 }, () => {
    fired++;
    resolveQuiet();
  });
  const started = Date.now();
  assembler.noteWrite(0, 1);
  assembler.noteWrite(1, 1);
  await quiet;
  assert.equal(fired, 1);
  assert.ok(Date.now() - started >= 25);
  assembler.dispose();
});

test('flow writes: shapes, area selection, and every bad input has a code', () => {
  const d = { area: 'holding' as const };
  assert.deepEqual(parseFlowWrite({ payload: [1, 2], address: 5 }, d), { area: 'holding', address: 5, values: [1, 2] });
  assert.deepEqual(parseFlowWrite({ payload: [1, 2], flexWrite: { address: 7, fc: 16 }, address: 5 }, d), { area: 'holding', address: 7, values: [1, 2] });
  assert.deepEqual(parseFlowWrite({ payload: { value: [3], fc: 16, unitid: 1, address: 2, quantity: 1 } }, d), { area: 'holding', address: 2, values: [3] });
  assert.deepEqual(parseFlowWrite({ payload: { value: true, fc: 5, address: 1 } }, d), { area: 'coils', address: 1, values: [true] });
  assert.deepEqual(parseFlowWrite({ payload: { value: 9, register: 'Input', address: '3' } }, d), { area: 'input', address: 3, values: [9] });
  assert.deepEqual(parseFlowWrite({ payload: [true], area: 'discrete', address: 0 }, d), { area: 'discrete', address: 0, values: [true] });
  assert.deepEqual(parseFlowWrite({ payload: 4 }, { area: 'input', address: 9 }), { area: 'input', address: 9, values: [4] });
  // msg.modbus describes the master's write, not a target
  assert.equal(
    codeOf(() => parseFlowWrite({ payload: [1], modbus: { address: 0 } }, d)),
    'EDGEML_MODBUS_SERVER_NO_ADDRESS',
  );
  assert.equal(
    codeOf(() => parseFlowWrite({ payload: 'x', address: 0 }, d)),
    'EDGEML_MODBUS_SERVER_PAYLOAD',
  );
  assert.equal(
    codeOf(() => parseFlowWrite({ payload: [1], address: -1 }, d)),
    'EDGEML_MODBUS_SERVER_ADDRESS',
  );
  assert.equal(
    codeOf(() => parseFlowWrite({ payload: [1], address: 0, area: 'flash' }, d)),
    'EDGEML_MODBUS_SERVER_AREA',
  );
  assert.equal(
    codeOf(() => parseFlowWrite({ payload: { value: [1], fc: 3, address: 0 } }, d)),
    'EDGEML_MODBUS_SERVER_AREA',
  );
  assert.equal(
    codeOf(() => parseFlowWrite({ payload: { value: [1, 2], quantity: 3, address: 0 } }, d)),
    'EDGEML_MODBUS_SERVER_QUANTITY',
  );
  const memory = new ModbusMemory({ holding: 4, coils: 4 });
  assert.equal(
    codeOf(() => memory.writeFromFlow('holding', 3, [1, 2])),
    'EDGEML_MODBUS_SERVER_RANGE',
  );
  assert.equal(
    codeOf(() => memory.writeFromFlow('holding', 0, [1, 65536])),
    'EDGEML_MODBUS_SERVER_VALUE',
  );
  assert.equal(
    codeOf(() => memory.writeFromFlow('holding', 0, [1.5])),
    'EDGEML_MODBUS_SERVER_VALUE',
  );
  assert.equal(
    codeOf(() => memory.writeFromFlow('coils', 0, ['on'])),
    'EDGEML_MODBUS_SERVER_VALUE',
  );
  assert.equal(
    codeOf(() => memory.writeFromFlow('holding', 0, [])),
    'EDGEML_MODBUS_SERVER_RANGE',
  );
  assert.deepEqual(Array.from(memory.holding), [0, 0, 0, 0], 'failed writes change nothing');
  assert.equal(
    codeOf(() => new ModbusMemory({ holding: 70000 })),
    'EDGEML_MODBUS_SERVER_CONFIG',
  );
});
