/** The model update protocol's pure parts: manifest, signature, chunk reassembly, atomic store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseManifest, prepareUpdate, signManifest, verifyManifest, isForDevice, type UpdateManifest } from '../src/lib/update/manifest';
import { ChunkAssembler } from '../src/lib/update/assembler';
import { ModelStore } from '../src/lib/update/store';
import { parseChunkTopic, updateTopics } from '../src/lib/update/topics';
import { EdgeMlError } from '../src/lib/errors';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-update-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof EdgeMlError, `expected an EdgeMlError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected a throw');
}

const model = randomBytes(10_000);

test('prepareUpdate splits a file into chunks whose hashes node:crypto agrees with', () => {
  const { manifest, chunks } = prepareUpdate(model, { name: 'pump', version: '2.0.0', chunkSize: 4096 });
  assert.equal(chunks.length, Math.ceil(model.length / 4096));
  assert.deepEqual(Buffer.concat(chunks), model);
  assert.equal(manifest.sha256, createHash('sha256').update(model).digest('hex'));
  assert.deepEqual(
    manifest.chunkSha256,
    chunks.map((c) => createHash('sha256').update(c).digest('hex')),
  );
});

test('manifests that are malformed or unsafe as file names are refused with one code', () => {
  const { manifest } = prepareUpdate(model, { name: 'pump', version: '1', chunkSize: 4096 });
  const bad: Array<Partial<Record<keyof UpdateManifest, unknown>>> = [
    { format: 'other' },
    { name: '../etc' },
    { version: 'a/b' },
    { size: -1 },
    { chunks: 99 },
    { sha256: 'xyz' },
    { chunkSha256: [] },
    { targets: 'all' },
    { createdAt: 'yesterday' },
  ];
  for (const change of bad) {
    assert.equal(
      code(() => parseManifest({ ...manifest, ...change })),
      'EDGEML_UPDATE_MANIFEST_INVALID',
      JSON.stringify(change),
    );
  }
  assert.equal(
    code(() => parseManifest('{}')),
    'EDGEML_UPDATE_MANIFEST_INVALID',
  );
});

test('an Ed25519 signature verifies, and any change to a signed field breaks it', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const { manifest } = prepareUpdate(model, { name: 'pump', version: '3', chunkSize: 4096, targets: ['dev-1'] });
  const signed = signManifest(manifest, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  verifyManifest(parseManifest(JSON.parse(JSON.stringify(signed))), pem);
  assert.equal(
    code(() => verifyManifest({ ...signed, version: '4' }, pem)),
    'EDGEML_UPDATE_SIGNATURE_INVALID',
  );
  assert.equal(
    code(() => verifyManifest({ ...signed, targets: ['dev-2'] }, pem)),
    'EDGEML_UPDATE_SIGNATURE_INVALID',
  );
  assert.equal(
    code(() => verifyManifest(manifest, pem)),
    'EDGEML_UPDATE_SIGNATURE_INVALID',
  );
  assert.equal(
    code(() => verifyManifest(signed, other.publicKey)),
    'EDGEML_UPDATE_SIGNATURE_INVALID',
  );
  assert.equal(
    code(() => verifyManifest(signed, 'not a key')),
    'EDGEML_UPDATE_KEY_INVALID',
  );
});

test('targets select devices by id or group', () => {
  const { manifest } = prepareUpdate(model, { name: 'pump', version: '1', targets: ['dev-1', 'line-2'] });
  assert.equal(isForDevice(manifest, 'dev-1', []), true);
  assert.equal(isForDevice(manifest, 'dev-9', ['line-2']), true);
  assert.equal(isForDevice(manifest, 'dev-9', ['line-1']), false);
  const everyone = prepareUpdate(model, { name: 'pump', version: '1' }).manifest;
  assert.equal(isForDevice(everyone, 'dev-9', []), true);
});

test('chunks arrive in any order, duplicates are ignored, corrupt ones refused, and a new assembler resumes', (t) => {
  const dir = tempDir(t);
  const { manifest, chunks } = prepareUpdate(model, { name: 'pump', version: '1', chunkSize: 1000 });
  const first = new ChunkAssembler(manifest, dir);
  for (const i of [9, 3, 0]) assert.equal(first.add(i, chunks[i]!), 'stored');
  assert.equal(first.add(3, chunks[3]!), 'duplicate');
  const corrupt = Buffer.from(chunks[4]!);
  corrupt[10] = corrupt[10]! ^ 0xff;
  assert.equal(
    code(() => first.add(4, corrupt)),
    'EDGEML_UPDATE_CHUNK_INVALID',
  );
  assert.equal(
    code(() => first.add(4, chunks[4]!.subarray(1))),
    'EDGEML_UPDATE_CHUNK_INVALID',
  );
  assert.equal(
    code(() => first.add(10, chunks[4]!)),
    'EDGEML_UPDATE_CHUNK_INVALID',
  );
  assert.equal(
    code(() => first.assemble()),
    'EDGEML_UPDATE_INCOMPLETE',
  );

  // as after a reconnect or restart: what was stored is still there
  const second = new ChunkAssembler(manifest, dir);
  assert.deepEqual(second.missing(), [1, 2, 4, 5, 6, 7, 8]);
  for (const i of second.missing()) second.add(i, chunks[i]!);
  assert.deepEqual(second.assemble(), model);
  second.discard();
  assert.equal(new ChunkAssembler(manifest, dir).received, 0);
});

test('a manifest whose whole-file hash disagrees with its chunks is caught at assembly', (t) => {
  const dir = tempDir(t);
  const { manifest, chunks } = prepareUpdate(model, { name: 'pump', version: '1', chunkSize: 5000 });
  const lying = { ...manifest, sha256: createHash('sha256').update('something else').digest('hex') };
  const assembler = new ChunkAssembler(lying, dir);
  chunks.forEach((c, i) => assembler.add(i, c));
  assert.equal(
    code(() => assembler.assemble()),
    'EDGEML_UPDATE_HASH_MISMATCH',
  );
});

test('the store writes atomically, keeps active and previous, prunes the rest and rolls back', (t) => {
  const root = tempDir(t);
  const store = new ModelStore(root);
  const write = (v: string) => {
    const bytes = Buffer.from(`model ${v}`);
    return store.write('pump', v, createHash('sha256').update(bytes).digest('hex'), bytes);
  };
  store.activate(write('1'));
  store.activate(write('2'));
  const pending = write('3');
  assert.equal(readdirSync(path.join(root, 'pump')).filter((f) => f.endsWith('.onnx')).length, 3, 'a written file waits for activation');
  store.activate(pending);
  const state = store.state('pump');
  assert.equal(state.active?.version, '3');
  assert.equal(state.previous?.version, '2');
  const files = readdirSync(path.join(root, 'pump')).filter((f) => f.endsWith('.onnx'));
  assert.equal(files.length, 2, 'version 1 is pruned');
  assert.ok(!readdirSync(path.join(root, 'pump')).some((f) => f.endsWith('.tmp')), 'no temp files left');
  assert.equal(readFileSync(state.active!.file, 'utf8'), 'model 3');

  const back = store.rollback('pump');
  assert.equal(back.active?.version, '2');
  assert.equal(back.previous?.version, '3');
  assert.equal(readFileSync(back.active!.file, 'utf8'), 'model 2');
  assert.equal(
    code(() => new ModelStore(root).rollback('other')),
    'EDGEML_UPDATE_NO_PREVIOUS',
  );

  const rejected = store.write('pump', '4', 'f'.repeat(64), Buffer.from('bad'));
  store.discard(rejected);
  assert.equal(existsSync(rejected.file), false);
  store.discard(back.active!);
  assert.equal(existsSync(back.active!.file), true, 'the active file is never discarded');

  // back to the configured model: the delivered one becomes previous, the one before it is pruned
  const configured = store.deactivate('pump');
  assert.equal(configured.active, undefined);
  assert.equal(configured.previous?.version, '2');
  assert.equal(existsSync(back.previous!.file), false, 'version 3 is pruned');
  assert.equal(store.rollback('pump').active?.version, '2', 'a second rollback returns to the delivered version');
});

test('chunk topics round-trip through the topic builder', () => {
  const topics = updateTopics('plant/edge-ml/');
  const sha = 'a'.repeat(64);
  assert.deepEqual(parseChunkTopic(topics.chunk('line-1', sha, 12)), { sha256: sha, index: 12 });
  assert.equal(parseChunkTopic(topics.manifest('line-1')), undefined);
  assert.equal(parseChunkTopic(`${topics.chunk('x', 'nothex', 1)}`), undefined);
});
