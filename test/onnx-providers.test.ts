/**
 * onnx-model's session settings: execution providers in order of preference with fallback to CPU
 * (no GPU here: CUDA and TensorRT fail to start for real, CoreML and DirectML are not offered on
 * Linux), a misspelt provider as a configuration error, and the thread, optimization and arena
 * settings, each answered like the reference.
 */
import { afterEach, before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getNode, helper, inject, loadFlow, nextMessage, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { mlpModel, mlpReference } from './helpers/onnx-models';
import { createWithProviders, DEFAULT_SESSION_SETTINGS, parseGraphOptimization, parseProviders, providerPossibleHere } from '../src/lib/onnx/session-settings';
import type { OnnxModelNode } from '../src/nodes/onnx-model/types';

const WARN = 30;
const model = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 31 });
const row = [0.5, -1.25, 2, 0.125];
let dir: string;
let file: string;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-providers-'));
  file = path.join(dir, 'mlp.onnx');
  writeFileSync(file, model.bytes);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('settings parsing', () => {
  test('provider lists: order kept, duplicates and case folded, aliases, CPU always last resort', () => {
    assert.deepEqual(parseProviders('CUDA, cpu'), ['cuda', 'cpu']);
    assert.deepEqual(parseProviders('directml cuda cuda'), ['dml', 'cuda', 'cpu']);
    assert.deepEqual(parseProviders(''), ['cpu']);
    assert.deepEqual(parseProviders(undefined), ['cpu']);
    assert.deepEqual(parseProviders(['coreml']), ['coreml', 'cpu']);
  });

  test('a name that is no execution provider is a coded error naming it', () => {
    assert.throws(
      () => parseProviders('cuda, cudaa'),
      (e: Error & { code?: string }) => e.code === 'EDGEML_ONNX_PROVIDER_UNKNOWN' && /"cudaa"/.test(e.message),
    );
    assert.throws(
      () => parseGraphOptimization('max'),
      (e: Error & { code?: string }) => e.code === 'EDGEML_CONFIG_CHOICE',
    );
    assert.equal(parseGraphOptimization(''), 'all');
  });

  test('providers are skipped without asking ONNX Runtime only where no prebuilt runtime offers them', () => {
    assert.match(providerPossibleHere('coreml', 'onnxruntime-node', 'linux', 'arm64')!, /macOS/);
    assert.equal(providerPossibleHere('coreml', 'onnxruntime-node', 'darwin', 'arm64'), undefined);
    assert.match(providerPossibleHere('cuda', 'onnxruntime-node', 'linux', 'arm64')!, /x64/);
    assert.equal(providerPossibleHere('cuda', 'onnxruntime-node', 'linux', 'x64'), undefined);
    assert.match(providerPossibleHere('dml', 'onnxruntime-node', 'linux', 'x64')!, /Windows/);
    assert.match(providerPossibleHere('cuda', 'onnxruntime-web', 'linux', 'x64')!, /onnxruntime-web/);
    assert.equal(providerPossibleHere('cpu', 'onnxruntime-web'), undefined);
  });

  test('the first provider that starts serves; each skipped one keeps its reason; CPU failing is the error', async () => {
    const tried: unknown[] = [];
    const create = async (options: Record<string, unknown>): Promise<string> => {
      tried.push(options.executionProviders);
      const [ep] = options.executionProviders as string[];
      if (ep !== 'cpu') throw new Error(`${ep} library missing\nsecond line`);
      return 'session';
    };
    const settings = { ...DEFAULT_SESSION_SETTINGS, providers: parseProviders('tensorrt, cuda') };
    const chosen = await createWithProviders(settings, 'onnxruntime-node', create);
    assert.equal(chosen.provider, 'cpu');
    assert.deepEqual(
      chosen.skipped.map((s) => s.reason),
      ['tensorrt library missing', 'cuda library missing'],
    );
    assert.deepEqual(tried, [['tensorrt'], ['cuda'], ['cpu']]);
    await assert.rejects(
      createWithProviders(DEFAULT_SESSION_SETTINGS, 'onnxruntime-node', async () => Promise.reject(new Error('corrupt model'))),
      /corrupt model/,
    );
  });
});

describe('onnx-model with session settings in a flow', () => {
  afterEach(() => unloadFlow());

  function flow(settings: Record<string, unknown>): FlowNode[] {
    return [
      { id: 'f1', type: 'tab' },
      { id: 'model', type: 'onnx-model', path: file, watch: false, threads: '1', ...settings },
      { id: 'infer', type: 'onnx-infer', z: 'f1', model: 'model', property: 'payload', queueSize: '10', overflow: 'error', wires: [['out']] },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
  }

  const answer = async (): Promise<Msg> => {
    const got = nextMessage('out', 30_000);
    inject('infer', { payload: row });
    return got;
  };
  const assertReference = (msg: Msg): void => {
    const want = mlpReference(model, [row])[0]!;
    const y = (msg.payload as Record<string, { data: number[] }>).y!.data;
    y.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `y[${i}] ${v} vs ${want[i]}`));
  };
  const warnings = (): string[] => (helper.log() as unknown as { args: Array<[{ level: number; msg?: unknown }]> }).args.filter(([e]) => e.level === WARN).map(([e]) => String(e.msg));

  test('GPU providers that cannot start here fall back to CPU with one warning naming each and why', async () => {
    await loadFlow(['onnx-model', 'onnx-infer'], flow({ providers: 'coreml, cuda, cpu' }));
    const msg = await answer();
    assertReference(msg);
    assert.equal((msg.model as { provider?: string }).provider, 'cpu');
    const session = (getNode('model') as OnnxModelNode).session!;
    assert.equal(session.description?.provider, 'cpu');
    assert.match(session.description!.providerSkipped!, /coreml: CoreML needs macOS.*; cuda: /);
    const said = warnings().filter((w) => w.includes('onnx-model.log.providerSkipped') || /execution provider/.test(w));
    assert.equal(said.length, 1, said.join('\n'));
    await answer();
    assert.equal(warnings().filter((w) => w.includes('onnx-model.log.providerSkipped') || /execution provider/.test(w)).length, 1, 'said once');
  });

  test('a misspelt provider refuses every message with a coded error; the flow keeps running', async () => {
    await loadFlow(['onnx-model', 'onnx-infer'], flow({ providers: 'cpu, cudda' }));
    for (let i = 0; i < 2; i++) {
      const caught = nextMessage('caught');
      inject('infer', { payload: row });
      const err = (await caught).error as { code?: string; message?: string };
      assert.equal(err.code, 'EDGEML_ONNX_PROVIDER_UNKNOWN');
    }
  });

  test('threads, inter-op threads, graph optimization off and no memory arena answer like the reference', async () => {
    await loadFlow(['onnx-model', 'onnx-infer'], flow({ threads: '2', interOpThreads: '2', graphOptimization: 'disabled', memoryArena: false }));
    assertReference(await answer());
  });

  test('out-of-range inter-op threads and an unknown optimization level are coded errors', async () => {
    await loadFlow(['onnx-model', 'onnx-infer'], flow({ interOpThreads: '999' }));
    let caught = nextMessage('caught');
    inject('infer', { payload: row });
    assert.equal(((await caught).error as { code?: string }).code, 'EDGEML_CONFIG_INTEGER');
    await unloadFlow();
    await loadFlow(['onnx-model', 'onnx-infer'], flow({ graphOptimization: 'max' }));
    caught = nextMessage('caught');
    inject('infer', { payload: row });
    assert.equal(((await caught).error as { code?: string }).code, 'EDGEML_CONFIG_CHOICE');
  });
});
