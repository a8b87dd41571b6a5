/**
 * The device truth in the test suite: the short form of `npm run test:devices` (an emulated
 * Debian 12 arm64 image with Debian's Node.js 18, Node-RED 4.1 and the packed package, the classic
 * flow driven by a Modbus master on the host, 20 predictions compared with onnxruntime-node here).
 * It builds the image with debootstrap and qemu-user-static, so it needs root and Debian's mirror,
 * and takes several minutes: it runs where EDGEML_DEVICES=quick is set (.ci/run sets it). When the
 * image cannot be built at all (no mirror) it is skipped with the reason; anything after that fails.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..');
const EXIT_NO_IMAGE = 3;
const mode = process.env.EDGEML_DEVICES;
const skip =
  mode !== 'quick' ? 'set EDGEML_DEVICES=quick to run the emulated arm64 check (CI does), or run npm run test:devices' : process.getuid?.() !== 0 ? 'needs root (debootstrap, chroot)' : false;

test('emulated arm64 device (Debian 12, Node.js 18, Node-RED 4.1): the package installs and its predictions equal onnxruntime-node here', { skip, timeout: 45 * 60_000 }, async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'devices', 'check.ts'), '--quick'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    process.stdout.write(chunk);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code === EXIT_NO_IMAGE) {
    t.skip(
      `the arm64 image could not be built here: ${
        output
          .split('\n')
          .find((l) => /could not be built/.test(l))
          ?.trim() ?? 'see the output'
      }`,
    );
    return;
  }
  assert.equal(code, 0, output.split('\n').slice(-40).join('\n'));
  assert.match(output, /devices\[arm64\] 20\/20 predictions match/);
});
