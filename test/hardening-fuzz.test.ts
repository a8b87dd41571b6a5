/**
 * Issue 16: fuzzing ml-format, ml-guard and ml-drift in a real Node-RED runtime with hostile
 * messages (tensors with any dims and values, model cards with any values, BigInt, nesting, wrong
 * types). Oracles: every payload ml-format publishes is valid against schemas/ (checked with ajv, a
 * real JSON Schema validator, not the package's own), every message ends in exactly one done() (a
 * Complete or a Catch node), and no error is EDGEML_INTERNAL (a bug of ours, never reachable from
 * input). Each property runs with a fixed seed and with a random one; a failure prints the seed
 * (rerun with EDGEML_FUZZ_SEED=<seed>). Bounded: EDGEML_FUZZ_RUNS cases per seed (default 1500).
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getNode, loadFlow, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { loadSchema, validateJsonSchema } from './helpers/schema';

const PAYLOAD_SCHEMA = loadSchema('ml-format-payload');
const EVENT_SCHEMA = loadSchema('ml-format-event');

const RUNS = Number(process.env.EDGEML_FUZZ_RUNS ?? 1500);
const FIXED_SEED = 160_016;
const SEEDS = process.env.EDGEML_FUZZ_SEED ? [Number(process.env.EDGEML_FUZZ_SEED)] : [FIXED_SEED, Math.floor(Math.random() * 2 ** 31)];

afterEach(() => unloadFlow());

// ---- arbitraries -------------------------------------------------------------------------------

const hostileNumber = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 1e-300, 0.5, -1, 2 ** 53, 1e308), fc.integer({ min: -3, max: 6 }));
const value = fc.oneof(
  { weight: 4, arbitrary: hostileNumber },
  fc.string({ maxLength: 6 }),
  fc.constantFrom('NaN', 'Infinity', '1', ' 2 ', ''),
  fc.boolean(),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  fc.constantFrom(null, undefined),
  fc.constant({}),
  fc.constant([1]),
);
const dimValue = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }) }, hostileNumber, fc.constantFrom('NaN', '2', null, 1n));

/** A tensor: dims consistent with the data most of the time, anything at other times. */
const tensor = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(fc.constantFrom('float32', 'float64', 'int64', 'int32', 'bool', 'string'), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 4 })).chain(([dtype, rows, cols]) =>
      fc
        .array<unknown>(dtype.startsWith('float') ? hostileNumber : dtype === 'string' ? fc.string({ maxLength: 4 }) : fc.oneof(fc.integer({ min: -2, max: 5 }), fc.bigInt({ min: -3n, max: 5n })), {
          minLength: rows * cols,
          maxLength: rows * cols,
        })
        .map((data) => ({ dtype, dims: rows === 1 && cols % 2 === 0 ? [cols] : [rows, cols], data })),
    ),
  },
  fc.record({ dtype: fc.oneof(fc.constantFrom('float32', 'int64', 'string'), fc.string({ maxLength: 4 })), dims: fc.array(dimValue, { maxLength: 3 }), data: fc.array(value, { maxLength: 6 }) }),
  fc.anything({ maxDepth: 2 }),
);
const tensors = fc.oneof(
  { weight: 5, arbitrary: fc.dictionary(fc.constantFrom('y', 'scores', 'label', 'score', 'value', 'probabilities'), tensor, { minKeys: 1, maxKeys: 3 }) },
  fc.anything({ maxDepth: 2 }),
);

const strings = fc.array(fc.oneof({ weight: 4, arbitrary: fc.string({ maxLength: 5 }) }, value), { maxLength: 4 });
const stats = fc.record(
  {
    mean: hostileNumber,
    std: hostileNumber,
    min: hostileNumber,
    max: hostileNumber,
    count: value,
    histogram: fc.record({ edges: fc.array(hostileNumber, { maxLength: 5 }), counts: fc.array(hostileNumber, { maxLength: 4 }) }),
  },
  { requiredKeys: ['mean', 'std', 'min', 'max'] },
);
const featureNames = fc.constantFrom('a', 'b', 'c', 'f0', 'f1');
/** A well-formed card (what onnx-infer hands on), so that most cases get past the card check. */
const goodStats = fc
  .record({ mean: fc.double({ min: -5, max: 5, noNaN: true }), std: fc.double({ min: 0.1, max: 3, noNaN: true }) })
  .map(({ mean, std }) => ({ mean, std, min: mean - 3 * std, max: mean + 3 * std }));
const goodCard = fc.record(
  {
    name: fc.string({ minLength: 1, maxLength: 5 }),
    version: fc.string({ maxLength: 4 }),
    task: fc.constantFrom('classification', 'regression', 'anomaly'),
    features: fc.constant(['a', 'b']),
    labels: fc.constant(['x', 'y', 'z']),
    logits: fc.boolean(),
    thresholds: fc.record({ anomaly: fc.double({ min: 0, max: 1, noNaN: true }), confidence: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: [] }),
    ranges: fc.constant({ a: [0, 10], b: [-1, 1] }),
    trainingStats: fc.record({ a: goodStats, b: goodStats }),
  },
  { requiredKeys: ['trainingStats'] },
);
/** A model card: every key optional, each value well-formed or hostile. */
const hostileCard = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 5 }), value),
    version: fc.oneof(fc.string({ maxLength: 4 }), value),
    task: fc.oneof(fc.constantFrom('classification', 'regression', 'anomaly'), value),
    features: fc.oneof(fc.constant(['a', 'b']), strings, value),
    labels: fc.oneof(fc.constant(['x', 'y', 'z']), strings, value),
    logits: fc.oneof(fc.boolean(), value),
    outputs: fc.oneof(fc.dictionary(fc.constantFrom('label', 'scores', 'score', 'value'), fc.constantFrom('y', 'scores', 'nope')), value),
    thresholds: fc.oneof(fc.record({ anomaly: hostileNumber, confidence: hostileNumber, hysteresis: hostileNumber }, { requiredKeys: [] }), value),
    ranges: fc.oneof(fc.dictionary(featureNames, fc.oneof(fc.tuple(hostileNumber, hostileNumber), fc.array(value, { maxLength: 3 }))), value),
    trainingStats: fc.oneof(fc.dictionary(featureNames, fc.oneof({ weight: 4, arbitrary: stats }, value)), value),
    targetScaler: fc.oneof(fc.record({ mean: hostileNumber, scale: hostileNumber }), value),
    units: fc.oneof(fc.dictionary(fc.constantFrom('value', 'y'), fc.oneof(fc.string({ maxLength: 3 }), value)), value),
  },
  { requiredKeys: [] },
);
const card = fc.oneof({ weight: 3, arbitrary: goodCard }, { weight: 2, arbitrary: hostileCard });
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });
const features = fc.oneof(fc.array(value, { maxLength: 4 }), fc.dictionary(featureNames, value), value, fc.anything({ maxDepth: 2 }));

// ---- harness -----------------------------------------------------------------------------------

type Outcome = { kind: 'complete' | 'error'; code?: string; message?: string };

/** The flow: `ids` under test, their outputs to a collector, one Catch and one Complete node for all. */
function flow(nodes: FlowNode[]): FlowNode[] {
  const ids = nodes.map((n) => n.id);
  return [
    { id: 'tab', type: 'tab', label: 'fuzz' },
    ...[
      ...nodes,
      { id: 'out', type: 'helper' },
      { id: 'catcher', type: 'catch', scope: ids, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
      { id: 'completer', type: 'complete', scope: ids, uncaught: false, wires: [['completed']] },
      { id: 'completed', type: 'helper' },
    ].map((n) => ({ ...n, z: 'tab' })),
  ];
}

/** Sends one message and waits for its done(): a Complete (success) or a Catch (error) node message. */
function harness(): { send(id: string, msg: Record<string, unknown>): Promise<{ outcome: Outcome; outputs: Msg[] }> } {
  const outputs: Msg[] = [];
  let waiting: ((o: Outcome) => void) | undefined;
  getNode('out').on('input', (m: Msg) => outputs.push(m));
  getNode('completed').on('input', () => waiting?.({ kind: 'complete' }));
  getNode('caught').on('input', (m: Msg) => {
    const e = m.error as { code?: string; message?: string };
    waiting?.({ kind: 'error', code: e.code, message: e.message });
  });
  return {
    async send(id, msg) {
      outputs.length = 0;
      const outcome = await new Promise<Outcome>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no done() within 5 s for ${id}`)), 5000);
        waiting = (o) => {
          clearTimeout(timer);
          waiting = undefined;
          resolve(o);
        };
        getNode(id).receive(msg as never);
      });
      return { outcome, outputs: [...outputs] };
    },
  };
}

async function fuzz<T>(name: string, arb: fc.Arbitrary<T>, check: (input: T) => Promise<void>): Promise<{ runs: number; seeds: number[] }> {
  for (const seed of SEEDS) {
    try {
      await fc.assert(fc.asyncProperty(arb, check), { seed, numRuns: RUNS, endOnFailure: true });
    } catch (e) {
      console.error(`${name}: failed with seed ${seed} (rerun: EDGEML_FUZZ_SEED=${seed})`);
      throw e;
    }
  }
  return { runs: RUNS * SEEDS.length, seeds: SEEDS };
}

const tally = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};
const noInternal = (o: Outcome): void => assert.notEqual(o.code, 'EDGEML_INTERNAL', `EDGEML_INTERNAL: ${o.message}`);
const coded = (o: Outcome): void => {
  if (o.kind === 'error') assert.match(String(o.code), /^EDGEML_[A-Z0-9_]+$/, `uncoded error: ${o.message}`);
};

// ---- properties --------------------------------------------------------------------------------

/**
 * Loads one node of `type` per config, fuzzes messages (`fields` plus a random target node) into
 * them, and checks each outcome (coded, never EDGEML_INTERNAL) and each output with `checkOutput`.
 */
async function fuzzNode(
  t: { diagnostic(message: string): void },
  type: string,
  configs: Array<Record<string, unknown>>,
  outputs: number,
  fields: Record<string, fc.Arbitrary<unknown>>,
  checkOutput: (out: Msg) => void,
): Promise<Record<string, number>> {
  const wires = Array.from({ length: outputs }, () => ['out']);
  const nodes = configs.map((c, i) => ({ id: `${type}-${i}`, type, name: '', wires, ...c }));
  await loadFlow([type], flow(nodes));
  const h = harness();
  const counts: Record<string, number> = {};
  const input = fc.record({ node: fc.integer({ min: 0, max: configs.length - 1 }), ...fields }) as fc.Arbitrary<Record<string, unknown> & { node: number }>;
  const { runs, seeds } = await fuzz(type, input, async ({ node, ...msg }) => {
    const { outcome, outputs: got } = await h.send(`${type}-${node}`, msg);
    noInternal(outcome);
    coded(outcome);
    tally(counts, outcome.kind === 'error' ? String(outcome.code) : 'ok');
    got.forEach(checkOutput);
  });
  const summary = `fuzz ${type}: ${runs} cases, seeds ${seeds.join(', ')}; outcomes ${JSON.stringify(counts)}`;
  t.diagnostic(summary);
  console.log(summary);
  return counts;
}

const withCard = maybe(fc.oneof({ weight: 5, arbitrary: card }, value));

test('fuzz ml-format: published payloads are schema-valid (ajv), errors are coded, never EDGEML_INTERNAL', { timeout: 300_000 }, async (t) => {
  const configs: Array<Record<string, unknown>> = [
    { task: 'auto', topK: '3' },
    { task: 'classification', passthrough: '*', includeFeatures: true, featuresProperty: 'features' },
    { task: 'regression', decimals: '2', passthrough: 'y' },
    { task: 'anomaly', threshold: '0.5', hysteresis: '0.1' },
    { task: 'auto', confidence: '0.6', topic: '{model}/{version}/{task}' },
  ];
  const fields = {
    payload: tensors,
    modelCard: withCard,
    model: maybe(fc.record({ name: fc.oneof(fc.string({ maxLength: 4 }), value), version: value, sha256: fc.oneof(fc.constant('ab'.repeat(32)), value) }, { requiredKeys: [] })),
    inferenceMs: maybe(value),
    features: maybe(features),
  };
  const counts = await fuzzNode(t, 'ml-format', configs, 2, fields, (out) => {
    const p = out.payload as Record<string, unknown>;
    const isEvent = typeof p?.event === 'string';
    const problems = validateJsonSchema(isEvent ? EVENT_SCHEMA : PAYLOAD_SCHEMA, p);
    assert.deepEqual(problems, [], `${isEvent ? 'event' : 'payload'} breaks the schema\n${JSON.stringify(p)}`);
    assert.ok(typeof out.topic === 'string' && out.topic.length > 0, 'a topic');
  });
  assert.ok((counts.ok ?? 0) > (RUNS * SEEDS.length) / 20, 'enough cases are formatted, not just refused');
});

test('fuzz ml-guard: errors are coded, never EDGEML_INTERNAL; a replaced value is always a finite number', { timeout: 300_000 }, async (t) => {
  const configs: Array<Record<string, unknown>> = [
    { features: '', rules: [], policies: {}, replaceWith: {} },
    {
      features: 'a,b,c',
      rules: [{ feature: 'a', min: '0', max: '10', default: '5', maxDelta: '3' }],
      stuckSamples: '3',
      staleMs: '1000',
      policies: { range: 'replace', spike: 'replace', nan: 'replace', type: 'flag', count: 'route' },
      replaceWith: { range: 'clamp', spike: 'clamp', nan: 'default' },
    },
    { features: '', rules: [], policies: { range: 'replace', missing: 'replace', null: 'flag' }, replaceWith: { range: 'clamp', missing: 'last' } },
  ];
  const fields = {
    payload: features,
    modelCard: withCard,
    timestamp: maybe(
      fc.oneof(
        value,
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      ),
    ),
    command: maybe(fc.constantFrom('stats', 'reset-stats', 'other')),
  };
  await fuzzNode(t, 'ml-guard', configs, 2, fields, (out) => {
    const issues = (out.guard as { issues?: Array<{ replacedWith?: unknown }> } | undefined)?.issues ?? [];
    for (const i of issues) if ('replacedWith' in i) assert.ok(typeof i.replacedWith === 'number' && Number.isFinite(i.replacedWith), `replaced with ${String(i.replacedWith)}`);
  });
});

test('fuzz ml-drift: errors are coded, never EDGEML_INTERNAL; reports survive JSON', { timeout: 300_000 }, async (t) => {
  const configs: Array<Record<string, unknown>> = [
    { reference: 'card', window: '4', mode: 'tumbling' },
    { reference: 'card', window: '3', mode: 'sliding', step: '1', predictionProperty: 'prediction', features: 'a,b' },
    { reference: 'samples', referenceSamples: '3', window: '3' },
  ];
  const fields = { payload: features, modelCard: maybe(fc.oneof({ weight: 6, arbitrary: card }, value)), prediction: maybe(value) };
  await fuzzNode(t, 'ml-drift', configs, 1, fields, (out) => assert.doesNotThrow(() => JSON.stringify(out.payload)));
});
