/**
 * edge-ml-monitor --fleet: the fleet model fed with reports, and the real bin against a real
 * mosquitto holding retained device reports and a rollout state (JSON once, JSON lines live, the
 * table on a pseudo-terminal). Expected figures are computed here from the reports as published.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { FleetView, type FleetSnapshot } from '../src/lib/monitor/fleet';
import { brokerWithFleet, fleetReports, modelPayload, publishFleet, rolloutState, sha, updatePayload, type Report, PREFIX } from './helpers/fleet-reports';
import { ROOT } from './helpers/flow';
import { freePort } from './helpers/net';

const BIN = path.join(ROOT, 'nodes', 'bin', 'edge-ml-monitor.js');

function checkDevices(snapshot: FleetSnapshot, reports: Report[], ts: string): void {
  assert.equal(snapshot.format, 'edge-ml-fleet/1');
  assert.deepEqual(snapshot.devices.map((d) => d.device).sort(), reports.map((r) => r.device).sort());
  for (const r of reports) {
    const d = snapshot.devices.find((x) => x.device === r.device)!;
    assert.deepEqual(d.groups, r.groups);
    assert.equal(d.model?.version, r.version);
    assert.equal(d.model?.sha256, sha(r.version));
    assert.equal(d.update?.state, r.state);
    assert.equal(d.inferencesPerMinute, r.perMinute);
    assert.equal(d.errorRate, r.errors / (r.inferences + r.errors));
    assert.equal(d.p99Ms, r.p99);
    assert.equal(
      d.guardRejections,
      Object.values(r.guard).reduce((a, b) => a + b, 0),
    );
    const worst = (['alarm', 'warn', 'ok'] as const).find((l) => (r.drift[l] ?? 0) > 0) ?? null;
    assert.equal(d.drift, worst);
    assert.equal(d.lastSeen, ts);
    if (r.state === 'rejected') assert.equal(d.update?.code, 'EDGEML_UPDATE_INVALID_MODEL');
  }
}

function spawnMonitor(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, output: () => out, exited };
}

/** Resolves with the first line of the child's stdout (from now on) that satisfies `match`. */
function nextLine(child: ChildProcess, match: (line: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.stdout!.off('data', onData);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      const found = lines.find(match);
      if (found !== undefined) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(found);
      }
    };
    child.stdout!.on('data', onData);
  });
}

test('the fleet view: one row per device from its retained reports, bad and cleared reports handled', () => {
  const view = new FleetView(PREFIX);
  const ts = '2026-01-02T03:04:05.000Z';
  const reports = fleetReports(6);
  for (const r of reports) {
    assert.ok(view.handle(`${PREFIX}/status/${r.device}/model`, modelPayload(r, ts)));
    assert.ok(view.handle(`${PREFIX}/status/${r.device}/update`, updatePayload(r, ts)));
  }
  checkDevices(view.snapshot(), reports, ts);
  // not JSON, a JSON array, a report without a device, a bad rollout state: the rows stay as they
  // were, each listed as a problem with its code until a good message replaces it
  assert.ok(view.handle(`${PREFIX}/status/dev-1/model`, '{not json'));
  assert.ok(view.handle(`${PREFIX}/status/dev-2/model`, '[1,2]'));
  assert.ok(view.handle(`${PREFIX}/status/dev-3/update`, JSON.stringify({ state: 'active' })));
  assert.ok(view.handle(`${PREFIX}/rollout/r-1/state`, JSON.stringify({ ...rolloutState(ts), format: 'v0' })));
  // foreign topics: not for the view
  assert.equal(view.handle(`other/status/dev-1/model`, modelPayload(reports[0]!, ts)), false);
  assert.equal(view.handle(`${PREFIX}/status/dev-1/extra/model`, modelPayload(reports[0]!, ts)), false);
  checkDevices(view.snapshot(), reports, ts);
  assert.deepEqual(
    view.problems().map((p) => [p.topic.split('/').slice(1).join('/'), p.code]),
    [
      ['status/dev-1/model', 'EDGEML_FLEET_REPORT_INVALID'],
      ['status/dev-2/model', 'EDGEML_FLEET_REPORT_INVALID'],
      ['status/dev-3/update', 'EDGEML_FLEET_REPORT_INVALID'],
      ['rollout/r-1/state', 'EDGEML_FLEET_STATE_INVALID'],
    ],
  );
  assert.match(view.render(), /4 unreadable retained messages/);
  assert.ok(view.handle(`${PREFIX}/status/dev-1/model`, modelPayload(reports[0]!, ts)));
  assert.ok(view.handle(`${PREFIX}/rollout/r-1/state`, ''));
  assert.equal(view.problems().length, 2);
  assert.equal(view.rollouts().length, 0);
  // a device whose reports are both cleared leaves the table; one cleared report keeps the other
  assert.ok(view.handle(`${PREFIX}/status/dev-2/model`, ''));
  assert.ok(view.handle(`${PREFIX}/status/dev-2/update`, ''));
  assert.ok(view.handle(`${PREFIX}/status/dev-3/model`, ''));
  const after = view.snapshot();
  assert.equal(
    after.devices.some((d) => d.device === 'dev-2'),
    false,
  );
  const dev3 = after.devices.find((d) => d.device === 'dev-3')!;
  assert.equal(dev3.model, null);
  assert.equal(dev3.update?.state, reports[2]!.state);
  // the drift level is what rose since the previous report
  const r = reports[3]!;
  assert.equal(r.perVersion, false);
  const next = { ...r, drift: { ...r.drift, ok: (r.drift.ok ?? 0) + 5 } };
  view.handle(`${PREFIX}/status/${r.device}/model`, modelPayload(next, ts));
  assert.equal(view.snapshot().devices.find((d) => d.device === r.device)!.drift, 'ok');
  const text = view.render(Date.parse(ts) + 5000);
  for (const d of view.snapshot().devices) assert.match(text, new RegExp(`^${d.device}\\s`, 'm'));
  assert.match(text, /5s$/m);
});

test('edge-ml-monitor --fleet --json --once prints every retained device and the rollout', async (t) => {
  const { broker, pub, ts, reports, state } = await brokerWithFleet(t, 25, { rollout: true });
  // noise beside the reports: must not stop the snapshot or add rows
  await pub.publishAsync(`${PREFIX}/status/garbage/model`, 'not json', { qos: 1, retain: true });

  const m = spawnMonitor(['--fleet', '--json', '--once', '--broker', broker.url]);
  assert.equal(await m.exited, 0, m.output());
  const snapshot = JSON.parse(m.output()) as FleetSnapshot;
  checkDevices(snapshot, reports, ts);
  assert.deepEqual(
    snapshot.problems.map((p) => [p.topic, p.code]),
    [[`${PREFIX}/status/garbage/model`, 'EDGEML_FLEET_REPORT_INVALID']],
  );
  assert.equal(snapshot.rollouts.length, 1);
  const r = snapshot.rollouts[0]!;
  assert.equal(r.id, state.id);
  assert.equal(r.status, state.status);
  assert.deepEqual(r.model, state.model);
  assert.deepEqual(
    r.waves.map((w) => w.devices),
    state.waves.map((w) => w.devices),
  );
  assert.deepEqual(
    r.waves.map((w) => w.label),
    ['1 device', '50%', 'everyone'],
  );
  assert.deepEqual(r.halt, state.halt);
  assert.deepEqual(r.results, { 'dev-1': 'rolled-back' });
  assert.deepEqual(
    r.gates.map((g) => [g.gate, g.failed]),
    state.gates.map((g) => [g.gate, g.passed ? [] : [g.device]]),
  );

  // the same as a table (not a TTY: printed once, no escape sequences)
  const table = spawnMonitor(['--fleet', '--once', '--broker', broker.url]);
  assert.equal(await table.exited, 0, table.output());
  const text = table.output();
  assert.equal(text.includes('\x1b['), false);
  for (const rep of reports) assert.match(text, new RegExp(`^${rep.device}\\s+${rep.groups.join(',')}\\s+pump\\s+${rep.version.replace(/\./g, '\\.')}\\s`, 'm'));
  assert.match(text, /rollout r-42: pump 3\.0\.0\s+halted wave 1\/3/);
  assert.match(text, /HALTED by gate errorRate in wave 1 on dev-1 {2}dev-1: 0\.25 \(was 0\.01\) > 0\.05/);
  assert.match(text, /gate errorRate: FAIL on 1 of 1 {2}threshold 0\.05 {2}dev-1 0\.25 \(was 0\.01\)/);
  assert.match(text, /^ {2}1\s+1 device\s+1\s+failed\s+1 rolled-back$/m);
  assert.match(text, /^ {2}2\s+50%\s+2\s+pending\s+2 pending$/m);
});

test('edge-ml-monitor --fleet --json follows: one JSON line per change', async (t) => {
  const { broker, pub, ts, reports } = await brokerWithFleet(t, 3);
  const m = spawnMonitor(['--fleet', '--json', '--interval', '0.2', '--broker', broker.url]);
  t.after(() => m.child.kill('SIGTERM'));
  const first = JSON.parse(await nextLine(m.child, (l) => l.startsWith('{'), 'the first snapshot')) as FleetSnapshot;
  checkDevices(first, reports, ts);
  // a fourth device appears, then the second one takes a new version
  const later = new Date(Date.now() + 1000).toISOString();
  const extra = { ...fleetReports(4)[3]!, device: 'dev-new' };
  const seen = nextLine(m.child, (l) => l.includes('"dev-new"'), 'the new device');
  await publishFleet(pub, [extra], later);
  const withNew = JSON.parse(await seen) as FleetSnapshot;
  checkDevices({ ...withNew, devices: withNew.devices.filter((d) => d.device !== 'dev-new') }, reports, ts);
  checkDevices({ ...withNew, devices: withNew.devices.filter((d) => d.device === 'dev-new') }, [extra], later);
  const moved = nextLine(m.child, (l) => (JSON.parse(l) as FleetSnapshot).devices.find((d) => d.device === 'dev-2')?.update?.state === 'receiving', 'dev-2 receiving');
  await pub.publishAsync(`${PREFIX}/status/dev-2/update`, JSON.stringify({ device: 'dev-2', state: 'receiving', name: 'pump', version: '4.0.0', sha256: 'd'.repeat(64), ts: later, missing: [0, 1] }), {
    qos: 1,
    retain: true,
  });
  const snap = JSON.parse(await moved) as FleetSnapshot;
  assert.equal(snap.devices.find((d) => d.device === 'dev-2')!.update!.version, '4.0.0');
  m.child.kill('SIGTERM');
  assert.equal(await m.exited, 0);
});

test('edge-ml-monitor --fleet on a terminal redraws the table live', async (t) => {
  const { broker, pub, ts, reports } = await brokerWithFleet(t, 4);
  // util-linux script(1) runs the bin on a pseudo-terminal and copies what it writes to stdout
  const command = [process.execPath, BIN, '--fleet', '--interval', '0.2', '--broker', broker.url].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '160', LINES: '50' } });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  const frames = (): string[] => out.split('\x1b[H\x1b[2J').slice(1);
  const waitFor = (cond: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(out.slice(-2000))}`)), 20_000);
      const check = (): void => {
        if (cond()) {
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve();
        }
      };
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stdout.on('data', check);
      check();
    });
  await waitFor(() => frames().some((f) => reports.every((r) => f.includes(r.device))), 'a frame with every device');
  const frame = frames().find((f) => reports.every((r) => f.includes(r.device)))!;
  assert.match(frame, /edge-ml-monitor --fleet/);
  assert.match(frame, /\(connected\)/);
  assert.match(frame, /4 devices/);
  // a rollout state appears in a later frame
  await pub.publishAsync(`${PREFIX}/rollout/r-42/state`, JSON.stringify({ ...rolloutState(ts), status: 'running', halt: undefined, soakEndsAt: new Date(Date.now() + 60_000).toISOString() }), {
    qos: 1,
    retain: true,
  });
  await waitFor(() => frames().some((f) => /rollout r-42: pump 3\.0\.0\s+running wave 1\/3, soak ends in \d+s/.test(f)), 'the running rollout');
  child.kill('SIGTERM');
});

test('edge-ml-monitor --fleet --once without a broker exits 1 and says why', async () => {
  const port = await freePort(); // nothing listens there
  const m = spawnMonitor(['--fleet', '--once', '--broker', `mqtt://127.0.0.1:${port}`]);
  assert.equal(await m.exited, 1);
  assert.match(m.output(), new RegExp(`edge-ml-monitor: .*(ECONNREFUSED|no connection).*`));
});
