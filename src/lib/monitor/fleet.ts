/**
 * The fleet view's model: every device from its retained status reports
 * (`<prefix>/status/<device>/model` and `/update`), and every rollout from its retained state
 * (`<prefix>/rollout/<id>/state`). Fed with MQTT messages, it keeps one row per device and one
 * summary per rollout, gives a JSON snapshot for scripts and a fixed-width text rendering for the
 * terminal. Pure (no MQTT, no clock of its own), so it is tested without a broker or a terminal.
 */
import { errorRate, FleetDirectory, type DeviceView } from '../fleet/device-status';
import { parseRolloutState, type DriftLevel, type GateResult, type RolloutHalt, type RolloutState, type WavePlan } from '../fleet/rollout-state';
import { toEdgeMlError } from '../errors';
import { DEFAULT_PREFIX } from '../update/topics';

export interface FleetDevice {
  device: string;
  groups: string[];
  model: { name: string; version: string; sha256: string } | null;
  update: { state: string; name: string; version: string; code?: string; reason?: string; ts?: string } | null;
  inferences: number | null;
  errors: number | null;
  inferencesPerMinute: number | null;
  /** errors / (inferences + errors) of the version serving now (or since the flow started); null before any */
  errorRate: number | null;
  p99Ms: number | null;
  guardRejections: number | null;
  drift: DriftLevel | null;
  /** ISO time of the latest report (the device's own `ts`) */
  lastSeen: string | null;
}

export interface FleetWave {
  index: number;
  /** the wave's name in the plan, else its size ("1 device", "10%") or groups */
  label: string;
  devices: string[];
  status: string;
  soakEndsAt: string | null;
}

/** One gate of the current wave over its devices. */
export interface FleetGate {
  gate: string;
  devices: number;
  failed: string[];
  threshold: number | string;
  /** the figure of the device that fares worst (first failing one, else the highest value) */
  worst: { device: string; value: number | string | null; baseline: number | string | null } | null;
}

export interface FleetRollout {
  id: string;
  status: string;
  model: { name: string; version: string; sha256: string; size: number };
  /** index of the current wave (0-based) */
  wave: number;
  waves: FleetWave[];
  soakEndsAt: string | null;
  gates: FleetGate[];
  /** outcome per device (pending, sent, active, healthy, unhealthy, rejected, rolled-back, silent, skipped) */
  results: Record<string, string>;
  halt: RolloutHalt | null;
  reason: string | null;
  startedAt: string;
  updatedAt: string;
}

/** A retained message the view could not use (shown, so a broken device or publisher is visible). */
export interface FleetProblem {
  topic: string;
  code: string;
  reason: string;
}

export interface FleetSnapshot {
  format: 'edge-ml-fleet/1';
  prefix: string;
  ts: string;
  devices: FleetDevice[];
  rollouts: FleetRollout[];
  problems: FleetProblem[];
}

const LEVELS: DriftLevel[] = ['ok', 'warn', 'alarm'];

/**
 * The drift level of a device: that of its current version's figures if it reports them, else the
 * worst level whose count rose since its previous report (the worst ever counted on the first).
 */
function driftLevel(view: DeviceView, previous: Record<string, number> | undefined): DriftLevel | null {
  const report = view.model;
  if (!report) return null;
  if (report.current?.driftLevel) return report.current.driftLevel;
  let found: DriftLevel | null = null;
  for (const l of LEVELS) {
    const n = report.drift[l] ?? 0;
    if (previous ? n > (previous[l] ?? 0) : n > 0) found = l;
  }
  if (found === null && previous) for (const l of LEVELS) if ((report.drift[l] ?? 0) > 0) found = l; // unchanged since
  return found;
}

export class FleetView {
  private readonly directory: FleetDirectory;
  /** drift counts of each device's report before the latest */
  private readonly previousDrift = new Map<string, Record<string, number>>();
  private readonly rolloutsById = new Map<string, RolloutState>();
  private readonly problemsByTopic = new Map<string, FleetProblem>();
  readonly prefix: string;

  constructor(prefix = DEFAULT_PREFIX) {
    this.prefix = prefix.replace(/\/+$/, '');
    this.directory = new FleetDirectory(this.prefix);
  }

  /** The topic filters to subscribe to. */
  subscriptions(): string[] {
    return [`${this.prefix}/status/+/model`, `${this.prefix}/status/+/update`, `${this.prefix}/rollout/+/state`];
  }

  /**
   * Takes one MQTT message; returns whether the view changed. An empty payload (a cleared retained
   * message) removes the report or the rollout. A malformed one leaves what was there and is listed
   * under problems (with its EDGEML_FLEET_* code) until a good one replaces it.
   */
  handle(topic: string, payload: Buffer | string): boolean {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const rest = topic.startsWith(`${this.prefix}/`) ? topic.slice(this.prefix.length + 1).split('/') : [];
    if (rest.length !== 3) return false;
    const hadProblem = this.problemsByTopic.delete(topic);
    try {
      if (rest[0] === 'rollout' && rest[2] === 'state') {
        if (bytes.length === 0) return this.rolloutsById.delete(rest[1]!) || hadProblem;
        const state = parseRolloutState(bytes);
        this.rolloutsById.set(rest[1]!, state);
        return true;
      }
      const before = this.directory.get(rest[1]!)?.model?.drift;
      const view = this.directory.handle(topic, bytes);
      if (!view) return hadProblem;
      if (before && rest[2] === 'model') this.previousDrift.set(view.device, { ...before });
      return true;
    } catch (e) {
      const err = toEdgeMlError(e);
      this.problemsByTopic.set(topic, { topic, code: err.code, reason: err.message });
      return true;
    }
  }

  devices(): FleetDevice[] {
    return this.directory
      .all()
      .filter((v) => v.model || v.update)
      .sort((a, b) => a.device.localeCompare(b.device, 'en', { numeric: true }))
      .map((v) => toDevice(v, this.previousDrift.get(v.device)));
  }

  rollouts(): FleetRollout[] {
    return [...this.rolloutsById.values()].map(toRollout).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  problems(): FleetProblem[] {
    return [...this.problemsByTopic.values()];
  }

  snapshot(now = Date.now()): FleetSnapshot {
    return { format: 'edge-ml-fleet/1', prefix: this.prefix, ts: new Date(now).toISOString(), devices: this.devices(), rollouts: this.rollouts(), problems: this.problems() };
  }

  render(now = Date.now()): string {
    return renderFleet(this.snapshot(now), now);
  }
}

function toDevice(v: DeviceView, previousDrift: Record<string, number> | undefined): FleetDevice {
  const report = v.model;
  const served = report?.model ?? null;
  const current = report?.current;
  const u = v.update;
  // the current version's own figures where the device reports them, the process-wide ones otherwise
  const inferences = current?.inferences ?? served?.inferences ?? null;
  const errors = current?.errors ?? served?.errors ?? null;
  const guardRejections = current ? current.guardRejections : report ? Object.values(report.guard).reduce((sum, n) => sum + n, 0) : null;
  const identity = current ?? served;
  return {
    device: v.device,
    groups: v.groups.length ? v.groups : ((u as { groups?: string[] } | undefined)?.groups ?? []),
    model: identity ? { name: identity.name, version: identity.version, sha256: identity.sha256 } : null,
    update: u ? { state: u.state, name: u.name, version: u.version, ...(u.code ? { code: u.code } : {}), ...(u.reason ? { reason: u.reason } : {}), ts: u.ts } : null,
    inferences,
    errors,
    inferencesPerMinute: served?.inferencesPerMinute ?? null,
    errorRate: inferences !== null ? errorRate({ inferences, errors: errors ?? 0 }) : null,
    p99Ms: current ? current.p99Ms : (served?.latencyMs.p99 ?? null),
    guardRejections,
    drift: driftLevel(v, previousDrift),
    lastSeen: v.lastSeen ?? null,
  };
}

function waveLabel(plan: WavePlan | undefined, name: string, index: number): string {
  if (plan?.name) return plan.name;
  if (typeof plan?.size === 'number') return `${plan.size} device${plan.size === 1 ? '' : 's'}`;
  if (typeof plan?.size === 'string') return plan.size;
  if (plan?.groups?.length) return plan.groups.join(',');
  if (plan?.devices?.length) return plan.devices.length <= 3 ? plan.devices.join(',') : `${plan.devices.length} named`;
  return name || `wave ${index + 1}`;
}

function summariseGates(results: GateResult[]): FleetGate[] {
  const byGate = new Map<string, GateResult[]>();
  for (const r of results) byGate.set(r.gate, [...(byGate.get(r.gate) ?? []), r]);
  return [...byGate.entries()].map(([gate, rs]) => {
    const failed = rs.filter((r) => !r.passed);
    const numeric = (r: GateResult): number => (typeof r.value === 'number' ? r.value : -Infinity);
    const worst = failed[0] ?? [...rs].sort((a, b) => numeric(b) - numeric(a))[0];
    return {
      gate,
      devices: rs.length,
      failed: failed.map((r) => r.device),
      threshold: rs[0]!.threshold,
      worst: worst ? { device: worst.device, value: worst.value, baseline: worst.baseline ?? null } : null,
    };
  });
}

function toRollout(s: RolloutState): FleetRollout {
  const current = s.waves[s.wave];
  return {
    id: s.id,
    status: s.status,
    model: { name: s.model.name, version: s.model.version, sha256: s.model.sha256, size: s.model.size },
    wave: s.wave,
    waves: s.waves.map((w, i) => ({
      index: w.index,
      label: waveLabel(s.plan.waves[i], w.name, i),
      devices: w.devices,
      status: w.status,
      soakEndsAt: w.soakEndsAt ?? null,
    })),
    soakEndsAt: s.soakEndsAt ?? current?.soakEndsAt ?? null,
    gates: summariseGates(s.gates.length ? s.gates : (current?.gates ?? [])),
    results: Object.fromEntries(Object.entries(s.devices).map(([d, r]) => [d, r.outcome])),
    halt: s.halt ?? null,
    reason: s.reason ?? null,
    startedAt: s.startedAt,
    updatedAt: s.updatedAt,
  };
}

// ---- text rendering -------------------------------------------------------------------------

const dash = '-';
const fixed = (v: number | null, digits: number): string => (v === null ? dash : v.toFixed(digits));
const percent = (v: number | null): string => (v === null ? dash : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`);

/** "12s", "4m", "3h", "2d" since `iso`. */
export function age(iso: string | null, now: number): string {
  if (!iso) return dash;
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export const DEVICE_COLUMNS = ['device', 'groups', 'model', 'version', 'update', 'inf/min', 'errors', 'p99 ms', 'guard', 'drift', 'seen'];

function updateCell(d: FleetDevice): string {
  if (!d.update) return dash;
  const u = d.update;
  const versionNote = u.version && u.version !== d.model?.version ? ` ${u.version}` : '';
  return `${u.state}${versionNote}${u.code ? ` ${u.code}` : ''}`;
}

export function renderDevices(devices: FleetDevice[], now: number): string[] {
  return table(
    DEVICE_COLUMNS,
    devices.map((d) => [
      d.device,
      d.groups.length ? d.groups.join(',') : dash,
      d.model?.name || dash,
      d.model?.version || dash,
      updateCell(d),
      fixed(d.inferencesPerMinute, 0),
      percent(d.errorRate),
      fixed(d.p99Ms, 2),
      d.guardRejections === null ? dash : String(d.guardRejections),
      d.drift ?? dash,
      age(d.lastSeen, now),
    ]),
  );
}

const figure = (v: number | string | null): string => (typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : String(v));

export function renderRollout(r: FleetRollout, now: number): string[] {
  const current = r.waves.length ? ` wave ${r.wave + 1}/${r.waves.length}` : '';
  const soak = r.soakEndsAt && r.status === 'running' && Date.parse(r.soakEndsAt) > now ? `, soak ends in ${Math.round((Date.parse(r.soakEndsAt) - now) / 1000)}s` : '';
  const lines = [`rollout ${r.id}: ${r.model.name} ${r.model.version}  ${r.status}${current}${soak}`];
  const counts = (devices: string[]): string => {
    const by = new Map<string, number>();
    for (const d of devices) {
      const res = r.results[d] ?? 'pending';
      by.set(res, (by.get(res) ?? 0) + 1);
    }
    return [...by.entries()].map(([k, n]) => `${n} ${k}`).join(', ');
  };
  if (r.waves.length) {
    const rows = r.waves.map((w) => [String(w.index + 1), w.label, String(w.devices.length), w.status, w.devices.length ? counts(w.devices) : dash]);
    lines.push(...table(['wave', 'target', 'devices', 'status', 'results'], rows).map((l) => `  ${l}`));
  }
  for (const g of r.gates) {
    const verdict = g.failed.length ? `FAIL on ${g.failed.length} of ${g.devices}` : `pass ${g.devices}/${g.devices}`;
    const w = g.worst;
    const worst = w ? `  ${w.device} ${figure(w.value)}${w.baseline !== null ? ` (was ${figure(w.baseline)})` : ''}` : '';
    lines.push(`  gate ${g.gate}: ${verdict}  threshold ${figure(g.threshold)}${worst}`);
  }
  if (r.halt) {
    const h = r.halt;
    const shown = h.devices.slice(0, 8).join(', ') + (h.devices.length > 8 ? ` and ${h.devices.length - 8} more` : '');
    const f = h.figures.find((x) => !x.passed) ?? h.figures[0];
    const fig = f ? `  ${f.device}: ${figure(f.value)}${f.baseline !== undefined && f.baseline !== null ? ` (was ${figure(f.baseline)})` : ''} > ${figure(f.threshold)}` : '';
    lines.push(`  HALTED by gate ${h.gate} in wave ${h.wave + 1} on ${shown || dash}${fig}`);
  }
  if (r.reason) lines.push(`  ${r.reason}`);
  return lines;
}

export function renderFleet(s: FleetSnapshot, now: number): string {
  const lines: string[] = [];
  const active = s.rollouts.filter((r) => r.status === 'running' || r.status === 'paused' || r.status === 'rolling-back');
  const shown = active.length ? active : s.rollouts.slice(0, 1);
  for (const r of shown) lines.push(...renderRollout(r, now), '');
  if (!shown.length) lines.push('no rollout', '');
  lines.push(`${s.devices.length} device${s.devices.length === 1 ? '' : 's'}`);
  lines.push(...renderDevices(s.devices, now));
  if (s.problems.length) {
    lines.push('', `${s.problems.length} unreadable retained message${s.problems.length === 1 ? '' : 's'}:`);
    for (const p of s.problems.slice(0, 10)) lines.push(`  ${p.topic}: ${p.code} ${p.reason}`);
  }
  return lines.join('\n');
}
