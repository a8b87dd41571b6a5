/**
 * Every numeric setting of every node has a range (src/lib/config-ranges.ts): the editor's
 * validator says why a value is refused, and the runtime refuses it with a coded error instead of
 * silently correcting it. Table-driven: each out-of-range value of each setting is deployed in a
 * real Node-RED runtime; the next message reaches a Catch node with the code, and names the field.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getNode, helper, inject, nextMessages, nodeModule, ROOT, unloadFlow, type FlowNode, coreNode } from './helpers/flow';
import { NUMERIC_SETTINGS, showBound, type NumericSetting } from '../src/lib/config-ranges';
import { inRangeOf } from '../src/editor/validators';

const coreMqtt = coreNode('network/10-mqtt.js');

/** Out-of-range values of one setting, worked out from its bounds: below, above, a fraction, not a number. */
function badValues(spec: NumericSetting): string[] {
  const bad = ['abc', 'Infinity'];
  if (Number.isFinite(spec.min)) bad.push(String(spec.min - (spec.integer ? 1 : 0.5)));
  if (Number.isFinite(spec.max)) bad.push(String(spec.max + (spec.integer ? 1 : 0.5)));
  if (spec.integer) bad.push(String(spec.min + 0.5));
  return bad;
}

/** The cases the issue names, with their literal values. */
const NAMED: Array<[string, string, string]> = [
  ['ml-model-update', 'reportInterval', '-10'],
  ['ml-format', 'topK', '0'],
];

/** The node under test in a flow that can carry a message to it, and what it needs to exist. */
type NodeModules = Parameters<typeof helper.load>[0];

/**
 * One flow per node type: a node for each bad value (ids `n0`, `n1`, ...), one Catch for all of
 * them. Deploying the cases together takes a second where one deploy per case took 26.
 */
function flowFor(type: string, cases: ReadonlyArray<[string, string]>): { types: NodeModules; flow: FlowNode[] } {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
  if (type === 'onnx-model') {
    // a config node: its users (onnx-infer) refuse every message with its error
    cases.forEach(([field, value], i) => {
      flow.push({ id: `cfg${i}`, type: 'onnx-model', path: 'no-such-model.onnx', watch: false, [field]: value });
      flow.push({ id: `n${i}`, type: 'onnx-infer', z: 'tab', model: `cfg${i}`, wires: [[]] });
    });
    return { types: [nodeModule('onnx-model'), nodeModule('onnx-infer')] as NodeModules, flow };
  }
  const types: unknown[] = [nodeModule(type)];
  const needsBroker = type === 'ml-outbox' || type === 'ml-model-update';
  if (needsBroker) {
    // a broker nobody connects to: the node refuses its settings before it registers
    flow.push({ id: 'br', type: 'mqtt-broker', broker: '127.0.0.1', port: '1', autoConnect: false });
    types.push(coreMqtt);
  }
  cases.forEach(([field, value], i) => {
    const node: FlowNode = { id: `n${i}`, type, z: 'tab', wires: [[], []], [field]: value };
    if (needsBroker) node.broker = 'br';
    if (type === 'modbus-server-in') Object.assign(node, { host: '127.0.0.1', port: field === 'port' ? value : '0', mode: field.startsWith('frame') ? 'frame' : 'write' });
    flow.push(node);
  });
  return { types: types as NodeModules, flow };
}

after(() => unloadFlow());

describe('numeric settings out of range are refused with a coded error at a Catch node', () => {
  const byType = new Map<string, Array<[string, string]>>();
  const add = (type: string, field: string, value: string): void => {
    if (!byType.has(type)) byType.set(type, []);
    byType.get(type)!.push([field, value]);
  };
  for (const [type, field, value] of NAMED) add(type, field, value);
  for (const [type, settings] of Object.entries(NUMERIC_SETTINGS)) {
    for (const [field, spec] of Object.entries(settings as Record<string, NumericSetting>)) {
      for (const v of badValues(spec)) add(type, field, v);
    }
  }

  test('the table covers every node of the package', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.deepEqual(Object.keys(NUMERIC_SETTINGS).sort(), Object.keys(pkg['node-red'].nodes).sort());
  });

  for (const [type, cases] of byType) {
    test(`${type}: ${cases.length} bad values`, async (t) => {
      const { types, flow } = flowFor(type, cases);
      await helper.load(types, flow, {});
      const caught = nextMessages('caught', cases.length);
      cases.forEach((_, i) => inject(`n${i}`, { payload: [1, 2], topic: 't/x' }));
      const errors = new Map((await caught).map((msg) => [String((msg.error as { source?: { id?: string } }).source?.id), msg.error as { code?: string; message?: string }]));
      for (const [i, [field, value]] of cases.entries()) {
        await t.test(`${field} = ${value}`, () => {
          const spec = (NUMERIC_SETTINGS as Record<string, Record<string, NumericSetting>>)[type]![field]!;
          const error = errors.get(`n${i}`);
          assert.ok(error, `n${i} reached the Catch node`);
          assert.equal(error.code, spec.integer ? 'EDGEML_CONFIG_INTEGER' : 'EDGEML_CONFIG_RANGE', JSON.stringify(error));
          assert.ok(error.message?.includes(field), error.message);
          // the node shows it: a red status (the last one set)
          const status = (getNode(`n${i}`) as unknown as { status: { lastCall?: { args: Array<{ fill?: string }> } } }).status;
          if (status.lastCall) assert.equal(status.lastCall.args[0]?.fill, 'red');
        });
      }
      await helper.unload();
    });
  }
});

describe('the editors use the same table, and their validators give the reason', () => {
  test('every setting of the table is validated by inRangeOf in its node editor', () => {
    for (const [type, settings] of Object.entries(NUMERIC_SETTINGS)) {
      const editor = readFileSync(path.join(ROOT, 'src', 'nodes', type, 'editor.ts'), 'utf8');
      for (const field of Object.keys(settings)) {
        // the port also takes ${ENV} references, checked by the node's own validator
        if (type === 'modbus-server-in' && field === 'port') continue;
        assert.ok(new RegExp(`${field}: \\{[^\\n]*inRangeOf\\('${type}', '${field}'`).test(editor), `${type} ${field} uses inRangeOf`);
      }
    }
  });

  test('a validator accepts the bounds, refuses outside them, and answers a translated reason on Node-RED 3.1+', () => {
    const node = { _: (key: string, p?: Record<string, string>) => `${key}:${p?.min}..${p?.max}` };
    const call = (v: (x: string) => boolean, x: string, opt?: object): unknown => (v as unknown as (this: unknown, x: string, o?: object) => unknown).call(node, x, opt);
    for (const [type, settings] of Object.entries(NUMERIC_SETTINGS)) {
      for (const [field, spec] of Object.entries(settings as Record<string, NumericSetting>)) {
        const v = inRangeOf(type as 'ml-format', field as 'topK');
        if (Number.isFinite(spec.min)) assert.equal(call(v, String(spec.min), {}), true, `${type} ${field} min`);
        if (Number.isFinite(spec.max)) assert.equal(call(v, String(spec.max), {}), true, `${type} ${field} max`);
        for (const bad of badValues(spec)) {
          assert.match(String(call(v, bad, {})), spec.integer ? /^validator\.integer/ : /^validator\.number/, `${type} ${field} ${bad}`);
        }
        assert.equal(call(inRangeOf(type as 'ml-format', field as 'topK', true), '', {}), true, 'blank allowed when asked');
      }
    }
  });
});

test('docs/settings.md lists every setting with the range the table enforces', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'settings.md'), 'utf8');
  const rows = new Set(doc.split('\n').filter((l) => /^\| [a-z-]+ \| `/.test(l)));
  let count = 0;
  for (const [type, settings] of Object.entries(NUMERIC_SETTINGS)) {
    for (const [field, spec] of Object.entries(settings as Record<string, NumericSetting>)) {
      count++;
      const row = `| ${type} | \`${field}\` | ${spec.integer ? 'whole number' : 'number'} | ${showBound(spec.min)} | ${showBound(spec.max)} |`;
      assert.ok(rows.has(row), `docs/settings.md lacks: ${row}`);
    }
  }
  assert.equal(rows.size, count, 'no rows for settings the table does not have');
});
