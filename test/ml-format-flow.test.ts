/** ml-format in a real Node-RED runtime: contract, events, topic, and every bad input to a Catch node. */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inject, loadFlow, nextMessage, nextMessages, nextStatus, ROOT, unloadFlow, type FlowNode, type Msg } from './helpers/flow';
import { validateJsonSchema, type JsonSchema } from './helpers/schema';

const payloadSchema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-payload.schema.json'), 'utf8')) as JsonSchema;
const eventSchema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-event.schema.json'), 'utf8')) as JsonSchema;

afterEach(() => unloadFlow());

function flow(config: Record<string, unknown>): FlowNode[] {
  const nodes: FlowNode[] = [
    { id: 'fmt', type: 'ml-format', name: '', wires: [['out'], ['events']], ...config },
    { id: 'out', type: 'helper' },
    { id: 'events', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: ['fmt'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
    { id: 'completer', type: 'complete', scope: ['fmt'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper' },
  ];
  // Catch and Complete nodes only work inside a flow tab.
  return [{ id: 'tab', type: 'tab', label: 'test' }, ...nodes.map((n) => ({ ...n, z: 'tab' }))];
}

const card = { name: 'pump-classifier', labels: ['normal', 'cavitation', 'bearing'], logits: true, outputs: { scores: 'logits' } };
const sha = 'c0ffee'.repeat(10) + 'c0ff';

test('classification message: schema-valid payload, topic from template, done() called', async () => {
  await loadFlow(['ml-format'], flow({ topic: 'plant/{device}/{model}/prediction', topK: '2' }));
  const out = nextMessage('out');
  const completed = nextMessage('completed');
  const status = nextStatus('fmt', (s) => s.fill === 'green');
  const before = Date.now();
  inject('fmt', {
    payload: { logits: { dtype: 'float32', dims: [1, 3], data: [0.5, 3, -1] } },
    model: { name: 'pump-classifier', version: '1.2.0', sha256: sha },
    modelCard: card,
    inferenceMs: 1.25,
    device: 'P-101',
  });
  const msg = await out;
  await completed;
  await status;
  const p = msg.payload as Record<string, unknown>;
  assert.deepEqual(validateJsonSchema(payloadSchema, p), []);
  assert.equal(msg.topic, 'plant/P-101/pump-classifier/prediction');
  assert.equal(p.label, 'cavitation');
  // softmax by hand: e^3 / (e^0.5 + e^3 + e^-1)
  assert.ok(Math.abs((p.score as number) - Math.exp(3) / (Math.exp(0.5) + Math.exp(3) + Math.exp(-1))) < 1e-6);
  assert.deepEqual(
    (p.topk as Array<{ label: string }>).map((t) => t.label),
    ['cavitation', 'normal'],
  );
  assert.deepEqual(p.model, { name: 'pump-classifier', version: '1.2.0', sha256: sha });
  assert.equal(p.inferenceMs, 1.25);
  assert.ok((p.time as number) >= before && (p.time as number) <= Date.now());
  assert.equal(new Date(p.ts as string).getTime(), p.time);
  for (const k of ['value', 'anomaly', 'unit', 'invalid']) assert.ok(!(k in p), `${k} absent`);
});

test('node settings override the card; features included on request', async () => {
  await loadFlow(['ml-format'], flow({ labels: 'ok, bad, worse', logits: 'false', includeFeatures: true, featuresProperty: 'input', modelName: 'renamed', topic: '{model}/{label}' }));
  const out = nextMessage('out');
  inject('fmt', {
    payload: { logits: { dtype: 'float32', dims: [1, 3], data: [0.2, 0.3, 0.5] } },
    modelCard: { ...card, features: ['flow', 'temp'] },
    input: [1.5, NaN],
  });
  const msg = await out;
  const p = msg.payload as Record<string, unknown>;
  assert.equal(p.label, 'worse');
  assert.equal(p.score, 0.5);
  assert.equal(msg.topic, 'renamed/worse');
  assert.deepEqual(p.features, { flow: 1.5 });
  assert.deepEqual(p.invalid, ['features.temp']);
  assert.deepEqual(validateJsonSchema(payloadSchema, p), []);
});

test('the card stays on the message by default and is left behind when "keep msg.modelCard" is off', async () => {
  for (const keepCard of [undefined, false]) {
    await loadFlow(['ml-format'], flow(keepCard === undefined ? {} : { keepCard }));
    const out = nextMessage('out');
    inject('fmt', { payload: { logits: { dtype: 'float32', dims: [1, 3], data: [0.2, 0.3, 0.5] } }, modelCard: card });
    const msg = await out;
    assert.equal('modelCard' in msg, keepCard === undefined, `keepCard ${String(keepCard)}`);
    assert.equal(typeof (msg.payload as { label?: unknown }).label, 'string', 'the card still labelled the prediction');
    await unloadFlow();
  }
});

test('"keep other properties" off: only topic, payload (and a kept card) leave the node', async () => {
  const input = { payload: { logits: { dtype: 'float32', dims: [1, 3], data: [0.2, 0.3, 0.5] } }, modelCard: card, registers: [1, 2], guard: { ok: true }, features: { flow: 1 } };
  for (const keepCard of [true, false]) {
    await loadFlow(['ml-format'], flow({ keepOther: false, keepCard }));
    const out = nextMessage('out');
    inject('fmt', structuredClone(input));
    const msg = await out;
    assert.deepEqual(Object.keys(msg).sort(), ['_msgid', 'payload', 'topic', ...(keepCard ? ['modelCard'] : [])].sort());
    assert.equal(typeof (msg.payload as { label?: unknown }).label, 'string');
    await unloadFlow();
  }
  await loadFlow(['ml-format'], flow({}));
  const out = nextMessage('out');
  inject('fmt', structuredClone(input));
  const kept = await out;
  for (const key of ['registers', 'guard', 'features', 'modelCard']) assert.ok(key in kept, `by default ${key} stays`);
});

test('anomaly: flag with hysteresis and minimum samples, one event per state change', async () => {
  await loadFlow(['ml-format'], flow({ task: 'anomaly', threshold: '0.8', hysteresis: '0.2', minSamples: '2', topic: 'plant/{device}/anomaly' }));
  const scores = [0.1, 0.9, 0.95, 0.7, 0.65, 0.5, 0.55, 0.3];
  // by hand: rises at the 3rd (2 samples >= 0.8); 0.7 and 0.65 stay above 0.6; falls at the 7th (0.5, 0.55 < 0.6)
  const expected = [false, false, true, true, true, true, false, false];
  const outs = nextMessages('out', scores.length);
  const events = nextMessages('events', 2);
  for (const s of scores) inject('fmt', { payload: { score: { dtype: 'float32', dims: [1], data: [s] } }, model: { name: 'ae' }, device: 'M1' });
  const got = await outs;
  assert.deepEqual(
    got.map((m) => (m.payload as { anomaly: boolean }).anomaly),
    expected,
  );
  for (const m of got) assert.deepEqual(validateJsonSchema(payloadSchema, m.payload), []);
  const ev = await events;
  assert.deepEqual(
    ev.map((m) => (m.payload as { event: string }).event),
    ['anomaly-start', 'anomaly-end'],
  );
  assert.deepEqual(
    ev.map((m) => m.topic),
    ['plant/M1/anomaly/event', 'plant/M1/anomaly/event'],
  );
  assert.deepEqual(
    ev.map((m) => (m.payload as { score: number }).score),
    [0.95, 0.55],
  );
  for (const m of ev) assert.deepEqual(validateJsonSchema(eventSchema, m.payload), []);
});

test('anomaly state is kept per topic (per device)', async () => {
  // With one shared state, B's 0 would end A's anomaly and A's 0.7 (< 1) would not restart it.
  await loadFlow(['ml-format'], flow({ task: 'anomaly', threshold: '1', hysteresis: '0.5', topic: '{device}' }));
  const outs = nextMessages('out', 3);
  const events = nextMessages('events', 1);
  inject('fmt', { payload: { s: { dtype: 'float64', dims: [1], data: [5] } }, device: 'A' });
  inject('fmt', { payload: { s: { dtype: 'float64', dims: [1], data: [0] } }, device: 'B' });
  inject('fmt', { payload: { s: { dtype: 'float64', dims: [1], data: [0.7] } }, device: 'A' });
  const got = await outs;
  assert.deepEqual(
    got.map((m) => [m.topic, (m.payload as { anomaly: boolean }).anomaly]),
    [
      ['A', true],
      ['B', false],
      ['A', true],
    ],
  );
  assert.equal((await events)[0]!.topic, 'A/event');
});

async function expectError(msg: Record<string, unknown>, code: string): Promise<Msg> {
  const caught = nextMessage('caught');
  inject('fmt', msg);
  const c = await caught;
  assert.equal((c.error as { code?: string }).code, code);
  return c;
}

const good = { payload: { y: { dtype: 'float32', dims: [1, 1], data: [2] } }, model: { name: 'reg' } };

test('bad inputs reach a Catch node with a stable code, and the flow keeps running', async () => {
  await loadFlow(['ml-format'], flow({ task: 'regression', topic: 'x/{device}' }));
  await expectError({ payload: 'not tensors', device: 'd' }, 'EDGEML_FORMAT_INPUT');
  await expectError({ payload: { y: { dtype: 'float32', data: [1] } }, device: 'd' }, 'EDGEML_FORMAT_INPUT');
  await expectError({ ...good }, 'EDGEML_FORMAT_TOPIC');
  const out = nextMessage('out');
  inject('fmt', { ...good, device: 'd' });
  assert.equal(((await out).payload as { value: number }).value, 2);
});

test('a named output that is not there, an anomaly without threshold, a bad setting: coded errors', async () => {
  await loadFlow(['ml-format'], flow({ outValue: 'price' }));
  const c = await expectError(good, 'EDGEML_FORMAT_OUTPUT_MISSING');
  assert.match(String((c.error as { message: string }).message), /price/);
  await unloadFlow();
  await loadFlow(['ml-format'], flow({ task: 'anomaly' }));
  await expectError(good, 'EDGEML_FORMAT_NO_THRESHOLD');
  const out = nextMessage('out');
  inject('fmt', { ...good, modelCard: { thresholds: { anomaly: 1 } } });
  assert.equal(((await out).payload as { anomaly: boolean }).anomaly, true);
  await unloadFlow();
  await loadFlow(['ml-format'], flow({ decimals: 'two' }));
  await expectError(good, 'EDGEML_CONFIG_INTEGER');
});

test('topic placeholders from the environment ({env.NAME}); an unset variable is a coded error', async () => {
  process.env.EDGEML_ML_FORMAT_SITE = 'hall-3';
  await loadFlow(['ml-format'], flow({ task: 'regression', topic: '{env.EDGEML_ML_FORMAT_SITE}/{model}/{env.EDGEML_ML_FORMAT_UNSET_X}' }));
  await expectError(good, 'EDGEML_FORMAT_TOPIC');
  await unloadFlow();
  await loadFlow(['ml-format'], flow({ task: 'regression', topic: '{env.EDGEML_ML_FORMAT_SITE}/{model}' }));
  const out = nextMessage('out');
  inject('fmt', good);
  assert.equal((await out).topic, 'hall-3/reg');
});
