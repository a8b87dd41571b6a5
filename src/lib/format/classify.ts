/** Classification maths: softmax, argmax and top-k. Pure functions on plain number arrays. */

/** Numerically stable softmax (the max is subtracted first so large logits do not overflow). */
export function softmax(logits: number[]): number[] {
  if (logits.length === 0) return [];
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  // Any NaN, or +Infinity (Inf - Inf = NaN), makes the distribution undefined: say so with NaN.
  if (logits.some((v) => Number.isNaN(v)) || max === Infinity) return logits.map(() => NaN);
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** Index of the largest value (the first one on ties); -1 for an empty array or any NaN. */
export function argmax(values: number[]): number {
  if (values.length === 0 || values.some((v) => Number.isNaN(v))) return -1;
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

export interface RankedClass {
  index: number;
  score: number;
}

/** The k highest scores, highest first; ties keep class order. k <= 0 means all. */
export function topK(scores: number[], k: number): RankedClass[] {
  const ranked = scores.map((score, index) => ({ index, score }));
  ranked.sort((a, b) => b.score - a.score || a.index - b.index);
  return k > 0 ? ranked.slice(0, k) : ranked;
}

/** Heuristic for "these are logits, not probabilities": outside [0, 1] or not summing to ~1. */
export function looksLikeLogits(scores: number[]): boolean {
  if (scores.length < 2) return false;
  if (scores.some((v) => v < 0 || v > 1)) return true;
  const sum = scores.reduce((a, b) => a + b, 0);
  return Math.abs(sum - 1) > 1e-3;
}
