/**
 * The object-detection example (examples/object-detection.json) as shipped, in a real Node-RED
 * with FlowFuse Dashboard 2, the package installed in the user directory and a real mosquitto:
 * the shipped demo scenes POSTed to its HTTP endpoint come back (and over MQTT) with the boxes the
 * scene generator painted; the demo inject's scene is detected too; a bad image gets a 400 with
 * its code; the Dashboard page in headless Chromium shows the annotated image, the counts per
 * label and the last detections. Screenshot: test-output/screenshots/object-detection.png
 * (EDGEML_UPDATE_DOCS_SCREENSHOTS=1 also writes docs/screenshots/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { CHROMIUM, LAUNCH_ARGS, NO_CHROMIUM, screenshot } from './helpers/browser';
import { startBroker } from './helpers/broker';
import { ROOT, startNodeRed, userDirWithPackage } from './helpers/nodered-process';
import { DEMO_SCENE_SEEDS, demoScene, SCENE_LABELS } from '../scripts/demo/scenes';
import { DETECTOR_FILE, detectorModel, sceneFile, sceneJpeg } from '../scripts/make-part-detector';

type FlowNode = { id: string; type: string; [key: string]: unknown };
type Det = { label: string; score: number; box: { x: number; y: number; w: number; h: number } };
type Prediction = { task: string; detections: Det[]; counts: Record<string, number> };

const byPlace = (a: { label: string; box: { x: number; y: number } }, b: { label: string; box: { x: number; y: number } }): number =>
  a.label.localeCompare(b.label) || a.box.x - b.box.x || a.box.y - b.box.y;

/** The detections against the painted boxes: same labels, each edge within a pixel (JPEG edges). */
function sameParts(got: Det[], truth: Array<{ label: string; box: Det['box'] }>, what: string): void {
  const g = [...got].sort(byPlace);
  const t = [...truth].sort(byPlace);
  assert.deepEqual(
    g.map((d) => d.label),
    t.map((d) => d.label),
    what,
  );
  g.forEach((d, k) => {
    const w = t[k]!.box;
    for (const [a, b] of [
      [d.box.x, w.x],
      [d.box.y, w.y],
      [d.box.x + d.box.w, w.x + w.w],
      [d.box.y + d.box.h, w.y + w.h],
    ] as const) {
      assert.ok(Math.abs(a - b) <= 1, `${what}: ${d.label} box ${JSON.stringify(d.box)} vs painted ${JSON.stringify(w)}`);
    }
    assert.ok(d.score >= 0.5 && d.score <= 1, `${what}: score ${d.score}`);
  });
}

test('the object-detection example finds the painted parts and shows them on its Dashboard page', { skip: NO_CHROMIUM }, async (t) => {
  assert.ok(readFileSync(DETECTOR_FILE).equals(detectorModel()), `${DETECTOR_FILE} is what scripts/make-part-detector.ts writes (npm run make-detector)`);
  const broker = await startBroker();
  t.after(() => broker.stop());
  const shipped = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'object-detection.json'), 'utf8')) as FlowNode[];
  const flow = shipped.map((n) => (n.type === 'mqtt-broker' ? { ...n, broker: '127.0.0.1', port: String(broker.port) } : n));
  const userDir = userDirWithPackage('edgeml-detect-');
  t.after(() => rmSync(userDir, { recursive: true, force: true }));
  const red = await startNodeRed({ userDir, flows: flow });
  t.after(() => red.stop());

  const client = await mqtt.connectAsync(broker.url);
  t.after(() => client.endAsync());
  await client.subscribeAsync('edgeml/#', { qos: 1 });
  const published: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  client.on('message', (_topic, payload) => {
    published.push(JSON.parse(payload.toString()) as Record<string, unknown>);
    waiters.splice(0).forEach((w) => w());
  });
  const nthPublished = async (n: number): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 30_000;
    while (published.length < n) {
      assert.ok(Date.now() < deadline, `${published.length} of ${n} MQTT messages`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 1000).unref();
      });
    }
    return published[n - 1]!;
  };
  // The mqtt out node connects after the deploy: a prediction made before would be queued, not lost, but wait for it anyway.
  const post = (body: Uint8Array, query = ''): Promise<Response> =>
    fetch(`${red.url}/edge-ml/detect${query}`, { method: 'POST', body: new Blob([new Uint8Array(body)]), headers: { 'content-type': 'image/jpeg' } });

  // the demo inject first: a random scene drawn by the function node
  const inject = shipped.find((n) => n.type === 'inject' && n.name === 'demo scene')!;
  const pressed = await fetch(`${red.url}/inject/${inject.id}`, { method: 'POST' });
  assert.equal(pressed.status, 200);
  const demo = (await nthPublished(1)) as unknown as Prediction;
  assert.equal(demo.task, 'detection');
  assert.ok(demo.detections.length >= 3 && demo.detections.length <= 6, `${demo.detections.length} parts in the demo scene`);
  assert.ok(demo.detections.every((d) => (SCENE_LABELS as readonly string[]).includes(d.label)));
  assert.equal((demo as unknown as Record<string, unknown>).annotated, undefined, 'no image over MQTT');

  const totals: Record<string, number> = { ...demo.counts };
  for (let i = 0; i < DEMO_SCENE_SEEDS.length; i++) {
    const scene = demoScene(DEMO_SCENE_SEEDS[i]!);
    const file = readFileSync(sceneFile(i));
    assert.ok(file.equals(sceneJpeg(scene)), `${sceneFile(i)} is the scene of seed ${DEMO_SCENE_SEEDS[i]} (npm run make-detector)`);
    const res = await post(file);
    assert.equal(res.status, 200);
    const p = (await res.json()) as Prediction;
    sameParts(p.detections, scene.parts, `scene ${i + 1} over HTTP`);
    const counts: Record<string, number> = {};
    for (const part of scene.parts) counts[part.label] = (counts[part.label] ?? 0) + 1;
    assert.deepEqual(p.counts, counts);
    for (const [label, n] of Object.entries(counts)) totals[label] = (totals[label] ?? 0) + n;
    sameParts(((await nthPublished(i + 2)) as unknown as Prediction).detections, scene.parts, `scene ${i + 1} over MQTT`);
  }
  const last = demoScene(DEMO_SCENE_SEEDS[DEMO_SCENE_SEEDS.length - 1]!);

  // the annotated JPEG over HTTP, and a bad image answered with its code; neither stops the flow
  const annotated = await post(readFileSync(sceneFile(0)), '?image=annotated');
  assert.equal(annotated.headers.get('content-type'), 'image/jpeg');
  const img = jpeg.decode(new Uint8Array(await annotated.arrayBuffer()));
  assert.deepEqual([img.width, img.height], [640, 480]);
  const bad = await post(Buffer.from('not a picture'));
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: string }).error, 'EDGEML_IMAGE_FORMAT');
  // the last image on the dashboard is scene 4 again (the ?image=annotated request was scene 1)
  assert.equal((await post(readFileSync(sceneFile(DEMO_SCENE_SEEDS.length - 1)))).status, 200);
  for (const part of last.parts) totals[part.label] = (totals[part.label] ?? 0) + 1;
  for (const part of demoScene(DEMO_SCENE_SEEDS[0]!).parts) totals[part.label] = (totals[part.label] ?? 0) + 1;
  await nthPublished(DEMO_SCENE_SEEDS.length + 3);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
  await page.goto(`${red.url}/dashboard/detect`);
  const image = page.locator('.edgeml-annotated img');
  await image.waitFor({ timeout: 30_000 });
  assert.match((await image.getAttribute('src')) ?? '', /^data:image\/jpeg;base64,/);
  // the browser decoded it: a 640 x 480 picture
  await page.waitForFunction(() => (document.querySelector('.edgeml-annotated img') as HTMLImageElement | null)?.naturalWidth === 640, undefined, { timeout: 30_000 });

  const countsTable = page.locator('table').filter({ hasText: 'since deploy' });
  await countsTable.locator('tbody tr').first().waitFor({ timeout: 30_000 });
  const lastCounts: Record<string, number> = {};
  for (const part of last.parts) lastCounts[part.label] = (lastCounts[part.label] ?? 0) + 1;
  const rows = (await countsTable.locator('tbody tr').allInnerTexts()).map((r) => r.split('\t').map((c) => c.trim()));
  assert.deepEqual(
    rows,
    Object.keys(totals)
      .sort()
      .map((label) => [label, String(lastCounts[label] ?? 0), String(totals[label])]),
  );

  const lastTable = page.locator('table').filter({ hasText: 'score' });
  await lastTable.locator('tbody tr').first().waitFor({ timeout: 30_000 });
  const lastRows = (await lastTable.locator('tbody tr').allInnerTexts()).map((r) => r.split('\t').map((c) => c.trim()));
  assert.equal(lastRows.length, 12, 'the last 12 detections');
  // newest first: the last image's parts, from HTTP, with their boxes
  const newest = lastRows.slice(0, last.parts.length);
  assert.deepEqual(
    newest.map((r) => r[1]).filter((s) => s !== 'HTTP'),
    [],
  );
  assert.deepEqual(newest.map((r) => r[2]).sort(), last.parts.map((p) => p.label).sort());
  for (const part of last.parts) {
    assert.ok(
      newest.some((r) => r[2] === part.label && r[4] === `${part.box.x}, ${part.box.y}, ${part.box.w} x ${part.box.h}`),
      `${part.label} at ${JSON.stringify(part.box)} in ${JSON.stringify(newest)}`,
    );
  }

  await screenshot(page, 'object-detection');
  assert.deepEqual(red.errorLines(), []);
});
