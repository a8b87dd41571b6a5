/**
 * The editor's GET /edge-ml/model-info?path= on a real Node-RED with adminAuth on and a read-only
 * user: only model files inside the user directory, the package's example models and
 * edgeMl.modelDirs are read (symlinks resolved first); outside, missing and not-a-regular-file get
 * one and the same 404; /dev/zero does not grow the process; a FIFO never blocks Node's file thread
 * pool (4 parallel requests, then a deploy still answers); a file over edgeMl.modelInfoMaxBytes is
 * refused with EDGEML_ONNX_MODEL_TOO_LARGE.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, startNodeRed } from './helpers/nodered-process';
import type { NodeRedProcess } from './helpers/nodered-process';
import { mlpModel } from './helpers/onnx-models';
import { readModelInfo } from '../src/lib/onnx/model-file';

const PUMP = path.join(ROOT, 'models', 'pump-classifier.onnx');
const inside = mlpModel({ inputs: 3, hidden: 4, outputs: 2, seed: 5, name: 'inside' });
const outsideModel = mlpModel({ inputs: 6, hidden: 4, outputs: 2, seed: 6, name: 'outside' });
/** Room for the small models (and the 400 kB deep one), not for the big one. */
const MAX_BYTES = 1024 * 1024;
const big = mlpModel({ inputs: 600, hidden: 500, outputs: 2, seed: 7, name: 'big' });

let red: NodeRedProcess;
let work: string;
let userDir: string;
let outsideDir: string;
let extraDir: string;
let readToken: string;
let adminToken: string;

// adminAuth with a custom authenticate (no password hashes to compute): "reader" may only read,
// "admin" may deploy.
const AUTH_SOURCE = `
settings.adminAuth = {
  type: 'credentials',
  users: (username) => Promise.resolve(username === 'reader' ? { username, permissions: 'read' } : username === 'admin' ? { username, permissions: '*' } : null),
  authenticate: (username, password) =>
    Promise.resolve(password === 'pw-' + username && (username === 'reader' || username === 'admin') ? { username, permissions: username === 'reader' ? 'read' : '*' } : null),
};
`;

async function login(username: string): Promise<string> {
  const res = await fetch(`${red.url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: username === 'reader' ? 'read' : '*', username, password: `pw-${username}` }),
  });
  assert.equal(res.status, 200, `login ${username}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

interface Answer {
  status: number;
  body: { code?: string; message?: string; params?: Record<string, unknown>; name?: string; inputs?: Array<{ dims: unknown[] }> };
}

/** One model-info request; a hang turns into a failure after `timeoutMs`, not a stuck test. */
async function modelInfo(file: string, token = readToken, timeoutMs = 15_000): Promise<Answer> {
  const res = await fetch(`${red.url}/edge-ml/model-info?path=${encodeURIComponent(file)}`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'edgeml-modelinfo-'));
  userDir = path.join(work, 'user');
  outsideDir = path.join(work, 'outside');
  extraDir = path.join(work, 'extra');
  for (const d of [userDir, outsideDir, extraDir]) mkdirSync(d);
  writeFileSync(path.join(userDir, 'inside.onnx'), inside.bytes);
  writeFileSync(path.join(userDir, 'big.onnx'), big.bytes);
  writeFileSync(path.join(outsideDir, 'secret.onnx'), outsideModel.bytes);
  writeFileSync(path.join(extraDir, 'extra.onnx'), inside.bytes);
  symlinkSync(path.join(outsideDir, 'secret.onnx'), path.join(userDir, 'link-out.onnx'));
  symlinkSync('/dev/zero', path.join(userDir, 'zero.onnx'));
  symlinkSync(path.join(userDir, 'inside.onnx'), path.join(userDir, 'link-in.onnx'));
  // 200,000 nested protobuf groups after a valid model: refused, not a stack overflow in the worker
  const deep = new Uint8Array(inside.bytes.byteLength + 400_000);
  deep.set(inside.bytes);
  for (let i = 0; i < 200_000; i++) deep.set([0x9b, 0x06], inside.bytes.byteLength + i * 2);
  writeFileSync(path.join(userDir, 'deep.onnx'), deep);
  execFileSync('mkfifo', [path.join(userDir, 'pipe.onnx')]);
  red = await startNodeRed({
    userDir,
    nodesDir: ROOT,
    flows: [{ id: 'f1', type: 'tab', label: 'model-info' }],
    settings: { edgeMl: { modelInfoMaxBytes: MAX_BYTES, modelDirs: [extraDir] } },
    settingsSource: AUTH_SOURCE,
  });
  readToken = await login('reader');
  adminToken = await login('admin');
});

after(async () => {
  await red?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('without a token the endpoint answers 401', async () => {
  const res = await fetch(`${red.url}/edge-ml/model-info?path=inside.onnx`);
  assert.equal(res.status, 401);
});

test('a read-only user reads models inside the user directory, the example models and edgeMl.modelDirs', async () => {
  for (const [file, expected] of [
    ['inside.onnx', inside.bytes],
    [path.join(userDir, 'inside.onnx'), inside.bytes],
    ['link-in.onnx', inside.bytes],
    [PUMP, readFileSync(PUMP)],
    [path.join(extraDir, 'extra.onnx'), inside.bytes],
  ] as const) {
    const answer = await modelInfo(file);
    assert.equal(answer.status, 200, `${file}: ${JSON.stringify(answer.body)}`);
    const info = readModelInfo(expected);
    assert.equal(answer.body.inputs?.[0]?.dims.length, info.inputs[0]!.dims.length, file);
    assert.deepEqual(answer.body.inputs?.[0]?.dims, info.inputs[0]!.dims, file);
  }
});

test('outside, missing and not a regular file: the same 404 with one generic reason', async () => {
  const missing = await modelInfo('nope.onnx');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'EDGEML_ONNX_LOAD_FAILED');
  const reason = missing.body.params?.reason;
  assert.equal(typeof reason, 'string');
  const probes = [
    '/etc/shadow',
    '/etc/passwd',
    '/etc/does-not-exist',
    path.join(outsideDir, 'secret.onnx'),
    '../outside/secret.onnx',
    `${userDir}/../outside/secret.onnx`,
    '../../../../../../etc/passwd',
    'link-out.onnx',
    'zero.onnx',
    '/dev/zero',
    'pipe.onnx',
    userDir,
    '/proc/self/environ',
  ];
  for (const probe of probes) {
    const answer = await modelInfo(probe);
    assert.equal(answer.status, 404, `${probe}: ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.code, missing.body.code, probe);
    assert.equal(answer.body.params?.reason, reason, probe);
    // nothing of what is outside comes back: neither the metadata nor the file's name as resolved
    assert.doesNotMatch(JSON.stringify(answer.body), /outside"|secret\.onnx.*inputs/, probe);
  }
  assert.ok(red.running);
});

test('/dev/zero (directly and by a symlink in the user directory) does not grow the process', async () => {
  const start = rssMb(red.child.pid!);
  for (let i = 0; i < 3; i++) {
    assert.equal((await modelInfo('/dev/zero')).status, 404);
    assert.equal((await modelInfo('zero.onnx')).status, 404);
  }
  const end = rssMb(red.child.pid!);
  assert.ok(end - start < 64, `RSS ${start.toFixed(0)} -> ${end.toFixed(0)} MB`);
});

test('a FIFO in the user directory: 4 parallel requests answer at once and a deploy still answers', async () => {
  const answers = await Promise.all([1, 2, 3, 4].map(() => modelInfo('pipe.onnx', readToken, 10_000)));
  for (const a of answers) assert.equal(a.status, 404);
  // the file threads are free: a deploy writes the flows file and answers
  const deploy = await fetch(`${red.url}/flows`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify([{ id: 'f1', type: 'tab', label: 'after the fifo' }]),
    signal: AbortSignal.timeout(20_000),
  });
  assert.ok(deploy.ok, `deploy: HTTP ${deploy.status}`);
  assert.equal((await modelInfo('inside.onnx')).status, 200);
  // the read-only user may not deploy
  const refused = await fetch(`${red.url}/flows`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${readToken}`, 'Content-Type': 'application/json' },
    body: '[]',
  });
  assert.equal(refused.status, 401);
});

test('a model file over edgeMl.modelInfoMaxBytes is refused with EDGEML_ONNX_MODEL_TOO_LARGE', async () => {
  assert.ok(big.bytes.byteLength > MAX_BYTES);
  const answer = await modelInfo('big.onnx');
  assert.equal(answer.status, 413, JSON.stringify(answer.body));
  assert.equal(answer.body.code, 'EDGEML_ONNX_MODEL_TOO_LARGE');
  assert.equal(answer.body.params?.max, MAX_BYTES);
  assert.equal(answer.body.params?.size, big.bytes.byteLength);
});

test('a model file of 200,000 nested groups: 422 EDGEML_ONNX_MODEL_INVALID with a reason, Node-RED keeps answering', async () => {
  const answer = await modelInfo('deep.onnx');
  assert.equal(answer.status, 422, JSON.stringify(answer.body));
  assert.equal(answer.body.code, 'EDGEML_ONNX_MODEL_INVALID');
  assert.match(String(answer.body.params?.reason), /group/);
  assert.equal((await modelInfo('inside.onnx')).status, 200);
});
