/** The terminal monitor: its table model, and the real bin against a real broker. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import mqtt from 'mqtt';
import { MonitorTable } from '../src/lib/monitor/table';
import { startBroker } from './helpers/broker';
import { ROOT } from './helpers/flow';

test('the table keeps the latest prediction per topic and a rate over ten seconds', () => {
  const table = new MonitorTable();
  const t0 = 1_000_000;
  for (let i = 0; i < 30; i++) table.update('plant/p1/pump/prediction', { label: i % 2 ? 'normal' : 'cavitation', score: i / 30 }, t0 + i * 500);
  const row = table.rows.get('plant/p1/pump/prediction')!;
  assert.equal(row.count, 30);
  assert.equal(row.label, 'normal');
  const now = t0 + 29 * 500;
  const inWindow = Array.from({ length: 30 }, (_, i) => t0 + i * 500).filter((t) => now - t <= 10_000).length;
  assert.equal(table.rate(row, now), inWindow / 10);
  const text = table.render(now);
  assert.match(text, /plant\/p1\/pump\/prediction/);
  assert.ok(text.split('\n')[2]!.includes(String(row.score!.toFixed(3))));
});

test('edge-ml-monitor --once prints the first prediction it receives', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const bin = path.join(ROOT, 'nodes', 'bin', 'edge-ml-monitor.js');
  const child = spawn(process.execPath, [bin, '--broker', broker.url, '--topic', 'plant/+/+/prediction', '--once'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const pub = await mqtt.connectAsync(broker.url);
  t.after(() => pub.endAsync());
  const prediction = { label: 'bearing_wear', score: 0.91, model: { name: 'pump', version: '1.0.0' } };
  // retained, so the monitor gets it whenever its subscription lands
  await pub.publishAsync('plant/p1/pump/prediction', JSON.stringify(prediction), { qos: 1, retain: true });
  assert.equal(await exited, 0);
  assert.ok(out.includes(prediction.label), out);
  assert.ok(out.includes('pump 1.0.0'), out);
});
