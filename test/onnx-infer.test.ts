/**
 * onnx-infer in a real Node-RED flow: every input form, every bad input (a coded error at a Catch
 * node, and the next good message still works), queue overflow policies, micro-batching, the model
 * card's features/scaler/NaN rules, and a red status for a missing or corrupt model file.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelSession } from '../src/lib/onnx/model-session';
import { getNode, helper, inject, loadFlow, ROOT, nextMessage, nextMessages, nextStatus, unloadFlow } from './helpers/flow';
import type { FlowNode, Msg } from './helpers/flow';
import { addModel, mlpModel, mlpReference, slowModel } from './helpers/onnx-models';
import type { Mlp } from './helpers/onnx-models';
import { modelCardToMetadata } from '../src/lib/model-card';
import { buildModel, tensorValue } from '../src/lib/onnx/build-model';

const TYPES = ['onnx-model', 'onnx-infer'];
let dir: string;
let mlp: Mlp;
let mlpPath: string;
let cardMlp: Mlp;
let cardPath: string;
const CARD = { name: 'pump-health', version: '2.1.0', features: ['flow', 'pressure', 'temperature', 'vibration'], scaler: { mean: [10, 3, 40, 0.5], scale: [2, 0.5, 5, 0.25] } };

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-infer-test-'));
  mlp = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 7 });
  mlpPath = path.join(dir, 'mlp.onnx');
  writeFileSync(mlpPath, mlp.bytes);
  cardMlp = mlpModel({ inputs: 4, hidden: 8, outputs: 2, seed: 11, metadata: modelCardToMetadata(CARD) });
  cardPath = path.join(dir, 'card.onnx');
  writeFileSync(cardPath, cardMlp.bytes);
  writeFileSync(path.join(dir, 'add.onnx'), addModel('float32'));
  writeFileSync(path.join(dir, 'add-int64.onnx'), addModel('int64'));
  writeFileSync(path.join(dir, 'slow.onnx'), slowModel(4, 128));
  writeFileSync(path.join(dir, 'corrupt.onnx'), Buffer.from('this is not an onnx model at all'));
  writeFileSync(path.join(dir, 'image.onnx'), imageModel());
});
after(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => unloadFlow());

/** uint8 images [N, H, W, 3] -> their mean per image as float32 [N]: three open dimensions. */
function imageModel(): Uint8Array {
  return buildModel({
    opsets: [{ domain: '', version: 13 }],
    graph: {
      name: 'image-mean',
      inputs: [tensorValue('image', 'uint8', ['N', 'H', 'W', 3])],
      outputs: [tensorValue('mean', 'float32', ['N'])],
      nodes: [
        { opType: 'Cast', inputs: ['image'], outputs: ['f'], attributes: { to: { int: 1 } } },
        { opType: 'ReduceMean', inputs: ['f'], outputs: ['mean'], attributes: { axes: { ints: [1, 2, 3] }, keepdims: { int: 0 } } },
      ],
    },
  });
}

function flow(modelFile: string, infer: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'f1', type: 'tab' },
    { id: 'model', type: 'onnx-model', path: modelFile, watch: false, threads: '1' },
    { id: 'infer', type: 'onnx-infer', z: 'f1', model: 'model', property: 'payload', queueSize: '100', overflow: 'drop-oldest', wires: [['out']], ...infer },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
    { id: 'completer', type: 'complete', z: 'f1', scope: ['infer'], wires: [['completed']] },
    { id: 'completed', type: 'helper', z: 'f1' },
  ];
}

function assertClose(actual: unknown[], expected: number[], tol = 1e-4): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs((a as number) - expected[i]!) <= tol, `element ${i}: ${a} vs ${expected[i]}`));
}

type Out = { dtype: string; dims: number[]; data: unknown[] };
const y = (msg: Msg): Out => (msg.payload as Record<string, Out>).y!;

describe('input forms', () => {
  test('a flat array, a nested array and a typed array for a one-input model infer the batch dimension', async () => {
    await loadFlow(TYPES, flow(mlpPath));
    const rows = [
      [0.5, -1, 2, 0.25],
      [1, 2, 3, 4],
    ];
    const expected = mlpReference(mlp, rows);
    const got = nextMessages('out', 3);
    inject('infer', { payload: rows.flat() });
    inject('infer', { payload: rows });
    inject('infer', { payload: Float32Array.from(rows[0]!) });
    const [flat, nested, typed] = await got;
    for (const m of [flat!, nested!]) {
      assert.equal(y(m).dtype, 'float32');
      assert.deepEqual(y(m).dims, [2, 3]);
      assert.ok(Array.isArray(y(m).data));
      assertClose(y(m).data, expected.flat());
    }
    assert.deepEqual(y(typed!).dims, [1, 3]);
    assertClose(y(typed!).data, expected[0]!);
    assert.equal(flat!.model && (flat!.model as { name: string }).name, 'mlp');
    assert.match((flat!.model as { sha256: string }).sha256, /^[0-9a-f]{64}$/);
    assert.equal(typeof flat!.inferenceMs, 'number');
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(flat!.payload)));
  });

  test('an object keyed by input name takes arrays and tensor objects; int64 as numbers, strings and BigInt', async () => {
    await loadFlow(TYPES, flow(path.join(dir, 'add-int64.onnx')));
    const big = 2n ** 60n;
    const got = nextMessage('out');
    inject('infer', { payload: { a: { dtype: 'int64', dims: [1, 3], data: [1, '2', big] }, b: [[10, 20, 3]] } });
    const msg = await got;
    const sum = (msg.payload as Record<string, Out>).sum!;
    assert.equal(sum.dtype, 'int64');
    assert.deepEqual(sum.dims, [1, 3]);
    // beyond 2^53 the value stays exact as a decimal string
    assert.deepEqual(sum.data, [11, 22, (big + 3n).toString()]);
  });

  test('named features are ordered by the model card and scaled with its scaler', async () => {
    await loadFlow(TYPES, flow(cardPath));
    const raw = { vibration: 0.9, temperature: 47, flow: 12.5, pressure: 2.2, extra: 'ignored' };
    const x = CARD.features.map((f, i) => ((raw as unknown as Record<string, number>)[f]! - CARD.scaler.mean[i]!) / CARD.scaler.scale[i]!);
    const got = nextMessage('out');
    inject('infer', { payload: raw });
    const msg = await got;
    assertClose(y(msg).data, mlpReference(cardMlp, [x])[0]!);
    // No fallback forced here: the native runtime answers (test/onnx-runtime-fallback.test.ts covers onnxruntime-web).
    assert.deepEqual(msg.model, { name: 'pump-health', version: '2.1.0', sha256: (msg.model as { sha256: string }).sha256, runtime: 'onnxruntime-node', provider: 'cpu' });
  });

  test('a configured feature order maps a features object into a model without a card', async () => {
    await loadFlow(TYPES, flow(mlpPath, { features: 'd, c, b, a' }));
    const got = nextMessage('out');
    inject('infer', { payload: { a: 1, b: 2, c: 3, d: 4 } });
    assertClose(y(await got).data, mlpReference(mlp, [[4, 3, 2, 1]])[0]!);
  });

  test('the outputs option fetches only the chosen outputs, and a custom input property is read', async () => {
    await loadFlow(TYPES, flow(path.join(dir, 'add.onnx'), { outputNames: 'sum', property: 'data.tensors' }));
    const got = nextMessage('out');
    inject('infer', { data: { tensors: { a: [1, 2, 3], b: [0.5, 0.5, 0.5] } } });
    const msg = await got;
    assert.deepEqual(Object.keys(msg.payload as object), ['sum']);
    assert.deepEqual((msg.payload as Record<string, Out>).sum!.data, [1.5, 2.5, 3.5]);
  });
});

describe('bad input: a coded error at the Catch node, then the flow keeps working', () => {
  const cases: Array<{ what: string; file: () => string; payload: unknown; code: string; infer?: Record<string, unknown> }> = [
    { what: 'wrong shape', file: () => mlpPath, payload: [[1, 2, 3]], code: 'EDGEML_ONNX_SHAPE' },
    { what: 'a length that fits no batch', file: () => mlpPath, payload: [1, 2, 3, 4, 5], code: 'EDGEML_ONNX_SHAPE' },
    {
      what: 'ragged nesting',
      file: () => mlpPath,
      payload: [
        [1, 2, 3, 4],
        [1, 2],
      ],
      code: 'EDGEML_ONNX_SHAPE',
    },
    { what: 'an array inside a flat row', file: () => mlpPath, payload: [1, [2, 3], 4, 5], code: 'EDGEML_ONNX_SHAPE' },
    { what: 'a typed array deeper in a nested row', file: () => mlpPath, payload: [[1, 2, 3, new Float32Array(1)]], code: 'EDGEML_ONNX_SHAPE' },
    { what: 'dims that disagree with data', file: () => mlpPath, payload: { x: { dtype: 'float32', dims: [2, 4], data: [1, 2, 3, 4] } }, code: 'EDGEML_TENSOR_DIMS_INVALID' },
    // the package's one dims check (src/lib/tensor-dims.ts): non-negative safe integers whose product is the data length
    ...([[1e-300, 4], [0.5, 8], [-1, -4], [1, 'NaN'], [1e300, 0], [2 ** 53, 0], [Infinity, 4], '1,4'] as unknown[]).map((dims) => ({
      what: `dims ${JSON.stringify(dims)}`,
      file: () => mlpPath,
      payload: { x: { dtype: 'float32', dims, data: [1, 2, 3, 4] } },
      code: 'EDGEML_TENSOR_DIMS_INVALID',
    })),
    { what: 'a function in the payload', file: () => mlpPath, payload: { x: { dtype: 'float32', dims: [1, 4], data: [1, 2, 3, 4], toJSON: () => 0 } }, code: 'EDGEML_ONNX_INPUT_FORM' },
    { what: 'a function as an element', file: () => mlpPath, payload: [1, 2, () => 3, 4], code: 'EDGEML_ONNX_INPUT_FORM' },
    { what: 'a Map for a payload', file: () => mlpPath, payload: new Map([['x', [1, 2, 3, 4]]]), code: 'EDGEML_ONNX_INPUT_FORM' },
    {
      what: 'a flat array into an input with several open dimensions',
      file: () => path.join(dir, 'image.onnx'),
      payload: Array.from({ length: 192 }, (_, i) => i % 256),
      code: 'EDGEML_ONNX_INPUT_AMBIGUOUS',
    },
    { what: 'a typed array into an input with several open dimensions', file: () => path.join(dir, 'image.onnx'), payload: new Uint8Array(192), code: 'EDGEML_ONNX_INPUT_AMBIGUOUS' },
    { what: 'wrong dtype', file: () => mlpPath, payload: { x: { dtype: 'int32', dims: [1, 4], data: [1, 2, 3, 4] } }, code: 'EDGEML_ONNX_DTYPE' },
    { what: 'missing input', file: () => path.join(dir, 'add.onnx'), payload: { a: [1, 2, 3] }, code: 'EDGEML_ONNX_INPUT_MISSING' },
    { what: 'an array for a two-input model', file: () => path.join(dir, 'add.onnx'), payload: [1, 2, 3], code: 'EDGEML_ONNX_INPUT_FORM' },
    { what: 'a string in a numeric input', file: () => mlpPath, payload: [1, 'two', 3, 4], code: 'EDGEML_ONNX_STRING_IN_NUMERIC' },
    { what: 'a fraction in an integer input', file: () => path.join(dir, 'add-int64.onnx'), payload: { a: [1, 2.5, 3], b: [1, 2, 3] }, code: 'EDGEML_ONNX_VALUE' },
    { what: 'null payload', file: () => mlpPath, payload: null, code: 'EDGEML_ONNX_INPUT_FORM' },
    { what: 'NaN where the model card forbids it', file: () => cardPath, payload: [1, NaN, 3, 4], code: 'EDGEML_ONNX_NAN' },
    { what: 'a missing feature', file: () => cardPath, payload: { flow: 1, pressure: 2, temperature: 3 }, code: 'EDGEML_ONNX_FEATURE_MISSING' },
    { what: 'a string feature', file: () => cardPath, payload: { flow: 1, pressure: 2, temperature: '3', vibration: 1 }, code: 'EDGEML_ONNX_STRING_IN_NUMERIC' },
    {
      what: 'inputs ONNX Runtime itself refuses (no broadcast)',
      file: () => path.join(dir, 'add.onnx'),
      payload: {
        a: [
          [1, 2, 3],
          [1, 2, 3],
        ],
        b: [
          [1, 2, 3],
          [1, 2, 3],
          [1, 2, 3],
        ],
      },
      code: 'EDGEML_ONNX_RUN_FAILED',
    },
    { what: 'an unknown output', file: () => mlpPath, payload: [1, 2, 3, 4], code: 'EDGEML_ONNX_OUTPUT_UNKNOWN', infer: { outputNames: 'nope' } },
  ];
  for (const c of cases) {
    test(c.what, async () => {
      await loadFlow(TYPES, flow(c.file(), c.infer));
      const caught = nextMessage('caught');
      inject('infer', { payload: c.payload });
      const err = (await caught).error as { code: string; message: string };
      assert.equal(err.code, c.code);
      assert.ok(err.message.length > 0);
      if (c.infer?.outputNames) return; // every message fails on this node by design
      const good = nextMessage('out');
      inject('infer', { payload: c.file() === cardPath || c.file() === mlpPath ? [0, 0, 0, 0] : c.file().endsWith('image.onnx') ? [[[[1, 2, 3]]]] : { a: [1, 2, 3], b: [1, 2, 3] } });
      assert.ok((await good).payload);
    });
  }

  test('NaN passes through a model without a model card and comes back as "NaN"', async () => {
    await loadFlow(TYPES, flow(path.join(dir, 'add.onnx')));
    const got = nextMessage('out');
    inject('infer', { payload: { a: [NaN, 1, Infinity], b: [1, 1, 1] } });
    assert.deepEqual(((await got).payload as Record<string, Out>).sum!.data, ['NaN', 2, 'Infinity']);
  });
});

describe('model file problems', () => {
  test('no model configured: red status and EDGEML_ONNX_NO_MODEL', async () => {
    const nodes = flow(mlpPath)
      .filter((n) => n.type !== 'onnx-model')
      .map((n) => (n.id === 'infer' ? { ...n, model: '' } : n));
    await loadFlow(TYPES, nodes);
    const caught = nextMessage('caught');
    inject('infer', { payload: [1, 2, 3, 4] });
    assert.equal(((await caught).error as { code: string }).code, 'EDGEML_ONNX_NO_MODEL');
  });

  for (const [what, file, code] of [
    ['a missing file', 'does-not-exist.onnx', 'EDGEML_ONNX_MODEL_NOT_LOADED'],
    ['a corrupt file', 'corrupt.onnx', 'EDGEML_ONNX_MODEL_NOT_LOADED'],
  ] as const) {
    test(`${what} turns the status red with a reason and messages get ${code}`, async () => {
      await loadFlow(TYPES, flow(path.join(dir, file)));
      const status = await nextStatus('infer', (s) => s.fill === 'red');
      assert.equal(status.shape, 'ring');
      const caught = nextMessage('caught');
      inject('infer', { payload: [1, 2, 3, 4] });
      assert.equal(((await caught).error as { code: string }).code, code);
    });
  }
});

describe('queue overflow', () => {
  // Ten messages arrive in one tick: two go to the worker at once, `queueSize` wait, the rest overflow.
  const send = (n: number): void => {
    for (let i = 0; i < n; i++) inject('infer', { payload: new Float32Array(128).fill(i / 10), seq: i });
  };
  const slow = (): string => path.join(dir, 'slow.onnx');
  /** Sends ten: the first `answered` are answered in order, the rest refused with EDGEML_ONNX_QUEUE_FULL. */
  const expectQueueFull = async (answered: number): Promise<void> => {
    const outs = nextMessages('out', answered);
    const caught = nextMessages('caught', 10 - answered);
    send(10);
    const errors = await caught;
    assert.ok(errors.every((m) => (m.error as { code: string }).code === 'EDGEML_ONNX_QUEUE_FULL'));
    assert.deepEqual(
      errors.map((m) => m.seq),
      Array.from({ length: 10 - answered }, (_, i) => answered + i),
    );
    assert.deepEqual(
      (await outs).map((m) => m.seq),
      Array.from({ length: answered }, (_, i) => i),
    );
  };

  test('drop-oldest keeps the newest waiting messages', async () => {
    await loadFlow(TYPES, flow(slow(), { queueSize: '2', overflow: 'drop-oldest' }));
    const outs = nextMessages('out', 4);
    const completes = nextMessages('completed', 10);
    send(10);
    assert.deepEqual(
      (await outs).map((m) => m.seq),
      [0, 1, 8, 9],
    );
    assert.equal((await completes).length, 10); // dropped messages are completed, without output
  });

  test('settings edgeMl.maxQueuedBytes bounds the waiting bytes as queueSize bounds the count', async (t) => {
    // each message is 128 float32 = 512 bytes: two run, room for three to wait
    helper.settings({ edgeMl: { maxQueuedBytes: 3 * 512 } } as Parameters<typeof helper.settings>[0]);
    t.after(() => helper.settings({}));
    await loadFlow(TYPES, flow(slow(), { queueSize: '100', overflow: 'error' }));
    await expectQueueFull(5);
  });

  test('drop-newest keeps the first waiting messages', async () => {
    await loadFlow(TYPES, flow(slow(), { queueSize: '2', overflow: 'drop-newest' }));
    const outs = nextMessages('out', 4);
    send(10);
    assert.deepEqual(
      (await outs).map((m) => m.seq),
      [0, 1, 2, 3],
    );
  });

  test('error refuses the overflow with EDGEML_ONNX_QUEUE_FULL and answers the rest', async () => {
    await loadFlow(TYPES, flow(slow(), { queueSize: '2', overflow: 'error' }));
    await expectQueueFull(4);
  });

  test('the status shows the waiting queue', async () => {
    await loadFlow(TYPES, flow(slow(), { queueSize: '5', overflow: 'drop-oldest' }));
    await nextStatus('infer', (s) => s.fill === 'green');
    const status = nextStatus('infer', (s) => typeof s.text === 'string' && s.text.includes('queue'));
    const outs = nextMessages('out', 7);
    send(7);
    await status;
    await outs;
  });
});

describe('input size', () => {
  test('an input over settings edgeMl.maxInputBytes is EDGEML_ONNX_INPUT_TOO_LARGE; smaller ones still run', async (t) => {
    // 4 numbers count as 32 bytes: room for one row, not for 20
    helper.settings({ edgeMl: { maxInputBytes: 40 } } as Parameters<typeof helper.settings>[0]);
    t.after(() => helper.settings({}));
    await loadFlow(TYPES, flow(mlpPath));
    const caught = nextMessages('caught', 2);
    inject('infer', { payload: Array.from({ length: 20 }, (_, i) => i), seq: 1 });
    inject('infer', { payload: new Float32Array(20), seq: 2 });
    for (const m of await caught) {
      const err = m.error as { code: string; message: string };
      assert.equal(err.code, 'EDGEML_ONNX_INPUT_TOO_LARGE', err.message);
    }
    const good = nextMessage('out');
    inject('infer', { payload: [1, 2, 3, 4] });
    assertClose(y(await good).data, mlpReference(mlp, [[1, 2, 3, 4]])[0]!);
  });
});

describe('the session', () => {
  test('an item postMessage cannot clone fails alone; the others of its request are answered', async () => {
    const session = new ModelSession(path.join(ROOT, 'nodes', 'onnx-model.session.worker.js'), mlpPath);
    try {
      await session.ready();
      const rows = [
        [1, 2, 3, 4],
        [0, 0, 1, 1],
        [4, 3, 2, 1],
      ];
      for (const batch of [true, false]) {
        const reply = await session.run([rows[0], { x: rows[1], f: () => 1 }, rows[2]], { batch });
        assert.equal(reply.results.length, 3);
        const [a, bad, c] = reply.results;
        assert.ok(a!.ok && c!.ok);
        assert.ok(!bad!.ok);
        assert.equal(bad!.error.code, 'EDGEML_ONNX_INPUT_FORM');
        assert.match(bad!.error.message, /could not be cloned|cannot be sent/);
        assertClose(a!.payload.y!.data, mlpReference(mlp, [rows[0]!])[0]!);
        assertClose(c!.payload.y!.data, mlpReference(mlp, [rows[2]!])[0]!);
      }
    } finally {
      await session.close();
    }
  });

  test('a big output arrives whole and JSON-safe (it travels as a typed array)', async () => {
    const session = new ModelSession(path.join(ROOT, 'nodes', 'onnx-model.session.worker.js'), mlpPath);
    try {
      await session.ready();
      const rows = Array.from({ length: 30_000 }, (_, i) => [i % 5, 1, -1, (i % 3) / 2]);
      const reply = await session.run([rows.flat()], { batch: false });
      const r = reply.results[0]!;
      assert.ok(r.ok);
      assert.deepEqual(r.payload.y!.dims, [rows.length, 3]);
      assert.ok(Array.isArray(r.payload.y!.data));
      assert.equal(r.batchSize, 1);
      const expected = mlpReference(mlp, rows.slice(0, 7));
      assertClose(r.payload.y!.data.slice(0, 21), expected.flat());
    } finally {
      await session.close();
    }
  });
});

describe('micro-batching', () => {
  test('messages arriving together run as one batch and each gets its own answer', async () => {
    await loadFlow(TYPES, flow(mlpPath, { batch: true, maxBatch: '32' }));
    await nextStatus('infer', (s) => s.fill === 'green');
    const rows = Array.from({ length: 20 }, (_, i) => [i, -i / 2, i / 3, 1 - i]);
    const expected = mlpReference(mlp, rows);
    const outs = nextMessages('out', rows.length);
    rows.forEach((r, i) => inject('infer', { payload: r, seq: i }));
    const got = await outs;
    got.forEach((m) => {
      assert.deepEqual(y(m).dims, [1, 3]);
      assertClose(y(m).data, expected[m.seq as number]!);
    });
    assert.deepEqual(
      got.map((m) => m.seq),
      rows.map((_, i) => i),
    );
    assert.deepEqual(
      got.map((m) => m.batchSize),
      Array(rows.length).fill(rows.length),
      'the messages of one turn shared one run',
    );
  });

  test('with a batch window, messages arriving together share one run', async () => {
    await loadFlow(TYPES, flow(mlpPath, { batch: true, maxBatch: '32', batchWindow: '50' }));
    await nextStatus('infer', (s) => s.fill === 'green');
    const outs = nextMessages('out', 8);
    for (let i = 0; i < 8; i++) inject('infer', { payload: [i, 0, 0, i], seq: i });
    const got = await outs;
    assert.deepEqual(
      got.map((m) => m.batchSize),
      Array(8).fill(8),
    );
    got.forEach((m) => assertClose(y(m).data, mlpReference(mlp, [[m.seq as number, 0, 0, m.seq as number]])[0]!));
  });

  test('a bad message in a batch fails alone', async () => {
    await loadFlow(TYPES, flow(mlpPath, { batch: true, maxBatch: '8' }));
    await nextStatus('infer', (s) => s.fill === 'green');
    const outs = nextMessages('out', 5);
    const caught = nextMessage('caught');
    for (let i = 0; i < 6; i++) inject('infer', { payload: i === 3 ? [1, 2, 'x', 4] : [i, i, i, i], seq: i });
    assert.equal(((await caught).error as { code: string }).code, 'EDGEML_ONNX_STRING_IN_NUMERIC');
    assert.deepEqual(
      (await outs).map((m) => m.seq),
      [0, 1, 2, 4, 5],
    );
  });

  // 11 messages in one turn, one of them holding a function (structured clone refuses it): it used
  // to make postMessage throw for its whole request, and 8 of the 10 good ones failed with it.
  for (const batch of [true, false]) {
    test(`one message holding a function among 11 arriving together fails alone (batching ${batch ? 'on' : 'off'})`, async () => {
      await loadFlow(TYPES, flow(mlpPath, { batch, maxBatch: '32' }));
      await nextStatus('infer', (s) => s.fill === 'green');
      const rows = Array.from({ length: 11 }, (_, i) => [i, 1 - i, i / 4, 2]);
      const bad = 5;
      const outs = nextMessages('out', 10);
      const caught = nextMessages('caught', 1);
      const completes = nextMessages('completed', 10);
      rows.forEach((r, i) => inject('infer', { payload: i === bad ? { x: r, hook: () => r } : r, seq: i }));
      const [failure] = await caught;
      assert.equal((failure!.error as { code: string }).code, 'EDGEML_ONNX_INPUT_FORM');
      assert.match((failure!.error as { message: string }).message, /function/);
      assert.equal(failure!.seq, bad);
      const got = await outs;
      assert.deepEqual(
        got.map((m) => m.seq),
        rows.map((_, i) => i).filter((i) => i !== bad),
      );
      got.forEach((m) => assertClose(y(m).data, mlpReference(mlp, [rows[m.seq as number]!])[0]!));
      assert.equal((await completes).length, 10);
    });
  }
});

test('the node keeps one done() per message: Complete sees every answered message', async () => {
  await loadFlow(TYPES, flow(mlpPath));
  const completes = nextMessages('completed', 3);
  for (let i = 0; i < 3; i++) inject('infer', { payload: [i, i, i, i] });
  assert.equal((await completes).length, 3);
  assert.ok(getNode('infer'));
});
