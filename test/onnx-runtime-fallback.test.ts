/**
 * Where onnxruntime-node cannot load (no prebuilt binary: 32-bit ARM, musl, ...) the models run on
 * onnxruntime-web (WebAssembly) if it is installed, and where neither loads the nodes say so with the
 * fix. Forced here with EDGEML_ORT_SIMULATE_FAILURE, since both runtimes load on this machine.
 *
 * The session worker thread is shared per process and reads the variable when it starts: this file
 * sets it before any flow loads (node --test runs each test file in its own process), and the
 * "neither runtime" case runs in a Node-RED process of its own.
 */
process.env.EDGEML_ORT_SIMULATE_FAILURE = 'node';

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ortNode from 'onnxruntime-node';
import { EdgeMlError } from '../src/lib/errors';
import { loadOrtRuntime, RUNTIME_UNAVAILABLE } from '../src/lib/onnx/runtime-loader';
import { helper, inject, loadFlow, needsShared, nextMessage, ROOT, unloadFlow } from './helpers/flow';
import { caseMismatch, conformanceCases, runThroughFlow } from './helpers/onnx-conformance';
import { startNodeRed } from './helpers/nodered-process';
import { PUMP_MODEL as PUMP, standardise } from './helpers/pump-reference';
import type { NodeRedProcess } from './helpers/nodered-process';

const TYPES = ['onnx-model', 'onnx-infer'];
const WARN = 30; // Node-RED's log level number for warnings

interface JsonTensor {
  dtype: string;
  dims: number[];
  data: Array<number | string | boolean>;
}

after(() => unloadFlow());

describe('runtime choice (loader with stand-in packages)', () => {
  const fakeOrt = (tag: string): unknown => ({ tag, InferenceSession: { create: () => undefined }, env: { wasm: {} } });
  const resolver =
    (available: string[]) =>
    (id: string): unknown => {
      if (available.includes(id)) return fakeOrt(id);
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    };
  const both = resolver(['onnxruntime-node', 'onnxruntime-web']);

  test('auto prefers onnxruntime-node', () => {
    const r = loadOrtRuntime({}, both);
    assert.equal(r.name, 'onnxruntime-node');
    assert.equal(r.fallbackReason, undefined);
  });

  test('auto falls back to onnxruntime-web with the reason, the wasm provider and one thread', () => {
    const broken = (id: string): unknown => {
      if (id === 'onnxruntime-node') throw new Error('libonnxruntime.so.1: cannot open shared object file');
      return both(id);
    };
    const r = loadOrtRuntime({}, broken);
    assert.equal(r.name, 'onnxruntime-web');
    assert.match(r.fallbackReason ?? '', /onnxruntime-node cannot load on .*cannot open shared object file/);
    assert.match(r.fallbackReason ?? '', new RegExp(`${process.platform}/${process.arch}`));
    assert.deepEqual(r.sessionOptions.executionProviders, ['wasm']);
    assert.equal(r.ort.env.wasm.numThreads, 1);
    assert.equal(loadOrtRuntime({ EDGEML_ORT_WASM_THREADS: '3' }, broken).ort.env.wasm.numThreads, 3);
  });

  test('EDGEML_ORT_BACKEND=web skips onnxruntime-node without calling it a fallback', () => {
    const r = loadOrtRuntime({ EDGEML_ORT_BACKEND: 'web' }, both);
    assert.equal(r.name, 'onnxruntime-web');
    assert.equal(r.fallbackReason, undefined);
  });

  const unavailable = (env: NodeJS.ProcessEnv, load: (id: string) => unknown): EdgeMlError => {
    try {
      loadOrtRuntime(env, load);
    } catch (e) {
      assert.ok(e instanceof EdgeMlError);
      return e;
    }
    assert.fail('expected EDGEML_ONNX_RUNTIME_UNAVAILABLE');
  };

  test('neither runtime: one coded error naming platform, both failures and the fix', () => {
    const err = unavailable({}, resolver([]));
    assert.equal(err.code, RUNTIME_UNAVAILABLE);
    assert.match(err.message, /onnxruntime-node: not installed; onnxruntime-web: not installed/);
    assert.match(err.message, new RegExp(`${process.platform}/${process.arch}`));
    assert.match(String(err.params.fix), /npm install onnxruntime-web/);
  });

  test('EDGEML_ORT_BACKEND=node does not fall back; a bad value is refused', () => {
    const err = unavailable({ EDGEML_ORT_BACKEND: 'node', EDGEML_ORT_SIMULATE_FAILURE: 'node' }, both);
    assert.equal(err.code, RUNTIME_UNAVAILABLE);
    assert.doesNotMatch(String(err.params.reason), /onnxruntime-web/);
    assert.equal(unavailable({ EDGEML_ORT_BACKEND: 'gpu' }, both).code, RUNTIME_UNAVAILABLE);
  });
});

/** A few pump readings, standardised with the model card's own scaler (the model's input space). */
function pumpBatch(): { data: Float32Array; rows: number } {
  const readings = [
    [93.6, 4.2, 27.3, 3.0, 51.0], // near the training mean
    [70.0, 2.1, 22.0, 6.5, 55.0], // low pressure, shaking: cavitation-like
    [95.0, 4.3, 33.0, 7.5, 62.0], // hot, high current, vibration: bearing-like
    [120.0, 6.0, 35.0, 2.0, 48.0],
  ];
  return { data: standardise(readings), rows: readings.length };
}

describe('onnxruntime-node forced to fail: onnxruntime-web serves', () => {
  test('the pump model answers with the label and probabilities onnxruntime-node gives directly', async () => {
    const { data, rows } = pumpBatch();
    const reference = await ortNode.InferenceSession.create(PUMP);
    const expected = await reference.run({ features: new ortNode.Tensor('float32', data, [rows, 5]) });
    await reference.release();

    await loadFlow(TYPES, [
      { id: 'f1', type: 'tab' },
      { id: 'pump', type: 'onnx-model', path: PUMP, watch: false, threads: '1' },
      { id: 'infer', type: 'onnx-infer', z: 'f1', model: 'pump', property: 'payload', queueSize: '10', overflow: 'error', wires: [['out']] },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ]);
    const got = nextMessage('out', 30000);
    inject('infer', { payload: { features: { dtype: 'float32', dims: [rows, 5], data: [...data] } } });
    const msg = await got;
    assert.equal((msg.model as { runtime?: string }).runtime, 'onnxruntime-web');
    const payload = msg.payload as Record<string, JsonTensor>;
    assert.deepEqual(payload.label!.data.map(Number), [...(expected.label!.data as BigInt64Array)].map(Number));
    const probabilities = payload.probabilities!.data as number[];
    const want = [...(expected.probabilities!.data as Float32Array)];
    assert.equal(probabilities.length, want.length);
    probabilities.forEach((p, i) => assert.ok(Math.abs(p - want[i]!) <= 1e-5, `probabilities[${i}]: ${p} vs ${want[i]}`));
    const scores = payload.anomaly_score!.data as number[];
    [...(expected.anomaly_score!.data as Float32Array)].forEach((s, i) => assert.ok(Math.abs(scores[i]! - s) <= 1e-5 * Math.max(1, Math.abs(s))));

    // Said once in the log, with why onnxruntime-node is not serving.
    const warnings = helper
      .log()
      .args.map((a: unknown[]) => a[0] as { level: number; msg: unknown })
      .filter((e: { level: number; msg: unknown }) => e.level === WARN && String(e.msg).includes('onnx-model.log.fallback'));
    assert.equal(warnings.length, 1);

    // The editor's model-info endpoint shows which runtime serves and why.
    const info = await helper.request().get('/edge-ml/model-info').query({ path: PUMP }).expect(200);
    assert.equal(info.body.runtime, 'onnxruntime-web');
    assert.match(info.body.runtimeFallback, /onnxruntime-node cannot load .*simulated failure/);
    await unloadFlow();
  });

  test('ONNX backend conformance cases through onnxruntime-web: every answer is right', { timeout: 240_000, skip: needsShared('conformance/onnx-node') }, async (t) => {
    const cases = conformanceCases();
    let passed = 0;
    const notLoaded: string[] = [];
    const wrong: string[] = [];
    for (const { case: c, ok, msg } of await runThroughFlow(cases)) {
      if (!ok) {
        const err = msg.error as { code?: string; message?: string };
        // A model the wasm build refuses to load is reported, never answered wrongly.
        if (err.code === 'EDGEML_ONNX_MODEL_NOT_LOADED') notLoaded.push(`${c.dir}: ${err.message}`);
        else wrong.push(`${c.dir}: ${err.code} ${err.message}`);
        continue;
      }
      const runtime = (msg.model as { runtime?: string }).runtime;
      const problem = runtime === 'onnxruntime-web' ? caseMismatch(c, msg.payload as Record<string, unknown>) : `answered by ${runtime}`;
      if (problem) wrong.push(`${c.dir}: ${problem}`);
      else passed++;
    }
    const summary = `onnx conformance through onnxruntime-web: ${passed} of ${cases.length} pass, ${notLoaded.length} models not loadable by the wasm build, ${wrong.length} wrong`;
    console.log(summary);
    t.diagnostic(summary);
    for (const n of notLoaded) t.diagnostic(`  not loaded: ${n.slice(0, 240)}`);
    assert.deepEqual(wrong, []);
    assert.equal(passed + notLoaded.length, cases.length);
    assert.ok(passed > 0);
  });
});

describe('neither runtime loads (a Node-RED process of its own)', () => {
  let red: NodeRedProcess | undefined;
  after(() => red?.stop());

  test('status red with the reason, the fix in the log, EDGEML_ONNX_RUNTIME_UNAVAILABLE at the Catch node, Node-RED keeps running', { timeout: 120_000 }, async () => {
    const flows = [
      { id: 'f1', type: 'tab', label: 'fallback' },
      { id: 'pump', type: 'onnx-model', path: PUMP, watch: false, threads: '1' },
      { id: 'in', type: 'http in', z: 'f1', url: '/infer', method: 'post', wires: [['infer']] },
      { id: 'infer', type: 'onnx-infer', z: 'f1', model: 'pump', property: 'payload', queueSize: '10', overflow: 'error', wires: [['reply']] },
      { id: 'reply', type: 'http response', z: 'f1', wires: [] },
      { id: 'catcher', type: 'catch', z: 'f1', scope: ['infer'], wires: [['asError']] },
      {
        id: 'asError',
        type: 'function',
        z: 'f1',
        func: 'msg.statusCode = 500; msg.payload = { code: msg.error.code, message: msg.error.message }; return msg;',
        outputs: 1,
        wires: [['reply']],
      },
      { id: 'watchStatus', type: 'status', z: 'f1', scope: ['infer'], wires: [['logStatus']] },
      { id: 'logStatus', type: 'function', z: 'f1', func: "node.warn('EDGEML-STATUS ' + JSON.stringify(msg.status)); return null;", outputs: 1, wires: [] },
    ];
    red = await startNodeRed({ nodesDir: ROOT, flows, env: { EDGEML_ORT_SIMULATE_FAILURE: 'node,web', EDGEML_ORT_BACKEND: 'auto' } });
    const status = await red.waitForLog(/EDGEML-STATUS (\{.*"fill":"red".*\})/, 30000);
    const shown = JSON.parse(status[1]!) as { fill: string; shape: string; text: string };
    assert.equal(shown.shape, 'ring');
    assert.match(shown.text, /onnxruntime-web/);
    assert.match(shown.text, new RegExp(`${process.platform}/${process.arch}`));
    await red.waitForLog(/\[error\] \[onnx-model:pump\] .*npm install onnxruntime-web/, 30000);

    const body = JSON.stringify({ features: { dtype: 'float32', dims: [1, 5], data: [0, 0, 0, 0, 0] } });
    for (let attempt = 0; attempt < 2; attempt++) {
      const res: Response = await fetch(`${red.url}/infer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      assert.equal(res.status, 500);
      const answer = (await res.json()) as { code: string; message: string };
      assert.equal(answer.code, RUNTIME_UNAVAILABLE);
      assert.match(answer.message, /onnxruntime-node: simulated failure.*onnxruntime-web: simulated failure/);
      assert.match(answer.message, /npm install onnxruntime-web/);
    }
    const info = await red.request<{ name: string; runtime?: string; runtimeProblem?: string }>('GET', `/edge-ml/model-info?path=${encodeURIComponent(PUMP)}`);
    assert.equal(info.name, 'pump-classifier');
    assert.equal(info.runtime, undefined);
    assert.match(info.runtimeProblem ?? '', /npm install onnxruntime-web/);
    assert.ok(red.running);
    assert.ok(Array.isArray(await red.flows()));
  });
});
