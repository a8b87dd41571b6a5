/**
 * The fleet dashboard example (examples/fleet-dashboard.json) in a real Node-RED with FlowFuse
 * Dashboard 2, fed by a real mosquitto holding retained device reports and a rollout state, opened
 * in headless Chromium: every device shows in the table with its version and state, the rollout
 * card shows its status, waves and the gate that halted it. Screenshot: test-output/screenshots/
 * fleet-dashboard.png (EDGEML_UPDATE_DOCS_SCREENSHOTS=1 also writes docs/screenshots/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, LAUNCH_ARGS, NO_CHROMIUM, screenshot } from './helpers/browser';
import { brokerWithFleet, PREFIX } from './helpers/fleet-reports';
import { ROOT, startNodeRed, userDirWithPackage } from './helpers/nodered-process';

type FlowNode = { id: string; type: string; [key: string]: unknown };

test('the fleet dashboard example shows every device and the rollout from the broker', { skip: NO_CHROMIUM }, async (t) => {
  const { broker, pub, reports, state } = await brokerWithFleet(t, 8, { rollout: true });
  // a report that is not JSON beside them: skipped, nothing logged as an error
  await pub.publishAsync(`${PREFIX}/status/broken/model`, '{oops', { qos: 1, retain: true });

  const flow = (JSON.parse(readFileSync(path.join(ROOT, 'examples', 'fleet-dashboard.json'), 'utf8')) as FlowNode[]).map((n) =>
    n.type === 'mqtt-broker' ? { ...n, broker: '127.0.0.1', port: String(broker.port) } : n,
  );
  const userDir = userDirWithPackage('edgeml-fleetdash-');
  t.after(() => rmSync(userDir, { recursive: true, force: true }));
  const red = await startNodeRed({ userDir, flows: flow });
  t.after(() => red.stop());

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale: 'en-US' });
  await page.goto(`${red.url}/dashboard/fleet`);
  const table = page.locator('table').filter({ hasText: 'last seen' });
  for (const r of reports) {
    const row = table.locator('tr', { has: page.locator('td', { hasText: new RegExp(`^${r.device}$`) }) });
    await row.waitFor({ timeout: 30_000 });
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[0], r.device);
    assert.equal(cells[1], r.groups.join(', '));
    assert.equal(cells[3], r.version);
    assert.match(cells[4]!, new RegExp(`^${r.state}`));
    assert.equal(cells[6], `${((r.errors / (r.inferences + r.errors)) * 100).toFixed(r.errors / (r.inferences + r.errors) < 0.1 ? 2 : 1)} %`);
  }
  assert.equal(await table.locator('tbody tr').count(), reports.length);
  const card = page.locator('.nrdb-ui-group').filter({ hasText: state.id }).first();
  await card.locator('table.fleet-rollout').first().waitFor({ timeout: 30_000 });
  const text = await card.innerText();
  const waveRows = await card.locator('table.fleet-rollout').first().locator('tbody tr').allInnerTexts();
  assert.deepEqual(
    waveRows.map((r) => r.split('\t').slice(0, 3)),
    state.waves.map((w, i) => [String(i + 1), ['1 device', '50%', 'everyone'][i], String(w.devices.length)]),
  );
  assert.match(text, new RegExp(`${state.model.name} ${state.model.version.replace(/\./g, '\\.')}`));
  assert.match(text, new RegExp(state.status));
  assert.match(text, /Halted by gate errorRate in wave 1 on dev-1/);
  assert.match(text, /errorRate\s+FAIL on 1 of 1\s+0\.05\s+dev-1: 0\.25 \(was 0\.01\)/);

  await screenshot(page, 'fleet-dashboard');
  assert.deepEqual(red.errorLines(), []);
});
