/**
 * Small ONNX models for the onnx-* tests and bench, written with onnx-proto (an encoder independent
 * of the package's own model-file code). Weights come from a seeded generator, and each model has a
 * plain-JS reference computation so expected outputs are computed independently of ONNX Runtime.
 */
import { onnx } from 'onnx-proto';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const DTYPE_CODES: Record<string, number> = { float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13 };

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

type Dim = number | string;

function valueInfo(name: string, elemType: number, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

function floatTensor(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(new Float32Array(values).buffer) };
}

function model(graph: onnx.IGraphProto, metadata: Record<string, string> = {}, opset = 13): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 7,
    producerName: 'edge-ml-tests',
    producerVersion: '1',
    modelVersion: 1,
    opsetImport: [{ domain: '', version: opset }],
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  }).finish();
}

export interface Mlp {
  bytes: Uint8Array;
  inputs: number;
  hidden: number;
  outputs: number;
  w1: number[];
  b1: number[];
  w2: number[];
  b2: number[];
}

/** x[batch, inputs] -> relu(x W1 + b1) W2 + b2 -> y[batch, outputs]; the batch dimension is symbolic. */
export function mlpModel(opts: { inputs: number; hidden: number; outputs: number; seed?: number; metadata?: Record<string, string>; name?: string }): Mlp {
  const rnd = seededRandom(opts.seed ?? 1);
  const { inputs, hidden, outputs } = opts;
  const w1 = Array.from({ length: inputs * hidden }, () => rnd() / Math.sqrt(inputs));
  const b1 = Array.from({ length: hidden }, () => rnd() * 0.1);
  const w2 = Array.from({ length: hidden * outputs }, () => rnd() / Math.sqrt(hidden));
  const b2 = Array.from({ length: outputs }, () => rnd() * 0.1);
  const graph: onnx.IGraphProto = {
    name: opts.name ?? 'mlp',
    node: [
      { opType: 'MatMul', input: ['x', 'w1'], output: ['h0'] },
      { opType: 'Add', input: ['h0', 'b1'], output: ['h1'] },
      { opType: 'Relu', input: ['h1'], output: ['h2'] },
      { opType: 'MatMul', input: ['h2', 'w2'], output: ['h3'] },
      { opType: 'Add', input: ['h3', 'b2'], output: ['y'] },
    ],
    initializer: [floatTensor('w1', [inputs, hidden], w1), floatTensor('b1', [hidden], b1), floatTensor('w2', [hidden, outputs], w2), floatTensor('b2', [outputs], b2)],
    input: [valueInfo('x', FLOAT, ['batch', inputs])],
    output: [valueInfo('y', FLOAT, ['batch', outputs])],
  };
  return { bytes: model(graph, opts.metadata), inputs, hidden, outputs, w1, b1, w2, b2 };
}

const f32 = (x: number): number => Math.fround(x);

/** The MLP computed in plain JS (float32 weights, float64 arithmetic): one output row per input row. */
export function mlpReference(m: Mlp, rows: number[][]): number[][] {
  return rows.map((x) => {
    const h = Array.from({ length: m.hidden }, (_, j) => {
      let s = 0;
      for (let i = 0; i < m.inputs; i++) s += f32(x[i]!) * f32(m.w1[i * m.hidden + j]!);
      return Math.max(0, s + f32(m.b1[j]!));
    });
    return Array.from({ length: m.outputs }, (_, k) => {
      let s = 0;
      for (let j = 0; j < m.hidden; j++) s += h[j]! * f32(m.w2[j * m.outputs + k]!);
      return s + f32(m.b2[k]!);
    });
  });
}

/** a + b -> sum, all of `dtype` with shape [batch, width]. */
export function addModel(dtype = 'float32', width = 3): Uint8Array {
  const code = DTYPE_CODES[dtype]!;
  return model({
    name: 'add',
    node: [{ opType: 'Add', input: ['a', 'b'], output: ['sum'] }],
    input: [valueInfo('a', code, ['batch', width]), valueInfo('b', code, ['batch', width])],
    output: [valueInfo('sum', code, ['batch', width])],
  });
}

/**
 * A model that takes a while: `layers` rounds of tanh(X W) on a [size, size] matrix (x: [1, size]
 * broadcast by a Tile). Used to keep the worker busy in queue and event-loop tests.
 */
export function slowModel(layers: number, size = 256, seed = 3): Uint8Array {
  const rnd = seededRandom(seed);
  const w = Array.from({ length: size * size }, () => rnd() / Math.sqrt(size));
  const node: onnx.INodeProto[] = [{ opType: 'Tile', input: ['x', 'reps'], output: ['t0'] }];
  for (let i = 0; i < layers; i++) {
    node.push({ opType: 'MatMul', input: [`t${i}`, 'w'], output: [`m${i}`] });
    node.push({ opType: 'Tanh', input: [`m${i}`], output: [`t${i + 1}`] });
  }
  node.push({ opType: 'ReduceMean', input: [`t${layers}`], output: ['y'], attribute: [{ name: 'axes', ints: [0], type: onnx.AttributeProto.AttributeType.INTS }] });
  return model({
    name: 'slow',
    node,
    initializer: [floatTensor('w', [size, size], w), { name: 'reps', dims: [2], dataType: onnx.TensorProto.DataType.INT64, int64Data: [size, 1] }],
    input: [valueInfo('x', FLOAT, [1, size])],
    output: [valueInfo('y', FLOAT, [1, size])],
  });
}

/**
 * A deep, narrow MLP: `layers` rounds of relu(x W + b) at `width` units. Many small operators make
 * a single-row run cost far more than its arithmetic, the case micro-batching is meant for.
 */
export function deepMlpModel(layers: number, width: number, seed = 9): Uint8Array {
  const rnd = seededRandom(seed);
  const node: onnx.INodeProto[] = [];
  const initializer: onnx.ITensorProto[] = [];
  let prev = 'x';
  for (let i = 0; i < layers; i++) {
    initializer.push(
      floatTensor(
        `w${i}`,
        [width, width],
        Array.from({ length: width * width }, () => rnd() / Math.sqrt(width)),
      ),
    );
    initializer.push(
      floatTensor(
        `b${i}`,
        [width],
        Array.from({ length: width }, () => rnd() * 0.1),
      ),
    );
    node.push({ opType: 'MatMul', input: [prev, `w${i}`], output: [`m${i}`] });
    node.push({ opType: 'Add', input: [`m${i}`, `b${i}`], output: [`a${i}`] });
    node.push({ opType: 'Relu', input: [`a${i}`], output: [i === layers - 1 ? 'y' : `h${i}`] });
    prev = `h${i}`;
  }
  return model({
    name: 'deep-mlp',
    node,
    initializer,
    input: [valueInfo('x', FLOAT, ['batch', width])],
    output: [valueInfo('y', FLOAT, ['batch', width])],
  });
}

/**
 * A sequence classifier as PyTorch exports an `LSTM(batch_first=True)` followed by a linear layer:
 * x [batch, steps, features] -> Transpose -> LSTM (`hidden` units) -> last hidden state -> y
 * [batch, outputs]. A window of sensor readings in, a class out: the LSTM's per-step work is small
 * and fixed, so many rows share a run almost for free (the micro-batching case of real edge models).
 */
export function lstmModel(opts: { steps: number; features: number; hidden: number; outputs: number; seed?: number }): Uint8Array {
  const rnd = seededRandom(opts.seed ?? 12);
  const { steps, features, hidden, outputs } = opts;
  const values = (n: number, scale: number): number[] => Array.from({ length: n }, () => rnd() * scale);
  const ints = onnx.AttributeProto.AttributeType.INTS;
  return model({
    name: 'lstm-classifier',
    node: [
      { opType: 'Transpose', input: ['x'], output: ['xt'], attribute: [{ name: 'perm', ints: [1, 0, 2], type: ints }] },
      {
        opType: 'LSTM',
        input: ['xt', 'W', 'R', 'B'],
        output: ['', 'h_last'],
        attribute: [{ name: 'hidden_size', i: hidden, type: onnx.AttributeProto.AttributeType.INT }],
      },
      { opType: 'Squeeze', input: ['h_last', 'axis0'], output: ['h'] },
      { opType: 'MatMul', input: ['h', 'wo'], output: ['m'] },
      { opType: 'Add', input: ['m', 'bo'], output: ['y'] },
    ],
    initializer: [
      floatTensor('W', [1, 4 * hidden, features], values(4 * hidden * features, 1 / Math.sqrt(features))),
      floatTensor('R', [1, 4 * hidden, hidden], values(4 * hidden * hidden, 1 / Math.sqrt(hidden))),
      floatTensor('B', [1, 8 * hidden], values(8 * hidden, 0.1)),
      { name: 'axis0', dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [0] },
      floatTensor('wo', [hidden, outputs], values(hidden * outputs, 1 / Math.sqrt(hidden))),
      floatTensor('bo', [outputs], values(outputs, 0.1)),
    ],
    input: [valueInfo('x', FLOAT, ['batch', steps, features])],
    output: [valueInfo('y', FLOAT, ['batch', outputs])],
  });
}
