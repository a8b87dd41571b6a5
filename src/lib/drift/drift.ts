/**
 * Live-vs-reference drift over windows of samples. Memory is fixed by the configuration: one
 * Float64Array(window) per referenced feature, plus a reference sample of at most
 * `referenceSamples` values per feature; nothing grows with the number of messages.
 */
import { EdgeMlError } from '../errors';
import type { FeatureStats } from '../model-card';
import { histogram, histogramCdf, ksOneSample, ksPValue, ksTwoSample, meanShift, meanStd, normalCdf, psi, quantileEdges } from './stats';

export type DriftState = 'ok' | 'warn' | 'alarm';
export type ReferenceSource = 'card' | 'file' | 'samples';
export type WindowMode = 'tumbling' | 'sliding';

export interface Thresholds {
  warn: number;
  alarm: number;
}

export interface DriftOptions {
  window: number;
  mode: WindowMode;
  /** Sliding windows: report every `step` samples once the window is full. */
  step: number;
  /** First-N reference: how many samples make the reference. Also caps a file's sample lists. */
  referenceSamples: number;
  bins: number;
  psi: Thresholds;
  meanShift: Thresholds;
  /** KS is judged on its p-value: warn below `warn`, alarm below `alarm` (so alarm < warn). */
  ksP: Thresholds;
}

export const DEFAULT_DRIFT_OPTIONS: DriftOptions = {
  window: 200,
  mode: 'tumbling',
  step: 50,
  referenceSamples: 500,
  bins: 10,
  psi: { warn: 0.1, alarm: 0.25 },
  meanShift: { warn: 0.5, alarm: 1 },
  ksP: { warn: 0.01, alarm: 0.001 },
};

/** A feature's reference distribution: always mean/std; bins for PSI; a sorted sample or a CDF for KS. */
export interface FeatureReference {
  mean: number;
  std: number;
  edges: number[];
  expected: number[];
  sample?: Float64Array;
  cdf?: (x: number) => number;
  /** How many observations the reference stands for (a histogram's total, stats.count): KS then treats it as a sample of that size. */
  size?: number;
}

export interface FeatureDrift {
  n: number;
  mean?: number;
  std?: number;
  psi?: number;
  meanShift?: number;
  ks?: { d: number; p: number };
  state: DriftState;
  /** Which metrics crossed a threshold (psi, meanShift, ks). */
  reasons: string[];
}

export interface DriftReport {
  window: { index: number; mode: WindowMode; size: number; from: number; to: number };
  reference: ReferenceSource;
  state: DriftState;
  /** Features whose state is warn or alarm. */
  drifted: string[];
  features: Record<string, FeatureDrift>;
}

const WORSE: Record<DriftState, number> = { ok: 0, warn: 1, alarm: 2 };

function normalBins(mean: number, std: number, bins: number): { edges: number[]; expected: number[] } {
  // Equal-width bins over mean +- 3 std; the outer bins take everything beyond.
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) edges.push(mean + std * (-3 + (6 * i) / bins));
  const expected: number[] = [];
  for (let i = 0; i < bins; i++) {
    const lo = i === 0 ? 0 : normalCdf(edges[i] as number, mean, std);
    const hi = i === bins - 1 ? 1 : normalCdf(edges[i + 1] as number, mean, std);
    expected.push(hi - lo);
  }
  return { edges, expected };
}

/** Reference from training statistics (model card or a file): histogram if present, else a normal with mean/std. */
export function referenceFromStats(stats: FeatureStats, bins: number): FeatureReference {
  if (stats.histogram && stats.histogram.counts.reduce((a, b) => a + b, 0) > 0) {
    const { edges, counts } = stats.histogram;
    const size = counts.reduce((a, b) => a + b, 0);
    return { mean: stats.mean, std: stats.std, edges, expected: counts, cdf: histogramCdf(edges, counts), size };
  }
  if (!(stats.std > 0)) {
    throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', 'reference std must be > 0 without a histogram', { reason: 'std is not > 0 and there is no histogram' });
  }
  const { edges, expected } = normalBins(stats.mean, stats.std, bins);
  const ref: FeatureReference = { mean: stats.mean, std: stats.std, edges, expected, cdf: (x) => normalCdf(x, stats.mean, stats.std) };
  if (stats.count !== undefined && stats.count > 0) ref.size = stats.count;
  return ref;
}

/** Keeps at most `cap` values of a sorted sample, as evenly spaced order statistics. */
function capSorted(sorted: Float64Array, cap: number): Float64Array {
  if (sorted.length <= cap) return sorted;
  const out = new Float64Array(cap);
  for (let i = 0; i < cap; i++) out[i] = sorted[Math.floor(((i + 0.5) * sorted.length) / cap)] as number;
  return out;
}

/** Reference from raw samples (the first N after deploy, or a file's sample lists). */
export function referenceFromSample(values: ArrayLike<number>, bins: number, cap = Infinity): FeatureReference {
  const finite = Float64Array.from(Array.prototype.filter.call(values, (v: number) => Number.isFinite(v)) as number[]);
  if (finite.length < 2) throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', 'a reference sample needs at least 2 finite values', { reason: 'fewer than 2 finite values' });
  finite.sort();
  const { mean, std } = meanStd(finite);
  const edges = quantileEdges(finite, bins);
  const expected = histogram(edges, finite);
  return { mean, std, edges, expected, sample: capSorted(finite, cap) };
}

/** Parses a reference file: `{ features: { name: stats-or-{samples} } }` or the bare map. */
export function parseReferenceFile(json: unknown, bins: number, cap: number): Record<string, FeatureReference> {
  const bad = (reason: string): EdgeMlError => new EdgeMlError('EDGEML_DRIFT_REFERENCE', `reference file: ${reason}`, { reason });
  if (typeof json !== 'object' || json === null) throw bad('not a JSON object');
  const root = json as Record<string, unknown>;
  const map = (typeof root.features === 'object' && root.features !== null ? root.features : root) as Record<string, unknown>;
  const out: Record<string, FeatureReference> = {};
  for (const [name, entry] of Object.entries(map)) {
    if (typeof entry !== 'object' || entry === null) throw bad(`feature ${name} is not an object`);
    const e = entry as Record<string, unknown>;
    if (Array.isArray(e.samples)) {
      if (!e.samples.every((v) => typeof v === 'number')) throw bad(`feature ${name}: samples must be numbers`);
      out[name] = referenceFromSample(e.samples as number[], bins, cap);
    } else if (typeof e.mean === 'number' && typeof e.std === 'number') {
      out[name] = referenceFromStats(e as unknown as FeatureStats, bins);
    } else throw bad(`feature ${name} needs { mean, std } or { samples }`);
  }
  if (Object.keys(out).length === 0) throw bad('no features');
  return out;
}

class Window {
  readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(size: number) {
    this.values = new Float64Array(size);
  }

  push(x: number): void {
    this.values[this.next] = x;
    this.next = (this.next + 1) % this.values.length;
    if (this.filled < this.values.length) this.filled++;
  }

  clear(): void {
    this.next = 0;
    this.filled = 0;
  }

  get length(): number {
    return this.filled;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.filled).sort();
  }
}

export class DriftMonitor {
  private references: Record<string, FeatureReference> | undefined;
  private readonly learning = new Map<string, number[]>();
  private learned = 0;
  private readonly windows = new Map<string, Window>();
  private samples = 0;
  private windowIndex = 0;
  private windowFrom: number | undefined;
  private lastState: DriftState = 'ok';

  constructor(
    readonly options: DriftOptions,
    readonly source: ReferenceSource,
    references?: Record<string, FeatureReference>,
  ) {
    if (!(options.window >= 2)) throw new EdgeMlError('EDGEML_DRIFT_CONFIG', 'window must be >= 2', { reason: 'window must be at least 2 samples' });
    if (options.mode === 'sliding' && !(options.step >= 1)) throw new EdgeMlError('EDGEML_DRIFT_CONFIG', 'step must be >= 1', { reason: 'step must be at least 1' });
    if (source === 'samples' && !(options.referenceSamples >= 2)) {
      throw new EdgeMlError('EDGEML_DRIFT_CONFIG', 'referenceSamples must be >= 2', { reason: 'reference sample count must be at least 2' });
    }
    if (source !== 'samples') {
      if (!references || Object.keys(references).length === 0) {
        throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', 'no reference statistics', { reason: 'no reference statistics for any feature' });
      }
      this.setReferences(references);
    }
  }

  private setReferences(refs: Record<string, FeatureReference>): void {
    this.references = refs;
    for (const name of Object.keys(refs)) this.windows.set(name, new Window(this.options.window));
  }

  /** 'learning' until a first-N reference is complete, then the state of the last report. */
  get phase(): { learning: boolean; learned: number; state: DriftState; windowIndex: number } {
    return { learning: !this.references, learned: this.learned, state: this.lastState, windowIndex: this.windowIndex };
  }

  /** Sizes of everything the monitor holds, for the bounded-memory test. */
  footprint(): { features: number; windowValues: number; referenceValues: number; learningValues: number } {
    let windowValues = 0;
    for (const w of this.windows.values()) windowValues += w.values.length;
    let referenceValues = 0;
    for (const r of Object.values(this.references ?? {})) referenceValues += (r.sample?.length ?? 0) + r.edges.length + r.expected.length;
    let learningValues = 0;
    for (const l of this.learning.values()) learningValues += l.length;
    return { features: this.windows.size, windowValues, referenceValues, learningValues };
  }

  /** Adds one sample (feature name -> value) seen at `time`; returns a report when a window completes. */
  add(values: Record<string, number>, time: number): DriftReport | undefined {
    if (!this.references) {
      // First N samples: the features of the first sample fix the set (bounded).
      if (this.learning.size === 0) for (const name of Object.keys(values)) this.learning.set(name, []);
      for (const [name, list] of this.learning) {
        const v = values[name];
        if (typeof v === 'number' && Number.isFinite(v)) list.push(v);
      }
      this.learned++;
      if (this.learned >= this.options.referenceSamples) {
        const refs: Record<string, FeatureReference> = {};
        for (const [name, list] of this.learning) {
          if (list.length >= 2) refs[name] = referenceFromSample(list, this.options.bins, this.options.referenceSamples);
        }
        this.learning.clear();
        if (Object.keys(refs).length === 0) {
          throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', 'the first samples held no usable values', { reason: 'the first samples held no finite values' });
        }
        this.setReferences(refs);
      }
      return undefined;
    }
    for (const [name, w] of this.windows) {
      const v = values[name];
      if (typeof v === 'number' && Number.isFinite(v)) w.push(v);
    }
    this.windowFrom ??= time;
    this.samples++;
    const o = this.options;
    const due = o.mode === 'tumbling' ? this.samples >= o.window : this.samples >= o.window && (this.samples - o.window) % o.step === 0;
    if (!due) return undefined;
    const report = this.report(this.windowFrom, time);
    if (o.mode === 'tumbling') {
      for (const w of this.windows.values()) w.clear();
      this.samples = 0;
      this.windowFrom = undefined;
    }
    return report;
  }

  private report(from: number, to: number): DriftReport {
    const o = this.options;
    const refs = this.references as Record<string, FeatureReference>;
    const features: Record<string, FeatureDrift> = {};
    let overall: DriftState = 'ok';
    for (const [name, w] of this.windows) {
      const ref = refs[name] as FeatureReference;
      const f = evaluateFeature(ref, w.sorted(), o);
      features[name] = f;
      if (WORSE[f.state] > WORSE[overall]) overall = f.state;
    }
    this.lastState = overall;
    return {
      window: { index: this.windowIndex++, mode: o.mode, size: o.window, from, to },
      reference: this.source,
      state: overall,
      drifted: Object.keys(features).filter((n) => features[n]!.state !== 'ok'),
      features,
    };
  }
}

function judge(value: number, t: Thresholds, lowerIsWorse = false): DriftState {
  if (!Number.isFinite(value)) return value === Infinity && !lowerIsWorse ? 'alarm' : 'ok';
  if (lowerIsWorse) return value < t.alarm ? 'alarm' : value < t.warn ? 'warn' : 'ok';
  return value >= t.alarm ? 'alarm' : value >= t.warn ? 'warn' : 'ok';
}

/** All metrics of one feature's window against its reference. Non-finite metrics are left out. */
export function evaluateFeature(ref: FeatureReference, sorted: Float64Array, o: DriftOptions): FeatureDrift {
  const n = sorted.length;
  const out: FeatureDrift = { n, state: 'ok', reasons: [] };
  if (n < 2) return out;
  const { mean, std } = meanStd(sorted);
  out.mean = mean;
  out.std = std;
  const raise = (metric: string, s: DriftState): void => {
    if (s === 'ok') return;
    out.reasons.push(metric);
    if (WORSE[s] > WORSE[out.state]) out.state = s;
  };
  const p = psi(ref.expected, histogram(ref.edges, sorted));
  if (Number.isFinite(p)) {
    out.psi = p;
    raise('psi', judge(p, o.psi));
  }
  const shift = meanShift(mean, ref.mean, ref.std);
  if (Number.isFinite(shift)) out.meanShift = shift;
  raise('meanShift', judge(shift, o.meanShift));
  let d: number;
  let effectiveN: number;
  if (ref.sample) {
    d = ksTwoSample(ref.sample, sorted);
    effectiveN = (ref.sample.length * n) / (ref.sample.length + n);
  } else {
    d = ksOneSample(sorted, ref.cdf as (x: number) => number);
    // A reference estimated from `size` observations is noisy too: the two-sample effective size applies.
    effectiveN = ref.size ? (ref.size * n) / (ref.size + n) : n;
  }
  const pValue = ksPValue(d, effectiveN);
  if (Number.isFinite(d) && Number.isFinite(pValue)) {
    out.ks = { d, p: pValue };
    raise('ks', judge(pValue, o.ksP, true));
  }
  return out;
}
