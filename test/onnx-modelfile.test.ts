/**
 * The package's own protobuf reader/writer, ONNX model-file reader and model builder, checked
 * against independent oracles: ONNX Runtime's view of the 421 conformance models, each case.json,
 * onnx-proto (protobufjs-generated decoder/encoder), and plain-JS computations of built models.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { EdgeMlError } from '../src/lib/errors';
import { buildModel, tensorValue } from '../src/lib/onnx/build-model';
import type { ModelSpec } from '../src/lib/onnx/build-model';
import { readModelInfo } from '../src/lib/onnx/model-file';
import type { ValueInfo } from '../src/lib/onnx/model-file';
import { ProtoError, ProtoWriter, decodeFields, fieldInt64, fieldMessage, fieldRaw, fieldString, readVarint, repeatedFloat, repeatedInt64 } from '../src/lib/onnx/protobuf';
import { SHARED, needsShared } from './helpers/flow';
import { addModel, mlpModel } from './helpers/onnx-models';

const CASES_DIR = path.join(SHARED, 'conformance', 'onnx-node');
const SESSION: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };

interface CaseTensor {
  dtype: string;
  dims: number[];
}
interface Case {
  name: string;
  inputs: Record<string, CaseTensor>;
  outputs: Record<string, CaseTensor>;
}

function cases(): Array<{ name: string; bytes: Uint8Array; spec: Case }> {
  if (needsShared('conformance/onnx-node')) return [];
  return readdirSync(CASES_DIR)
    .sort()
    .map((name) => ({
      name,
      bytes: readFileSync(path.join(CASES_DIR, name, 'model.onnx')),
      spec: JSON.parse(readFileSync(path.join(CASES_DIR, name, 'case.json'), 'utf8')) as Case,
    }));
}

/** ORT's metadata in the reader's terms: unknown dims (negative or '') as null. */
function ortView(meta: readonly ort.InferenceSession.ValueMetadata[]): Array<{ name: string; isTensor: boolean; dtype: string; dims: Array<number | string | null> }> {
  return meta.map((m) => ({
    name: m.name,
    isTensor: m.isTensor,
    dtype: m.isTensor ? m.type : '',
    dims: m.isTensor ? m.shape.map((d) => (d === '' || (typeof d === 'number' && d < 0) ? null : d)) : [],
  }));
}

const mine = (values: ValueInfo[]) => values.map((v) => ({ name: v.name, isTensor: v.kind === 'tensor', dtype: v.dtype, dims: v.dims }));

function assertInvalid(bytes: Uint8Array, label: string): void {
  assert.throws(
    () => readModelInfo(bytes),
    (e: unknown) => e instanceof EdgeMlError && e.code === 'EDGEML_ONNX_MODEL_INVALID' && typeof e.params.reason === 'string',
    label,
  );
}

describe('onnx model file: the 421 conformance models', { skip: needsShared('conformance/onnx-node') }, () => {
  const all = cases();

  it('reads the same inputs/outputs (names, dtypes, dims) as ONNX Runtime reports', async () => {
    assert.equal(all.length, 421);
    for (const c of all) {
      const info = readModelInfo(c.bytes);
      const session = await ort.InferenceSession.create(c.bytes, SESSION);
      try {
        assert.deepEqual(mine(info.inputs), ortView(session.inputMetadata), `${c.name} inputs`);
        assert.deepEqual(mine(info.outputs), ortView(session.outputMetadata), `${c.name} outputs`);
      } finally {
        await session.release();
      }
    }
  });

  it('reads the input/output names and dtypes that each case.json gives', () => {
    for (const c of all) {
      const info = readModelInfo(c.bytes);
      for (const [side, values] of [
        ['inputs', info.inputs],
        ['outputs', info.outputs],
      ] as const) {
        const expected = c.spec[side];
        assert.deepEqual(values.map((v) => v.name).sort(), Object.keys(expected).sort(), `${c.name} ${side}`);
        for (const v of values) {
          assert.equal(v.dtype, expected[v.name]!.dtype, `${c.name} ${v.name} dtype`);
          // Where the file declares every dim as a number, the case's data has exactly that shape.
          if (v.dims.length > 0 && v.dims.every((d) => typeof d === 'number')) assert.deepEqual(v.dims, expected[v.name]!.dims, `${c.name} ${v.name} dims`);
        }
      }
    }
  });

  it('agrees with onnx-proto on model-level fields and metadata', () => {
    for (const c of all) {
      const info = readModelInfo(c.bytes);
      const m = onnx.ModelProto.decode(c.bytes);
      assert.equal(info.irVersion, Number(m.irVersion), c.name);
      assert.equal(info.producerName, m.producerName ?? '', c.name);
      assert.equal(info.producerVersion, m.producerVersion ?? '', c.name);
      assert.equal(info.domain, m.domain ?? '', c.name);
      assert.equal(info.modelVersion, Number(m.modelVersion ?? 0), c.name);
      assert.equal(info.docString, m.docString ?? '', c.name);
      assert.equal(info.graphName, m.graph?.name ?? '', c.name);
      assert.deepEqual(
        info.opsets,
        (m.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: Number(o.version) })),
        c.name,
      );
      assert.deepEqual(info.metadata, Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])), c.name);
      const inits = new Set((m.graph?.initializer ?? []).map((t) => t.name));
      assert.deepEqual(
        info.inputs.map((v) => v.name),
        (m.graph?.input ?? []).map((v) => v.name).filter((n) => !inits.has(n)),
        c.name,
      );
    }
  });

  it('re-encodes every model byte-identically from its decoded fields (two levels deep)', () => {
    for (const c of all) {
      const w = new ProtoWriter();
      for (const f of decodeFields(c.bytes)) {
        if (f.no !== 7) {
          w.raw(fieldRaw(f));
          continue;
        }
        const graph = new ProtoWriter();
        for (const g of fieldMessage(f)) graph.raw(fieldRaw(g));
        w.bytes(7, graph.finish());
      }
      assert.deepEqual(Buffer.from(w.finish()), Buffer.from(c.bytes), c.name);
    }
  });
});

describe('onnx model file: refusing what is not an ONNX model', () => {
  // a small valid model built here (not from ../shared, which a checkout may lack)
  const good = addModel('int16');

  it('refuses empty, text, image and random bytes with EDGEML_ONNX_MODEL_INVALID', () => {
    assertInvalid(new Uint8Array(0), 'empty');
    assertInvalid(new TextEncoder().encode('{"not": "a model"}'), 'json');
    assertInvalid(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), 'png');
    let seed = 12345;
    const next = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(1 + ((n * 7) % 900));
      for (let i = 0; i < bytes.length; i++) bytes[i] = next();
      assertInvalid(bytes, `random buffer ${n}`);
    }
  });

  it('refuses a model truncated anywhere inside its graph', () => {
    const graph = decodeFields(good).find((f) => f.no === 7)!;
    for (let cut = graph.start + 1; cut < graph.end; cut++) assertInvalid(good.subarray(0, cut), `cut at ${cut}`);
  });

  it('refuses wrong wire types, bad UTF-8, and a missing ir_version, graph or opset_import', () => {
    const encode = (m: onnx.IModelProto): Uint8Array => onnx.ModelProto.encode(m).finish();
    const graph: onnx.IGraphProto = {
      name: 'g',
      node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
      input: [{ name: 'x', type: { tensorType: { elemType: 1 } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
    };
    assert.equal(readModelInfo(encode({ irVersion: 8, graph, opsetImport: [{ domain: '', version: 17 }] })).graphName, 'g');
    assertInvalid(encode({ graph, opsetImport: [{ domain: '', version: 17 }] }), 'no ir_version');
    assertInvalid(encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }] }), 'no graph');
    assertInvalid(encode({ irVersion: 8, graph }), 'no opset_import');
    // graph (field 7) written as a varint
    assertInvalid(
      new ProtoWriter()
        .varint(1, 8)
        .varint(7, 3)
        .message(8, (o) => o.varint(2, 17))
        .finish(),
      'graph as varint',
    );
    // a node name that is not UTF-8
    const badName = new ProtoWriter()
      .varint(1, 8)
      .message(7, (g) => g.message(1, (n) => n.bytes(3, new Uint8Array([0xff, 0xfe])).string(4, 'Identity')))
      .message(8, (o) => o.varint(2, 17))
      .finish();
    assertInvalid(badName, 'bad utf-8');
    // elem_type (a varint) written as a string inside a graph input's type
    const badType = new ProtoWriter()
      .varint(1, 8)
      .message(7, (g) => g.message(11, (v) => v.string(1, 'x').message(2, (t) => t.message(1, (tt) => tt.string(1, 'float')))))
      .message(8, (o) => o.varint(2, 17))
      .finish();
    assertInvalid(badType, 'elem_type as string');
    assert.throws(
      () => readModelInfo('model.onnx' as unknown as Uint8Array),
      (e: unknown) => e instanceof EdgeMlError && e.code === 'EDGEML_ONNX_MODEL_INVALID',
    );
  });
});

describe('protobuf wire format', () => {
  it('varints and fixed numbers agree with protobufjs both ways', () => {
    const values = [0n, 1n, 127n, 128n, 300n, 16383n, 16384n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 31n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -2n, -(2n ** 31n), -(2n ** 63n)];
    for (const v of values) {
      // protobufjs encodes, we decode
      const theirs = onnx.ModelProto.encode({ irVersion: v.toString() as unknown as number }).finish();
      const f = decodeFields(theirs)[0]!;
      assert.equal(fieldInt64(f), v, `decode ${v}`);
      // we encode, protobufjs decodes
      const ours = new ProtoWriter().varint(1, v).finish();
      assert.deepEqual(Buffer.from(ours), Buffer.from(theirs), `encode ${v}`);
      const back = onnx.ModelProto.decode(ours).irVersion;
      assert.equal(BigInt(back!.toString()), v);
      if (v >= -(2n ** 53n) && v <= 2n ** 53n) assert.deepEqual(new ProtoWriter().varint(1, Number(v)).finish(), ours, `number ${v}`);
    }
    const floats = [0, -0, 1.5, -3.25e-8, 3.4e38, Infinity, NaN];
    const enc = onnx.TensorProto.encode({ floatData: floats, doubleData: floats, int64Data: [1, -1, 2 ** 40], dims: [2, 3] }).finish();
    const fields = decodeFields(enc);
    assert.deepEqual(
      repeatedFloat(fields, 4),
      floats.map((x) => Math.fround(x)),
    );
    assert.deepEqual(repeatedInt64(fields, 7), [1n, -1n, 2n ** 40n]);
    assert.deepEqual(repeatedInt64(fields, 1), [2n, 3n]);
    const mineEnc = new ProtoWriter()
      .packedVarints(1, [2, 3])
      .packedFloats(4, floats)
      .double(99, Math.PI)
      .fixed32(98, 7)
      .fixed64(97, 2n ** 60n)
      .finish();
    const t = onnx.TensorProto.decode(mineEnc);
    assert.deepEqual(t.dims.map(Number), [2, 3]);
    assert.deepEqual(
      t.floatData,
      floats.map((x) => Math.fround(x)),
    );
  });

  it('writes large payloads inside nested messages that protobufjs reads back', () => {
    const big = Float32Array.from({ length: 3000 }, (_, i) => i * 0.5 - 7);
    const names = Array.from({ length: 300 }, (_, i) => `n${i}`);
    const bytes = new ProtoWriter()
      .varint(1, 9)
      .message(7, (g) => {
        for (const n of names) g.message(1, (node) => node.string(4, 'Relu').string(3, n));
        g.message(5, (t) => t.packedVarints(1, [1000, 3]).varint(2, 1).string(8, 'big').bytes(9, new Uint8Array(big.buffer)));
        g.string(2, 'x'.repeat(1000));
      })
      .finish();
    const m = onnx.ModelProto.decode(bytes);
    assert.equal(Number(m.irVersion), 9);
    assert.deepEqual(
      m.graph!.node!.map((n) => n.name),
      names,
    );
    assert.equal(m.graph!.name, 'x'.repeat(1000));
    const raw = m.graph!.initializer![0]!.rawData!;
    assert.deepEqual(new Float32Array(Uint8Array.from(raw).buffer), big);
  });

  it('keeps unknown fields, groups included, byte for byte, and refuses malformed input', () => {
    const withUnknown = new ProtoWriter()
      .string(1, 'a')
      .fixed64(1000, 5n)
      .raw(new Uint8Array([0xcb, 0x3e, 0x08, 0x01, 0xcc, 0x3e]))
      .varint(2, 7)
      .finish(); // group 1001 holding a varint
    const fields = decodeFields(withUnknown);
    assert.deepEqual(
      fields.map((f) => f.no),
      [1, 1000, 1001, 2],
    );
    assert.equal(fieldString(fields[0]!), 'a');
    const copy = new ProtoWriter();
    for (const f of fields) copy.raw(fieldRaw(f));
    assert.deepEqual(copy.finish(), withUnknown);
    assert.throws(() => decodeFields(new Uint8Array([0x0a, 0x05, 0x61])), ProtoError); // length past the end
    assert.throws(() => decodeFields(new Uint8Array([0x08, 0xff])), ProtoError); // truncated varint
    assert.throws(() => decodeFields(new Uint8Array([0x0e])), ProtoError); // wire type 6
    assert.throws(() => decodeFields(new Uint8Array([0x00, 0x01])), ProtoError); // field number 0
    assert.throws(() => decodeFields(new Uint8Array([0xcb, 0x3e])), ProtoError); // unterminated group
    assert.throws(() => readVarint(new Uint8Array(11).fill(0xff), 0), ProtoError); // over-long varint
  });

  it('200,000 nested groups in a model file: EDGEML_ONNX_MODEL_INVALID with a reason, no stack overflow', () => {
    const good = mlpModel({ inputs: 3, hidden: 4, outputs: 2 }).bytes;
    const depth = 200_000;
    // field 99 (unknown to ONNX), wire type 3 (start group) / 4 (end group): tags 0x9b 0x06 / 0x9c 0x06
    const starts = new Uint8Array(depth * 2);
    for (let i = 0; i < depth; i++) starts.set([0x9b, 0x06], i * 2);
    const ends = new Uint8Array(depth * 2);
    for (let i = 0; i < depth; i++) ends.set([0x9c, 0x06], i * 2);
    for (const [what, tail] of [
      ['unterminated', starts],
      ['terminated', new Uint8Array([...starts, ...ends])],
    ] as const) {
      const bytes = new Uint8Array([...good, ...tail]);
      let caught: unknown;
      try {
        readModelInfo(bytes);
      } catch (e) {
        caught = e;
      }
      assert.ok(caught instanceof EdgeMlError, `${what}: ${String(caught)}`);
      assert.equal(caught.code, 'EDGEML_ONNX_MODEL_INVALID', what);
      assert.match(String(caught.params.reason), /group/, what);
    }
    // a few nested groups are still well-formed protobuf and skipped like any unknown field
    const shallow = new Uint8Array([...good, ...starts.subarray(0, 10), ...ends.subarray(0, 10)]);
    assert.deepEqual(readModelInfo(shallow).inputs, readModelInfo(good).inputs);
  });
});

describe('build-model: models written without Python', () => {
  // A 2-layer MLP with a symbolic batch dim, a Softmax, an int64 ArgMax output and a float scalar metadata check.
  const rnd = (() => {
    let a = 7;
    return () => ((a = ((Math.imul(a, 48271) % 2147483647) + 2147483647) % 2147483647) / 2147483647) * 2 - 1;
  })();
  const w1 = Array.from({ length: 4 * 6 }, rnd);
  const b1 = Array.from({ length: 6 }, rnd);
  const w2 = Array.from({ length: 6 * 3 }, rnd);
  const b2 = Array.from({ length: 3 }, rnd);
  const spec: ModelSpec = {
    irVersion: 8,
    opsets: [{ domain: '', version: 17 }],
    producerName: 'edge-ml build-model test',
    producerVersion: '1.2',
    modelVersion: 3,
    docString: 'a test MLP',
    metadata: { 'edgeml.name': 'mlp', 'edgeml.labels': '["a","b","c"]' },
    graph: {
      name: 'mlp',
      inputs: [tensorValue('x', 'float32', ['batch', 4])],
      outputs: [tensorValue('probs', 'float32', ['batch', 3]), tensorValue('best', 'int64', ['batch']), tensorValue('scaled', 'float32', [null, 4])],
      initializers: [
        { name: 'w1', dtype: 'float32', dims: [4, 6], data: w1 },
        { name: 'b1', dtype: 'float32', dims: [6], data: b1 },
        { name: 'w2', dtype: 'float32', dims: [6, 3], data: w2 },
        { name: 'b2', dtype: 'float32', dims: [3], data: b2 },
        { name: 'clip_lo', dtype: 'float32', dims: [], data: [-0.5] },
        { name: 'clip_hi', dtype: 'float32', dims: [], data: [0.5] },
      ],
      nodes: [
        { opType: 'Gemm', inputs: ['x', 'w1', 'b1'], outputs: ['h0'], attributes: { alpha: { float: 1 }, transB: { int: 0 } } },
        { opType: 'Relu', inputs: ['h0'], outputs: ['h'] },
        { opType: 'MatMul', inputs: ['h', 'w2'], outputs: ['z0'] },
        { opType: 'Add', inputs: ['z0', 'b2'], outputs: ['z'] },
        { opType: 'Softmax', inputs: ['z'], outputs: ['probs'], attributes: { axis: { int: -1 } } },
        { opType: 'ArgMax', inputs: ['z'], outputs: ['best'], attributes: { axis: { int: 1 }, keepdims: { int: 0 } } },
        { opType: 'Clip', name: 'clip', inputs: ['x', 'clip_lo', 'clip_hi'], outputs: ['scaled'] },
      ],
    },
  };
  const bytes = buildModel(spec);

  const reference = (row: number[]) => {
    const f = Math.fround;
    const h = Array.from({ length: 6 }, (_, j) =>
      Math.max(
        0,
        row.reduce((s, x, i) => s + f(x) * f(w1[i * 6 + j]!), f(b1[j]!)),
      ),
    );
    const z = Array.from({ length: 3 }, (_, k) => h.reduce((s, x, j) => s + x * f(w2[j * 3 + k]!), f(b2[k]!)));
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return { probs: e.map((v) => v / sum), best: z.indexOf(max), scaled: row.map((x) => Math.min(0.5, Math.max(-0.5, f(x)))) };
  };

  it('is deterministic and reads back through onnx-proto and readModelInfo', () => {
    assert.deepEqual(buildModel(spec), bytes);
    const m = onnx.ModelProto.decode(bytes);
    assert.equal(m.graph?.node?.length, 7);
    assert.equal(m.graph?.node?.[0]?.attribute?.[0]?.f, 1);
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(m.graph!.initializer![0]!.rawData!).slice().buffer)), w1.map(Math.fround));
    const info = readModelInfo(bytes);
    assert.equal(info.producerVersion, '1.2');
    assert.equal(info.modelVersion, 3);
    assert.deepEqual(info.metadata, spec.metadata);
    assert.deepEqual(info.inputs, [{ name: 'x', kind: 'tensor', dtype: 'float32', dims: ['batch', 4] }]);
    assert.deepEqual(
      info.outputs.map((o) => o.dims),
      [['batch', 3], ['batch'], [null, 4]],
    );
  });

  it('loads in onnxruntime-node and computes what plain JS computes', async () => {
    const session = await ort.InferenceSession.create(bytes, SESSION);
    try {
      assert.deepEqual(ortView(session.inputMetadata), mine(readModelInfo(bytes).inputs));
      const rows = Array.from({ length: 5 }, () => Array.from({ length: 4 }, () => rnd() * 2));
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [5, 4]) });
      rows.forEach((row, r) => {
        const ref = reference(row);
        ref.probs.forEach((p, k) => assert.ok(Math.abs((out.probs!.data as Float32Array)[r * 3 + k]! - p) < 1e-5, `probs ${r},${k}`));
        assert.equal(Number((out.best!.data as BigInt64Array)[r]), ref.best);
        assert.deepEqual(Array.from(out.scaled!.data as Float32Array).slice(r * 4, r * 4 + 4), ref.scaled);
      });
    } finally {
      await session.release();
    }
  });

  it('writes every supported initializer dtype so that ONNX Runtime reads it back', async () => {
    const dtypes = [
      ['float32', [1.5, -2]],
      ['float64', [1e300, -0.25]],
      ['int8', [-128, 127]],
      ['uint8', [0, 255]],
      ['int16', [-32768, 5]],
      ['uint16', [65535, 1]],
      ['int32', [-(2 ** 31), 7]],
      ['uint32', [2 ** 32 - 1, 0]],
      ['int64', [-(2n ** 63n), 2n ** 40n]],
      ['uint64', [2n ** 64n - 1n, 3n]],
      ['bool', [true, false]],
      ['string', ['ä', '']],
    ] as const;
    const model = buildModel({
      opsets: [{ domain: '', version: 17 }],
      graph: {
        name: 'consts',
        inputs: [],
        outputs: dtypes.map(([d]) => tensorValue(`y_${d}`, d, [2])),
        nodes: dtypes.map(([d, data]) => ({ opType: 'Constant', inputs: [], outputs: [`y_${d}`], attributes: { value: { tensor: { dtype: d, dims: [2], data } } } })),
      },
    });
    const session = await ort.InferenceSession.create(model, SESSION);
    try {
      const out = await session.run({});
      for (const [d, data] of dtypes) {
        const got = Array.from(out[`y_${d}`]!.data as ArrayLike<unknown>);
        const expected = d === 'bool' ? data.map((b) => (b ? 1 : 0)) : d === 'float32' ? (data as readonly number[]).map(Math.fround) : [...data];
        assert.deepEqual(
          got.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)),
          expected,
          d,
        );
      }
    } finally {
      await session.release();
    }
  });
});
