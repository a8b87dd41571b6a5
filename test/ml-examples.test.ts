/** The shipped example flows (examples/ml-*.json) load in a real runtime and do what their comments say. */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { coreNode, helper, inject, nextMessage, nextStatus, nodeModule, ROOT, unloadFlow, type FlowNode } from './helpers/flow';
import { validateJsonSchema, type JsonSchema } from './helpers/schema';

afterEach(() => unloadFlow());

const core = coreNode;
const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'ml-format-payload.schema.json'), 'utf8')) as JsonSchema;

/** The example with its sinks (debug, mqtt out) swapped for helper nodes of the same id, and no broker. */
function example(name: string): FlowNode[] {
  const flow = JSON.parse(readFileSync(path.join(ROOT, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
  return flow.filter((n) => n.type !== 'mqtt-broker' && n.type !== 'comment').map((n) => (n.type === 'debug' || n.type === 'mqtt out' ? { id: n.id, type: 'helper', z: n.z } : n));
}

async function load(name: string): Promise<void> {
  await helper.load(
    [core('common/20-inject.js'), core('function/15-change.js'), core('function/10-switch.js'), nodeModule('ml-format'), nodeModule('ml-guard'), nodeModule('ml-drift')],
    example(name),
    {},
  );
}

test('ml-format example: the classification inject gives a schema-valid prediction on its topic', async () => {
  await load('ml-format');
  const out = nextMessage('d1');
  inject('i1', {});
  const msg = await out;
  assert.deepEqual(validateJsonSchema(schema, msg.payload), []);
  assert.equal(msg.topic, 'plant/P-101/pump-classifier/prediction');
  assert.equal((msg.payload as { label: string }).label, 'cavitation'); // argmax of [0.3, 2.1, -1]
});

test('ml-guard example: good data passes, out-of-range flow is clamped, stats come on output 2', async () => {
  await load('ml-guard');
  const good = nextMessage('d3');
  inject('g1', {});
  assert.equal(((await good).guard as { ok: boolean }).ok, true);
  const clamped = nextMessage('d3');
  inject('g3', {});
  assert.equal(((await clamped).payload as { flow: number }).flow, 100);
  const stats = nextMessage('d4');
  inject('g6', {});
  assert.equal(((await stats).payload as { received: number }).received, 2);
});

test('ml-drift example: the drift node starts learning its reference', async () => {
  await helper.load(
    [nodeModule('ml-drift')],
    example('ml-drift')
      .filter((n) => ['tab', 'ml-drift', 'helper'].includes(n.type))
      .map((n) => (n.type === 'ml-drift' ? { ...n, wires: [['d5']] } : n)),
    {},
  );
  const learning = nextStatus('drift', (s) => s.text === 'ml-drift.status.learning');
  inject('drift', { payload: { flow: 50, temperature: 60 } });
  await learning;
});
