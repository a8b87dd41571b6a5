/**
 * Rollout plans: the JSON file of `edge-ml-publish rollout --plan plan.json` (or the flags
 * `--waves 1,10%,50%,100% --soak 60s`), validated with EDGEML_FLEET_PLAN_INVALID, and the split of
 * the discovered devices into waves.
 */
import { createHash } from 'node:crypto';
import { EdgeMlError } from '../errors';
import { DEFAULT_GATES, DRIFT_LEVELS, type GateThresholds, type RolloutPlan, type WavePlan, type WaveState } from './rollout-state';

export const DEFAULT_SOAK_MS = 60_000;
export const DEFAULT_UPDATE_TIMEOUT_MS = 600_000;
export const DEFAULT_ROLLBACK_TIMEOUT_MS = 120_000;

function invalid(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_FLEET_PLAN_INVALID', `invalid rollout plan: ${reason}`, { reason });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const NAME = /^[^/#+]+$/;

/** "250ms", "30s", "5m", "2h" or a number of milliseconds. */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(`${what} must be a whole number of ms >= 0`);
    return value;
  }
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw invalid(`${what} "${value}" is not a duration like 500ms, 30s, 5m or 2h`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

function parseSize(v: unknown, where: string): number | string {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 1) throw invalid(`${where}.size must be a device count >= 1 or a percentage "1%".."100%"`);
    return v;
  }
  if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(v.trim());
    if (m && Number(m[1]) > 0 && Number(m[1]) <= 100) return `${Number(m[1])}%`;
    if (/^\d+$/.test(v.trim()) && Number(v) >= 1) return Number(v);
  }
  throw invalid(`${where}.size must be a device count >= 1 or a percentage "1%".."100%"`);
}

function parseGates(v: unknown, where: string): Partial<GateThresholds> {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalid(`${where} must be an object`);
  const out: Partial<GateThresholds> = {};
  const known = Object.keys(DEFAULT_GATES);
  for (const [k, value] of Object.entries(v)) {
    if (!known.includes(k)) throw invalid(`${where}.${k} is not a gate setting (${known.join(', ')})`);
    if (k === 'maxDriftLevel') {
      if (!DRIFT_LEVELS.includes(value as never)) throw invalid(`${where}.maxDriftLevel must be ok, warn or alarm`);
      out.maxDriftLevel = value as GateThresholds['maxDriftLevel'];
    } else if (k === 'silent') {
      if (value !== 'fail' && value !== 'skip') throw invalid(`${where}.silent must be "fail" or "skip"`);
      out.silent = value;
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(`${where}.${k} must be a number >= 0`);
      if ((k === 'maxErrorRate' || k === 'maxGuardRejectionRate' || k === 'maxLabelShift') && value > 1) throw invalid(`${where}.${k} is a share: 0..1`);
      if (k === 'minInferences' && !Number.isSafeInteger(value)) throw invalid(`${where}.minInferences must be a whole number`);
      (out as Record<string, number>)[k] = value;
    }
  }
  return out;
}

function parseNames(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string' && NAME.test(s))) {
    throw invalid(`${where} must be a non-empty list of names without / # +`);
  }
  return v as string[];
}

function optionalDuration(raw: Record<string, unknown>, key: string, where: string): number | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' && typeof v !== 'string') throw invalid(`${where}${key} must be a duration`);
  return parseDuration(v, `${where}${key}`);
}

/** Validates a plan (parsed JSON). Durations may be given as ms or as "30s"-style strings. */
export function parsePlan(raw: unknown): RolloutPlan {
  if (!isObject(raw)) throw invalid('not an object');
  const known = ['waves', 'gates', 'groups', 'soakMs', 'updateTimeoutMs', 'rollbackTimeoutMs', 'downgrade', 'expiresInMs', 'chunkSize', '$schema', 'description'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) throw invalid(`unknown key ${k}`);
  if (!Array.isArray(raw.waves) || raw.waves.length === 0) throw invalid('waves must be a non-empty list');
  const waves: WavePlan[] = raw.waves.map((w, i) => {
    const where = `waves[${i}]`;
    if (!isObject(w)) throw invalid(`${where} must be an object`);
    for (const k of Object.keys(w)) if (!['name', 'size', 'groups', 'devices', 'soakMs', 'gates'].includes(k)) throw invalid(`${where}.${k} is unknown`);
    const kinds = ['size', 'groups', 'devices'].filter((k) => w[k] !== undefined);
    if (kinds.length !== 1) throw invalid(`${where} needs exactly one of size, groups, devices`);
    const wave: WavePlan = {};
    if (w.name !== undefined) {
      if (typeof w.name !== 'string' || !w.name) throw invalid(`${where}.name must be text`);
      wave.name = w.name;
    }
    if (w.size !== undefined) wave.size = parseSize(w.size, where);
    if (w.groups !== undefined) wave.groups = parseNames(w.groups, `${where}.groups`);
    if (w.devices !== undefined) wave.devices = parseNames(w.devices, `${where}.devices`);
    const soak = optionalDuration(w, 'soakMs', `${where}.`);
    if (soak !== undefined) wave.soakMs = soak;
    if (w.gates !== undefined) wave.gates = parseGates(w.gates, `${where}.gates`);
    return wave;
  });
  // cumulative sizes must grow, or a wave would be empty by construction
  let last = 0;
  let lastPct = 0;
  for (const [i, w] of waves.entries()) {
    if (typeof w.size === 'number') {
      if (w.size <= last) throw invalid(`waves[${i}].size ${w.size} must be larger than the wave before (sizes are cumulative)`);
      last = w.size;
    } else if (typeof w.size === 'string') {
      const p = Number(w.size.slice(0, -1));
      if (p <= lastPct) throw invalid(`waves[${i}].size ${w.size} must be larger than the wave before (sizes are cumulative)`);
      lastPct = p;
    }
  }
  const plan: RolloutPlan = { waves };
  if (raw.gates !== undefined) plan.gates = parseGates(raw.gates, 'gates');
  if (raw.groups !== undefined) plan.groups = parseNames(raw.groups, 'groups');
  for (const key of ['soakMs', 'updateTimeoutMs', 'rollbackTimeoutMs', 'expiresInMs'] as const) {
    const v = optionalDuration(raw, key, '');
    if (v !== undefined) plan[key] = v;
  }
  if (raw.downgrade !== undefined) {
    if (typeof raw.downgrade !== 'boolean') throw invalid('downgrade must be true or false');
    plan.downgrade = raw.downgrade;
  }
  if (raw.chunkSize !== undefined) {
    if (typeof raw.chunkSize !== 'number' || !Number.isSafeInteger(raw.chunkSize) || raw.chunkSize < 1024) throw invalid('chunkSize must be a whole number >= 1024');
    plan.chunkSize = raw.chunkSize;
  }
  return plan;
}

/** The plan of the flags: `--waves 1,10%,50%,100% --soak 60s` (sizes cumulative). */
export function planFromFlags(flags: { waves: string; soak?: string; groups?: string; silent?: string; downgrade?: boolean }): RolloutPlan {
  const waves = flags.waves
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((size) => (/^\d+$/.test(size) ? Number(size) : size));
  const raw: Record<string, unknown> = { waves: waves.map((size) => ({ size })) };
  if (flags.soak !== undefined) raw.soakMs = flags.soak;
  if (flags.groups)
    raw.groups = flags.groups
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
  if (flags.silent) raw.gates = { silent: flags.silent };
  if (flags.downgrade) raw.downgrade = true;
  return parsePlan(raw);
}

/** A stable order that differs per rollout, so canaries are not always the same devices. */
function spread(rolloutId: string, devices: string[]): string[] {
  const key = (d: string): string => createHash('sha256').update(`${rolloutId}\0${d}`).digest('hex');
  return devices
    .map((d) => [key(d), d] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([, d]) => d);
}

/**
 * Splits the target devices into the plan's waves. A size is cumulative: "10%" means ceil(10 % of
 * the devices) have the model once the wave is through, a count n means n devices. Empty waves
 * (a small fleet) are dropped.
 */
export function assignWaves(rolloutId: string, plan: RolloutPlan, devices: Array<{ device: string; groups: string[] }>): WaveState[] {
  const order = spread(
    rolloutId,
    devices.map((d) => d.device),
  );
  const groupsOf = new Map(devices.map((d) => [d.device, d.groups]));
  const taken = new Set<string>();
  const waves: WaveState[] = [];
  for (const [i, w] of plan.waves.entries()) {
    let members: string[];
    if (w.size !== undefined) {
      const want = typeof w.size === 'number' ? w.size : Math.ceil((Number(w.size.slice(0, -1)) / 100) * order.length);
      const target = Math.min(order.length, want);
      members = order.filter((d) => !taken.has(d)).slice(0, Math.max(0, target - taken.size));
    } else if (w.groups) {
      members = order.filter((d) => !taken.has(d) && (groupsOf.get(d) ?? []).some((g) => w.groups!.includes(g)));
    } else {
      members = (w.devices ?? []).filter((d) => !taken.has(d));
    }
    members.forEach((d) => taken.add(d));
    if (members.length === 0) continue;
    waves.push({ index: waves.length, name: w.name ?? `wave ${i + 1}`, devices: members, status: 'pending' });
  }
  return waves;
}

/** The plan wave a state wave came from (empty waves were dropped, so indexes may differ). */
export function planWaveOf(plan: RolloutPlan, wave: WaveState): number {
  const byName = plan.waves.findIndex((w, i) => (w.name ?? `wave ${i + 1}`) === wave.name);
  return byName >= 0 ? byName : wave.index;
}
