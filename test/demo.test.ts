/**
 * The README's demo command, as a user runs it: scripts/demo.ts in its own process with the ports
 * moved by environment variables. It must print where the editor is and which topic carries the
 * predictions, predictions must arrive there from the simulated plant, and Ctrl-C (SIGINT) must
 * stop Node-RED, the plant and the broker it started.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { PREDICTION_FILTER } from '../scripts/demo-setup';
import { freePort, isListening } from './helpers/net';

const TSX = path.join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');

test('npm run demo: editor, Modbus server and broker on the configured ports, predictions on the printed topic, Ctrl-C stops all', { timeout: 180_000 }, async (t) => {
  const [editor, modbus, broker] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-demo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [TSX, path.join(__dirname, '..', 'scripts', 'demo.ts')], {
    env: { ...process.env, EDGEML_DEMO_PORT: String(editor), EDGEML_MODBUS_PORT: String(modbus), EDGEML_MQTT_PORT: String(broker), EDGEML_DEMO_DIR: dir, EDGEML_PLANT_RATE: '20' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const printed = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/Stop\s+Ctrl-C/.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => reject(new Error(`the demo exited early:\n${output}`)));
  });
  await printed;
  assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${editor}/`), 'the editor address');
  assert.ok(output.includes(PREDICTION_FILTER), 'the prediction topic');
  const page = await fetch(`http://127.0.0.1:${editor}/`);
  assert.equal(page.status, 200, 'the editor answers');

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker}`);
  const prediction = new Promise<{ label: string; model: { name: string } }>((resolve) => client.once('message', (_t, p) => resolve(JSON.parse(p.toString()))));
  await client.subscribeAsync(PREDICTION_FILTER, { qos: 1 });
  const p = await prediction;
  assert.equal(typeof p.label, 'string');
  assert.ok(p.model.name);
  await client.endAsync();

  child.kill('SIGINT');
  assert.equal(await exited, 0, output);
  for (const port of [editor, modbus, broker]) assert.equal(await isListening(port), false, `port ${port} is released`);
});
