/**
 * The editor's model picker and upload on Node-RED's admin API (real runtime, real HTTP through
 * the test helper): the list holds the user directory's .onnx files and the package's models;
 * an upload lands in <userDir>/models under a sanitized name, never outside, never over a file,
 * within the size limit, and only when it is an ONNX model.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, loadFlow, ROOT, unloadFlow } from './helpers/flow';
import { PUMP_MODEL } from './helpers/pump-reference';
import { sanitizeModelName } from '../src/nodes/onnx-model/model-files';

const dirs: string[] = [];
afterEach(async () => {
  await unloadFlow();
  helper.settings({ userDir: undefined });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(extra: Record<string, unknown> = {}): Promise<string> {
  const userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-models-'));
  dirs.push(userDir);
  helper.settings({ userDir, ...extra });
  await loadFlow(['onnx-model'], [{ id: 'tab', type: 'tab' }]);
  return userDir;
}

const model = readFileSync(PUMP_MODEL);

test('names are sanitized: the last path part, safe characters, .onnx', () => {
  assert.equal(sanitizeModelName('../../etc/pump v2.onnx'), 'pump_v2.onnx');
  assert.equal(sanitizeModelName('C:\\models\\a.onnx'), 'a.onnx');
  assert.equal(sanitizeModelName('..hidden.onnx'), 'hidden.onnx');
  assert.equal(sanitizeModelName('model.onnx.exe'), undefined);
  assert.equal(sanitizeModelName('.onnx'), undefined);
});

test('the list holds the user directory models and the package models, not node_modules', async () => {
  const userDir = await start();
  mkdirSync(path.join(userDir, 'lines', 'l1'), { recursive: true });
  writeFileSync(path.join(userDir, 'lines', 'l1', 'press.onnx'), model);
  mkdirSync(path.join(userDir, 'node_modules', 'x'), { recursive: true });
  writeFileSync(path.join(userDir, 'node_modules', 'x', 'hidden.onnx'), model);
  writeFileSync(path.join(userDir, 'notes.txt'), 'not a model');
  const res = await helper.request().get('/edge-ml/models').expect(200);
  const files = res.body.files as Array<{ path: string; source: string; sizeBytes: number }>;
  assert.ok(files.some((f) => f.path === path.join('lines', 'l1', 'press.onnx') && f.source === 'user' && f.sizeBytes === model.length));
  const packaged = readdirSync(path.join(ROOT, 'models')).filter((f) => f.endsWith('.onnx'));
  for (const name of packaged)
    assert.ok(
      files.some((f) => f.source === 'package' && path.basename(f.path) === name),
      `package model ${name} listed`,
    );
  assert.ok(!files.some((f) => f.path.includes('node_modules')), 'nothing from node_modules');
});

test('an upload is written to <userDir>/models under its sanitized name and can then be chosen', async () => {
  const userDir = await start();
  const res = await helper.request().post('/edge-ml/models').query({ name: '../../outside.onnx' }).set('Content-Type', 'application/octet-stream').send(model).expect(200);
  assert.equal(res.body.file.path, path.join('models', 'outside.onnx'));
  assert.deepEqual(readFileSync(path.join(userDir, 'models', 'outside.onnx')), model);
  assert.ok(!existsSync(path.join(userDir, '..', 'outside.onnx')) && !existsSync(path.join(path.dirname(userDir), '..', 'outside.onnx')), 'nothing outside the user directory');
  assert.deepEqual(readdirSync(path.join(userDir, 'models')), ['outside.onnx'], 'no temporary file left');
  const list = await helper.request().get('/edge-ml/models').expect(200);
  assert.ok((list.body.files as Array<{ path: string }>).some((f) => f.path === path.join('models', 'outside.onnx')));
});

test('bad uploads are refused with a code and leave nothing behind', async () => {
  const userDir = await start({ edgeMl: { uploadMaxBytes: model.length + 10 } });
  const post = (name: string, body: Buffer) => helper.request().post('/edge-ml/models').query({ name }).set('Content-Type', 'application/octet-stream').send(body);
  assert.equal((await post('run.sh', model).expect(400)).body.code, 'EDGEML_ONNX_UPLOAD_NAME');
  assert.equal((await post('big.onnx', Buffer.alloc(model.length + 11)).expect(413)).body.code, 'EDGEML_ONNX_UPLOAD_TOO_LARGE');
  assert.equal((await post('junk.onnx', Buffer.from('not a protobuf at all \u00ff\u00ff\u00ff')).expect(422)).body.code, 'EDGEML_ONNX_MODEL_INVALID');
  await post('one.onnx', model).expect(200);
  assert.equal((await post('one.onnx', model).expect(409)).body.code, 'EDGEML_ONNX_UPLOAD_EXISTS');
  assert.deepEqual(readdirSync(path.join(userDir, 'models')), ['one.onnx']);
  // the runtime still answers afterwards
  await helper.request().get('/edge-ml/models').expect(200);
});
