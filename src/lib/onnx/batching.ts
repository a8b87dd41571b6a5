/**
 * Micro-batching: the inputs of several messages stacked along a leading dynamic dimension, run
 * once, and the outputs split back into one answer per message.
 */
import { allocate } from './dtypes';
import type { TensorData, TensorStorage } from './dtypes';
import type { Feeds, IoSpec } from './tensor-input';
import type { RunResult, WireBatch, WireRunResult, WireTensor } from './protocol';
import { toJsonTensor } from './tensor-output';
import type { JsonTensor } from './tensor-output';

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
    feeds[name] = {
      dtype: t.dtype,
      dims: [total, ...t.dims.slice(1)],
      data: concat(
        t.dtype,
        list.map((f) => f[name]!.data),
      ),
    };
  }
  return { feeds, rows };
}

/** True when every output has `total` rows along its first dimension (so each message's rows can be cut out). */
export function splittable(outputs: Record<string, WireTensor>, total: number): boolean {
  return Object.values(outputs).every((t) => t.dims[0] === total);
}

/** Rows [start, start + rows) of a batched output. */
function rowsOf(t: WireTensor, total: number, start: number, rows: number): WireTensor {
  const rowSize = total === 0 ? 0 : t.data.length / total;
  const from = start * rowSize;
  const to = (start + rows) * rowSize;
  const data = Array.isArray(t.data) ? t.data.slice(from, to) : (t.data as Float32Array).subarray(from, to);
  return { dtype: t.dtype, dims: [rows, ...t.dims.slice(1)], data };
}

/**
 * The worker's answers as messages get them (on the main thread): each batched message's rows cut
 * out of its batch's outputs as JSON-safe tensors. One batch's outputs cross between the threads as
 * typed arrays, far more cheaply than a JSON-safe answer per message would.
 */
export function answers(results: WireRunResult[], batches: WireBatch[]): RunResult[] {
  if (batches.length === 0) return results as RunResult[];
  return results.map((r) => {
    if (!('batch' in r)) return r;
    const b = batches[r.batch]!;
    const payload: Record<string, JsonTensor> = {};
    for (const name of Object.keys(b.outputs)) {
      const t = r.whole ? b.outputs[name]! : rowsOf(b.outputs[name]!, b.rows, r.row, r.rows);
      payload[name] = toJsonTensor(t.dtype, t.dims, t.data);
    }
    return { ok: true, payload, inferenceMs: b.inferenceMs, batchSize: b.size };
  });
}
