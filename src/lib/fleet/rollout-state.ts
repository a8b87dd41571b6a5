/**
 * The retained state of a fleet rollout: `<prefix>/rollout/<rolloutId>/state` (retained, QoS 1,
 * JSON, format "edge-ml-rollout/1"). The broker is the rollout's memory: any host that reads this
 * topic can show, pause, resume or abort the rollout, and a publisher that was killed picks it up
 * where it stopped. Commands go to `<prefix>/rollout/<rolloutId>/control` (retained, last one wins).
 *
 * Everything a host reads from the broker is untrusted: parseRolloutState and parseRolloutControl
 * validate it and throw EDGEML_FLEET_STATE_INVALID / EDGEML_FLEET_CONTROL_INVALID.
 */
import { EdgeMlError } from '../errors';

export const ROLLOUT_FORMAT = 'edge-ml-rollout/1';

export type RolloutStatus = 'running' | 'paused' | 'halted' | 'aborted' | 'completed' | 'rolling-back';
export const ROLLOUT_STATUSES: readonly RolloutStatus[] = ['running', 'paused', 'halted', 'aborted', 'completed', 'rolling-back'];
/** Statuses after which nothing more happens. */
export const FINAL_STATUSES: readonly RolloutStatus[] = ['halted', 'aborted', 'completed'];

export type GateName = 'update' | 'silent' | 'errorRate' | 'latencyP99' | 'guardRejections' | 'drift' | 'labelShift' | 'scorePsi';
export const GATE_NAMES: readonly GateName[] = ['update', 'silent', 'errorRate', 'latencyP99', 'guardRejections', 'drift', 'labelShift', 'scorePsi'];

export type DriftLevel = 'ok' | 'warn' | 'alarm';
export const DRIFT_LEVELS: readonly DriftLevel[] = ['ok', 'warn', 'alarm'];

/** Health thresholds; every one optional in a plan, the defaults are DEFAULT_GATES. */
export interface GateThresholds {
  /** Highest share of failed inferences, errors / (inferences + errors). */
  maxErrorRate: number;
  /** Highest p99 latency of the new version divided by the same device's previous version's p99. */
  maxP99Ratio: number;
  /** Highest share of inferences the guard flagged. */
  maxGuardRejectionRate: number;
  /** Worst drift level still healthy. */
  maxDriftLevel: DriftLevel;
  /** Highest total variation distance between label shares of the new and the previous version (0..1). */
  maxLabelShift: number;
  /** Highest population stability index of the score histogram against the previous version. */
  maxScorePsi: number;
  /** Inferences a device must have run on the new version before its figures count. */
  minInferences: number;
  /** What a device that gives no usable report within the wave's time counts as. */
  silent: 'fail' | 'skip';
}

export const DEFAULT_GATES: Readonly<GateThresholds> = {
  maxErrorRate: 0.05,
  maxP99Ratio: 1.5,
  maxGuardRejectionRate: 0.2,
  maxDriftLevel: 'warn',
  maxLabelShift: 0.2,
  maxScorePsi: 0.25,
  minInferences: 1,
  silent: 'fail',
};

/** One wave of a plan. `size` is cumulative: "10%" means 10 % of the target devices have it after this wave. */
export interface WavePlan {
  name?: string;
  /** A device count (cumulative) or a percentage "10%" of the devices reporting for the target. */
  size?: number | string;
  /** Or: every not yet updated device in these groups. */
  groups?: string[];
  /** Or: these device ids. */
  devices?: string[];
  /** How long the wave's devices run the new model before the gates decide (ms). */
  soakMs?: number;
  gates?: Partial<GateThresholds>;
}

export interface RolloutPlan {
  waves: WavePlan[];
  /** Gate thresholds for every wave (a wave's own `gates` override them). */
  gates?: Partial<GateThresholds>;
  /** Only devices in one of these groups take part (default: every device reporting the model name). */
  groups?: string[];
  /** Default soak of a wave (ms). */
  soakMs?: number;
  /** How long a wave's devices may take to report the update active or rejected (ms). */
  updateTimeoutMs?: number;
  /** How long to wait for the wave's devices to report a rollback (ms). */
  rollbackTimeoutMs?: number;
  /** A lower version than the devices run is refused by them unless this is true. */
  downgrade?: boolean;
  /** The signed manifests expire this long after the rollout starts (ms); devices refuse them after. */
  expiresInMs?: number;
  /** Bytes per chunk (default 256 KiB). */
  chunkSize?: number;
}

export type WaveStatus = 'pending' | 'deploying' | 'soaking' | 'passed' | 'failed' | 'skipped';

export interface GateResult {
  gate: GateName;
  device: string;
  passed: boolean;
  /** The device's figure on the new version (null: not reported). */
  value: number | string | null;
  /** The same device's figure on its previous version, where the gate compares with it. */
  baseline?: number | string | null;
  threshold: number | string;
  detail?: string;
}

export interface WaveState {
  index: number;
  name: string;
  devices: string[];
  status: WaveStatus;
  startedAt?: string;
  /** When every device of the wave had reported the update (or the update timeout ran out). */
  deployedAt?: string;
  soakEndsAt?: string;
  finishedAt?: string;
  gates?: GateResult[];
}

export type DeviceOutcome = 'pending' | 'sent' | 'active' | 'healthy' | 'unhealthy' | 'rejected' | 'rolling-back' | 'rolled-back' | 'silent' | 'skipped';

export interface DeviceResult {
  wave: number;
  outcome: DeviceOutcome;
  /** Version the device ran before the rollout (from its report at discovery). */
  fromVersion?: string;
  code?: string;
  reason?: string;
  ts: string;
}

export interface RolloutHalt {
  gate: GateName;
  wave: number;
  devices: string[];
  figures: GateResult[];
  at: string;
}

export interface RolloutModel {
  name: string;
  version: string;
  sha256: string;
  size: number;
}

/** The signed-manifest fields that do not change between waves, so a resumed publisher can sign the next ones. */
export interface RolloutManifestBase {
  chunkSize: number;
  chunks: number;
  chunkSha256: string[];
  createdAt: string;
  sequence: number;
  expiresAt?: string;
  downgrade?: boolean;
  /** The manifests are signed: a resumed publisher needs the private key. */
  signed?: boolean;
}

export interface RolloutState {
  format: typeof ROLLOUT_FORMAT;
  id: string;
  model: RolloutModel;
  manifest: RolloutManifestBase;
  plan: RolloutPlan;
  status: RolloutStatus;
  /** Index into `waves` of the wave under way (or the last one). */
  wave: number;
  waves: WaveState[];
  startedAt: string;
  /** End of the current wave's soak, if it soaks. */
  soakEndsAt?: string;
  /** Gate results of the current wave, with figures. */
  gates: GateResult[];
  devices: Record<string, DeviceResult>;
  halt?: RolloutHalt;
  /** Free text on why a rollout was aborted or could not go on. */
  reason?: string;
  /** The publisher process driving the rollout, refreshed every heartbeat. */
  engine?: { host: string; pid: number; at: string };
  /** ts of the last control message applied (each applies once). */
  controlTs?: string;
  updatedAt: string;
}

export type RolloutCommand = 'pause' | 'resume' | 'abort';
export const ROLLOUT_COMMANDS: readonly RolloutCommand[] = ['pause', 'resume', 'abort'];

export interface RolloutControl {
  command: RolloutCommand;
  ts: string;
  by?: string;
  reason?: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isValidRolloutId(id: string): boolean {
  return ID.test(id);
}

export function rolloutTopics(prefix = 'edge-ml'): {
  state(id: string): string;
  control(id: string): string;
  stateFilter(): string;
} {
  const p = prefix.replace(/\/+$/, '');
  return {
    state: (id) => `${p}/rollout/${id}/state`,
    control: (id) => `${p}/rollout/${id}/control`,
    stateFilter: () => `${p}/rollout/+/state`,
  };
}

function bad(code: 'EDGEML_FLEET_STATE_INVALID' | 'EDGEML_FLEET_CONTROL_INVALID', reason: string): EdgeMlError {
  const what = code === 'EDGEML_FLEET_STATE_INVALID' ? 'rollout state' : 'rollout control message';
  return new EdgeMlError(code, `invalid ${what}: ${reason}`, { reason });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function fromJson(raw: unknown, code: 'EDGEML_FLEET_STATE_INVALID' | 'EDGEML_FLEET_CONTROL_INVALID'): unknown {
  if (typeof raw !== 'string' && !Buffer.isBuffer(raw)) return raw;
  try {
    return JSON.parse(raw.toString());
  } catch {
    throw bad(code, 'not JSON');
  }
}

/**
 * Validates a retained rollout state (parsed JSON, a string or the payload bytes). The plan inside
 * is trusted as far as its shape: it was validated by the publisher that wrote it (parsePlan).
 */
export function parseRolloutState(input: unknown): RolloutState {
  const raw = fromJson(input, 'EDGEML_FLEET_STATE_INVALID');
  const fail = (reason: string): EdgeMlError => bad('EDGEML_FLEET_STATE_INVALID', reason);
  if (!isObject(raw)) throw fail('not an object');
  if (raw.format !== ROLLOUT_FORMAT) throw fail(`format must be "${ROLLOUT_FORMAT}"`);
  if (typeof raw.id !== 'string' || !isValidRolloutId(raw.id)) throw fail('id must be 1-100 of A-Z a-z 0-9 . _ -');
  const m = raw.model;
  if (!isObject(m) || typeof m.name !== 'string' || typeof m.version !== 'string' || typeof m.sha256 !== 'string' || !Number.isSafeInteger(m.size)) {
    throw fail('model must have name, version, sha256 and size');
  }
  const base = raw.manifest;
  if (
    !isObject(base) ||
    !Number.isSafeInteger(base.chunkSize) ||
    !Number.isSafeInteger(base.chunks) ||
    !isStringArray(base.chunkSha256) ||
    !isTime(base.createdAt) ||
    !Number.isSafeInteger(base.sequence)
  ) {
    throw fail('manifest must have chunkSize, chunks, chunkSha256, createdAt and sequence');
  }
  if (!isObject(raw.plan) || !Array.isArray(raw.plan.waves)) throw fail('plan must have waves');
  if (!ROLLOUT_STATUSES.includes(raw.status as RolloutStatus)) throw fail(`status must be one of ${ROLLOUT_STATUSES.join(', ')}`);
  if (!Array.isArray(raw.waves) || !raw.waves.every((w) => isObject(w) && Number.isSafeInteger(w.index) && isStringArray(w.devices) && typeof w.status === 'string')) {
    throw fail('waves must list index, devices and status');
  }
  if (!Number.isSafeInteger(raw.wave) || (raw.wave as number) < 0 || (raw.waves.length > 0 && (raw.wave as number) >= raw.waves.length)) {
    throw fail('wave must index waves');
  }
  if (!isTime(raw.startedAt) || !isTime(raw.updatedAt)) throw fail('startedAt and updatedAt must be ISO 8601 times');
  if (!Array.isArray(raw.gates)) throw fail('gates must be an array');
  if (!isObject(raw.devices) || !Object.values(raw.devices).every((d) => isObject(d) && Number.isSafeInteger(d.wave) && typeof d.outcome === 'string')) {
    throw fail('devices must map ids to { wave, outcome }');
  }
  if (raw.halt !== undefined && (!isObject(raw.halt) || !GATE_NAMES.includes(raw.halt.gate as GateName) || !isStringArray(raw.halt.devices))) {
    throw fail('halt must name a gate and devices');
  }
  return raw as unknown as RolloutState;
}

export function parseRolloutControl(input: unknown): RolloutControl {
  const raw = fromJson(input, 'EDGEML_FLEET_CONTROL_INVALID');
  if (!isObject(raw)) throw bad('EDGEML_FLEET_CONTROL_INVALID', 'not an object');
  if (!ROLLOUT_COMMANDS.includes(raw.command as RolloutCommand)) {
    throw bad('EDGEML_FLEET_CONTROL_INVALID', `command must be one of ${ROLLOUT_COMMANDS.join(', ')}`);
  }
  if (!isTime(raw.ts)) throw bad('EDGEML_FLEET_CONTROL_INVALID', 'ts must be an ISO 8601 time');
  const control: RolloutControl = { command: raw.command as RolloutCommand, ts: raw.ts };
  if (typeof raw.by === 'string') control.by = raw.by;
  if (typeof raw.reason === 'string') control.reason = raw.reason;
  return control;
}

/** The thresholds that apply to wave `index` of a plan. */
export function gatesFor(plan: RolloutPlan, index: number): GateThresholds {
  return { ...DEFAULT_GATES, ...(plan.gates ?? {}), ...(plan.waves[index]?.gates ?? {}) };
}
