/**
 * The dashboard example's gauges print what they are given: a float32 reading such as
 * 101.0942716814750 overflows the dial. Each gauge must show its value rounded to a few decimals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import jsonata from 'jsonata';
import { ROOT } from './helpers/flow';

type Gauge = { id: string; name: string; value: string; valueType: string; min: number; max: number };
const flow = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'dashboard.json'), 'utf8')) as Array<Record<string, unknown>>;
const gauges = flow.filter((n) => n.type === 'ui-gauge') as unknown as Gauge[];

/** What a gauge gets from a message, as @flowfuse/node-red-dashboard evaluates its value property. */
async function gaugeValue(g: Gauge, msg: Record<string, unknown>): Promise<unknown> {
  if (g.valueType === 'jsonata') return jsonata(g.value).evaluate(msg);
  if (g.valueType === 'msg') return g.value.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], msg);
  throw new Error(`${g.name}: value type ${g.valueType}`);
}

test('every gauge of the dashboard example shows a value short enough for its dial', async () => {
  assert.ok(gauges.length >= 5);
  // Readings as Modbus float32 delivers them: the nearest float32, printed with all its digits.
  const features: Record<string, number> = {};
  for (const g of gauges) {
    const m = /payload\.features\.([a-z_]+)/.exec(g.value);
    if (m) features[m[1]!] = Math.fround(g.min + (g.max - g.min) * 0.6318 + 0.000123);
  }
  const msg = { payload: { features, score: Math.fround(0.912345678), label: 'normal' } };
  for (const g of gauges) {
    const v = await gaugeValue(g, msg);
    assert.equal(typeof v, 'number', `${g.name}: ${String(v)}`);
    // The widest text the dial's own scale prints, plus a decimal point and two decimals.
    const room = Math.max(String(g.min).length, String(g.max).length) + 3;
    assert.ok(String(v).length <= room, `${g.name} prints ${String(v)} (${String(v).length} characters, room for ${room})`);
    assert.ok((v as number) >= g.min && (v as number) <= g.max, `${g.name}: ${String(v)} outside ${g.min}..${g.max}`);
  }
});
