/**
 * Process-wide metrics of the package's nodes: inferences, latency, errors per model; guard and
 * drift counts. Each node type is bundled on its own, so the registry lives on globalThis under a
 * registered symbol: every bundle finds the same one. Memory is bounded (fixed-size rings).
 */
const KEY = Symbol.for('node-red-contrib-edge-ml.metrics');
const LATENCY_SAMPLES = 1024;
const RATE_WINDOW_MS = 60_000;

export interface ModelIdentity {
  name: string;
  version: string;
  sha256: string;
}

interface ModelEntry {
  identity: ModelIdentity;
  since: number;
  inferences: number;
  errors: number;
  latencies: Float64Array;
  latencyCount: number;
  /** completion times of the last minute's inferences, as a ring */
  recent: Float64Array;
  recentHead: number;
}

export interface ModelSnapshot extends ModelIdentity {
  since: string;
  inferences: number;
  errors: number;
  inferencesPerMinute: number;
  latencyMs: { p50: number | null; p99: number | null };
}

export interface MetricsSnapshot {
  models: ModelSnapshot[];
  guard: Record<string, number>;
  drift: Record<string, number>;
}

function quantile(values: Float64Array, count: number, q: number): number | null {
  const n = Math.min(count, values.length);
  if (n === 0) return null;
  const sorted = Array.from(values.subarray(0, n)).sort((a, b) => a - b);
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
}

function modelSnapshot(e: ModelEntry, now: number): ModelSnapshot {
  let perMinute = 0;
  const n = Math.min(e.recentHead, e.recent.length);
  for (let i = 0; i < n; i++) if (now - e.recent[i]! <= RATE_WINDOW_MS) perMinute++;
  return {
    ...e.identity,
    since: new Date(e.since).toISOString(),
    inferences: e.inferences,
    errors: e.errors,
    inferencesPerMinute: perMinute,
    latencyMs: { p50: quantile(e.latencies, e.latencyCount, 0.5), p99: quantile(e.latencies, e.latencyCount, 0.99) },
  };
}

/** Default number of distinct guard series (check:feature) the registry keeps. */
export const DEFAULT_GUARD_SERIES = 256;

/** Bins of the score histogram of predictions (0..1 in tenths). */
export const SCORE_BINS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
const PREDICTION_MODELS = 8;

export interface PredictionCounts {
  labels: Record<string, number>;
  scoreHistogram: { edges: number[]; counts: number[] };
}

export class MetricsRegistry {
  private readonly models = new Map<string, ModelEntry>();
  /** label and score counts per model sha256 (the few latest), for the fleet's prediction-shift gates */
  private readonly predictions = new Map<string, PredictionCounts>();
  private readonly guard = new Map<string, number>();
  /** Distinct check:feature series kept; findings of further features count as feature "(other)". */
  guardSeriesLimit = DEFAULT_GUARD_SERIES;
  private readonly drift = new Map<string, number>();

  /** Registers (or re-identifies after a swap) the model served under `key` (the onnx-model node id). */
  setModel(key: string, identity: ModelIdentity, now = Date.now()): void {
    const entry = this.models.get(key);
    if (entry && entry.identity.sha256 === identity.sha256) {
      entry.identity = identity;
      return;
    }
    this.models.set(key, {
      identity,
      since: now,
      inferences: entry?.inferences ?? 0,
      errors: entry?.errors ?? 0,
      latencies: new Float64Array(LATENCY_SAMPLES),
      latencyCount: 0,
      recent: new Float64Array(4096),
      recentHead: 0,
    });
  }

  removeModel(key: string): void {
    this.models.delete(key);
  }

  recordInference(key: string, ms: number, ok: boolean, now = Date.now()): void {
    const e = this.models.get(key);
    if (!e) return;
    if (!ok) {
      e.errors++;
      return;
    }
    e.inferences++;
    e.latencies[e.latencyCount % LATENCY_SAMPLES] = ms;
    e.latencyCount++;
    e.recent[e.recentHead % e.recent.length] = now;
    e.recentHead++;
  }

  /** Counts one guard finding, e.g. ("out_of_range", "pressure"). */
  recordGuard(check: string, feature = ''): void {
    let key = feature ? `${check}:${feature}` : check;
    if (!this.guard.has(key) && this.guard.size >= this.guardSeriesLimit) key = `${check}:(other)`;
    this.guard.set(key, (this.guard.get(key) ?? 0) + 1);
  }

  /** Counts one formatted prediction of the model with this sha256 (ml-format). */
  recordPrediction(sha256: string, label?: string, score?: number): void {
    if (!sha256 || (label === undefined && score === undefined)) return;
    let p = this.predictions.get(sha256);
    if (!p) {
      if (this.predictions.size >= PREDICTION_MODELS) this.predictions.delete(this.predictions.keys().next().value!);
      p = { labels: {}, scoreHistogram: { edges: SCORE_BINS, counts: SCORE_BINS.slice(1).map(() => 0) } };
      this.predictions.set(sha256, p);
    }
    if (label !== undefined) p.labels[label] = (p.labels[label] ?? 0) + 1;
    if (score !== undefined && Number.isFinite(score)) {
      const bin = Math.min(p.scoreHistogram.counts.length - 1, Math.max(0, Math.floor(score * 10)));
      p.scoreHistogram.counts[bin]!++;
    }
  }

  /** Label and score counts of the model with this sha256, if it made predictions. */
  predictionCounts(sha256: string): PredictionCounts | undefined {
    const p = this.predictions.get(sha256);
    return p ? { labels: { ...p.labels }, scoreHistogram: { edges: p.scoreHistogram.edges, counts: [...p.scoreHistogram.counts] } } : undefined;
  }

  /** Counts one drift report at a level ("ok" | "warn" | "alarm"). */
  recordDrift(level: string): void {
    this.drift.set(level, (this.drift.get(level) ?? 0) + 1);
  }

  snapshot(now = Date.now()): MetricsSnapshot {
    const models = [...this.models.values()].map((e) => modelSnapshot(e, now));
    return { models, guard: Object.fromEntries(this.guard), drift: Object.fromEntries(this.drift) };
  }

  /** The figures of the model served under `key` (the onnx-model node id), if it has served. */
  modelSnapshot(key: string, now = Date.now()): ModelSnapshot | undefined {
    const e = this.models.get(key);
    return e ? modelSnapshot(e, now) : undefined;
  }
}

export function metricsRegistry(): MetricsRegistry {
  const g = globalThis as { [KEY]?: MetricsRegistry };
  return (g[KEY] ??= new MetricsRegistry());
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The Prometheus text exposition format (version 0.0.4) of a snapshot. */
export function toPrometheus(s: MetricsSnapshot): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string, samples: Array<[string, number | null]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) if (value !== null) lines.push(`${name}${labels} ${value}`);
  };
  const ml = (m: ModelSnapshot, extra = ''): string => `{model="${label(m.name)}",version="${label(m.version)}",sha256="${m.sha256}"${extra}}`;
  family(
    'edgeml_inferences_total',
    'counter',
    'Inferences answered.',
    s.models.map((m) => [ml(m), m.inferences]),
  );
  family(
    'edgeml_inference_errors_total',
    'counter',
    'Inferences that failed.',
    s.models.map((m) => [ml(m), m.errors]),
  );
  family(
    'edgeml_inferences_per_minute',
    'gauge',
    'Inferences in the last 60 s.',
    s.models.map((m) => [ml(m), m.inferencesPerMinute]),
  );
  family(
    'edgeml_inference_latency_ms',
    'gauge',
    'Inference latency over the last 1024 inferences.',
    s.models.flatMap((m): Array<[string, number | null]> => [
      [ml(m, ',quantile="0.5"'), m.latencyMs.p50],
      [ml(m, ',quantile="0.99"'), m.latencyMs.p99],
    ]),
  );
  family(
    'edgeml_model_since_seconds',
    'gauge',
    'When the served model became active (Unix time).',
    s.models.map((m) => [ml(m), Date.parse(m.since) / 1000]),
  );
  family(
    'edgeml_guard_findings_total',
    'counter',
    'Data-quality findings of ml-guard nodes.',
    Object.entries(s.guard).map(([k, v]) => {
      const [check, feature = ''] = k.split(':');
      return [`{check="${label(check!)}",feature="${label(feature)}"}`, v];
    }),
  );
  family(
    'edgeml_drift_reports_total',
    'counter',
    'Drift reports of ml-drift nodes by level.',
    Object.entries(s.drift).map(([k, v]) => [`{level="${label(k)}"}`, v]),
  );
  return lines.join('\n') + '\n';
}
