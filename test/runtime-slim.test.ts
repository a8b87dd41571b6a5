/**
 * edge-ml-slim on a copy of the installed onnxruntime-node (hard links, so the project's own stays
 * whole): the real bin removes every other platform's libraries, and the slimmed runtime still
 * loads and answers the pump model exactly as the full one does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { planSlim } from '../src/lib/onnx/runtime-slim';
import { PUMP_MODEL, pumpReference } from './helpers/pump-reference';
import { ROOT } from './helpers/nodered-process';

const BIN = path.join(ROOT, 'nodes', 'bin', 'edge-ml-slim.js');
let userDir: string;
let runtimeDir: string;

function binaries(dir: string): string[] {
  const bin = path.join(dir, 'bin');
  return readdirSync(bin).flatMap((napi) => readdirSync(path.join(bin, napi)).flatMap((p) => readdirSync(path.join(bin, napi, p)).map((a) => `${p}/${a}`)));
}

before(() => {
  userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-slim-'));
  mkdirSync(path.join(userDir, 'node_modules'));
  for (const pkg of ['onnxruntime-node', 'onnxruntime-common']) {
    execFileSync('cp', ['-al', path.join(ROOT, 'node_modules', pkg), path.join(userDir, 'node_modules', pkg)]);
  }
  writeFileSync(path.join(userDir, 'package.json'), '{"name":"user-dir","private":true}\n');
  runtimeDir = path.join(userDir, 'node_modules', 'onnxruntime-node');
});

after(() => rmSync(userDir, { recursive: true, force: true }));

test('a platform without a binary is refused and nothing is removed', () => {
  const before = binaries(runtimeDir);
  assert.throws(() => planSlim(runtimeDir, 'linux', 'arm'), /no binary for linux\/arm/);
  assert.deepEqual(binaries(runtimeDir), before);
});

test('--dry-run lists what would go and removes nothing', () => {
  const before = binaries(runtimeDir);
  const out = execFileSync(process.execPath, [BIN, '--dry-run', '--dir', userDir], { encoding: 'utf8' });
  assert.match(out, new RegExp(`keep\\s+bin/napi-v\\d+/${process.platform}/${process.arch}`));
  assert.match(out, /would free/);
  assert.deepEqual(binaries(runtimeDir), before);
});

test('the slimmed runtime keeps only this platform and still answers like the full one', async () => {
  const before = binaries(runtimeDir);
  assert.ok(before.length > 1, `the package ships several platforms (${before.join(', ')})`);
  const out = execFileSync(process.execPath, [BIN, '--dir', userDir], { encoding: 'utf8' });
  assert.match(out, /freed \d+(\.\d)? MB/);
  assert.deepEqual(binaries(runtimeDir), [`${process.platform}/${process.arch}`]);
  assert.ok(!existsSync(path.join(runtimeDir, 'bin', 'napi-v6', 'win32')), 'emptied platform folders are gone');

  // The slimmed copy in a process of its own, on rows the full runtime also answers here.
  const rows = [
    [98.4, 4.3, 27.1, 2.0, 49.5],
    [70.2, 2.1, 31.9, 4.4, 55.0],
  ];
  const script = `
    const ort = require(${JSON.stringify(runtimeDir)});
    const { pumpCard, standardise } = require(${JSON.stringify(path.join(__dirname, 'helpers', 'pump-reference'))});
    (async () => {
      const s = await ort.InferenceSession.create(${JSON.stringify(PUMP_MODEL)});
      const out = await s.run({ [pumpCard.input ?? s.inputNames[0]]: new ort.Tensor('float32', standardise(${JSON.stringify(rows)}), [2, 5]) });
      console.log(JSON.stringify(Array.from(out[pumpCard.outputs.scores].data)));
    })();`;
  const slimmed = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', cwd: ROOT })) as number[];
  const full = await pumpReference(rows);
  assert.deepEqual(slimmed, full.probabilities.flat());
});
