/**
 * scikit-learn-style classifiers whose probabilities go through an ai.onnx.ml ZipMap (a sequence of
 * maps, which onnxruntime-node cannot return): stripZipMap makes them runnable, and labels and
 * probabilities then equal a plain-JS computation of the same linear model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { EdgeMlError } from '../src/lib/errors';
import { buildModel, tensorValue } from '../src/lib/onnx/build-model';
import type { AttributeSpec, ModelSpec, NodeSpec } from '../src/lib/onnx/build-model';
import { readModelInfo } from '../src/lib/onnx/model-file';
import { decodeFields, fieldMessage, fieldRaw } from '../src/lib/onnx/protobuf';
import { stripZipMap } from '../src/lib/onnx/zipmap';
import { SHARED, inject, needsShared, loadFlow, nextMessage, nextMessages, unloadFlow } from './helpers/flow';
import type { FlowNode } from './helpers/flow';

const SESSION: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };
const FEATURES = 4;
const COEFFICIENTS = [0.8, -1.2, 0.3, 2.0, -0.5, 0.9, -1.1, 0.4, 1.3, 0.2, 0.7, -1.6];
const INTERCEPTS = [0.1, -0.3, 0.25];

interface Classifier {
  bytes: Uint8Array;
  labels: Array<string | number>;
}

/** LinearClassifier(SOFTMAX) -> label + probabilities -> ZipMap -> output_probability, as skl2onnx writes it. */
function classifier(labels: 'int64' | 'string', opts: { defaultOpset?: boolean; extraConsumer?: boolean; valueInfo?: boolean } = {}): Classifier {
  const classLabels = labels === 'int64' ? [3, 7, 11] : ['normal', 'cavitation', 'bearing_wear'];
  const labelAttr: Record<string, AttributeSpec> = labels === 'int64' ? { classlabels_ints: { ints: classLabels as number[] } } : { classlabels_strings: { strings: classLabels as string[] } };
  const zipAttr: Record<string, AttributeSpec> = labels === 'int64' ? { classlabels_int64s: { ints: classLabels as number[] } } : { classlabels_strings: { strings: classLabels as string[] } };
  const nodes: NodeSpec[] = [
    {
      opType: 'LinearClassifier',
      domain: 'ai.onnx.ml',
      name: 'LinearClassifier',
      inputs: ['float_input'],
      outputs: ['label', 'probability_tensor'],
      attributes: { coefficients: { floats: COEFFICIENTS }, intercepts: { floats: INTERCEPTS }, multi_class: { int: 1 }, post_transform: { string: 'SOFTMAX' }, ...labelAttr },
    },
    { opType: 'ZipMap', domain: 'ai.onnx.ml', name: 'ZipMap', inputs: ['probability_tensor'], outputs: ['output_probability'], attributes: zipAttr },
  ];
  const outputs = [tensorValue('label', labels, [null]), { name: 'output_probability', type: { sequence: { map: { key: labels, value: { tensor: 'float32' as const } } } } }];
  if (opts.extraConsumer) {
    // The ZipMap output also feeds another node: it must then stay as it is.
    nodes.push({ opType: 'SequenceLength', inputs: ['output_probability'], outputs: ['n'] });
    outputs.push(tensorValue('n', 'int64', []));
  }
  const spec: ModelSpec = {
    irVersion: 8,
    producerName: 'skl2onnx',
    producerVersion: '1.17.0',
    opsets:
      opts.defaultOpset === false
        ? [{ domain: 'ai.onnx.ml', version: 1 }]
        : [
            { domain: 'ai.onnx.ml', version: 1 },
            { domain: '', version: 17 },
          ],
    metadata: { 'edgeml.labels': JSON.stringify(classLabels.map(String)) },
    graph: {
      name: 'LogisticRegression',
      inputs: [tensorValue('float_input', 'float32', [null, FEATURES])],
      outputs,
      nodes,
      ...(opts.valueInfo ? { valueInfo: [outputs[1]!] } : {}),
    },
  };
  return { bytes: buildModel(spec), labels: classLabels };
}

/** The same linear model in plain JS (float32 weights, softmax, first max wins). */
function reference(row: number[], labels: Array<string | number>): { label: string | number; probabilities: number[] } {
  const f = Math.fround;
  const scores = INTERCEPTS.map((b, c) => row.reduce((s, x, i) => s + f(x) * f(COEFFICIENTS[c * FEATURES + i]!), f(b)));
  const max = Math.max(...scores);
  const e = scores.map((s) => Math.exp(s - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return { label: labels[scores.indexOf(max)]!, probabilities: e.map((v) => v / sum) };
}

const ROWS = [
  [0.5, -1, 2, 0.1],
  [3, 0.2, -0.7, -2],
  [-1.5, 2.5, 0, 1],
  [0, 0, 0, 0],
  [2, 2, 2, 2],
  [-3, -0.5, 1.5, -1],
];

async function runRows(bytes: Uint8Array, fetch?: string[]): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes, SESSION);
  try {
    const feeds = { float_input: new ort.Tensor('float32', Float32Array.from(ROWS.flat()), [ROWS.length, FEATURES]) };
    return fetch ? await session.run(feeds, fetch) : await session.run(feeds);
  } finally {
    await session.release();
  }
}

function assertMatchesReference(out: ort.InferenceSession.OnnxValueMapType, labels: Array<string | number>): void {
  const probs = out.output_probability!;
  assert.deepEqual(probs.dims, [ROWS.length, labels.length]);
  assert.equal(probs.type, 'float32');
  ROWS.forEach((row, r) => {
    const ref = reference(row, labels);
    const label = out.label!.data[r];
    assert.equal(typeof label === 'bigint' ? Number(label) : label, ref.label, `row ${r} label`);
    ref.probabilities.forEach((p, c) => assert.ok(Math.abs((probs.data as Float32Array)[r * labels.length + c]! - p) < 1e-5, `row ${r} class ${c}: ${p}`));
  });
}

describe('ZipMap: scikit-learn-style classifiers', () => {
  for (const labels of ['int64', 'string'] as const) {
    it(`${labels} labels: ORT cannot return the ZipMap output; after stripZipMap labels and probabilities equal plain JS`, async () => {
      const model = classifier(labels);
      const before = readModelInfo(model.bytes);
      assert.equal(before.outputs.find((o) => o.name === 'output_probability')?.kind, 'sequence');

      const original = await ort.InferenceSession.create(model.bytes, SESSION);
      try {
        assert.equal(original.outputMetadata.find((m) => m.name === 'output_probability')?.isTensor, false);
        const feeds = { float_input: new ort.Tensor('float32', Float32Array.from(ROWS.flat()), [ROWS.length, FEATURES]) };
        await assert.rejects(original.run(feeds), /non tensor|not supported/i);
      } finally {
        await original.release();
      }

      const stripped = stripZipMap(model.bytes);
      assert.deepEqual(stripped.rewritten, [{ from: 'output_probability', to: 'output_probability', source: 'probability_tensor', labels: model.labels.map(String), labelType: labels }]);
      const after = readModelInfo(stripped.bytes);
      assert.deepEqual(
        after.outputs.map((o) => [o.name, o.kind, o.dtype]),
        [
          ['label', 'tensor', labels],
          ['output_probability', 'tensor', 'float32'],
        ],
      );
      assert.deepEqual(after.outputs[1]!.dims, [null, model.labels.length]);
      assert.deepEqual(after.metadata, before.metadata);
      assertMatchesReference(await runRows(stripped.bytes), model.labels);
    });
  }

  it('drops a value_info entry that still types the ZipMap output as a sequence', async () => {
    const model = classifier('int64', { valueInfo: true });
    assert.equal(readModelInfo(model.bytes).outputs[1]!.kind, 'sequence');
    const stripped = stripZipMap(model.bytes);
    const graph = fieldMessage(decodeFields(stripped.bytes).find((f) => f.no === 7)!);
    assert.equal(graph.filter((f) => f.no === 13).length, 0);
    assertMatchesReference(await runRows(stripped.bytes), model.labels);
  });

  it('adds a default-domain opset when the model imports only ai.onnx.ml', async () => {
    const model = classifier('string', { defaultOpset: false });
    const stripped = stripZipMap(model.bytes);
    const info = readModelInfo(stripped.bytes);
    assert.deepEqual(
      info.opsets.map((o) => o.domain),
      ['ai.onnx.ml', ''],
    );
    assertMatchesReference(await runRows(stripped.bytes), model.labels);
  });

  it('copies every byte it does not rewrite, unknown fields included', () => {
    const model = classifier('int64');
    // Append unknown fields to the model (field 999) and to the graph (field 777), as a future ONNX might.
    const fields = decodeFields(model.bytes);
    const parts: Uint8Array[] = [];
    for (const f of fields) {
      if (f.no !== 7) parts.push(fieldRaw(f));
      else {
        const graph = Buffer.concat([fieldRaw(f).subarray(f.dataStart - f.start), Buffer.from([0xca, 0x30, 0x03, 0x61, 0x62, 0x63])]); // field 777 "abc"
        parts.push(Buffer.concat([Buffer.from([0x3a]), varint(graph.length), graph]));
      }
    }
    parts.push(Buffer.from([0xb8, 0x3e, 0x2a])); // field 999 varint 42
    const withUnknown = Buffer.concat(parts);
    const stripped = stripZipMap(withUnknown);
    assert.equal(stripped.rewritten.length, 1);

    const a = decodeFields(withUnknown);
    const b = decodeFields(stripped.bytes);
    assert.deepEqual(
      b.map((f) => f.no),
      a.map((f) => f.no),
    );
    a.forEach((f, i) => {
      if (f.no !== 7) assert.deepEqual(Buffer.from(fieldRaw(b[i]!)), Buffer.from(fieldRaw(f)), `model field ${f.no}`);
    });
    const ga = fieldMessage(a.find((f) => f.no === 7)!);
    const gb = fieldMessage(b.find((f) => f.no === 7)!);
    assert.deepEqual(
      gb.map((f) => f.no),
      ga.map((f) => f.no),
    );
    const changed = ga.map((f, i) => Buffer.compare(Buffer.from(fieldRaw(f)), Buffer.from(fieldRaw(gb[i]!))) !== 0);
    // Only the ZipMap node (2nd node) and the output_probability output differ.
    assert.deepEqual(
      ga.filter((_, i) => changed[i]).map((f) => f.no),
      [1, 12],
    );
    assert.deepEqual(Buffer.from(fieldRaw(gb.at(-1)!)), Buffer.from([0xca, 0x30, 0x03, 0x61, 0x62, 0x63]));
  });

  it('leaves models without a rewritable ZipMap as they are (the same object)', { skip: needsShared('conformance/onnx-node') }, () => {
    const dir = path.join(SHARED, 'conformance', 'onnx-node');
    let count = 0;
    for (const name of readdirSync(dir)) {
      const bytes = readFileSync(path.join(dir, name, 'model.onnx'));
      const result = stripZipMap(bytes);
      assert.equal(result.bytes, bytes, name);
      assert.deepEqual(result.rewritten, []);
      count++;
    }
    assert.equal(count, 421);
    const consumed = classifier('int64', { extraConsumer: true });
    const result = stripZipMap(consumed.bytes);
    assert.equal(result.bytes, consumed.bytes);
    assert.deepEqual(result.rewritten, []);
  });

  it('refuses bytes that are not an ONNX model with EDGEML_ONNX_MODEL_INVALID', () => {
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('ZipMap'), classifier('int64').bytes.subarray(0, 40)]) {
      assert.throws(
        () => stripZipMap(bytes),
        (e: unknown) => e instanceof EdgeMlError && e.code === 'EDGEML_ONNX_MODEL_INVALID',
      );
    }
  });
});

describe('ZipMap classifier through onnx-model and onnx-infer in a flow', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-zipmap-'));
    writeFileSync(path.join(dir, 'int64.onnx'), classifier('int64').bytes);
    writeFileSync(path.join(dir, 'string.onnx'), classifier('string').bytes);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => unloadFlow());

  const flow = (file: string, infer: Record<string, unknown> = {}): FlowNode[] => [
    { id: 'f1', type: 'tab' },
    { id: 'model', type: 'onnx-model', path: file, watch: false, threads: '1' },
    { id: 'infer', type: 'onnx-infer', z: 'f1', model: 'model', property: 'payload', queueSize: '10', overflow: 'error', wires: [['out']], ...infer },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  ];
  type Out = { dtype: string; dims: number[]; data: Array<number | string> };

  for (const labels of ['int64', 'string'] as const) {
    it(`${labels} labels: the flow returns labels and probabilities equal to plain JS; a bad message is caught and the next one works`, async () => {
      const model = classifier(labels);
      await loadFlow(['onnx-model', 'onnx-infer'], flow(path.join(dir, `${labels}.onnx`)));
      const got = nextMessage('out');
      inject('infer', { payload: ROWS });
      const payload = (await got).payload as Record<string, Out>;
      assert.ok(payload.output_probability, `no output_probability in ${Object.keys(payload)}: does the session worker use stripZipMap from src/lib/onnx/zipmap.ts?`);
      assert.deepEqual(payload.output_probability!.dims, [ROWS.length, model.labels.length]);
      assert.equal(payload.output_probability!.dtype, 'float32');
      ROWS.forEach((row, r) => {
        const ref = reference(row, model.labels);
        assert.equal(payload.label!.data[r], ref.label, `row ${r} label`);
        ref.probabilities.forEach((p, c) => assert.ok(Math.abs((payload.output_probability!.data[r * model.labels.length + c] as number) - p) < 1e-5));
      });

      const caught = nextMessage('caught');
      inject('infer', { payload: [[1, 2, 3]] });
      assert.match(((await caught).error as { code: string }).code, /^EDGEML_ONNX_/);
      const next = nextMessage('out');
      inject('infer', { payload: ROWS[0] });
      assert.equal(((await next).payload as Record<string, Out>).label!.data[0], reference(ROWS[0]!, model.labels).label);
    });
  }

  for (const labels of ['int64', 'string'] as const) {
    it(`${labels} labels, micro-batched: messages of one and of several rows share a run, each gets its own labels and probabilities`, async () => {
      const model = classifier(labels);
      await loadFlow(['onnx-model', 'onnx-infer'], flow(path.join(dir, `${labels}.onnx`), { batch: true, maxBatch: '8' }));
      // rows 0-1 in one message, 2 alone, 3-5 in one message, then row 4 alone
      const messages = [ROWS.slice(0, 2), ROWS[2]!, ROWS.slice(3, 6), ROWS[4]!];
      const got = nextMessages('out', messages.length);
      messages.forEach((payload, seq) => inject('infer', { payload, seq }));
      const answers = await got;
      assert.deepEqual(
        answers.map((m) => m.seq),
        [0, 1, 2, 3],
      );
      assert.deepEqual(
        answers.map((m) => m.batchSize),
        [4, 4, 4, 4],
        'the four messages ran as one batch',
      );
      answers.forEach((m, seq) => {
        const rows = (Array.isArray(messages[seq]![0]) ? messages[seq] : [messages[seq]]) as number[][];
        const payload = m.payload as Record<string, Out>;
        assert.deepEqual(payload.output_probability!.dims, [rows.length, model.labels.length]);
        assert.deepEqual(payload.label!.dims, [rows.length]);
        rows.forEach((row, r) => {
          const ref = reference(row, model.labels);
          assert.equal(payload.label!.data[r], ref.label, `message ${seq} row ${r} label`);
          ref.probabilities.forEach((p, c) => assert.ok(Math.abs((payload.output_probability!.data[r * model.labels.length + c] as number) - p) < 1e-5));
        });
      });
    });
  }
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
