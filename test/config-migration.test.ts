/**
 * Config versions and migrations: a node saved before configs had a version (0.1.x) is brought
 * to the current version by the runtime, step by step; defaults fill what an old flow lacks.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { defineConfig, editorDefaults, numberOrText, resolveConfig, typedLikeDefaults, versionOf } from '../src/nodes/shared/config';
import { ONNX_INFER_CONFIG } from '../src/nodes/onnx-infer/config';
import { MODBUS_SERVER_IN_CONFIG } from '../src/nodes/modbus-server-in/config';
import { ML_FORMAT_CONFIG } from '../src/nodes/ml-format/config';
import { ML_DRIFT_CONFIG } from '../src/nodes/ml-drift/config';
import { DEFAULT_DRIFT_OPTIONS } from '../src/lib/drift/drift';
import { type FlowNode, inject, loadFlow, nextMessage, unloadFlow } from './helpers/flow';

afterEach(() => unloadFlow());

test('steps run from the saved version to the current one, in order, and defaults fill the gaps', () => {
  const seen: number[] = [];
  const spec = defineConfig({ a: '1', b: false }, [(c) => (seen.push(0), { ...c, a: String(c.a) }), (c) => (seen.push(1), { ...c, renamed: c.old, old: undefined })]);
  assert.equal(spec.version, 2);
  const fromZero = resolveConfig(spec, { a: 7, old: 'x', other: 'kept' });
  assert.deepEqual(seen, [0, 1]);
  assert.equal(fromZero.a, '7');
  assert.equal((fromZero as Record<string, unknown>).renamed, 'x', 'a step may add properties');
  assert.equal(fromZero.b, false, 'a missing property takes its default');
  assert.equal(fromZero.other, 'kept', 'properties the spec does not know are kept');
  assert.equal(fromZero.configVersion, 2);
  seen.length = 0;
  resolveConfig(spec, { configVersion: 1, a: '2' });
  assert.deepEqual(seen, [1], 'a version-1 config runs only the step from 1');
  seen.length = 0;
  const newer = resolveConfig(spec, { configVersion: 5, a: '3' });
  assert.deepEqual(seen, [], 'nothing runs backwards');
  assert.equal(newer.configVersion, 5);
  assert.equal(versionOf({ configVersion: 'garbage' }), 0);
});

test('the editor defaults are the spec defaults, with the current version for new nodes', () => {
  const d = editorDefaults(ML_FORMAT_CONFIG, { topK: { required: true } });
  for (const [key, value] of Object.entries(ML_FORMAT_CONFIG.defaults)) assert.deepEqual(d[key as keyof typeof d].value, value, key);
  assert.equal(d.configVersion.value, ML_FORMAT_CONFIG.version);
  assert.equal(d.topK.required, true);
});

test('ml-format 0 -> 1: numbers saved as numbers become strings, "false" becomes false', () => {
  const migrated = resolveConfig(ML_FORMAT_CONFIG, { topK: 2, minSamples: 3, keepCard: 'false', includeFeatures: 'true' });
  assert.equal(migrated.topK, '2');
  assert.equal(migrated.minSamples, '3');
  assert.equal(migrated.keepCard, false);
  assert.equal(migrated.includeFeatures, true);
  assert.equal(migrated.task, 'auto');
  assert.equal(migrated.configVersion, 1);
});

test('an ml-format node saved by 0.1 (no version, numbers, "false") runs as configured', async () => {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    // as a hand-written or 0.1.x flow saved it: no configVersion, topK a number, keepCard a string
    { id: 'f', z: 'tab', type: 'ml-format', task: 'classification', labels: 'a,b,c', logits: 'false', topK: 1, keepCard: 'false', wires: [['out'], []] },
    { id: 'out', z: 'tab', type: 'helper' },
  ];
  await loadFlow(['ml-format'], flow);
  const got = nextMessage('out');
  inject('f', { payload: { p: { dtype: 'float32', dims: [1, 3], data: [0.2, 0.5, 0.3] } }, modelCard: { name: 'm' }, model: { name: 'm', version: '1', sha256: 'a'.repeat(64) } });
  const msg = await got;
  const payload = msg.payload as { label: string; topk: unknown[] };
  assert.equal(payload.label, 'b');
  assert.equal(payload.topk.length, 1, 'topK 1 (saved as a number) is applied');
  assert.equal(msg.modelCard, undefined, 'keepCard "false" is applied');
});

test('ml-drift 0 -> 1: numbers become strings; its defaults are the library defaults', () => {
  const migrated = resolveConfig(ML_DRIFT_CONFIG, { window: 64, ksAlarm: 0.005 });
  assert.equal(migrated.window, '64');
  assert.equal(migrated.ksAlarm, '0.005');
  assert.equal(Number(migrated.bins), DEFAULT_DRIFT_OPTIONS.bins);
  assert.equal(Number(migrated.psiAlarm), DEFAULT_DRIFT_OPTIONS.psi.alarm);
  assert.equal(migrated.configVersion, 1);
});

test('typedLikeDefaults (0 -> 1 of the other nodes): loose values become the types of the defaults, nothing else changes', () => {
  const spec = defineConfig({ size: '100', on: false, limit: numberOrText(10), list: [] as string[] }, []);
  const step = typedLikeDefaults(spec.defaults);
  const migrated = step({ size: 64, on: 'true', limit: 7, list: ['a'], other: 5 });
  assert.deepEqual(migrated, { size: '64', on: true, limit: 7, list: ['a'], other: 5 }, 'a number default keeps a number, unknown properties are left alone');
  assert.equal(step({ on: 'yes' }).on, 'yes', 'only "true"/"false" are booleans');
});

test('onnx-infer 0 -> 1: batch "false", which 0.1 read as true, becomes false; sizes become text', () => {
  const migrated = resolveConfig(ONNX_INFER_CONFIG, { batch: 'false', queueSize: 10, maxBatch: 4 });
  assert.equal(migrated.batch, false);
  assert.equal(migrated.queueSize, '10');
  assert.equal(migrated.maxBatch, '4');
  assert.equal(migrated.configVersion, 1);
});

test('modbus-server-in 0 -> 1: a flow without frameAllWritten keeps what 0.1 did (false); a new node gets true', () => {
  assert.equal(resolveConfig(MODBUS_SERVER_IN_CONFIG, { mode: 'frame', port: 1502 }).frameAllWritten, false);
  assert.equal(resolveConfig(MODBUS_SERVER_IN_CONFIG, { mode: 'frame', port: 1502 }).port, '1502');
  assert.equal(resolveConfig(MODBUS_SERVER_IN_CONFIG, { configVersion: 1, mode: 'frame' }).frameAllWritten, MODBUS_SERVER_IN_CONFIG.defaults.frameAllWritten);
  assert.equal(resolveConfig(MODBUS_SERVER_IN_CONFIG, { frameAllWritten: true }).frameAllWritten, true);
});
