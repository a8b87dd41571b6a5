/** ml-guard's checks and policies on the pure DataGuard, one case per check and policy. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataGuard, MAX_TRACKED_FEATURES, parseTimestamp, resolveGuardOptions, type GuardConfig } from '../src/lib/guard/guard';
import { EdgeMlError } from '../src/lib/errors';

const guard = (config: GuardConfig, card = {}): DataGuard => new DataGuard(resolveGuardOptions(config, card));
const NOW = 1_000_000;

test('each per-feature check finds its fault (default policies)', () => {
  const g = guard({ features: ['a', 'b'], ranges: { a: [0, 10] }, maxDelta: { b: 5 }, stuckSamples: 3 });
  assert.equal(g.check([1, 1], NOW).action, 'pass');
  const cases: Array<[unknown, string, string]> = [
    [{ a: 1 }, 'missing', 'drop'],
    [[null, 1], 'null', 'drop'],
    [['1', 1], 'type', 'drop'],
    [[NaN, 1], 'nan', 'drop'],
    [[Infinity, 1], 'nan', 'drop'],
    [[11, 1], 'range', 'flag'],
    [[1, 100], 'spike', 'flag'],
  ];
  for (const [payload, check, action] of cases) {
    const r = g.check(payload, NOW);
    assert.equal(r.issues[0]?.check, check, JSON.stringify(payload));
    assert.equal(r.action, action, check);
  }
  // spike: up edge fails; the way back passes (near the last good value); a lasting step fails once
  const sp = guard({ features: ['a'], maxDelta: { a: 5 } });
  assert.deepEqual(
    [0, 20, 1, 30, 31, 32].map((v) =>
      sp
        .check([v], NOW)
        .issues.map((i) => i.check)
        .join(),
    ),
    ['', 'spike', '', 'spike', '', ''],
  );
  // stuck: a third identical value in a row
  const s = guard({ features: ['a'], stuckSamples: 3 });
  assert.deepEqual(
    [s.check([4], NOW), s.check([4], NOW), s.check([4], NOW)].map((r) => r.issues.map((i) => i.check).join()),
    ['', '', 'stuck'],
  );
  assert.equal(s.check([5], NOW).issues.length, 0);
});

test('message checks: wrong feature count and stale timestamps', () => {
  const g = guard({ features: ['a', 'b'], staleMs: 1000 });
  const long = g.check([1, 2, 3], NOW);
  assert.equal(long.issues[0]?.check, 'count');
  assert.equal(long.issues[0]?.value, 3);
  const short = g.check([1], NOW);
  assert.deepEqual(
    short.issues.map((i) => i.check),
    ['count', 'missing'],
  );
  // objects: an absent name is "missing"; a key that is not a feature is a count fault
  assert.deepEqual(
    g.check({ a: 1 }, NOW).issues.map((i) => i.check),
    ['missing'],
  );
  assert.deepEqual(
    g.check({ a: 1, b: 2, c: 3 }, NOW).issues.map((i) => i.check),
    ['count'],
  );
  assert.equal(g.check([1, 2], NOW, NOW - 1001).issues[0]?.check, 'stale');
  assert.equal(g.check([1, 2], NOW, new Date(NOW - 500).toISOString()).issues.length, 0);
  assert.equal(g.check([1, 2], NOW, 'yesterday').issues[0]?.check, 'stale');
  assert.equal(parseTimestamp('1000'), 1000);
  assert.equal(parseTimestamp({}), undefined);
});

test('policies: replace with last good, default, clamp; route; off', () => {
  const last = guard({ features: ['a'], policies: { nan: 'replace' } });
  last.check([7], NOW);
  const r = last.check([NaN], NOW);
  assert.equal(r.action, 'pass');
  assert.deepEqual(r.payload, [7]);
  assert.equal(r.issues[0]?.replacedWith, 7);
  assert.equal(r.issues[0]?.value, 'NaN');

  const def = guard({ features: ['a', 'b'], defaults: { b: 2.5 }, policies: { missing: 'replace' }, replaceWith: { missing: 'default' } });
  const d = def.check({ a: 1 }, NOW);
  assert.deepEqual(d.payload, { a: 1, b: 2.5 });

  const clamp = guard({ features: ['a'], ranges: { a: [0, 10] }, policies: { range: 'replace' } });
  assert.deepEqual(clamp.check([12], NOW).payload, [10]);
  assert.deepEqual(clamp.check([-3], NOW).payload, [0]);

  const spike = guard({ features: ['a'], maxDelta: { a: 2 }, policies: { spike: 'replace' }, replaceWith: { spike: 'clamp' } });
  spike.check([10], NOW);
  assert.deepEqual(spike.check([20], NOW).payload, [12]);

  const route = guard({ features: ['a'], ranges: { a: [0, 1] }, policies: { range: 'route' } });
  assert.equal(route.check([2], NOW).action, 'route');
  const off = guard({ features: ['a'], ranges: { a: [0, 1] }, policies: { range: 'off' } });
  assert.deepEqual(off.check([2], NOW), { action: 'pass', payload: [2], issues: [] });
});

test('never zero-fills: a replacement with nothing to replace with drops the message', () => {
  const g = guard({ features: ['a', 'b'], policies: { missing: 'replace', null: 'replace' }, replaceWith: { null: 'default' } });
  const first = g.check([1], NOW);
  assert.equal(first.action, 'drop');
  assert.equal(first.issues[0]?.replacedWith, undefined);
  assert.equal(g.check([1, null], NOW).action, 'drop');
  assert.equal(g.stats.dropped, 2);
  assert.equal(g.stats.checks.missing?.b, 1);
  assert.equal(g.stats.checks.null?.b, 1);
});

test('the strictest policy wins; counters per check and feature; card defaults', () => {
  const card = { features: ['flow', 'temp'], ranges: { flow: [0, 100] as [number, number], temp: [-20, 80] as [number, number] } };
  const g = guard({ policies: { range: 'flag', nan: 'route' } }, card);
  assert.equal(g.check([150, NaN], NOW).action, 'route');
  assert.equal(g.check([150, 20], NOW).action, 'flag');
  assert.equal(g.check([50, 90], NOW).action, 'flag');
  assert.equal(g.check({ flow: 50, temp: 20 }, NOW).action, 'pass');
  assert.deepEqual(g.stats, {
    received: 4,
    passed: 1,
    flagged: 2,
    replaced: 0,
    dropped: 0,
    routed: 1,
    checks: { range: { flow: 2, temp: 1 }, nan: { temp: 1 } },
  });
  g.resetStats();
  assert.equal(g.stats.received, 0);
  assert.throws(
    () => g.check('1,2', NOW),
    (e: EdgeMlError) => e.code === 'EDGEML_GUARD_INPUT',
  );
  assert.throws(
    () => guard({ policies: { count: 'replace' } }),
    (e: EdgeMlError) => e.code === 'EDGEML_GUARD_CONFIG',
  );
});

test('history stays bounded when objects bring ever new keys', () => {
  const g = guard({ policies: { count: 'off' } });
  for (let i = 0; i < 5000; i++) g.check({ [`k${i}`]: i }, NOW);
  assert.equal(g.trackedFeatures, MAX_TRACKED_FEATURES);
});
