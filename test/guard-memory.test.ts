/**
 * Issue 16: ml-guard without feature names fed 2 fresh failing keys per message, 100,000 messages,
 * in a real Node-RED process started with --expose-gc. Before the bound the findings tables grew by
 * about 35 MB per 100k messages and /edge-ml/metrics from 789 B to 25 MB. Now memory after a forced
 * collection stays within 1.5x of where it started, and the metrics stay small.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT, startNodeRed, type NodeRedProcess } from './helpers/nodered-process';

/** EDGEML_GUARD_MEMORY_MESSAGES runs more messages when hunting a slow leak. */
const MESSAGES = Number(process.env.EDGEML_GUARD_MEMORY_MESSAGES ?? 100_000);
const PER_REQUEST = 2000;
const WARMUP_REQUESTS = 2;

// One request makes PER_REQUEST messages with two fresh keys each (null values: a "null" finding
// each), then the request's own message, which goes through the guard last (messages are handled
// in order) and is the only one answered.
const GENERATE = `
const start = Number(msg.req.query.from);
for (let i = start; i < start + ${PER_REQUEST}; i++) node.send({ payload: { ['k' + i + 'a']: null, ['k' + i + 'b']: null } });
msg.payload = { done: 1 };
return msg;`;

const PROBE_SOURCE = `
settings.functionGlobalContext = {
  edgemlProbe: () => {
    global.gc(); global.gc();
    const m = process.memoryUsage();
    return { rssMb: m.rss / 1048576, heapMb: m.heapUsed / 1048576 };
  },
};
`;

let red: NodeRedProcess | undefined;
after(() => red?.stop());

test(`ml-guard with ${MESSAGES} messages of 2 fresh failing keys: memory after GC within 1.5x, metrics bounded`, { timeout: 300_000 }, async (t) => {
  const flow = [
    { id: 'tab', type: 'tab', label: 'guard memory' },
    { id: 'load', type: 'http in', z: 'tab', url: '/load', method: 'get', wires: [['gen']] },
    { id: 'gen', type: 'function', z: 'tab', outputs: 1, func: GENERATE, wires: [['guard']] },
    { id: 'guard', type: 'ml-guard', z: 'tab', features: '', rules: [], policies: { null: 'flag' }, replaceWith: {}, wires: [['answer'], ['answer']] },
    { id: 'answer', type: 'function', z: 'tab', outputs: 1, func: 'return msg.res ? msg : null;', wires: [['reply']] },
    { id: 'reply', type: 'http response', z: 'tab', wires: [] },
    { id: 'probeIn', type: 'http in', z: 'tab', url: '/probe', method: 'get', wires: [['probe']] },
    { id: 'probe', type: 'function', z: 'tab', outputs: 1, func: "msg.payload = global.get('edgemlProbe')(); return msg;", wires: [['reply']] },
    { id: 'statsIn', type: 'http in', z: 'tab', url: '/stats', method: 'get', wires: [['asStats']] },
    { id: 'asStats', type: 'function', z: 'tab', outputs: 1, func: "msg.command = 'stats'; return msg;", wires: [['guard']] },
  ];
  red = await startNodeRed({
    nodesDir: ROOT,
    flows: flow,
    settingsSource: PROBE_SOURCE,
    env: { NODE_OPTIONS: [process.env.NODE_OPTIONS, '--expose-gc'].filter(Boolean).join(' ') },
  });
  const node = red;
  const get = async <T>(p: string): Promise<T> => {
    const res = await fetch(`${node.url}${p}`, { signal: AbortSignal.timeout(60_000) });
    assert.equal(res.status, 200, `${p}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const probe = (): Promise<{ rssMb: number; heapMb: number }> => get('/probe');
  let sent = 0;
  const load = async (): Promise<void> => {
    await get(`/load?from=${sent}`);
    sent += PER_REQUEST;
  };

  for (let i = 0; i < WARMUP_REQUESTS; i++) await load();
  const start = await probe();
  const started = performance.now();
  while (sent < MESSAGES) await load();
  const end = await probe();
  const stats = await get<{ checks: Record<string, Record<string, number>> }>('/stats');
  const metrics = await fetch(`${node.url}/edge-ml/metrics`).then((r) => r.text());
  const summary =
    `guard memory: ${sent} messages (${2 * sent} fresh keys) in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
    `RSS ${start.rssMb.toFixed(1)} -> ${end.rssMb.toFixed(1)} MB (x${(end.rssMb / start.rssMb).toFixed(2)}), ` +
    `heap ${start.heapMb.toFixed(1)} -> ${end.heapMb.toFixed(1)} MB (x${(end.heapMb / start.heapMb).toFixed(2)}); /edge-ml/metrics ${metrics.length} B`;
  console.log(summary);
  t.diagnostic(summary);
  assert.ok(end.rssMb <= 1.5 * start.rssMb, summary);
  assert.ok(end.heapMb <= 1.5 * start.heapMb, summary);
  // 256 series + "(other)" for the one check, a line each, plus the fixed families: well under 64 KiB.
  assert.ok(metrics.length < 64 * 1024, summary);
  assert.match(metrics, /check="null",feature="\(other\)"\} \d+/);
  const other = Number(/check="null",feature="\(other\)"\} (\d+)/.exec(metrics)?.[1]);
  assert.equal(other, 2 * sent - 256, 'every finding beyond the table is counted under (other)');
  // The node's own statistics: 256 names and "(other)".
  assert.equal(Object.keys(stats.checks.null ?? {}).length, 257);
});
