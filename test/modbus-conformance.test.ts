/**
 * All 720 cases of ../shared/conformance/modbus/decode-vectors.json (made with Python's struct module)
 * through modbus-decode in a real flow, and each decoded value straight back through modbus-encode:
 * the registers must come back as the vector has them (bit cases: the bit itself).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type FlowNode, type Msg, SHARED, getNode, needsShared, inject, loadFlow, nextMessages, unloadFlow } from './helpers/flow';

interface DecodeCase {
  type: string;
  order: string;
  registers: number[];
  offset: number;
  value: number | string | boolean;
  scale?: number;
  add?: number;
  scaled?: number;
  length?: number;
  bit?: number;
}

const VECTORS = path.join(SHARED, 'conformance', 'modbus', 'decode-vectors.json');
const skip = needsShared('conformance/modbus');
const cases = skip ? [] : (JSON.parse(readFileSync(VECTORS, 'utf8')) as { cases: DecodeCase[] }).cases;
const WIDTH: Record<string, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, int64: 4, uint64: 4, float64: 4, bit: 1 };

/** The expected decoded value, compared in the way each kind of value needs. */
function matches(c: DecodeCase, got: unknown): boolean {
  const expected = c.scaled ?? c.value;
  if (c.type === 'int64' || c.type === 'uint64') {
    // auto mode: a number when exact, else a decimal string; both must denote the vector's integer
    if (typeof got === 'number' && !Number.isSafeInteger(got)) return false;
    if (typeof got === 'string' && Number.isSafeInteger(Number(got))) return false;
    return (typeof got === 'number' || typeof got === 'string') && BigInt(got) === BigInt(expected as string);
  }
  if (c.type === 'float32' || c.type === 'float64') {
    const e = Number(expected); // "Infinity" / "-Infinity" / "NaN" are strings in the vectors
    return Object.is(got, c.type === 'float32' && c.scaled === undefined ? Math.fround(e) : e);
  }
  return Object.is(got, expected);
}

const received: { decoded: Msg[]; encoded: Msg[]; errors: Msg[] } = { decoded: [], encoded: [], errors: [] };

before(async () => {
  const flow: FlowNode[] = [
    { id: 'decoded', type: 'helper' },
    { id: 'encoded', type: 'helper' },
    { id: 'catcher', type: 'catch', wires: [['errors']] },
    { id: 'errors', type: 'helper' },
  ];
  cases.forEach((c, i) => {
    const field: Record<string, unknown> = { name: 'v', register: c.offset, type: c.type, order: c.order };
    if (c.scale !== undefined) field.scale = c.scale;
    if (c.add !== undefined) field.offset = c.add;
    if (c.length !== undefined) field.length = c.length;
    if (c.bit !== undefined) field.bit = c.bit;
    // the node-wide order is deliberately wrong: the per-field order must win
    const nodeOrder = c.order === 'ABCD' ? 'DCBA' : 'ABCD';
    const encodeField = { ...field, register: 0 };
    flow.push(
      { id: `d${i}`, type: 'modbus-decode', fields: [field], order: nodeOrder, wires: [['decoded', `e${i}`]] },
      { id: `e${i}`, type: 'modbus-encode', fields: [encodeField], order: nodeOrder, wires: [['encoded']] },
    );
  });
  // one tab, as an editor export has it (Catch nodes act per tab)
  await loadFlow(['modbus-decode', 'modbus-encode'], [{ id: 'tab', type: 'tab' }, ...flow.map((n) => ({ ...n, z: 'tab' }))]);
});

after(unloadFlow);

test(`all ${cases.length} decode vectors pass through modbus-decode and back through modbus-encode`, { skip }, async () => {
  const decoded = nextMessages('decoded', cases.length, 60000);
  const encoded = nextMessages('encoded', cases.length, 60000);
  getNode('errors').on('input', (m: Msg) => received.errors.push(m));
  cases.forEach((c, i) => inject(`d${i}`, { payload: c.registers, caseIndex: i }));
  received.decoded = await decoded;
  received.encoded = await encoded;
  assert.equal(received.errors.length, 0, `errors: ${JSON.stringify(received.errors.map((m) => m.error))}`);

  const decodeFailures: string[] = [];
  for (const msg of received.decoded) {
    const c = cases[msg.caseIndex as number]!;
    const got = (msg.payload as Record<string, unknown>).v;
    if (!matches(c, got)) decodeFailures.push(`case ${msg.caseIndex as number} ${JSON.stringify(c)}: got ${String(got)}`);
    assert.deepEqual(msg.registers, c.registers);
  }
  const encodeFailures: string[] = [];
  for (const msg of received.encoded) {
    const c = cases[msg.caseIndex as number]!;
    const regs = msg.payload as number[];
    if (c.type === 'bit') {
      if (((regs[0]! >> c.bit!) & 1) !== (c.value ? 1 : 0)) encodeFailures.push(`case ${msg.caseIndex as number}: bit`);
      continue;
    }
    const width = c.type === 'string' ? c.length! : WIDTH[c.type]!;
    const want = c.registers.slice(c.offset, c.offset + width);
    if (JSON.stringify(regs) !== JSON.stringify(want)) encodeFailures.push(`case ${msg.caseIndex as number} ${JSON.stringify(c)}: got ${JSON.stringify(regs)}`);
  }
  const decodePass = cases.length - decodeFailures.length;
  const encodePass = cases.length - encodeFailures.length;
  console.log(`modbus conformance: decode ${decodePass}/${cases.length} pass, encode round trip ${encodePass}/${cases.length} pass`);
  assert.deepEqual(decodeFailures, []);
  assert.deepEqual(encodeFailures, []);
});
