/** ml-guard in a real Node-RED runtime: every check under every policy, counters, bad input. */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject, loadFlow, nextMessage, nextMessages, nextStatus, unloadFlow, type FlowNode } from './helpers/flow';
import { mlpModel } from './helpers/onnx-models';
import { modelCardToMetadata } from '../src/lib/model-card';

afterEach(() => unloadFlow());

function flow(config: Record<string, unknown>): FlowNode[] {
  const nodes: FlowNode[] = [
    { id: 'guard', type: 'ml-guard', wires: [['good'], ['routed']], features: 'a,b', ...config },
    { id: 'good', type: 'helper' },
    { id: 'routed', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: ['guard'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
    { id: 'completer', type: 'complete', scope: ['guard'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper' },
  ];
  return [{ id: 'tab', type: 'tab', label: 'test' }, ...nodes.map((n) => ({ ...n, z: 'tab' }))];
}

interface Case {
  check: string;
  config: Record<string, unknown>;
  prime: Array<Record<string, unknown>>;
  bad: Record<string, unknown>;
  /** The value of b after replace, worked out from the case (replace policies only). */
  replaced?: number;
}

const rules = (r: Record<string, unknown>): Record<string, unknown> => ({ rules: [{ feature: 'b', ...r }] });
const CASES: Case[] = [
  { check: 'missing', config: {}, prime: [{ payload: { a: 1, b: 2 } }], bad: { payload: { a: 1 } }, replaced: 2 },
  { check: 'null', config: {}, prime: [{ payload: { a: 1, b: 2 } }], bad: { payload: { a: 1, b: null } }, replaced: 2 },
  { check: 'type', config: {}, prime: [{ payload: { a: 1, b: 2 } }], bad: { payload: { a: 1, b: '3' } }, replaced: 2 },
  { check: 'nan', config: {}, prime: [{ payload: { a: 1, b: 2 } }], bad: { payload: { a: 1, b: Infinity } }, replaced: 2 },
  // clamp to [0, 10]
  { check: 'range', config: { ...rules({ min: '0', max: '10' }), replaceWith: { range: 'clamp' } }, prime: [], bad: { payload: { a: 1, b: 50 } }, replaced: 10 },
  // clamp the change to 2 + 5
  { check: 'spike', config: { ...rules({ maxDelta: '5' }), replaceWith: { spike: 'clamp' } }, prime: [{ payload: { a: 1, b: 2 } }], bad: { payload: { a: 2, b: 20 } }, replaced: 7 },
  // the third 2 in a row is stuck; replaced by the default 5
  {
    check: 'stuck',
    config: { stuckSamples: '3', ...rules({ default: '5' }), replaceWith: { stuck: 'default' } },
    prime: [{ payload: { a: 1, b: 2 } }, { payload: { a: 2, b: 2 } }],
    bad: { payload: { a: 3, b: 2 } },
    replaced: 5,
  },
  { check: 'count', config: {}, prime: [], bad: { payload: [1, 2, 3] } },
  {
    check: 'stale',
    config: { staleMs: '1000', timestampProperty: 'measuredAt' },
    prime: [{ payload: [1, 2], measuredAt: Date.now() + 60_000 }],
    bad: { payload: [1, 2], measuredAt: new Date(Date.now() - 60_000).toISOString() },
  },
];

const good = { payload: { a: 3, b: 4 }, measuredAt: Date.now() + 3_600_000 };

async function run(c: Case, policy: string): Promise<void> {
  await loadFlow(['ml-guard'], flow({ ...c.config, policies: { [c.check]: policy } }));
  if (c.prime.length) {
    const primed = nextMessages('good', c.prime.length);
    for (const m of c.prime) inject('guard', m);
    for (const m of await primed) assert.equal((m.guard as { ok: boolean }).ok, true, `${c.check}: prime passes`);
  }
  const label = `${c.check} / ${policy}`;
  const feature = c.check === 'count' || c.check === 'stale' ? '*' : 'b';
  if (policy === 'drop') {
    const completed = nextMessage('completed');
    inject('guard', c.bad);
    await completed;
    const next = nextMessage('good');
    inject('guard', good);
    assert.deepEqual((await next).payload, good.payload, `${label}: nothing left output 1 before the good message`);
  } else if (policy === 'flag' || policy === 'route') {
    const out = nextMessage(policy === 'flag' ? 'good' : 'routed');
    inject('guard', c.bad);
    const m = await out;
    const g = m.guard as { ok: boolean; action: string; issues: Array<{ check: string; feature?: string }> };
    assert.equal(g.ok, false, label);
    assert.equal(g.action, policy, label);
    assert.equal(g.issues[0]!.check, c.check, label);
    assert.deepEqual(m.payload, c.bad.payload, `${label}: values untouched`);
  } else {
    const out = nextMessage('good');
    inject('guard', c.bad);
    const m = await out;
    const p = m.payload as Record<string, number>;
    assert.equal(p.b, c.replaced, label);
    assert.equal(p.a, (c.bad.payload as Record<string, number>).a, `${label}: other features untouched`);
    const g = m.guard as { issues: Array<{ check: string; replacedWith?: number }> };
    assert.deepEqual(
      g.issues.map((i) => [i.check, i.replacedWith]),
      [[c.check, c.replaced]],
      label,
    );
  }
  // Counters on request, on output 2.
  const stats = nextMessage('routed');
  inject('guard', { command: 'stats' });
  const s = (await stats).payload as { received: number; dropped: number; flagged: number; routed: number; replaced: number; checks: Record<string, Record<string, number>> };
  assert.equal(s.checks[c.check]?.[feature], 1, `${label}: counted per check and feature`);
  const key = { drop: 'dropped', flag: 'flagged', route: 'routed', replace: 'replaced' }[policy] as 'dropped';
  assert.equal(s[key], 1, `${label}: ${key}`);
}

for (const c of CASES) {
  const policies = c.replaced === undefined ? ['drop', 'flag', 'route'] : ['drop', 'flag', 'route', 'replace'];
  test(`check ${c.check}: ${policies.join(', ')}`, async () => {
    for (const policy of policies) {
      await run(c, policy);
      await unloadFlow();
    }
  });
}

test('off ignores a check; model card supplies names and ranges; status shows the counters', async () => {
  await loadFlow(['ml-guard'], flow({ features: '', policies: { range: 'route' } }));
  const card = { features: ['flow', 'temp'], ranges: { flow: [0, 100], temp: [-20, 80] } };
  const routed = nextMessage('routed');
  const status = nextStatus('guard', (s) => s.fill === 'yellow');
  inject('guard', { payload: [150, 20], modelCard: card });
  const m = await routed;
  assert.deepEqual((m.guard as { issues: unknown[] }).issues, [{ check: 'range', feature: 'flow', value: 150, policy: 'route' }]);
  assert.equal((await status).text, 'ml-guard.status.counts');
  await unloadFlow();
  await loadFlow(['ml-guard'], flow({ policies: { nan: 'off' } }));
  const out = nextMessage('good');
  inject('guard', { payload: [NaN, 1] });
  assert.equal(((await out).guard as { ok: boolean }).ok, true);
});

test('a replacement with nothing to replace with drops: no zero-fill', async () => {
  await loadFlow(['ml-guard'], flow({ policies: { missing: 'replace' } }));
  const completed = nextMessage('completed');
  inject('guard', { payload: { a: 1 } });
  await completed;
  const stats = nextMessage('routed');
  inject('guard', { command: 'reset-stats' });
  const s = (await stats).payload as { dropped: number };
  assert.equal(s.dropped, 1);
  const again = nextMessage('routed');
  inject('guard', { command: 'stats' });
  assert.equal(((await again).payload as { received: number }).received, 0);
});

test('bad input and bad config reach a Catch node with a stable code; the flow keeps running', async () => {
  await loadFlow(['ml-guard'], flow({}));
  for (const payload of ['1,2', 42, null]) {
    const caught = nextMessage('caught');
    inject('guard', { payload });
    assert.equal(((await caught).error as { code: string }).code, 'EDGEML_GUARD_INPUT');
  }
  const out = nextMessage('good');
  inject('guard', { payload: [1, 2] });
  assert.deepEqual((await out).payload, [1, 2]);
  await unloadFlow();
  await loadFlow(['ml-guard'], flow({ policies: { stale: 'replace' } }));
  const caught = nextMessage('caught');
  inject('guard', { payload: [1, 2] });
  assert.equal(((await caught).error as { code: string }).code, 'EDGEML_GUARD_CONFIG');
  await unloadFlow();
  await loadFlow(['ml-guard'], flow(rules({ min: '5', max: '1' })));
  const caught2 = nextMessage('caught');
  inject('guard', { payload: [1, 2] });
  assert.equal(((await caught2).error as { code: string }).code, 'EDGEML_GUARD_CONFIG');
});

test('feature names and ranges from the model card of an onnx-model config node (guard before the model)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ml-guard-card-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const card = { name: 'pump', features: ['flow', 'pressure', 'temperature', 'vibration'], ranges: { flow: [0, 100] as [number, number], vibration: [0, 5] as [number, number] } };
  writeFileSync(path.join(dir, 'pump.onnx'), mlpModel({ inputs: 4, hidden: 4, outputs: 2, metadata: modelCardToMetadata(card) }).bytes);
  const nodes = flow({ features: '', model: 'model', policies: { range: 'route', count: 'flag' } });
  nodes.push({ id: 'model', type: 'onnx-model', path: path.join(dir, 'pump.onnx'), watch: false, threads: '1' });
  await loadFlow(['onnx-model', 'ml-guard'], nodes);
  const routed = nextMessage('routed', 20000);
  inject('guard', { payload: [50, 3, 40, 9] });
  const g = (await routed).guard as { issues: Array<{ check: string; feature: string }> };
  assert.deepEqual(
    g.issues.map((i) => [i.check, i.feature]),
    [['range', 'vibration']],
  );
  const good = nextMessage('good');
  inject('guard', { payload: [50, 3, 40, 1, 7] });
  assert.deepEqual(
    ((await good).guard as { issues: Array<{ check: string }> }).issues.map((i) => i.check),
    ['count'],
  );
});

test('history survives a model card that arrives as a fresh copy with every message', async () => {
  await loadFlow(['ml-guard'], flow({ features: '', stuckSamples: '3' }));
  const card = { features: ['x', 'y'] };
  const outs = nextMessages('good', 3);
  for (let i = 0; i < 3; i++) inject('guard', { payload: [1, i], modelCard: JSON.parse(JSON.stringify(card)) });
  const got = await outs;
  assert.deepEqual(
    got.map((m) => (m.guard as { issues: Array<{ check: string; feature: string }> }).issues.map((i) => `${i.check}:${i.feature}`)),
    [[], [], ['stuck:x']],
  );
});
