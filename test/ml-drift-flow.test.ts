/** ml-drift in a real Node-RED runtime: a distribution shift halfway through, every reference source, bad input. */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject, loadFlow, nextMessage, nextMessages, nextStatus, unloadFlow, type FlowNode } from './helpers/flow';
import { normalSource } from './helpers/random';

afterEach(() => unloadFlow());

function flow(config: Record<string, unknown>): FlowNode[] {
  const nodes: FlowNode[] = [
    { id: 'drift', type: 'ml-drift', wires: [['reports']], ...config },
    { id: 'reports', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: ['drift'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
  return [{ id: 'tab', type: 'tab', label: 'test' }, ...nodes.map((n) => ({ ...n, z: 'tab' }))];
}

/** A training histogram made from its own sample of the reference distribution. */
function trainingHistogram(rnd: (m?: number, s?: number) => number, mean: number, std: number): { edges: number[]; counts: number[] } {
  const edges = Array.from({ length: 11 }, (_, i) => mean + std * (-3 + 0.6 * i));
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 5000; i++) {
    const x = rnd(mean, std);
    const bin = Math.min(9, Math.max(0, Math.floor((x - edges[0]!) / (0.6 * std))));
    counts[bin]!++;
  }
  return { edges, counts };
}

type Report = { state: string; drifted: string[]; features: Record<string, { state: string; n: number }>; window: { index: number } };

test('input distribution shifts halfway: the report flags exactly the shifted features', async () => {
  const rnd = normalSource(2026);
  const card = {
    features: ['flow', 'pressure', 'temp', 'vibration'],
    trainingStats: {
      flow: { mean: 50, std: 5, min: 30, max: 70, histogram: trainingHistogram(normalSource(1), 50, 5) },
      pressure: { mean: 3, std: 0.2, min: 2, max: 4 },
      temp: { mean: 60, std: 4, min: 40, max: 80, histogram: trainingHistogram(normalSource(2), 60, 4) },
      vibration: { mean: 1, std: 0.3, min: 0, max: 3 },
    },
  };
  await loadFlow(['ml-drift'], flow({ reference: 'card', window: '400', mode: 'tumbling' }));
  const reports = nextMessages('reports', 2, 30000);
  for (let i = 0; i < 800; i++) {
    const shifted = i >= 400;
    // second half: flow's mean moves 1.5 std, vibration's spread doubles; pressure and temp unchanged
    const x = [rnd(shifted ? 57.5 : 50, 5), rnd(3, 0.2), rnd(60, 4), rnd(1, shifted ? 0.6 : 0.3)];
    // A fresh copy each time, as a fanned-out wire delivers it: the reference must survive that.
    inject('drift', { payload: x, modelCard: JSON.parse(JSON.stringify(card)) });
  }
  const [first, second] = (await reports).map((m) => m.payload as Report);
  assert.deepEqual(first!.drifted, []);
  assert.equal(first!.state, 'ok');
  assert.deepEqual(second!.drifted.sort(), ['flow', 'vibration']);
  assert.equal(second!.window.index, 1);
  assert.deepEqual(Object.keys(second!.features).sort(), ['flow', 'pressure', 'temp', 'vibration']);
  assert.equal(second!.features.flow!.n, 400);
});

test('first-N reference with the prediction as one more series; status while learning', async () => {
  const rnd = normalSource(5);
  await loadFlow(['ml-drift'], flow({ reference: 'samples', referenceSamples: '300', window: '300', featuresProperty: 'payload.features', predictionProperty: 'payload.score' }));
  const learning = nextStatus('drift', (s) => s.text === 'ml-drift.status.learning');
  const report = nextMessage('reports', 30000);
  for (let i = 0; i < 600; i++) {
    const late = i >= 300;
    inject('drift', { payload: { features: { a: rnd(0, 1), b: rnd(10, 1) }, score: rnd(late ? 0.9 : 0.2, 0.05) } });
  }
  await learning;
  const r = (await report).payload as Report;
  assert.deepEqual(r.drifted, ['prediction']);
});

test('reference file relative to the user directory (or absolute); sliding windows', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-drift-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const refRnd = normalSource(9);
  const file = path.join(dir, 'reference.json');
  writeFileSync(file, JSON.stringify({ features: { a: { samples: Array.from({ length: 4000 }, () => refRnd(0, 1)) }, b: { mean: 5, std: 1 } } }));
  await loadFlow(['ml-drift'], flow({ reference: 'file', referenceFile: file, referenceSamples: '4000', window: '500', mode: 'sliding', step: '250', features: 'a,b' }));
  const rnd = normalSource(10);
  const reports = nextMessages('reports', 3, 30000);
  for (let i = 0; i < 1000; i++) inject('drift', { payload: [rnd(0, 1), rnd(i < 500 ? 5 : 7, 1)] });
  const got = (await reports).map((m) => m.payload as Report);
  // windows end at samples 500, 750, 1000: b's shift (2 std) fills half of the second, all of the third
  assert.deepEqual(
    got.map((r) => r.window.index),
    [0, 1, 2],
  );
  assert.deepEqual(
    got.map((r) => r.drifted),
    [[], ['b'], ['b']],
  );
});

test('bad input, missing reference, bad file: coded errors at a Catch node; the flow keeps running', async () => {
  await loadFlow(['ml-drift'], flow({ reference: 'card', window: '2' }));
  const card = { trainingStats: { a: { mean: 0, std: 1, min: -3, max: 3 } } };
  const c1 = nextMessage('caught');
  inject('drift', { payload: [1] });
  assert.equal(((await c1).error as { code: string }).code, 'EDGEML_DRIFT_REFERENCE');
  const c2 = nextMessage('caught');
  inject('drift', { payload: 'x', modelCard: card });
  assert.equal(((await c2).error as { code: string }).code, 'EDGEML_DRIFT_INPUT');
  const report = nextMessage('reports');
  inject('drift', { payload: { a: 0.1 }, modelCard: card });
  inject('drift', { payload: { a: -0.1 }, modelCard: card });
  assert.equal(((await report).payload as Report).features.a!.n, 2);
  await unloadFlow();
  await loadFlow(['ml-drift'], flow({ reference: 'file', referenceFile: 'does/not/exist.json' }));
  const c3 = nextMessage('caught');
  inject('drift', { payload: [1] });
  assert.equal(((await c3).error as { code: string }).code, 'EDGEML_DRIFT_REFERENCE');
  await unloadFlow();
  await loadFlow(['ml-drift'], flow({ reference: 'samples', window: 'many' }));
  const c4 = nextMessage('caught');
  inject('drift', { payload: [1] });
  assert.equal(((await c4).error as { code: string }).code, 'EDGEML_CONFIG_INTEGER');
});
