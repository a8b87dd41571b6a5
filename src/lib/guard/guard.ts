/**
 * Data-quality checks on a feature vector before it reaches a model. Each check has its own policy;
 * the node never invents a value it was not told to (no zero-fill): a replacement that has nothing to
 * replace with (no last good value, no default, no range) drops the message instead.
 *
 * Per-feature checks run in this order and the first failing one wins for that feature:
 *   missing, null, type (not a number), nan (NaN/Infinity), range, spike, stuck
 * A spike is a change larger than maxDelta from the previous sample and from the last good value.
 * Message-level checks: count (wrong number of features), stale (timestamp older than T).
 */
import { EdgeMlError } from '../errors';
import type { ModelCard } from '../model-card';

export const FEATURE_CHECKS = ['missing', 'null', 'type', 'nan', 'range', 'spike', 'stuck'] as const;
export const MESSAGE_CHECKS = ['count', 'stale'] as const;
export const CHECKS = [...FEATURE_CHECKS, ...MESSAGE_CHECKS] as const;
export type FeatureCheck = (typeof FEATURE_CHECKS)[number];
export type MessageCheck = (typeof MESSAGE_CHECKS)[number];
export type GuardCheck = (typeof CHECKS)[number];

export type GuardPolicy = 'drop' | 'flag' | 'replace' | 'route' | 'off';
export type ReplaceWith = 'last' | 'default' | 'clamp';

export interface GuardConfig {
  /** Feature names in vector order; empty = from the model card, else unnamed (f0, f1, ...). */
  features?: string[];
  /** Expected feature count; undefined = the number of names (no count check without either). */
  expectedCount?: number;
  ranges?: Record<string, [number, number]>;
  defaults?: Record<string, number>;
  /** Largest allowed change between two consecutive samples of a feature (absolute). */
  maxDelta?: Record<string, number>;
  /** A value unchanged for this many consecutive samples is stuck (0 = off). */
  stuckSamples?: number;
  /** A message whose timestamp is older than this (ms) is stale (0 = off). */
  staleMs?: number;
  policies?: Partial<Record<GuardCheck, GuardPolicy>>;
  replaceWith?: Partial<Record<FeatureCheck, ReplaceWith>>;
  /** Distinct feature names counted per check in the statistics; further names count as OTHER_FEATURE. */
  featureTable?: number;
}

export interface GuardIssue {
  check: GuardCheck;
  feature?: string;
  /** JSON-safe description of the offending value (non-finite numbers spelled out). */
  value?: number | string | boolean;
  policy: GuardPolicy;
  /** Present when the value was replaced. */
  replacedWith?: number;
}

export type GuardAction = 'pass' | 'flag' | 'drop' | 'route';

export interface GuardResult {
  action: GuardAction;
  /** The feature vector to send on, same shape as the input, replacements applied. */
  payload: unknown;
  issues: GuardIssue[];
}

export interface GuardStats {
  received: number;
  passed: number;
  flagged: number;
  replaced: number;
  dropped: number;
  routed: number;
  /** checks[check][feature or "*"] = how many times the check failed. */
  checks: Record<string, Record<string, number>>;
}

const DEFAULT_POLICY: Record<GuardCheck, GuardPolicy> = {
  missing: 'drop',
  null: 'drop',
  type: 'drop',
  nan: 'drop',
  range: 'flag',
  spike: 'flag',
  stuck: 'flag',
  count: 'drop',
  stale: 'drop',
};

const DEFAULT_REPLACE: Record<FeatureCheck, ReplaceWith> = {
  missing: 'last',
  null: 'last',
  type: 'last',
  nan: 'last',
  range: 'clamp',
  spike: 'last',
  stuck: 'last',
};

export const MAX_TRACKED_FEATURES = 1024;
/** Default size of the per-check findings table (distinct feature names). */
export const DEFAULT_FEATURE_TABLE = 256;
/** Where findings of feature names beyond the table are counted. */
export const OTHER_FEATURE = '(other)';

const SEVERITY: Record<GuardAction, number> = { pass: 0, flag: 1, route: 2, drop: 3 };

interface FeatureState {
  lastGood: number | undefined;
  previous: number | undefined;
  sameCount: number;
}

export interface GuardOptions {
  features: string[] | undefined;
  expectedCount: number | undefined;
  ranges: Record<string, [number, number]>;
  defaults: Record<string, number>;
  maxDelta: Record<string, number>;
  stuckSamples: number;
  staleMs: number;
  policies: Record<GuardCheck, GuardPolicy>;
  replaceWith: Record<FeatureCheck, ReplaceWith>;
  featureTable: number;
}

/** Node config over model card (feature names, ranges) over defaults. */
export function resolveGuardOptions(config: GuardConfig, card: ModelCard = {}): GuardOptions {
  const features = config.features && config.features.length ? config.features : card.features;
  const policies = { ...DEFAULT_POLICY, ...(config.policies ?? {}) };
  for (const check of MESSAGE_CHECKS) {
    if (policies[check] === 'replace') {
      throw new EdgeMlError('EDGEML_GUARD_CONFIG', `check ${check} cannot replace values`, { reason: `check ${check} cannot use the replace policy` });
    }
  }
  return {
    features,
    expectedCount: config.expectedCount ?? features?.length,
    ranges: { ...(card.ranges ?? {}), ...(config.ranges ?? {}) },
    defaults: { ...(config.defaults ?? {}) },
    maxDelta: { ...(config.maxDelta ?? {}) },
    stuckSamples: config.stuckSamples ?? 0,
    staleMs: config.staleMs ?? 0,
    policies,
    replaceWith: { ...DEFAULT_REPLACE, ...(config.replaceWith ?? {}) },
    featureTable: config.featureTable ?? DEFAULT_FEATURE_TABLE,
  };
}

function describe(v: unknown): number | string | boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v === null) return 'null';
  return typeof v;
}

export function emptyStats(): GuardStats {
  return { received: 0, passed: 0, flagged: 0, replaced: 0, dropped: 0, routed: 0, checks: {} };
}

/** Parses a message timestamp: epoch ms (number or digits) or an ISO 8601 string. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && v.trim() !== '') {
    const n = /^\d+$/.test(v.trim()) ? Number(v) : Date.parse(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export class DataGuard {
  private readonly state = new Map<string, FeatureState>();
  private counters: GuardStats = emptyStats();
  /** Distinct names in each check's table (the tables are plain objects, for the stats reply). */
  private tableSizes = new Map<string, number>();
  private readonly known: Set<string>;

  constructor(readonly options: GuardOptions) {
    this.known = new Set(options.features ?? []);
  }

  get stats(): GuardStats {
    return JSON.parse(JSON.stringify(this.counters)) as GuardStats;
  }

  resetStats(): void {
    this.counters = emptyStats();
    this.tableSizes = new Map();
  }

  /** Number of features with history (bounded by the feature names seen). */
  get trackedFeatures(): number {
    return this.state.size;
  }

  /**
   * Counts a finding. Configured feature names always have their own entry; any other name (an
   * object payload without configured names can bring any keys) gets one while the check's table
   * has room, else it is counted under OTHER_FEATURE: the statistics stay bounded.
   */
  private count(check: GuardCheck, feature = '*'): void {
    const byFeature = (this.counters.checks[check] ??= {});
    let key = feature;
    if (byFeature[key] === undefined && !this.known.has(key)) {
      const size = this.tableSizes.get(check) ?? 0;
      if (size >= this.options.featureTable) key = OTHER_FEATURE;
      else this.tableSizes.set(check, size + 1);
    }
    byFeature[key] = (byFeature[key] ?? 0) + 1;
  }

  private featureState(name: string): FeatureState {
    let s = this.state.get(name);
    if (!s) {
      // Objects without configured names could bring any keys: keep the history bounded.
      if (this.state.size >= MAX_TRACKED_FEATURES) {
        const oldest = this.state.keys().next().value;
        if (oldest !== undefined) this.state.delete(oldest);
      }
      s = { lastGood: undefined, previous: undefined, sameCount: 0 };
      this.state.set(name, s);
    }
    return s;
  }

  /** Checks one feature vector (an array in feature order or an object by name) seen at `now`. */
  check(payload: unknown, now: number, timestamp?: unknown): GuardResult {
    const o = this.options;
    let entries: Array<[string, unknown]>;
    let shape: 'array' | 'object';
    if (Array.isArray(payload)) {
      shape = 'array';
      const n = Math.max(payload.length, o.features?.length ?? 0);
      entries = [];
      for (let i = 0; i < n; i++) entries.push([o.features?.[i] ?? `f${i}`, i < payload.length ? payload[i] : undefined]);
    } else if (typeof payload === 'object' && payload !== null) {
      shape = 'object';
      const obj = payload as Record<string, unknown>;
      const names = o.features ?? Object.keys(obj);
      entries = names.map((name) => [name, Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined]);
    } else {
      throw new EdgeMlError('EDGEML_GUARD_INPUT', 'msg.payload must be an array of feature values or an object by feature name', {
        reason: `msg.payload is ${payload === null ? 'null' : typeof payload}`,
      });
    }
    this.counters.received++;
    const issues: GuardIssue[] = [];
    const messageIssue = (check: MessageCheck, value?: number | string): void => {
      const policy = o.policies[check];
      if (policy === 'off') return;
      this.count(check);
      const issue: GuardIssue = { check, policy };
      if (value !== undefined) issue.value = value;
      issues.push(issue);
    };

    // Arrays: the length must match. Objects: absent names are "missing" per feature, so the count
    // check is about keys that are not features (when the names are known).
    if (Array.isArray(payload)) {
      if (o.expectedCount !== undefined && payload.length !== o.expectedCount) messageIssue('count', payload.length);
    } else if (o.features) {
      const keys = Object.keys(payload as object);
      if (keys.some((k) => !o.features!.includes(k))) messageIssue('count', keys.length);
    }
    if (o.staleMs > 0 && timestamp !== undefined) {
      const ts = parseTimestamp(timestamp);
      if (ts === undefined || now - ts > o.staleMs) messageIssue('stale', ts === undefined ? (describe(timestamp) as string) : now - ts);
    }

    const values = new Map<string, unknown>(entries);
    const replaced = new Map<string, number>();
    let replaceFailed = false;
    for (const [name, raw] of entries) {
      const s = this.featureState(name);
      const failed = this.firstFailure(name, raw, s);
      // History follows what was measured, so stuck and spike see the real signal.
      if (typeof raw === 'number' && Number.isFinite(raw)) {
        s.sameCount = s.previous === raw ? s.sameCount + 1 : 1;
        s.previous = raw;
      }
      if (!failed) {
        s.lastGood = raw as number;
        continue;
      }
      const policy = o.policies[failed];
      if (policy === 'off') {
        if (typeof raw === 'number' && Number.isFinite(raw)) s.lastGood = raw;
        continue;
      }
      this.count(failed, name);
      const issue: GuardIssue = { check: failed, feature: name, policy };
      const d = describe(raw);
      if (d !== undefined) issue.value = d;
      if (policy === 'replace') {
        const r = this.replacement(failed as FeatureCheck, name, raw, s);
        if (r === undefined) replaceFailed = true;
        else {
          issue.replacedWith = r;
          replaced.set(name, r);
        }
      }
      issues.push(issue);
    }

    let action: GuardAction = 'pass';
    for (const i of issues) {
      const a: GuardAction = i.policy === 'replace' ? 'pass' : (i.policy as GuardAction);
      if (SEVERITY[a] > SEVERITY[action]) action = a;
    }
    if (replaceFailed) action = 'drop';

    let out: unknown = payload;
    if (replaced.size && action !== 'drop') {
      for (const [k, v] of replaced) values.set(k, v);
      if (shape === 'array') {
        const arr = [...(payload as unknown[])];
        entries.forEach(([name], i) => {
          if (replaced.has(name)) arr[i] = replaced.get(name);
        });
        out = arr;
      } else {
        out = { ...(payload as Record<string, unknown>), ...Object.fromEntries(replaced) };
      }
      this.counters.replaced++;
    }
    if (action === 'pass') this.counters.passed++;
    else if (action === 'flag') this.counters.flagged++;
    else if (action === 'drop') this.counters.dropped++;
    else this.counters.routed++;
    return { action, payload: out, issues };
  }

  private firstFailure(name: string, raw: unknown, s: FeatureState): FeatureCheck | undefined {
    const o = this.options;
    if (raw === undefined) return 'missing';
    if (raw === null) return 'null';
    if (typeof raw !== 'number') return 'type';
    if (!Number.isFinite(raw)) return 'nan';
    const range = o.ranges[name];
    if (range && (raw < range[0] || raw > range[1])) return 'range';
    const maxDelta = o.maxDelta[name];
    // A spike is a jump from the previous sample that also leaves the last good value behind: so
    // the way back down after a one-sample spike passes, and a lasting step fails only once.
    if (maxDelta !== undefined && s.previous !== undefined && Math.abs(raw - s.previous) > maxDelta && (s.lastGood === undefined || Math.abs(raw - s.lastGood) > maxDelta)) {
      return 'spike';
    }
    if (o.stuckSamples > 1 && s.previous === raw && s.sameCount + 1 >= o.stuckSamples) return 'stuck';
    return undefined;
  }

  private replacement(check: FeatureCheck, name: string, raw: unknown, s: FeatureState): number | undefined {
    const how = this.options.replaceWith[check];
    if (how === 'default') return this.options.defaults[name];
    if (how === 'last') return s.lastGood;
    // clamp: to the range for out-of-range values; to previous +- maxDelta for a spike.
    if (typeof raw !== 'number' || !Number.isFinite(raw)) return undefined;
    if (check === 'range') {
      const range = this.options.ranges[name];
      return range ? Math.min(range[1], Math.max(range[0], raw)) : undefined;
    }
    if (check === 'spike') {
      const d = this.options.maxDelta[name];
      const prev = s.lastGood;
      if (d === undefined || prev === undefined) return undefined;
      return Math.min(prev + d, Math.max(prev - d, raw));
    }
    return undefined;
  }
}
