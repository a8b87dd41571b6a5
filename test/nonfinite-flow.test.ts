/**
 * A broken sensor must never be published as a normal prediction: float32 +Infinity / -Infinity
 * registers (0x7F80 0x0000 / 0xFF80 0x0000) through modbus-decode -> ml-guard -> onnx-infer ->
 * ml-format yield no label at any layer: ml-guard routes them (the example's policy); with that
 * check off onnx-infer refuses them (the card's edgeml.nan); with a card that allows NaN, ml-format
 * refuses the non-finite scores the model answers. After each, a good reading still gets a label.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getNode, inject, loadFlow, ROOT, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { mlpModel, mlpReference, type Mlp } from './helpers/onnx-models';
import { PUMP_MODEL, pumpCard } from './helpers/pump-reference';
import { modelCardToMetadata } from '../src/lib/model-card';

const TYPES = ['modbus-decode', 'ml-guard', 'onnx-model', 'onnx-infer', 'ml-format'];
const FEATURES = pumpCard.features!;
const example = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'classic-modbus-onnx-mqtt.json'), 'utf8')) as FlowNode[];
const of = (type: string): FlowNode => ({ ...example.find((n) => n.type === type)! });

/** float32 big-endian words of each value (ABCD): an independent encoder, not the package's codec. */
function registersOf(values: number[]): number[] {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatBE(v, i * 4));
  return Array.from({ length: values.length * 2 }, (_, i) => b.readUInt16BE(i * 2));
}
/** The middle of each card range: a plausible reading. */
const good = FEATURES.map((f) => {
  const [lo, hi] = pumpCard.ranges![f]!;
  return (lo + hi) / 2;
});

let dir: string;
let allowPath: string;
let allowMlp: Mlp;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nonfinite-'));
  // The same features as the pump, but a card that lets NaN and infinities through to the model.
  allowMlp = mlpModel({
    inputs: FEATURES.length,
    hidden: 8,
    outputs: 3,
    seed: 5,
    metadata: modelCardToMetadata({ name: 'allows-nan', version: '1.0.0', task: 'classification', features: FEATURES, labels: ['normal', 'worn', 'blocked'], nan: 'allow' }),
  });
  allowPath = path.join(dir, 'allow.onnx');
  writeFileSync(allowPath, allowMlp.bytes);
});
after(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => unloadFlow());

function chain(modelPath: string, guardPolicy: string, format: Record<string, unknown> = {}): FlowNode[] {
  const guard = of('ml-guard');
  return [
    { id: 'tab', type: 'tab' },
    { id: 'model', type: 'onnx-model', path: modelPath, watch: false, threads: '1' },
    { ...of('modbus-decode'), id: 'decode', z: 'tab', order: 'ABCD', addressing: 'relative', wires: [['guard']] },
    { ...guard, id: 'guard', z: 'tab', model: 'model', policies: { ...(guard.policies as object), nan: guardPolicy }, wires: [['infer'], ['rejected']] },
    { ...of('onnx-infer'), id: 'infer', z: 'tab', model: 'model', wires: [['format']] },
    { ...of('ml-format'), id: 'format', z: 'tab', ...format, wires: [['out'], []] },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'rejected', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
}

/** Sends each reading and collects, per reading, where it ended: a published payload, a rejection or an error. */
async function run(readings: number[][]): Promise<Array<{ at: string; msg: Msg }>> {
  const results: Array<{ at: string; msg: Msg }> = [];
  for (const values of readings) {
    const ended = new Promise<{ at: string; msg: Msg }>((resolve) => {
      const ids = ['out', 'rejected', 'caught'];
      const listeners = ids.map((id) => {
        const l = (msg: Msg): void => {
          ids.forEach((other, i) => getNode(other).removeListener('input', listeners[i]!));
          resolve({ at: id, msg });
        };
        getNode(id).on('input', l);
        return l;
      });
    });
    inject('decode', { payload: registersOf(values), topic: 'pump' });
    results.push(await ended);
  }
  return results;
}

const withValue = (v: number, at: number): number[] => good.map((x, i) => (i === at ? v : x));
const BAD = [
  { name: '+Infinity', value: Infinity, words: [0x7f80, 0x0000] },
  { name: '-Infinity', value: -Infinity, words: [0xff80, 0x0000] },
];

describe('float32 infinities from Modbus never yield a published label', () => {
  test('the independent encoder gives the registers of the issue', () => {
    for (const b of BAD) assert.deepEqual(registersOf([b.value]), b.words);
  });

  for (const b of BAD) {
    test(`${b.name}: ml-guard routes it as a nan finding (the example's policy); the next good reading is predicted`, async () => {
      await loadFlow(TYPES, chain(PUMP_MODEL, 'route'));
      const [bad, ok] = await run([withValue(b.value, 2), good]);
      assert.equal(bad!.at, 'rejected');
      assert.match(JSON.stringify(bad!.msg.guard), /nan/);
      assert.equal(ok!.at, 'out');
      assert.equal(typeof (ok!.msg.payload as { label?: unknown }).label, 'string');
    });

    test(`${b.name}: with ml-guard's check off, onnx-infer refuses it (EDGEML_ONNX_NAN, the card forbids NaN)`, async () => {
      await loadFlow(TYPES, chain(PUMP_MODEL, 'off'));
      const [bad, ok] = await run([withValue(b.value, 0), good]);
      assert.equal(bad!.at, 'caught');
      assert.equal((bad!.msg.error as { code?: string }).code, 'EDGEML_ONNX_NAN');
      assert.equal((bad!.msg.error as { source?: { id?: string } }).source?.id, 'infer');
      assert.equal(ok!.at, 'out');
      assert.equal(typeof (ok!.msg.payload as { label?: unknown }).label, 'string');
    });

    test(`${b.name}: with a card that allows NaN, ml-format refuses the model's non-finite scores (EDGEML_FORMAT_NONFINITE)`, async () => {
      // Precondition from the model's own maths (relu MLP in plain JS): the scores are not finite.
      const reference = mlpReference(allowMlp, [withValue(b.value, 1)])[0]!;
      assert.ok(
        reference.some((v) => !Number.isFinite(v)),
        `reference scores ${reference.join(', ')}`,
      );
      // (the example's passthrough names the pump model's outputs; this model has only y)
      await loadFlow(TYPES, chain(allowPath, 'off', { passthrough: '' }));
      const [bad, ok] = await run([withValue(b.value, 1), good]);
      assert.equal(bad!.at, 'caught');
      assert.equal((bad!.msg.error as { code?: string }).code, 'EDGEML_FORMAT_NONFINITE');
      assert.equal((bad!.msg.error as { source?: { id?: string } }).source?.id, 'format');
      assert.equal(ok!.at, 'out', JSON.stringify(ok!.msg.error));
      assert.ok(['normal', 'worn', 'blocked', 'unknown'].includes((ok!.msg.payload as { label: string }).label));
    });
  }
});
