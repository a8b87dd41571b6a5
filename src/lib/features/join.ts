/**
 * Joins values that arrive one at a time (an OPC UA client sends one message per node id; MQTT one
 * per topic) into one named feature vector. Each value keeps its own timestamp (the source's when it
 * has one); a vector is complete only when every feature has a value no older than `maxAgeMs`
 * relative to the newest, so a stale reading is never mixed with fresh ones. Pure logic.
 */
import { EdgeMlError } from '../errors';

export interface FeatureMapping {
  /** Feature name, in vector order. */
  name: string;
  /** What identifies its values: an OPC UA node id, a browse name, an MQTT topic. */
  source: string;
}

/**
 * Parses the mapping table: one feature per line, `name = source` or just `name` (source = name).
 * Empty lines and lines starting with # are skipped.
 */
export function parseMapping(text: string): FeatureMapping[] {
  const out: FeatureMapping[] = [];
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = (eq < 0 ? line : line.slice(0, eq)).trim();
    // an OPC UA node id itself holds "=" (ns=1;s=Flow): only the first one separates
    const source = (eq < 0 ? line : line.slice(eq + 1)).trim();
    if (name === '' || source === '') throw new EdgeMlError('EDGEML_FEATURES_CONFIG', `mapping line ${n + 1}: expected "name = source"`, { reason: `mapping line ${n + 1}: expected "name = source"` });
    if (out.some((m) => m.name === name))
      throw new EdgeMlError('EDGEML_FEATURES_CONFIG', `mapping line ${n + 1}: feature "${name}" twice`, { reason: `mapping line ${n + 1}: feature "${name}" twice` });
    if (out.some((m) => m.source === source))
      throw new EdgeMlError('EDGEML_FEATURES_CONFIG', `mapping line ${n + 1}: source "${source}" twice`, { reason: `mapping line ${n + 1}: source "${source}" twice` });
    out.push({ name, source });
  }
  if (out.length === 0) throw new EdgeMlError('EDGEML_FEATURES_CONFIG', 'the mapping names no feature', { reason: 'the mapping names no feature' });
  return out;
}

export interface Reading {
  source: string;
  value: unknown;
  /** ms since the epoch */
  time: number;
}

export interface JoinedVector {
  features: Record<string, number>;
  /** Time of each value. */
  times: Record<string, number>;
  /** Newest minus oldest value time. */
  spreadMs: number;
  time: number;
}

export type JoinResult = { vector: JoinedVector } | { waiting: string[]; stale: string[] };

/** A value as a number: numbers, numeric strings and booleans (1/0); anything else is refused. */
function toNumber(source: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'boolean' ? (value ? 1 : 0) : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n)) {
    const shown = typeof value === 'object' ? (JSON.stringify(value) ?? String(value)) : String(value);
    throw new EdgeMlError('EDGEML_FEATURES_VALUE_INVALID', `value of ${source} is not a finite number: ${shown.slice(0, 60)}`, { source, value: shown.slice(0, 60) });
  }
  return n;
}

export class FeatureJoin {
  private readonly bySource: Map<string, FeatureMapping>;
  private readonly latest = new Map<string, { value: number; time: number }>();

  constructor(
    readonly mapping: FeatureMapping[],
    readonly maxAgeMs: number,
    /** Clear the values after each complete vector (one vector per full set of new values). */
    private readonly reset = false,
  ) {
    this.bySource = new Map(mapping.map((m) => [m.source, m]));
    if (!(maxAgeMs > 0)) throw new EdgeMlError('EDGEML_FEATURES_CONFIG', 'maximum age must be above 0 ms', { reason: 'maximum age must be above 0 ms' });
  }

  /** Takes readings (all or nothing: a bad one leaves the state as it was) and says what is complete. */
  add(readings: Reading[]): JoinResult {
    const checked = readings.map((r) => {
      const m = this.bySource.get(r.source) ?? this.mapping.find((x) => x.name === r.source);
      if (!m) {
        throw new EdgeMlError('EDGEML_FEATURES_UNKNOWN_SOURCE', `${r.source} is not in the mapping`, { source: r.source, known: this.mapping.map((x) => x.source).join(', ') });
      }
      if (!Number.isFinite(r.time)) throw new EdgeMlError('EDGEML_FEATURES_VALUE_INVALID', `value of ${r.source} has no valid timestamp`, { source: r.source, value: String(r.time) });
      return { name: m.name, value: toNumber(r.source, r.value), time: r.time };
    });
    for (const c of checked) {
      const prev = this.latest.get(c.name);
      // an older reading arriving late does not replace a newer one
      if (!prev || c.time >= prev.time) this.latest.set(c.name, { value: c.value, time: c.time });
    }
    return this.state();
  }

  private state(): JoinResult {
    const waiting = this.mapping.filter((m) => !this.latest.has(m.name)).map((m) => m.name);
    if (waiting.length) return { waiting, stale: [] };
    const times = this.mapping.map((m) => this.latest.get(m.name)!.time);
    const newest = Math.max(...times);
    const stale = this.mapping.filter((m) => newest - this.latest.get(m.name)!.time > this.maxAgeMs).map((m) => m.name);
    if (stale.length) return { waiting: [], stale };
    const features: Record<string, number> = {};
    const at: Record<string, number> = {};
    for (const m of this.mapping) {
      const v = this.latest.get(m.name)!;
      features[m.name] = v.value;
      at[m.name] = v.time;
    }
    if (this.reset) this.latest.clear();
    return { vector: { features, times: at, spreadMs: newest - Math.min(...times), time: newest } };
  }
}
