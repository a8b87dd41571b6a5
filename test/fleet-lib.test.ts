/** The fleet's pure parts: the retained-state, control and report parsers, the gate statistics, per-version figures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeMlError } from '../src/lib/errors';
import { FleetDirectory, parseModelReport, parseUpdateReport, VersionFigureTracker } from '../src/lib/fleet/device-status';
import { evaluateFigures, labelShift, psi } from '../src/lib/fleet/gates';
import { assignWaves, parseDuration, parsePlan } from '../src/lib/fleet/plan';
import { DEFAULT_GATES, parseRolloutControl, parseRolloutState } from '../src/lib/fleet/rollout-state';
import { MetricsRegistry, type ModelSnapshot } from '../src/lib/metrics';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof EdgeMlError, String(e));
    assert.ok(e.params.reason, 'a reason is given');
    return e.code;
  }
  assert.fail('expected a throw');
}

const validState = {
  format: 'edge-ml-rollout/1',
  id: 'r1',
  model: { name: 'pump', version: '2.0.0', sha256: 'a'.repeat(64), size: 10 },
  manifest: { chunkSize: 10, chunks: 1, chunkSha256: ['a'.repeat(64)], createdAt: '2030-01-01T00:00:00Z', sequence: 1 },
  plan: { waves: [{ size: 1 }] },
  status: 'running',
  wave: 0,
  waves: [{ index: 0, name: 'wave 1', devices: ['d1'], status: 'pending' }],
  startedAt: '2030-01-01T00:00:00Z',
  gates: [],
  devices: { d1: { wave: 0, outcome: 'pending', ts: '2030-01-01T00:00:00Z' } },
  updatedAt: '2030-01-01T00:00:00Z',
};

test('a retained rollout state parses; every malformed one is refused with EDGEML_FLEET_STATE_INVALID', () => {
  assert.equal(parseRolloutState(Buffer.from(JSON.stringify(validState))).id, 'r1');
  const bad: unknown[] = [
    'not json',
    [],
    { ...validState, format: 'x' },
    { ...validState, id: 'a/b' },
    { ...validState, model: { name: 'pump' } },
    { ...validState, manifest: {} },
    { ...validState, status: 'sleeping' },
    { ...validState, wave: 3 },
    { ...validState, waves: [{}] },
    { ...validState, startedAt: 'then' },
    { ...validState, devices: { d1: {} } },
    { ...validState, halt: { gate: 'nope', devices: [] } },
  ];
  for (const raw of bad)
    assert.equal(
      codeOf(() => parseRolloutState(typeof raw === 'string' ? raw : JSON.stringify(raw))),
      'EDGEML_FLEET_STATE_INVALID',
      JSON.stringify(raw),
    );
});

test('control messages: pause, resume, abort with a time; anything else EDGEML_FLEET_CONTROL_INVALID', () => {
  assert.equal(parseRolloutControl('{"command":"abort","ts":"2030-01-01T00:00:00Z"}').command, 'abort');
  for (const raw of ['x', '[]', '{"command":"explode","ts":"2030-01-01T00:00:00Z"}', '{"command":"pause"}']) {
    assert.equal(
      codeOf(() => parseRolloutControl(raw)),
      'EDGEML_FLEET_CONTROL_INVALID',
      raw,
    );
  }
});

test("device reports: today's shape parses, malformed ones are refused with EDGEML_FLEET_REPORT_INVALID", () => {
  const old = parseModelReport('{"device":"d1","ts":"2030-01-01T00:00:00Z","model":null,"guard":{},"drift":{}}');
  assert.equal(old.current, undefined);
  const figures = { name: 'pump', version: '2', sha256: 'a', since: '2030-01-01T00:00:00Z', inferences: 1, errors: 0, p50Ms: 1, p99Ms: 2, guardRejections: 0 };
  const bad: unknown[] = [
    'nope',
    {},
    { device: 'd1', ts: 'later' },
    { device: 'd1', ts: '2030-01-01T00:00:00Z', groups: 'line-1' },
    { device: 'd1', ts: '2030-01-01T00:00:00Z', model: 5 },
    { device: 'd1', ts: '2030-01-01T00:00:00Z', current: { ...figures, inferences: -1 } },
    { device: 'd1', ts: '2030-01-01T00:00:00Z', current: { ...figures, driftLevel: 'red' } },
    { device: 'd1', ts: '2030-01-01T00:00:00Z', current: { ...figures, scoreHistogram: { edges: [0, 1], counts: [1, 2] } } },
  ];
  for (const raw of bad)
    assert.equal(
      codeOf(() => parseModelReport(typeof raw === 'string' ? raw : JSON.stringify(raw))),
      'EDGEML_FLEET_REPORT_INVALID',
      JSON.stringify(raw),
    );
  assert.equal(
    codeOf(() => parseUpdateReport('{"device":"d1","state":"dancing","name":"","version":"","sha256":"","ts":""}')),
    'EDGEML_FLEET_REPORT_INVALID',
  );
  // the directory refuses the bad one and keeps what it knew
  const dir = new FleetDirectory();
  dir.handle('edge-ml/status/d1/model', Buffer.from(JSON.stringify({ device: 'd1', ts: '2030-01-01T00:00:00Z', groups: ['g'], model: null, guard: {}, drift: {} })));
  assert.throws(() => dir.handle('edge-ml/status/d1/model', Buffer.from('garbage')), { code: 'EDGEML_FLEET_REPORT_INVALID' });
  assert.deepEqual(dir.get('d1')?.groups, ['g']);
});

test('label shift and PSI agree with direct computations', () => {
  // TVD by hand: shares (0.5, 0.5) vs (0.8, 0.2) differ by 0.3 in each label: (0.3 + 0.3) / 2
  assert.ok(Math.abs(labelShift({ a: 50, b: 50 }, { a: 80, b: 20 })! - 0.3) < 1e-12);
  assert.equal(labelShift({}, { a: 1 }), null);
  // PSI with smoothing of half a count, written out for two bins
  const cur = [60, 40];
  const exp = [30, 70];
  const share = (c: number, n: number): number => (c + 0.5) / (n + 1);
  const byHand = [0, 1].reduce((s, i) => s + (share(cur[i]!, 100) - share(exp[i]!, 100)) * Math.log(share(cur[i]!, 100) / share(exp[i]!, 100)), 0);
  assert.ok(Math.abs(psi(cur, exp)! - byHand) < 1e-12);
  assert.equal(psi([5, 5], [5, 5]), null, 'too few counts a bin');
  const r = evaluateFigures(
    'd1',
    { name: 'm', version: '2', sha256: 'b', since: '', inferences: 90, errors: 10, p50Ms: 1, p99Ms: 6, guardRejections: 0 },
    { name: 'm', version: '1', sha256: 'a', since: '', inferences: 100, errors: 0, p50Ms: 1, p99Ms: 3, guardRejections: 0 },
    { ...DEFAULT_GATES },
  );
  const by = Object.fromEntries(r.map((g) => [g.gate, g]));
  assert.equal(by.errorRate!.value, 10 / 100);
  assert.equal(by.errorRate!.passed, false);
  assert.equal(by.latencyP99!.value, 6 / 3);
  assert.equal(by.latencyP99!.passed, false);
});

test('per-version figures: counts restart at a swap, the previous version keeps its last figures', () => {
  const snap = (sha: string, inferences: number, errors: number): ModelSnapshot => ({
    name: 'm',
    version: sha,
    sha256: sha,
    since: '2030-01-01T00:00:00Z',
    inferences,
    errors,
    inferencesPerMinute: 0,
    latencyMs: { p50: 1, p99: 2 },
  });
  const t = new VersionFigureTracker();
  assert.equal(t.observe(snap('a', 10, 1), { g: 2 }, {}).current?.inferences, 10);
  // swapped at 15/1; the registry learns the new identity only later, counts stay cumulative
  t.markSwap(snap('a', 15, 1), { g: 3 }, {});
  const after = t.observe(snap('b', 22, 4), { g: 5 }, { alarm: 1 });
  assert.equal(after.current?.inferences, 22 - 15);
  assert.equal(after.current?.errors, 4 - 1);
  assert.equal(after.current?.guardRejections, 5 - 3);
  assert.equal(after.current?.driftLevel, 'alarm');
  assert.equal(after.previous?.sha256, 'a');
  assert.equal(after.previous?.inferences, 15);
});

test('waves: cumulative sizes, groups, and durations', () => {
  const devices = Array.from({ length: 7 }, (_, i) => ({ device: `d${i}`, groups: [i < 3 ? 'line-1' : 'line-2'] }));
  const plan = parsePlan({ waves: [{ size: 1 }, { groups: ['line-1'] }, { size: '100%' }] });
  const waves = assignWaves('r', plan, devices);
  assert.equal(waves[0]!.devices.length, 1);
  const line1 = devices.filter((d) => d.groups[0] === 'line-1').map((d) => d.device);
  assert.ok(waves[1]!.devices.every((d) => line1.includes(d)));
  assert.equal(waves.flatMap((w) => w.devices).length, devices.length);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(
    codeOf(() => parseDuration('soon')),
    'EDGEML_FLEET_PLAN_INVALID',
  );
});

test('predictions are counted per model sha256: label counts and a score histogram in tenths, for a few models', () => {
  const r = new MetricsRegistry();
  const scores = [0.05, 0.15, 0.95, 1, 0.5];
  for (const s of scores) r.recordPrediction('a', s > 0.5 ? 'fault' : 'normal', s);
  const p = r.predictionCounts('a')!;
  assert.deepEqual(p.labels, { normal: scores.filter((s) => s <= 0.5).length, fault: scores.filter((s) => s > 0.5).length });
  // the bin of each score computed here: floor(score * 10), with 1.0 in the last bin
  const expected = Array.from({ length: 10 }, (_, i) => scores.filter((s) => Math.min(9, Math.floor(s * 10)) === i).length);
  assert.deepEqual(p.scoreHistogram.counts, expected);
  for (let i = 0; i < 20; i++) r.recordPrediction(`m${i}`, 'x');
  assert.equal(r.predictionCounts('a'), undefined, 'old models are forgotten: memory stays bounded');
  assert.equal(r.predictionCounts('m19')?.labels.x, 1);
});
