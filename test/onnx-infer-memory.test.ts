/**
 * Big inputs through onnx-infer give their memory back, on a real Node-RED process: 10 inputs of
 * 50 MB arriving together, then the flow removed: resident memory after a collection stays within
 * 1.5x of what it was before the first input (before: RSS 138 -> 525 MB, 3.8x, kept after the flow
 * was removed: the copies in the session worker lived until that thread allocated again, which an
 * idle thread never does). Then rounds of 60 x 5 MB level off instead of growing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, startNodeRed } from './helpers/nodered-process';
import type { NodeRedProcess } from './helpers/nodered-process';
import { mlpModel, mlpReference } from './helpers/onnx-models';

const FEATURES = 1000;
const MB = 1024 * 1024;
const model = mlpModel({ inputs: FEATURES, hidden: 8, outputs: 2, seed: 31 });
const RATIO = 1.5;

interface Probe {
  rssMb: number;
  heapMb: number;
  gc: boolean;
}

// Runs inside Node-RED: collects the main thread's garbage and reports. The collector is taken the
// way the session worker takes its own (Node 18 refuses --expose-gc in NODE_OPTIONS).
const PROBE_SOURCE = `
const v8 = require('node:v8');
v8.setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
v8.setFlagsFromString('--no-expose-gc');
settings.functionGlobalContext = {
  edgemlProbe: () => {
    collect();
    collect();
    const m = process.memoryUsage();
    return { rssMb: m.rss / 1048576, heapMb: m.heapUsed / 1048576, gc: typeof collect === 'function' };
  },
};
`;

/** A flow that makes an input of `?mb=` megabytes (rows of 1000 float32 values, row r all equal to r % 7 / 7) and infers it. */
function flow(modelFile: string): unknown[] {
  return [
    { id: 'f1', type: 'tab', label: 'memory' },
    { id: 'model', type: 'onnx-model', path: modelFile, watch: false, threads: '1' },
    { id: 'in', type: 'http in', z: 'f1', url: '/infer', method: 'get', wires: [['make']] },
    {
      id: 'make',
      type: 'function',
      z: 'f1',
      func: `const rows = Math.floor(Number(msg.req.query.mb) * 1048576 / 4 / ${FEATURES});
const a = new Float32Array(rows * ${FEATURES});
for (let r = 0; r < rows; r++) a.fill((r % 7) / 7, r * ${FEATURES}, (r + 1) * ${FEATURES});
msg.payload = a;
return msg;`,
      outputs: 1,
      wires: [['infer']],
    },
    { id: 'infer', type: 'onnx-infer', z: 'f1', model: 'model', property: 'payload', queueSize: '100', overflow: 'error', wires: [['answer']] },
    // the answer without the big output: its size and the first rows
    { id: 'answer', type: 'function', z: 'f1', func: 'msg.payload = { dims: msg.payload.y.dims, head: msg.payload.y.data.slice(0, 14) }; return msg;', outputs: 1, wires: [['reply']] },
    { id: 'reply', type: 'http response', z: 'f1', wires: [] },
    { id: 'catcher', type: 'catch', z: 'f1', wires: [['asError']] },
    { id: 'asError', type: 'function', z: 'f1', func: 'msg.statusCode = 500; msg.payload = { code: msg.error.code, message: msg.error.message }; return msg;', outputs: 1, wires: [['reply']] },
    { id: 'probeIn', type: 'http in', z: 'f1', url: '/probe', method: 'get', wires: [['probe']] },
    { id: 'probe', type: 'function', z: 'f1', func: "msg.payload = global.get('edgemlProbe')(); return msg;", outputs: 1, wires: [['reply']] },
  ];
}

/** After the flow is removed: only the probe. */
const probeOnly: unknown[] = [
  { id: 'f1', type: 'tab', label: 'memory' },
  { id: 'probeIn', type: 'http in', z: 'f1', url: '/probe', method: 'get', wires: [['probe']] },
  { id: 'probe', type: 'function', z: 'f1', func: "msg.payload = global.get('edgemlProbe')(); return msg;", outputs: 1, wires: [['reply']] },
  { id: 'reply', type: 'http response', z: 'f1', wires: [] },
];

let red: NodeRedProcess;
let dir: string;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-memory-'));
  writeFileSync(path.join(dir, 'wide.onnx'), model.bytes);
  red = await startNodeRed({
    nodesDir: ROOT,
    flows: flow(path.join(dir, 'wide.onnx')),
    // 60 x 5 MB wait together: more than the default 256 MiB a queue may hold
    settings: { edgeMl: { maxQueuedBytes: 512 * MB } },
    settingsSource: PROBE_SOURCE,
    // EDGEML_MEMORY_NODE: another Node.js binary, e.g. the Node 18 of scripts/node18.sh
    ...(process.env.EDGEML_MEMORY_NODE ? { node: process.env.EDGEML_MEMORY_NODE } : {}),
  });
});

after(async () => {
  await red?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function probe(): Promise<Probe> {
  return (await (await fetch(`${red.url}/probe`, { headers: { Connection: 'close' } })).json()) as Probe;
}

async function inferMb(mb: number): Promise<void> {
  const res = await fetch(`${red.url}/infer?mb=${mb}`, { signal: AbortSignal.timeout(60_000) });
  const body = (await res.json()) as { dims?: number[]; head?: number[]; code?: string; message?: string };
  assert.equal(res.status, 200, `${body.code} ${body.message}`);
  const rows = Math.floor((mb * MB) / 4 / FEATURES);
  assert.deepEqual(body.dims, [rows, 2]);
  // the first 7 rows against the MLP computed in plain JS
  const expected = mlpReference(
    model,
    Array.from({ length: 7 }, (_, r) => Array<number>(FEATURES).fill((r % 7) / 7)),
  ).flat();
  body.head!.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= 1e-3 * Math.max(1, Math.abs(expected[i]!)), `value ${i}: ${v} vs ${expected[i]}`));
}

test('10 x 50 MB arriving together through onnx-infer: RSS after GC within 1.5x of the start, also after the flow is removed', { timeout: 120_000 }, async (t) => {
  await inferMb(0.01); // a first small run: the session and ORT's own start-up are part of the baseline
  const start = await probe();
  assert.ok(start.gc, 'the probe collects garbage');
  await Promise.all(Array.from({ length: 10 }, () => inferMb(50)));
  const afterBig = await probe();
  await red.deploy(probeOnly, 'full');
  const unloaded = await probe();
  const summary =
    `RSS ${start.rssMb.toFixed(0)} MB at the start, ${afterBig.rssMb.toFixed(0)} MB after 10 x 50 MB (${(afterBig.rssMb / start.rssMb).toFixed(2)}x), ` +
    `${unloaded.rssMb.toFixed(0)} MB after the flow was removed (${(unloaded.rssMb / start.rssMb).toFixed(2)}x); main heap ${start.heapMb.toFixed(0)} -> ${unloaded.heapMb.toFixed(0)} MB`;
  console.log(summary);
  t.diagnostic(summary);
  assert.ok(afterBig.rssMb <= start.rssMb * RATIO, summary);
  assert.ok(unloaded.rssMb <= start.rssMb * RATIO, summary);
  assert.ok(red.running);
});

// 5 MB buffers are below glibc's mmap threshold once it has adapted, so freed ones stay in malloc's
// free lists instead of going back to the system: a high-water mark of the bytes in flight, not a
// leak, and it lands anywhere between 1.1x and 2.8x depending on how the 60 interleave (one CI run:
// 264, 358, 411, 476 MB with no leak; a local one: 233, 414, 234, 273). A second Node-RED process
// runs with MALLOC_MMAP_THRESHOLD_=131072 (docs/limits.md), so glibc hands every freed buffer back:
// what RSS still holds after a round is what the process keeps. Measured so: 223-250 MB against
// 261-266 MB at the start over eight rounds, twice. Before the fix the worker kept its copies and
// RSS grew every round (358, 410, 533 MB).
test('60 x 5 MB arriving together, four rounds, freed memory returned to the system: RSS stays within 1.25x of the start', { timeout: 180_000 }, async (t) => {
  await red.stop();
  red = await startNodeRed({
    nodesDir: ROOT,
    flows: flow(path.join(dir, 'wide.onnx')),
    settings: { edgeMl: { maxQueuedBytes: 512 * MB } },
    settingsSource: PROBE_SOURCE,
    env: { MALLOC_MMAP_THRESHOLD_: '131072' },
    ...(process.env.EDGEML_MEMORY_NODE ? { node: process.env.EDGEML_MEMORY_NODE } : {}),
  });
  await inferMb(0.01);
  const start = await probe();
  const rounds: number[] = [];
  for (let k = 0; k < 4; k++) {
    await Promise.all(Array.from({ length: 60 }, () => inferMb(5)));
    rounds.push((await probe()).rssMb);
  }
  const summary = `RSS ${start.rssMb.toFixed(0)} MB at the start, after each round of 60 x 5 MB: ${rounds.map((r) => r.toFixed(0)).join(', ')} MB`;
  console.log(summary);
  t.diagnostic(summary);
  assert.ok(Math.max(...rounds) <= start.rssMb * 1.25, summary);
  assert.ok(red.running);
});
