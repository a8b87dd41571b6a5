/**
 * Redeploys release what the ONNX nodes hold: 100 full deploys of a flow with onnx-model (the demo
 * model, file watch on) and onnx-infer into a real Node-RED process, one message inferred per cycle.
 * Afterwards resident memory is flat and no sessions, worker threads, timers or file watchers
 * are left over from earlier deploys.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, startNodeRed } from './helpers/nodered-process';
import type { NodeRedProcess } from './helpers/nodered-process';

const PUMP = path.join(ROOT, 'models', 'pump-classifier.onnx');
/** EDGEML_REDEPLOY_CYCLES runs more cycles when hunting a slow leak. */
const CYCLES = Number(process.env.EDGEML_REDEPLOY_CYCLES ?? 100);
const WARMUP = 10;
const RSS_MARGIN_MB = 25;

interface Probe {
  rssMb: number;
  heapMb: number;
  externalMb: number;
  gc: boolean;
  sessions: number;
  workers: number;
  /** process.getActiveResourcesInfo() counted by kind (Timeout, FSEventWrap, ...). */
  resources: Record<string, number>;
}

/** The flow of one cycle: new node ids each time, so every deploy removes and creates the nodes. */
function flow(cycle: number): unknown[] {
  const c = `c${cycle}`;
  return [
    { id: 'f1', type: 'tab', label: 'redeploy' },
    { id: `model-${c}`, type: 'onnx-model', path: PUMP, watch: true, threads: '1' },
    { id: `in-${c}`, type: 'http in', z: 'f1', url: '/infer', method: 'post', wires: [[`infer-${c}`]] },
    { id: `infer-${c}`, type: 'onnx-infer', z: 'f1', model: `model-${c}`, property: 'payload', queueSize: '10', overflow: 'error', wires: [['reply']] },
    { id: 'reply', type: 'http response', z: 'f1', wires: [] },
    { id: 'catcher', type: 'catch', z: 'f1', wires: [['asError']] },
    { id: 'asError', type: 'function', z: 'f1', func: 'msg.statusCode = 500; msg.payload = { code: msg.error.code, message: msg.error.message }; return msg;', outputs: 1, wires: [['reply']] },
    { id: 'probeIn', type: 'http in', z: 'f1', url: '/probe', method: 'get', wires: [['probe']] },
    { id: 'probe', type: 'function', z: 'f1', func: "msg.payload = global.get('edgemlProbe')(); return msg;", outputs: 1, wires: [['reply']] },
  ];
}

// The probe runs inside Node-RED: it collects garbage (when --expose-gc is on) and reads the
// counters of the very module instance Node-RED loaded (same file, same require cache).
const PROBE_SOURCE = `
settings.functionGlobalContext = {
  edgemlProbe: () => {
    if (global.gc) { global.gc(); global.gc(); }
    const onnxModel = require(${JSON.stringify(path.join(ROOT, 'nodes', 'onnx-model.js'))});
    const resources = {};
    for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] || 0) + 1;
    return {
      rssMb: process.memoryUsage().rss / 1048576,
      heapMb: process.memoryUsage().heapUsed / 1048576,
      externalMb: process.memoryUsage().external / 1048576,
      gc: typeof global.gc === 'function',
      sessions: onnxModel.liveModelSessions(),
      workers: onnxModel.liveSessionWorkers(),
      resources,
    };
  },
};
`;

let red: NodeRedProcess | undefined;
after(() => red?.stop());

test(`${CYCLES} deploy/redeploy cycles with a model loaded: memory flat, nothing leaks`, { timeout: 180_000 }, async (t) => {
  red = await startNodeRed({
    nodesDir: ROOT,
    flows: flow(0),
    settingsSource: PROBE_SOURCE,
    env: { NODE_OPTIONS: [process.env.NODE_OPTIONS, '--expose-gc'].filter(Boolean).join(' ') },
  });
  const node = red;
  const body = JSON.stringify({ features: { dtype: 'float32', dims: [1, 5], data: [0.1, -0.2, 0.3, 0.5, -1] } });
  const infer = async (cycle: number): Promise<void> => {
    const res = await fetch(`${node.url}/infer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const answer = (await res.json()) as { label?: { data: unknown[] }; code?: string; message?: string };
    assert.equal(res.status, 200, `cycle ${cycle}: ${answer.code} ${answer.message}`);
    assert.equal(answer.label?.data.length, 1);
  };
  const probe = async (): Promise<Probe> => {
    const res = await fetch(`${node.url}/probe`, { headers: { Connection: 'close' } });
    return (await res.json()) as Probe;
  };

  let afterWarmup: Probe | undefined;
  const series: string[] = []; // cycle:rss/heap/external MB, to tell a trend from a step
  const started = performance.now();
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    await node.deploy(flow(cycle), 'full');
    await infer(cycle);
    if (cycle === WARMUP) afterWarmup = await probe();
    if (cycle % 10 === 0) {
      const p = cycle === WARMUP ? afterWarmup! : await probe();
      series.push(`${cycle}:${p.rssMb.toFixed(0)}/${p.heapMb.toFixed(0)}/${p.externalMb.toFixed(0)}`);
    }
  }
  const final = await probe();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const growth = final.rssMb - afterWarmup!.rssMb;
  const summary =
    `redeploy memory: RSS ${afterWarmup!.rssMb.toFixed(1)} MB after ${WARMUP} cycles, ${final.rssMb.toFixed(1)} MB after ${CYCLES} ` +
    `(${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB; gc ${final.gc ? 'forced' : 'not exposed'}; ${seconds} s); ` +
    `sessions ${final.sessions}, workers ${final.workers}, resources ${JSON.stringify(final.resources)}`;
  console.log(summary);
  console.log(`redeploy memory by cycle (rss/heap/external MB): ${series.join(' ')}`);
  t.diagnostic(summary);

  assert.ok(growth <= RSS_MARGIN_MB, summary);
  // Sharper than RSS: buffers the main thread keeps (a per-model 40 kB ring left behind per deploy
  // would add 3.6 MB here) and its JS heap, both after a forced collection.
  if (final.gc) {
    assert.ok(final.externalMb - afterWarmup!.externalMb <= 1.5, `external ${afterWarmup!.externalMb.toFixed(1)} -> ${final.externalMb.toFixed(1)} MB`);
    assert.ok(final.heapMb - afterWarmup!.heapMb <= 8, `heap ${afterWarmup!.heapMb.toFixed(1)} -> ${final.heapMb.toFixed(1)} MB`);
  }
  // Exactly the deployed flow's model is open, on the one shared worker thread.
  assert.equal(final.sessions, 1);
  assert.equal(final.workers, 1);
  // Timers and file watchers do not pile up with deploys (a leak would add one per cycle, 90 in all);
  // a few timers may be pending by chance at either probe (status coalescing, HTTP keep-alive).
  const slack: Record<string, number> = { Timeout: 3, FSEventWrap: 0, StatWatcher: 0 };
  for (const [kind, allowed] of Object.entries(slack)) {
    const before = afterWarmup!.resources[kind] ?? 0;
    const now = final.resources[kind] ?? 0;
    assert.ok(now <= before + allowed, `${kind}: ${before} after ${WARMUP} cycles -> ${now} after ${CYCLES}`);
  }
  assert.ok(node.running);
});
