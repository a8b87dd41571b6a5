/**
 * onnx-model: one shared session per config node, released on redeploy; hot reload by file watch
 * and by message (good file, corrupt file, removed file, incompatible model) with the old model
 * serving until a checked new one is swapped in; the editor's model-info admin endpoint.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getNode, helper, inject, loadFlow, nextMessage, nextMessages, nextStatus, nodeModule, unloadFlow } from './helpers/flow';
import type { FlowNode, Msg } from './helpers/flow';
import { mlpModel, mlpReference } from './helpers/onnx-models';
import type { Mlp } from './helpers/onnx-models';
import { modelCardToMetadata } from '../src/lib/model-card';
import type { OnnxModelNode } from '../src/nodes/onnx-model/types';

const TYPES = ['onnx-model', 'onnx-infer'];
let root: string;
let counter = 0;
const modelV1 = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 21 });
const modelV2 = mlpModel({ inputs: 4, hidden: 6, outputs: 3, seed: 22 });
const incompatible = mlpModel({ inputs: 5, hidden: 6, outputs: 3, seed: 23 });

before(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'onnx-model-test-'));
});
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => unloadFlow());

/** A fresh directory per test, so no test sees another's file events. */
function freshDir(): string {
  const dir = path.join(root, `t${++counter}`);
  mkdirSync(dir);
  return dir;
}

/** Replaces a file the way deploy tools do: write beside it, then rename over it. */
function replaceFile(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

function flow(modelFile: string, watch: boolean, users = 1): FlowNode[] {
  const nodes: FlowNode[] = [
    { id: 'f1', type: 'tab' },
    { id: 'model', type: 'onnx-model', path: modelFile, watch, threads: '1' },
    { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  ];
  for (let i = 0; i < users; i++) {
    const suffix = i === 0 ? '' : String(i);
    nodes.push({ id: `infer${suffix}`, type: 'onnx-infer', z: 'f1', model: 'model', property: 'payload', queueSize: '100', overflow: 'error', wires: [[`out${suffix}`]] });
    nodes.push({ id: `out${suffix}`, type: 'helper', z: 'f1' });
  }
  return nodes;
}

const session = () => (getNode('model') as OnnxModelNode).session!;
const sha = (msg: Msg): string => (msg.model as { sha256: string }).sha256;
const yData = (msg: Msg): number[] => (msg.payload as Record<string, { data: number[] }>).y!.data;

function assertAnsweredBy(msg: Msg, model: Mlp, row: number[]): void {
  const expected = mlpReference(model, [row])[0]!;
  yData(msg).forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `element ${i}: ${v} vs ${expected[i]}`));
}

async function ask(row: number[], id = 'infer', out = 'out'): Promise<Msg> {
  const got = nextMessage(out);
  inject(id, { payload: row });
  return got;
}

test('one session serves every onnx-infer that uses the config node, and redeploys release it', async () => {
  const mod = nodeModule('onnx-model') as { liveModelSessions(): number; liveSessionWorkers(): number };
  const dir = freshDir();
  const file = path.join(dir, 'm.onnx');
  writeFileSync(file, modelV1.bytes);
  const nodes = flow(file, false, 2);
  await loadFlow(TYPES, nodes);
  const [a, b] = await Promise.all([ask([1, 2, 3, 4]), ask([4, 3, 2, 1], 'infer1', 'out1')]);
  assert.equal(sha(a), sha(b));
  assert.equal(mod.liveModelSessions(), 1);
  assert.equal(mod.liveSessionWorkers(), 1);

  for (let i = 0; i < 20; i++) {
    await helper.setFlows(nodes, 'full');
    assert.equal(mod.liveModelSessions(), 1, `after full redeploy ${i + 1}`);
  }
  assertAnsweredBy(await ask([1, 1, 1, 1]), modelV1, [1, 1, 1, 1]);

  // Redeploying only one user leaves the other holding the session.
  const changed = nodes.map((n) => (n.id === 'infer1' ? { ...n, name: 'renamed' } : n));
  await helper.setFlows(changed, 'nodes');
  assert.equal(mod.liveModelSessions(), 1);
  assertAnsweredBy(await ask([2, 2, 2, 2], 'infer1', 'out1'), modelV1, [2, 2, 2, 2]);

  await unloadFlow();
  assert.equal(mod.liveModelSessions(), 0);
  // The one worker thread is kept (idle, not holding the process open) and reused: never more than one.
  assert.equal(mod.liveSessionWorkers(), 1);
  await loadFlow(TYPES, nodes);
  assertAnsweredBy(await ask([0, 1, 0, 1]), modelV1, [0, 1, 0, 1]);
  assert.equal(mod.liveSessionWorkers(), 1);
});

test('watch: a good new file is checked and swapped in; the next message gets the new model', async () => {
  const dir = freshDir();
  const file = path.join(dir, 'm.onnx');
  writeFileSync(file, modelV1.bytes);
  await loadFlow(TYPES, flow(file, true));
  const before = await ask([1, 2, 3, 4]);
  assertAnsweredBy(before, modelV1, [1, 2, 3, 4]);
  const reloaded = new Promise((resolve) => session().once('reloaded', resolve));
  replaceFile(file, modelV2.bytes);
  await reloaded;
  const afterMsg = await ask([1, 2, 3, 4]);
  assert.notEqual(sha(afterMsg), sha(before));
  assertAnsweredBy(afterMsg, modelV2, [1, 2, 3, 4]);
});

for (const [what, change] of [
  ['a corrupt file', (file: string) => replaceFile(file, Buffer.from('garbage, not a model'))],
  ['a removed file', (file: string) => unlinkSync(file)],
  ['an incompatible model', (file: string) => replaceFile(file, incompatible.bytes)],
] as const) {
  test(`watch: ${what} is refused with EDGEML_ONNX_RELOAD_FAILED and the old model keeps serving`, async () => {
    const dir = freshDir();
    const file = path.join(dir, 'm.onnx');
    writeFileSync(file, modelV1.bytes);
    await loadFlow(TYPES, flow(file, true));
    const first = await ask([1, 2, 3, 4]);
    const caught = nextMessage('caught');
    const warned = nextStatus('infer', (s) => s.fill === 'yellow' && s.shape === 'dot');
    change(file);
    const err = (await caught).error as { code: string; message: string };
    assert.equal(err.code, 'EDGEML_ONNX_RELOAD_FAILED');
    await warned;
    const next = await ask([1, 2, 3, 4]);
    assert.equal(sha(next), sha(first));
    assertAnsweredBy(next, modelV1, [1, 2, 3, 4]);
  });
}

test('msg.reload swaps the model; no message is lost or half-answered during the swap', async () => {
  const dir = freshDir();
  const file = path.join(dir, 'm.onnx');
  writeFileSync(file, modelV1.bytes);
  await loadFlow(TYPES, flow(file, false));
  const v1 = sha(await ask([0, 0, 0, 0]));
  replaceFile(file, modelV2.bytes);
  const rows = Array.from({ length: 40 }, (_, i) => [i, 1, -i, 2]);
  const outs = nextMessages('out', rows.length + 1);
  rows.forEach((row, i) => {
    if (i === 20) inject('infer', { reload: true });
    inject('infer', { payload: row, seq: i });
  });
  const got = await outs;
  const reloadAnswer = got.find((m) => m.seq === undefined)!;
  assert.equal((reloadAnswer.payload as { reloaded: boolean }).reloaded, true);
  const v2 = sha(reloadAnswer);
  assert.notEqual(v2, v1);
  for (const m of got.filter((x) => x.seq !== undefined)) {
    const row = rows[m.seq as number]!;
    assert.ok(sha(m) === v1 || sha(m) === v2);
    assertAnsweredBy(m, sha(m) === v1 ? modelV1 : modelV2, row);
  }
  // an unchanged file is not reloaded again
  const again = nextMessage('out');
  inject('infer', { reload: true });
  assert.equal(((await again).payload as { reloaded: boolean }).reloaded, false);
  // an incompatible file fails the reload message with a code; the current model keeps serving
  replaceFile(file, incompatible.bytes);
  const caught = nextMessage('caught');
  inject('infer', { reload: true });
  assert.equal(((await caught).error as { code: string }).code, 'EDGEML_ONNX_RELOAD_FAILED');
  assert.equal(sha(await ask([1, 2, 3, 4])), v2);
});

test('a model that failed to load recovers when a good file appears', async () => {
  const dir = freshDir();
  const file = path.join(dir, 'm.onnx');
  await loadFlow(TYPES, flow(file, true));
  await nextStatus('infer', (s) => s.fill === 'red');
  const ready = nextStatus('infer', (s) => s.fill === 'green');
  replaceFile(file, modelV1.bytes);
  await ready;
  assertAnsweredBy(await ask([3, 2, 1, 0]), modelV1, [3, 2, 1, 0]);
});

test('a model path that is a symbolic link loads the file it points to', async () => {
  const dir = freshDir();
  writeFileSync(path.join(dir, 'v1.onnx'), modelV1.bytes);
  symlinkSync(path.join(dir, 'v1.onnx'), path.join(dir, 'current.onnx'));
  await loadFlow(TYPES, flow(path.join(dir, 'current.onnx'), false));
  assertAnsweredBy(await ask([1, 0, 0, 1]), modelV1, [1, 0, 0, 1]);
  assert.equal((getNode('model') as OnnxModelNode).modelName(), 'mlp');
});

test('a FIFO as the model path: red status "not a regular file", nothing blocks, the flow keeps answering', async () => {
  const dir = freshDir();
  const fifo = path.join(dir, 'pipe.onnx');
  execFileSync('mkfifo', [fifo]);
  await loadFlow(TYPES, flow(fifo, false));
  await nextStatus('infer', (s) => s.fill === 'red');
  assert.equal((getNode('model') as OnnxModelNode).modelName(), undefined);
  const caught = nextMessage('caught');
  inject('infer', { payload: [1, 2, 3, 4] });
  const err = (await caught).error as { code: string; message: string };
  assert.equal(err.code, 'EDGEML_ONNX_MODEL_NOT_LOADED');
  assert.match(err.message, /not a regular file/);
  // the file threads are free: another model loads and answers
  await unloadFlow();
  writeFileSync(path.join(dir, 'good.onnx'), modelV1.bytes);
  await loadFlow(TYPES, flow(path.join(dir, 'good.onnx'), false));
  assertAnsweredBy(await ask([0, 1, 1, 0]), modelV1, [0, 1, 1, 0]);
});

test('a relative path is resolved against the Node-RED user directory', async () => {
  const dir = freshDir();
  writeFileSync(path.join(dir, 'rel.onnx'), modelV1.bytes);
  helper.settings({ userDir: dir });
  try {
    await loadFlow(TYPES, flow('rel.onnx', false));
    assertAnsweredBy(await ask([1, 0, 1, 0]), modelV1, [1, 0, 1, 0]);
  } finally {
    helper.settings({ userDir: undefined });
  }
});

test('the model-info admin endpoint lists inputs, outputs, shapes and metadata', async (t) => {
  const dir = freshDir();
  const file = path.join(dir, 'card.onnx');
  const card = { name: 'pump', version: '3', features: ['a', 'b', 'c', 'd'], labels: ['ok', 'warn', 'bad'] };
  writeFileSync(file, mlpModel({ inputs: 4, hidden: 5, outputs: 3, metadata: modelCardToMetadata(card) }).bytes);
  // the endpoint reads models inside the user directory only (test/onnx-model-info-confinement.test.ts)
  helper.settings({ userDir: dir });
  t.after(() => helper.settings({ userDir: undefined }));
  await loadFlow(TYPES, flow(file, false));
  const res = await helper.request().get('/edge-ml/model-info').query({ path: file }).expect(200);
  assert.equal(res.body.name, 'pump');
  assert.equal(res.body.version, '3');
  assert.deepEqual(res.body.inputs, [{ name: 'x', isTensor: true, dtype: 'float32', dims: ['batch', 4] }]);
  assert.deepEqual(res.body.outputs, [{ name: 'y', isTensor: true, dtype: 'float32', dims: ['batch', 3] }]);
  assert.equal(res.body.metadata['edgeml.features'], JSON.stringify(card.features));
  assert.deepEqual(res.body.card.labels, card.labels);
  const missing = await helper
    .request()
    .get('/edge-ml/model-info')
    .query({ path: path.join(dir, 'nope.onnx') })
    .expect(404);
  assert.equal(missing.body.code, 'EDGEML_ONNX_LOAD_FAILED');
  const corrupt = path.join(dir, 'bad.onnx');
  writeFileSync(corrupt, 'not a model');
  const bad = await helper.request().get('/edge-ml/model-info').query({ path: corrupt }).expect(422);
  assert.equal(bad.body.code, 'EDGEML_ONNX_MODEL_INVALID');
});
