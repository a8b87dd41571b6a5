/**
 * The nesting check every node runs at its input (findTooDeep), against what Node-RED does anyway
 * with the same message at a fan-out: RED.util.cloneMessage, measured in the same run.
 *  - classic: a classic-flow message (registers, features, a model card, output tensors, guard findings);
 *  - flat: msg.payload a plain array of 1,000,000 numbers (the walk stops after 100,000 values);
 *  - tensor: msg.payload a Float32Array of 1,000,000 values (a leaf: not walked).
 * ratio = check ops/s / clone ops/s: how many times cheaper the check is than one copy.
 */
import { opsPerSecond, writeResults } from './util';
import { findTooDeep } from '../src/lib/msg-depth';
import { pumpCard } from '../test/helpers/pump-reference';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { util } = require('@node-red/util') as { util: { cloneMessage<T>(m: T): T } };

export async function run(): Promise<void> {
  const classic = {
    _msgid: 'abc',
    topic: 'plant/P-101',
    registers: Array.from({ length: 10 }, (_, i) => i * 7),
    features: { flow: 12.5, pressure: 3.2, temperature: 41, vibration: 0.7, current: 5.5 },
    modelCard: pumpCard,
    payload: { label: { dtype: 'int64', dims: [1], data: ['1'] }, probabilities: { dtype: 'float32', dims: [1, 3], data: [0.1, 0.8, 0.1] } },
    guard: { ok: true, action: 'pass', issues: [] },
  };
  const flat = { _msgid: 'f', payload: Array.from({ length: 1_000_000 }, (_, i) => i * 0.5) };
  const tensor = { _msgid: 't', payload: new Float32Array(1_000_000) };
  const section: Record<string, unknown> = {};
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  for (const [name, msg, batch] of [
    ['classic', classic, 1000],
    ['flat', flat, 1],
    ['tensor', tensor, 1],
  ] as const) {
    // Rounds alternate check and clone so that drift of the machine hits both alike.
    const check: number[] = [];
    const clone: number[] = [];
    for (let r = 0; r < 5; r++) {
      clone.push(opsPerSecond(() => util.cloneMessage(msg), 300, batch));
      check.push(opsPerSecond(() => findTooDeep(msg), 300, batch));
    }
    const c = median(check);
    const b = median(clone);
    section[name] = { checkOpsPerSecond: Math.round(c), cloneOpsPerSecond: Math.round(b), checkTimesCheaperThanOneClone: Number((c / b).toFixed(1)) };
    console.log(`msg-depth ${name}: check ${Math.round(c)}/s, clone ${Math.round(b)}/s, check x${(c / b).toFixed(1)} cheaper than one clone`);
  }
  console.log(`bench: wrote ${writeResults('msg-depth.json', 'depthCheck', section)}`);
}
