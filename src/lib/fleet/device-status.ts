/**
 * What a host reads of a device: its retained reports
 *
 *   <prefix>/status/<device>/model    what it runs and how well (ml-model-update's periodic report)
 *   <prefix>/status/<device>/update   the state of the last update (UpdateStatus)
 *
 * parsed into one view per device. The model report has carried { device, ts, model, guard, drift }
 * from the start; for fleet rollouts it adds `groups` and per-version figures: `current` (the
 * version serving now, counted since it started serving) and `previous` (the version before, as it
 * stood when it was replaced), so a gate compares a device with itself. Reports of older devices
 * without these fields still parse (the fields are then absent).
 */
import type { ModelSnapshot } from '../metrics';
import { EdgeMlError } from '../errors';
import type { UpdateState, UpdateStatus } from '../update/topics';
import { DRIFT_LEVELS, type DriftLevel } from './rollout-state';

export const MODEL_REPORT_FORMAT = 'edge-ml-status/1';

/** Figures of one model version on one device, counted while that version served. */
export interface VersionFigures {
  name: string;
  version: string;
  sha256: string;
  /** When this version started serving. */
  since: string;
  /** Inferences answered. */
  inferences: number;
  /** Inferences that failed. */
  errors: number;
  /** Latency quantiles of the answered inferences (ms), null before the first one. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Inferences the guard flagged (rejected or marked). */
  guardRejections: number;
  /** The drift level last reported while this version served. */
  driftLevel?: DriftLevel;
  /** Count of each predicted label. */
  labels?: Record<string, number>;
  /** Histogram of the predicted score (anomaly score or top-class probability). */
  scoreHistogram?: { edges: number[]; counts: number[] };
}

/** The retained model report, as published. */
export interface DeviceModelReport {
  format?: typeof MODEL_REPORT_FORMAT;
  device: string;
  ts: string;
  groups?: string[];
  /** The process-wide figures of the served model (cumulative since the flow started). */
  model: ModelSnapshot | null;
  guard: Record<string, number>;
  drift: Record<string, number>;
  current?: VersionFigures;
  previous?: VersionFigures;
}

/** A device as a host sees it from its retained reports. */
export interface DeviceView {
  device: string;
  groups: string[];
  model?: DeviceModelReport;
  update?: UpdateStatus;
  /** Latest ts of either report. */
  lastSeen?: string;
}

const UPDATE_STATES: readonly UpdateState[] = ['receiving', 'received', 'verified', 'active', 'rejected', 'rolled-back'];

function invalid(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_FLEET_REPORT_INVALID', `invalid device report: ${reason}`, { reason });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isCountMap = (v: unknown): v is Record<string, number> => isObject(v) && Object.values(v).every(isCount);
const isNumberOrNull = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isFinite(v));

/** Splits `<prefix>/status/<device>/<model|update>`; undefined for any other topic. */
export function parseStatusTopic(topic: string, prefix = 'edge-ml'): { device: string; kind: 'model' | 'update' } | undefined {
  const p = prefix.replace(/\/+$/, '');
  if (!topic.startsWith(`${p}/status/`)) return undefined;
  const rest = topic.slice(p.length + '/status/'.length).split('/');
  if (rest.length !== 2 || !rest[0]) return undefined;
  const kind = rest[1];
  return kind === 'model' || kind === 'update' ? { device: rest[0], kind } : undefined;
}

function parseFigures(v: unknown, key: string): VersionFigures {
  if (!isObject(v)) throw invalid(`${key} must be an object`);
  for (const k of ['name', 'version', 'sha256', 'since'] as const) if (typeof v[k] !== 'string') throw invalid(`${key}.${k} must be a string`);
  for (const k of ['inferences', 'errors', 'guardRejections'] as const) if (!isCount(v[k])) throw invalid(`${key}.${k} must be a count`);
  if (!isNumberOrNull(v.p50Ms) || !isNumberOrNull(v.p99Ms)) throw invalid(`${key}.p50Ms and p99Ms must be numbers or null`);
  if (v.driftLevel !== undefined && !DRIFT_LEVELS.includes(v.driftLevel as DriftLevel)) throw invalid(`${key}.driftLevel must be ok, warn or alarm`);
  if (v.labels !== undefined && !isCountMap(v.labels)) throw invalid(`${key}.labels must map labels to counts`);
  if (v.scoreHistogram !== undefined) {
    const h = v.scoreHistogram;
    if (!isObject(h) || !Array.isArray(h.edges) || !Array.isArray(h.counts) || h.edges.length !== h.counts.length + 1 || !h.counts.every(isCount)) {
      throw invalid(`${key}.scoreHistogram must have edges (one more than counts) and counts`);
    }
  }
  return v as unknown as VersionFigures;
}

function json(payload: Buffer | string | unknown): unknown {
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
  try {
    return JSON.parse(payload.toString());
  } catch {
    throw invalid('not JSON');
  }
}

export function parseModelReport(payload: Buffer | string | unknown): DeviceModelReport {
  const raw = json(payload);
  if (!isObject(raw)) throw invalid('not an object');
  if (typeof raw.device !== 'string' || !raw.device) throw invalid('device must be a string');
  if (typeof raw.ts !== 'string' || Number.isNaN(Date.parse(raw.ts))) throw invalid('ts must be an ISO 8601 time');
  if (raw.groups !== undefined && !(Array.isArray(raw.groups) && raw.groups.every((g) => typeof g === 'string'))) throw invalid('groups must be names');
  if (raw.model !== null && raw.model !== undefined && !(isObject(raw.model) && typeof raw.model.name === 'string')) throw invalid('model must be null or name its model');
  const report: DeviceModelReport = {
    device: raw.device,
    ts: raw.ts,
    model: (raw.model ?? null) as ModelSnapshot | null,
    guard: isCountMap(raw.guard) ? raw.guard : {},
    drift: isCountMap(raw.drift) ? raw.drift : {},
  };
  if (raw.format === MODEL_REPORT_FORMAT) report.format = MODEL_REPORT_FORMAT;
  if (raw.groups) report.groups = raw.groups as string[];
  if (raw.current !== undefined && raw.current !== null) report.current = parseFigures(raw.current, 'current');
  if (raw.previous !== undefined && raw.previous !== null) report.previous = parseFigures(raw.previous, 'previous');
  return report;
}

export function parseUpdateReport(payload: Buffer | string | unknown): UpdateStatus {
  const raw = json(payload);
  if (!isObject(raw)) throw invalid('not an object');
  if (typeof raw.device !== 'string' || !raw.device) throw invalid('device must be a string');
  if (!UPDATE_STATES.includes(raw.state as UpdateState)) throw invalid(`state must be one of ${UPDATE_STATES.join(', ')}`);
  for (const k of ['name', 'version', 'sha256', 'ts'] as const) if (typeof raw[k] !== 'string') throw invalid(`${k} must be a string`);
  return raw as unknown as UpdateStatus;
}

/** The share of failed inferences, or null before any. */
export function errorRate(f: Pick<VersionFigures, 'inferences' | 'errors'>): number | null {
  const total = f.inferences + f.errors;
  return total > 0 ? f.errors / total : null;
}

export function guardRejectionRate(f: Pick<VersionFigures, 'inferences' | 'errors' | 'guardRejections'>): number | null {
  const total = f.inferences + f.errors;
  return total > 0 ? f.guardRejections / total : null;
}

/** Folds retained reports into per-device views (the fleet view and the rollout engine both use it). */
export class FleetDirectory {
  private readonly devices = new Map<string, DeviceView>();

  constructor(private readonly prefix = 'edge-ml') {}

  /** Takes one MQTT message; returns the device it changed, or undefined if the topic is not a report. Throws on a malformed report. */
  handle(topic: string, payload: Buffer): DeviceView | undefined {
    const at = parseStatusTopic(topic, this.prefix);
    if (!at) return undefined;
    if (payload.length === 0) {
      const view = this.devices.get(at.device);
      if (view) delete view[at.kind];
      return view;
    }
    const view = this.devices.get(at.device) ?? { device: at.device, groups: [] };
    if (at.kind === 'model') {
      const report = parseModelReport(payload);
      view.model = report;
      if (report.groups) view.groups = report.groups;
    } else {
      view.update = parseUpdateReport(payload);
    }
    const times = [view.model?.ts, view.update?.ts].filter((t): t is string => !!t).sort();
    if (times.length) view.lastSeen = times[times.length - 1]!;
    this.devices.set(at.device, view);
    return view;
  }

  get(device: string): DeviceView | undefined {
    return this.devices.get(device);
  }

  all(): DeviceView[] {
    return [...this.devices.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  }
}

interface Counts {
  sha256: string;
  inferences: number;
  errors: number;
  guard: number;
  drift: Record<string, number>;
  since: string;
}

function countsOf(served: ModelSnapshot, guard: Record<string, number>, drift: Record<string, number>, since: string): Counts {
  const total = Object.values(guard).reduce((a, b) => a + b, 0);
  return { sha256: served.sha256, inferences: served.inferences, errors: served.errors, guard: total, drift: { ...drift }, since };
}

/**
 * Turns the process-wide, cumulative metrics of one served model into per-version figures: it
 * notes the counts when a new version starts serving (observe right after a swap, and at each
 * report), so `current` counts only that version and `previous` keeps the last figures of the one
 * before. The latency ring already restarts on a swap (MetricsRegistry.setModel).
 */
export class VersionFigureTracker {
  private base: Counts | undefined;
  private pending: Counts | undefined;
  private last: VersionFigures | undefined;
  private prev: VersionFigures | undefined;

  /**
   * Call right after a swap: the counts now are where the new version starts (the registry
   * may learn the new identity only with its first inference).
   */
  markSwap(served: ModelSnapshot | undefined | null, guard: Record<string, number>, drift: Record<string, number>, now = new Date()): void {
    if (!served) return;
    if (this.base?.sha256 === served.sha256) this.observe(served, guard, drift, now); // the old version's final figures
    this.pending = countsOf(served, guard, drift, now.toISOString());
  }

  observe(
    served: ModelSnapshot | undefined | null,
    guard: Record<string, number>,
    drift: Record<string, number>,
    now = new Date(),
  ): {
    current?: VersionFigures;
    previous?: VersionFigures;
  } {
    if (!served) return this.prev ? { previous: this.prev } : {};
    const guardTotal = Object.values(guard).reduce((a, b) => a + b, 0);
    if (!this.base || this.base.sha256 !== served.sha256) {
      if (this.base && this.last) this.prev = this.last;
      // the first version seen counts from zero: everything so far ran on it
      const first = !this.base && !this.pending;
      this.base = first
        ? { sha256: served.sha256, inferences: 0, errors: 0, guard: 0, drift: {}, since: served.since }
        : { ...(this.pending ?? countsOf(served, guard, drift, now.toISOString())), sha256: served.sha256 };
      this.pending = undefined;
    }
    const b = this.base;
    const grew = (level: string): boolean => (drift[level] ?? 0) > (b.drift[level] ?? 0);
    const driftLevel = grew('alarm') ? 'alarm' : grew('warn') ? 'warn' : grew('ok') ? 'ok' : undefined;
    const current: VersionFigures = {
      name: served.name,
      version: served.version,
      sha256: served.sha256,
      since: b.since,
      inferences: Math.max(0, served.inferences - b.inferences),
      errors: Math.max(0, served.errors - b.errors),
      p50Ms: served.latencyMs.p50,
      p99Ms: served.latencyMs.p99,
      guardRejections: Math.max(0, guardTotal - b.guard),
      ...(driftLevel ? { driftLevel } : {}),
    };
    this.last = current;
    return this.prev ? { current, previous: this.prev } : { current };
  }
}
