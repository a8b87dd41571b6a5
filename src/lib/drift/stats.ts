/**
 * Distribution-shift statistics: population stability index, mean shift in reference standard
 * deviations, and the Kolmogorov-Smirnov statistic with its asymptotic p-value.
 */

/** Proportions below this are floored before PSI's log ratio, so an empty bin gives a large but finite term. */
export const PSI_FLOOR = 1e-4;

/** Bin index of x for bin edges e0 < e1 < ... < ek: values outside the edges fall in the outer bins. */
export function binIndex(edges: number[], x: number): number {
  const bins = edges.length - 1;
  if (x < (edges[1] as number)) return 0;
  if (x >= (edges[bins - 1] as number)) return bins - 1;
  let lo = 1;
  let hi = bins - 1;
  // Largest i with edges[i] <= x.
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((edges[mid] as number) <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function histogram(edges: number[], values: ArrayLike<number>): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binIndex(edges, values[i] as number)]!++;
  return counts;
}

/** PSI = sum over bins of (actual - expected) * ln(actual / expected), on proportions. */
export function psi(expectedCounts: number[], actualCounts: number[]): number {
  const eTotal = expectedCounts.reduce((a, b) => a + b, 0);
  const aTotal = actualCounts.reduce((a, b) => a + b, 0);
  if (eTotal === 0 || aTotal === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < expectedCounts.length; i++) {
    const e = Math.max((expectedCounts[i] as number) / eTotal, PSI_FLOOR);
    const a = Math.max((actualCounts[i] as number) / aTotal, PSI_FLOOR);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

export function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN };
  let mean = 0;
  let m2 = 0;
  // Welford: one pass, no catastrophic cancellation.
  for (let i = 0; i < n; i++) {
    const x = values[i] as number;
    const d = x - mean;
    mean += d / (i + 1);
    m2 += d * (x - mean);
  }
  return { mean, std: n > 1 ? Math.sqrt(m2 / (n - 1)) : 0 };
}

/** |live mean - reference mean| in reference standard deviations (Infinity if std is 0 and means differ). */
export function meanShift(liveMean: number, refMean: number, refStd: number): number {
  const diff = Math.abs(liveMean - refMean);
  if (refStd > 0) return diff / refStd;
  return diff === 0 ? 0 : Infinity;
}

/** Two-sample KS statistic D = sup |F_a(x) - F_b(x)| on two sorted samples. */
export function ksTwoSample(sortedA: ArrayLike<number>, sortedB: ArrayLike<number>): number {
  const n = sortedA.length;
  const m = sortedB.length;
  if (n === 0 || m === 0) return NaN;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(sortedA[i] as number, sortedB[j] as number);
    while (i < n && (sortedA[i] as number) <= x) i++;
    while (j < m && (sortedB[j] as number) <= x) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  return d;
}

/** One-sample KS statistic of a sorted sample against a continuous reference CDF. */
export function ksOneSample(sorted: ArrayLike<number>, cdf: (x: number) => number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i] as number);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

/**
 * P(D > d) under the null, from the asymptotic Kolmogorov distribution with the Stephens
 * small-sample correction: Q(lambda), lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * d.
 */
export function ksPValue(d: number, effectiveN: number): number {
  if (!Number.isFinite(d) || effectiveN <= 0) return NaN;
  const sn = Math.sqrt(effectiveN);
  const lambda = (sn + 0.12 + 0.11 / sn) * d;
  if (lambda < 1e-3) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = 2 * (k % 2 === 1 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
  }
  return Math.min(1, Math.max(0, sum));
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(x: number, mean = 0, std = 1): number {
  if (std <= 0) return x < mean ? 0 : 1;
  const z = (x - mean) / (std * Math.SQRT2);
  const t = 1 / (1 + 0.3275911 * Math.abs(z));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return 0.5 * (1 + (z >= 0 ? erf : -erf));
}

/** CDF of a histogram, linear inside each bin (values spread evenly over a bin). */
export function histogramCdf(edges: number[], counts: number[]): (x: number) => number {
  const total = counts.reduce((a, b) => a + b, 0);
  const cum = [0];
  for (const c of counts) cum.push((cum[cum.length - 1] as number) + c);
  return (x: number) => {
    if (total === 0) return NaN;
    if (x <= (edges[0] as number)) return 0;
    if (x >= (edges[edges.length - 1] as number)) return 1;
    let i = 0;
    while ((edges[i + 1] as number) <= x) i++;
    const lo = edges[i] as number;
    const hi = edges[i + 1] as number;
    const within = hi > lo ? (x - lo) / (hi - lo) : 1;
    return ((cum[i] as number) + within * (counts[i] as number)) / total;
  };
}

/** Edges at the reference sample's quantiles (deduplicated), for PSI bins with ~equal reference mass. */
export function quantileEdges(sorted: ArrayLike<number>, bins: number): number[] {
  const n = sorted.length;
  if (n === 0) return [];
  const edges: number[] = [sorted[0] as number];
  for (let b = 1; b < bins; b++) {
    const q = sorted[Math.min(n - 1, Math.floor((b * n) / bins))] as number;
    if (q > (edges[edges.length - 1] as number)) edges.push(q);
  }
  const last = sorted[n - 1] as number;
  if (last > (edges[edges.length - 1] as number)) edges.push(last);
  else if (edges.length === 1) edges.push(last + 1); // a constant reference still needs one bin
  return edges;
}
