/**
 * Health gates of a rollout wave, per device, from its retained reports: the update itself, the
 * error rate and guard rejection rate of the new version, its p99 against the same device's
 * previous version, the drift level, and the shift of its predictions against the previous
 * version (total variation distance of the label shares, PSI of the score histogram).
 */
import { errorRate, guardRejectionRate, type VersionFigures } from './device-status';
import { DRIFT_LEVELS, type GateResult, type GateThresholds } from './rollout-state';

/** Total variation distance between two label distributions given as counts (0: same, 1: disjoint). */
export function labelShift(current: Record<string, number>, previous: Record<string, number>): number | null {
  const sum = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
  const nc = sum(current);
  const np = sum(previous);
  if (nc === 0 || np === 0) return null;
  let d = 0;
  for (const label of new Set([...Object.keys(current), ...Object.keys(previous)])) d += Math.abs((current[label] ?? 0) / nc - (previous[label] ?? 0) / np);
  return d / 2;
}

/**
 * Population stability index, sum over bins of (a - e) * ln(a / e) with a, e the bin shares of the
 * current and the expected (previous) histogram, each bin smoothed by half a count (so an empty
 * bin stays finite). Null until the current histogram holds 10 counts a bin: below that, sampling
 * noise alone exceeds the usual 0.25 threshold.
 */
export function psi(current: number[], expected: number[]): number | null {
  const k = current.length;
  if (k !== expected.length || k === 0) return null;
  const nc = current.reduce((a, b) => a + b, 0);
  const ne = expected.reduce((a, b) => a + b, 0);
  if (nc < 10 * k || ne === 0) return null;
  let total = 0;
  for (let i = 0; i < k; i++) {
    const a = (current[i]! + 0.5) / (nc + 0.5 * k);
    const e = (expected[i]! + 0.5) / (ne + 0.5 * k);
    total += (a - e) * Math.log(a / e);
  }
  return total;
}

/** Whether the figures of the new version are enough to judge (minInferences answered or failed). */
export function hasEnoughData(current: VersionFigures | undefined, gates: GateThresholds): boolean {
  return !!current && current.inferences + current.errors >= Math.max(1, gates.minInferences);
}

const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 1e6) / 1e6);

/** Every figure gate of one device (the update and silence gates are the engine's). */
export function evaluateFigures(device: string, current: VersionFigures, previous: VersionFigures | undefined, gates: GateThresholds): GateResult[] {
  const results: GateResult[] = [];
  const check = (gate: GateResult['gate'], value: number | null, threshold: number, baseline?: number | null, detail?: string): void => {
    const r: GateResult = { gate, device, passed: value === null || value <= threshold, value: round(value), threshold };
    if (baseline !== undefined) r.baseline = round(baseline);
    if (detail) r.detail = detail;
    results.push(r);
  };
  check('errorRate', errorRate(current), gates.maxErrorRate, previous ? errorRate(previous) : undefined);
  check('guardRejections', guardRejectionRate(current), gates.maxGuardRejectionRate, previous ? guardRejectionRate(previous) : undefined);
  const p99Ratio = current.p99Ms !== null && previous?.p99Ms ? current.p99Ms / previous.p99Ms : null;
  check('latencyP99', p99Ratio, gates.maxP99Ratio, previous ? previous.p99Ms : undefined, p99Ratio === null ? 'no previous p99 to compare with' : `p99 ${current.p99Ms} ms`);
  const level = current.driftLevel;
  results.push({
    gate: 'drift',
    device,
    passed: !level || DRIFT_LEVELS.indexOf(level) <= DRIFT_LEVELS.indexOf(gates.maxDriftLevel),
    value: level ?? null,
    threshold: gates.maxDriftLevel,
    ...(previous ? { baseline: previous.driftLevel ?? null } : {}),
  });
  const shift = current.labels && previous?.labels ? labelShift(current.labels, previous.labels) : null;
  check('labelShift', shift, gates.maxLabelShift, undefined, shift === null ? 'no label counts of both versions' : undefined);
  const edgesMatch = (a?: number[], b?: number[]): boolean => !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);
  const p =
    current.scoreHistogram && previous?.scoreHistogram && edgesMatch(current.scoreHistogram.edges, previous.scoreHistogram.edges)
      ? psi(current.scoreHistogram.counts, previous.scoreHistogram.counts)
      : null;
  check('scorePsi', p, gates.maxScorePsi, undefined, p === null ? 'no score histograms of both versions on the same bins' : undefined);
  return results;
}
