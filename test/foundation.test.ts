/** The package itself: what Node-RED and npm read from it, and the shared test infrastructure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { ROOT } from './helpers/flow';
import { startBroker } from './helpers/broker';
import { EdgeMlError, toEdgeMlError } from '../src/lib/errors';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

test('package.json declares the Node-RED node set, engines and keywords the palette needs', () => {
  assert.ok(pkg.keywords.includes('node-red'));
  assert.equal(pkg.engines.node, '>=18');
  assert.equal(pkg['node-red'].version, '>=3.0.0');
  assert.ok(pkg.license);
  assert.ok(pkg.repository?.url);
  for (const [type, file] of Object.entries<string>(pkg['node-red'].nodes)) {
    assert.ok(existsSync(path.join(ROOT, file)), `${type}: ${file} is built`);
    for (const lang of ['en-US', 'de']) {
      for (const ext of ['json', 'html']) {
        assert.ok(existsSync(path.join(ROOT, 'nodes', 'locales', lang, `${type}.${ext}`)), `${type}: ${lang} ${ext}`);
      }
    }
  }
});

test('README test command is the one .ci/run runs', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const ci = readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  const lastLine = ci.trim().split('\n').pop()!.trim();
  assert.ok(readme.includes(lastLine), `README shows "${lastLine}"`);
});

test('errors carry a stable code, and foreign errors are wrapped with one', () => {
  const original = new EdgeMlError('EDGEML_X', 'x happened', { n: 1 });
  assert.equal(toEdgeMlError(original), original);
  const wrapped = toEdgeMlError(new TypeError('boom'));
  assert.equal(wrapped.code, 'EDGEML_INTERNAL');
  assert.equal(wrapped.params.reason, 'boom');
});

test('the test broker relays a message between two real MQTT clients', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const sub = await mqtt.connectAsync(broker.url);
  const pub = await mqtt.connectAsync(broker.url);
  t.after(async () => {
    await sub.endAsync();
    await pub.endAsync();
  });
  await sub.subscribeAsync('edgeml/test', { qos: 1 });
  const received = new Promise<string>((resolve) => sub.on('message', (_topic, payload) => resolve(payload.toString())));
  const sent = JSON.stringify({ broker: broker.kind, at: process.hrtime.bigint().toString() });
  await pub.publishAsync('edgeml/test', sent, { qos: 1 });
  assert.equal(await received, sent);
});
