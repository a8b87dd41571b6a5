/**
 * Micro-batching: the inputs of several messages stacked along a leading dynamic dimension, run
 * once, and the outputs split back into one answer per message.
 */
import { allocate } from './dtypes';
import type { TensorData, TensorStorage } from './dtypes';
import type { Feeds, IoSpec } from './tensor-input';

const isFixed = (d: number | string | null): boolean => typeof d === 'number' && d >= 0;

/** True when every input has a leading dimension the model leaves open (a batch dimension). */
export function hasBatchDimension(inputs: IoSpec[]): boolean {
  return inputs.length > 0 && inputs.every((i) => i.dims.length > 0 && !isFixed(i.dims[0]!));
}

function sameTail(a: number[], b: number[]): boolean {
  return a.length === b.length && a.length > 0 && a.every((d, i) => i === 0 || d === b[i]);
}

/** Whether `feeds` can join a batch started by `first` (same inputs, dtypes and trailing dims). */
export function stackable(first: Feeds, feeds: Feeds): boolean {
  const names = Object.keys(first);
  if (names.length !== Object.keys(feeds).length) return false;
  return names.every((n) => {
    const a = first[n];
    const b = feeds[n];
    return !!a && !!b && a.dtype === b.dtype && sameTail(a.dims, b.dims);
  });
}

function concat(dtype: TensorData['dtype'], parts: TensorStorage[]): TensorStorage {
  if (dtype === 'string') return ([] as string[]).concat(...(parts as string[][]));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = allocate(dtype, total) as Float32Array;
  let offset = 0;
  for (const p of parts) {
    out.set(p as Float32Array, offset);
    offset += p.length;
  }
  return out;
}

/** Stacks the feeds of several messages; `rows[i]` is message i's size along the batch dimension. */
export function stackFeeds(list: Feeds[]): { feeds: Feeds; rows: number[] } {
  const first = list[0]!;
  const rows = list.map((f) => f[Object.keys(first)[0]!]!.dims[0]!);
  const feeds: Feeds = {};
  for (const name of Object.keys(first)) {
    const t = first[name]!;
    const total = list.reduce((n, f) => n + f[name]!.dims[0]!, 0);
    feeds[name] = { dtype: t.dtype, dims: [total, ...t.dims.slice(1)], data: concat(t.dtype, list.map((f) => f[name]!.data)) };
  }
  return { feeds, rows };
}

export interface RawOutput {
  dtype: string;
  dims: number[];
  data: ArrayLike<unknown> & { slice(start: number, end: number): ArrayLike<unknown> };
}

/** Splits batched outputs back per message, or returns undefined when an output has no batch dimension. */
export function splitOutputs(outputs: Record<string, RawOutput>, rows: number[]): Array<Record<string, RawOutput>> | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  for (const t of Object.values(outputs)) if (t.dims[0] !== total) return undefined;
  const answers: Array<Record<string, RawOutput>> = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    const rowSize = total === 0 ? 0 : t.data.length / total;
    let start = 0;
    rows.forEach((r, i) => {
      answers[i]![name] = { dtype: t.dtype, dims: [r, ...t.dims.slice(1)], data: t.data.slice(start * rowSize, (start + r) * rowSize) as RawOutput['data'] };
      start += r;
    });
  }
  return answers;
}
