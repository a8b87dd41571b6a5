/**
 * The fleet view's model: every device from its retained status reports
 * (`<prefix>/status/<device>/model` and `/update`), and every rollout from its retained state
 * (`<prefix>/rollout/<id>/state`). Fed with MQTT messages, it keeps one row per device and one
 * summary per rollout, gives a JSON snapshot for scripts and a fixed-width text rendering for the
 * terminal. Pure (no MQTT, no clock of its own), so it is tested without a broker or a terminal.
 */
import { DEFAULT_PREFIX } from '../update/topics';

export type DriftLevel = 'ok' | 'warn' | 'alarm';

export interface FleetDevice {
  device: string;
  groups: string[];
  model: { name: string; version: string; sha256: string } | null;
  update: { state: string; name: string; version: string; code?: string; reason?: string; ts?: string } | null;
  inferences: number | null;
  errors: number | null;
  inferencesPerMinute: number | null;
  /** errors / (inferences + errors) since the model started serving; null before any */
  errorRate: number | null;
  p99Ms: number | null;
  guardRejections: number | null;
  drift: DriftLevel | null;
  /** ISO time of the latest report (the device's own `ts`, else its arrival time) */
  lastSeen: string;
}

export interface FleetGate {
  gate: string;
  passed: boolean | null;
  figures: Record<string, number | string | null>;
  devices?: string[];
}

export interface FleetWave {
  index: number;
  label: string;
  devices: string[];
  status: string;
}

export interface FleetRollout {
  id: string;
  status: string;
  model: { name: string; version: string; sha256: string; size?: number } | null;
  /** index of the current wave (0-based), null when unknown */
  wave: number | null;
  waves: FleetWave[];
  soakEndsAt: string | null;
  gates: FleetGate[];
  /** per-device result as the rollout state names it (e.g. active, rejected, rolled-back, silent) */
  results: Record<string, string>;
  halt: { gate: string; devices: string[]; figures: Record<string, number | string | null>; reason?: string } | null;
  updatedAt: string | null;
}

export interface FleetSnapshot {
  format: 'edge-ml-fleet/1';
  prefix: string;
  ts: string;
  devices: FleetDevice[];
  rollouts: FleetRollout[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const LEVELS: DriftLevel[] = ['ok', 'warn', 'alarm'];

function figures(v: unknown): Record<string, number | string | null> {
  if (!isObject(v)) return {};
  const out: Record<string, number | string | null> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'number' || typeof x === 'string' || x === null) out[k] = x;
  }
  return out;
}

interface DeviceEntry {
  modelReport?: Json;
  updateReport?: Json;
  /** drift counts of the report before the latest, to tell the level reported since */
  previousDrift?: Record<string, number>;
  seen: number;
}

/** The drift level of a device: the report's own `level` if it has one, else the worst level whose count rose since the previous report (the worst ever counted on the first). */
function driftLevel(drift: unknown, previous: Record<string, number> | undefined): DriftLevel | null {
  if (!isObject(drift)) return null;
  const level = str(drift.level);
  if (level && (LEVELS as string[]).includes(level)) return level as DriftLevel;
  let found: DriftLevel | null = null;
  for (const l of LEVELS) {
    const n = num(drift[l]) ?? 0;
    const before = previous?.[l] ?? 0;
    if (previous ? n > before : n > 0) found = l;
  }
  if (found === null && previous) {
    // nothing new since the previous report: the level stays what it was
    for (const l of LEVELS) if ((num(drift[l]) ?? 0) > 0) found = l;
  }
  return found;
}

export class FleetView {
  private readonly devicesById = new Map<string, DeviceEntry>();
  private readonly rolloutsById = new Map<string, FleetRollout>();
  readonly prefix: string;

  constructor(prefix = DEFAULT_PREFIX) {
    this.prefix = prefix.replace(/\/+$/, '');
  }

  /** The topic filters to subscribe to. */
  subscriptions(): string[] {
    return [`${this.prefix}/status/+/model`, `${this.prefix}/status/+/update`, `${this.prefix}/rollout/+/state`];
  }

  /**
   * Takes one MQTT message; returns whether the view changed. An empty payload (a cleared retained
   * report) removes the device's report or the rollout; a payload that is not JSON is ignored.
   */
  handle(topic: string, payload: Buffer | string, now = Date.now()): boolean {
    const rest = topic.startsWith(`${this.prefix}/`) ? topic.slice(this.prefix.length + 1).split('/') : [];
    if (rest.length !== 3) return false;
    const [area, id, leaf] = rest as [string, string, string];
    const text = typeof payload === 'string' ? payload : payload.toString('utf8');
    let parsed: unknown;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        return false;
      }
      if (!isObject(parsed)) return false;
    }
    if (area === 'rollout' && leaf === 'state') {
      if (parsed === undefined) return this.rolloutsById.delete(id);
      this.rolloutsById.set(id, readRollout(id, parsed as Json));
      return true;
    }
    if (area !== 'status' || (leaf !== 'model' && leaf !== 'update')) return false;
    const entry = this.devicesById.get(id) ?? { seen: 0 };
    if (leaf === 'model') {
      if (parsed === undefined) delete entry.modelReport;
      else {
        const old = entry.modelReport?.drift;
        if (isObject(old)) entry.previousDrift = Object.fromEntries(LEVELS.map((l) => [l, num(old[l]) ?? 0]));
        entry.modelReport = parsed as Json;
      }
    } else if (parsed === undefined) delete entry.updateReport;
    else entry.updateReport = parsed as Json;
    if (!entry.modelReport && !entry.updateReport) return this.devicesById.delete(id);
    if (parsed !== undefined) entry.seen = Math.max(entry.seen, reportTime(parsed as Json) ?? now);
    this.devicesById.set(id, entry);
    return true;
  }

  devices(): FleetDevice[] {
    return [...this.devicesById.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([id, e]) => toDevice(id, e));
  }

  rollouts(): FleetRollout[] {
    return [...this.rolloutsById.values()].sort((a, b) => (b.updatedAt ?? '').localeCompare(a.updatedAt ?? ''));
  }

  snapshot(now = Date.now()): FleetSnapshot {
    return { format: 'edge-ml-fleet/1', prefix: this.prefix, ts: new Date(now).toISOString(), devices: this.devices(), rollouts: this.rollouts() };
  }

  render(now = Date.now()): string {
    return renderFleet(this.snapshot(now), now);
  }
}

function reportTime(report: Json): number | undefined {
  const ts = str(report.ts) ?? str(report.updatedAt);
  const t = ts ? Date.parse(ts) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

function toDevice(id: string, e: DeviceEntry): FleetDevice {
  const m = e.modelReport;
  const u = e.updateReport;
  const served = m && isObject(m.model) ? m.model : undefined;
  const inferences = served ? num(served.inferences) : null;
  const errors = served ? num(served.errors) : null;
  const total = (inferences ?? 0) + (errors ?? 0);
  const guard = m && isObject(m.guard) ? m.guard : undefined;
  const guardRejections = guard ? Object.values(guard).reduce<number>((sum, v) => sum + (num(v) ?? 0), 0) : null;
  const groups = strings(m?.groups).length ? strings(m?.groups) : strings(u?.groups);
  const model = served && str(served.name) !== undefined ? { name: str(served.name)!, version: str(served.version) ?? '', sha256: str(served.sha256) ?? '' } : null;
  const update = u && str(u.state)
    ? {
        state: str(u.state)!,
        name: str(u.name) ?? '',
        version: str(u.version) ?? '',
        ...(str(u.code) ? { code: str(u.code)! } : {}),
        ...(str(u.reason) ? { reason: str(u.reason)! } : {}),
        ...(str(u.ts) ? { ts: str(u.ts)! } : {}),
      }
    : null;
  return {
    device: id,
    groups,
    model,
    update,
    inferences,
    errors,
    inferencesPerMinute: served ? num(served.inferencesPerMinute) : null,
    errorRate: served && total > 0 ? (errors ?? 0) / total : null,
    p99Ms: served && isObject(served.latencyMs) ? num(served.latencyMs.p99) : null,
    guardRejections,
    drift: m ? driftLevel(m.drift, e.previousDrift) : null,
    lastSeen: new Date(e.seen).toISOString(),
  };
}

/** Reads a retained rollout state (format edge-ml-rollout/1) tolerantly: what is missing stays null/empty. */
export function readRollout(id: string, s: Json): FleetRollout {
  const model = isObject(s.model) && str(s.model.name) !== undefined
    ? {
        name: str(s.model.name)!,
        version: str(s.model.version) ?? '',
        sha256: str(s.model.sha256) ?? '',
        ...(num(s.model.size) !== null ? { size: num(s.model.size)! } : {}),
      }
    : null;
  const rawWaves = Array.isArray(s.waves) ? s.waves : [];
  const planWaves = isObject(s.plan) && Array.isArray(s.plan.waves) ? s.plan.waves : [];
  const count = Math.max(rawWaves.length, planWaves.length);
  const waves: FleetWave[] = [];
  for (let i = 0; i < count; i++) {
    const w = isObject(rawWaves[i]) ? (rawWaves[i] as Json) : {};
    const p = isObject(planWaves[i]) ? (planWaves[i] as Json) : {};
    const label = str(w.label) ?? str(w.name) ?? str(p.label) ?? str(p.name) ?? waveSize(p) ?? `wave ${i + 1}`;
    waves.push({ index: i, label, devices: strings(w.devices), status: str(w.status) ?? '' });
  }
  const gates = readGates(s.gates ?? s.gateResults);
  const results: Record<string, string> = {};
  const rawResults = s.devices ?? s.results;
  if (isObject(rawResults)) {
    for (const [device, r] of Object.entries(rawResults)) {
      const v = typeof r === 'string' ? r : isObject(r) ? (str(r.result) ?? str(r.state) ?? str(r.status)) : undefined;
      if (v) results[device] = v;
    }
  }
  const h = s.halt;
  const halt = isObject(h)
    ? { gate: str(h.gate) ?? '', devices: strings(h.devices), figures: figures(h.figures), ...(str(h.reason) ? { reason: str(h.reason)! } : {}) }
    : null;
  const wave = num(s.currentWave) ?? num(s.wave);
  return {
    id: str(s.id) ?? id,
    status: str(s.status) ?? '',
    model,
    wave,
    waves,
    soakEndsAt: str(s.soakEndsAt) ?? str(s.soakEnd) ?? null,
    gates,
    results,
    halt,
    updatedAt: str(s.updatedAt) ?? null,
  };
}

function waveSize(p: Json): string | undefined {
  if (typeof p.percent === 'number') return `${p.percent}%`;
  if (typeof p.count === 'number') return `${p.count} device${p.count === 1 ? '' : 's'}`;
  if (typeof p.size === 'number' || typeof p.size === 'string') return String(p.size);
  if (Array.isArray(p.groups)) return strings(p.groups).join(',');
  return undefined;
}

function readGates(v: unknown): FleetGate[] {
  const list: Array<[string | undefined, unknown]> = Array.isArray(v) ? v.map((g) => [undefined, g]) : isObject(v) ? Object.entries(v) : [];
  const out: FleetGate[] = [];
  for (const [key, g] of list) {
    if (!isObject(g)) continue;
    const gate = str(g.gate) ?? str(g.name) ?? key;
    if (!gate) continue;
    const passed = typeof g.passed === 'boolean' ? g.passed : typeof g.ok === 'boolean' ? g.ok : str(g.result) === 'pass' ? true : str(g.result) === 'fail' ? false : null;
    out.push({ gate, passed, figures: figures(g.figures ?? g), ...(Array.isArray(g.devices) ? { devices: strings(g.devices) } : {}) });
  }
  return out;
}

// ---- text rendering -------------------------------------------------------------------------

const dash = '-';
const fixed = (v: number | null, digits: number): string => (v === null ? dash : v.toFixed(digits));
const percent = (v: number | null): string => (v === null ? dash : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`);

/** "12s", "4m", "3h", "2d" since `iso`. */
export function age(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
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

function figureText(f: Record<string, number | string | null>): string {
  return Object.entries(f)
    .filter(([k]) => !['gate', 'name', 'passed', 'ok', 'result', 'devices'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v}`)
    .join(' ');
}

export function renderRollout(r: FleetRollout, now: number): string[] {
  const model = r.model ? `${r.model.name} ${r.model.version}` : dash;
  const current = r.wave !== null && r.waves.length ? ` wave ${r.wave + 1}/${r.waves.length}` : r.wave !== null ? ` wave ${r.wave + 1}` : '';
  const soak = r.soakEndsAt && r.status === 'running' ? `, soak ends in ${Math.max(0, Math.round((Date.parse(r.soakEndsAt) - now) / 1000))}s` : '';
  const lines = [`rollout ${r.id}: ${model}  ${r.status || dash}${current}${soak}`];
  const counts = (devices: string[]): string => {
    const by = new Map<string, number>();
    for (const d of devices) {
      const res = r.results[d] ?? 'pending';
      by.set(res, (by.get(res) ?? 0) + 1);
    }
    return [...by.entries()].map(([k, n]) => `${n} ${k}`).join(', ');
  };
  if (r.waves.length) {
    lines.push(
      ...table(
        ['wave', 'target', 'devices', 'status', 'results'],
        r.waves.map((w) => [String(w.index + 1), w.label, String(w.devices.length), w.status || (r.wave === w.index ? 'current' : dash), w.devices.length ? counts(w.devices) : dash]),
      ).map((l) => `  ${l}`),
    );
  }
  for (const g of r.gates) {
    const verdict = g.passed === null ? 'pending' : g.passed ? 'pass' : 'FAIL';
    lines.push(`  gate ${g.gate}: ${verdict}${figureText(g.figures) ? `  ${figureText(g.figures)}` : ''}`);
  }
  if (r.halt) {
    const figs = figureText(r.halt.figures);
    lines.push(`  HALTED by gate ${r.halt.gate || dash} on ${r.halt.devices.join(', ') || dash}${figs ? `  ${figs}` : ''}${r.halt.reason ? `  (${r.halt.reason})` : ''}`);
  }
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
  return lines.join('\n');
}
