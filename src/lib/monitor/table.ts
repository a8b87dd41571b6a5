/**
 * The terminal monitor's model: one row per topic with the latest prediction, a rate over the last
 * ten seconds, and a fixed-width text rendering. Pure, so it is tested without a terminal.
 */
export interface MonitorRow {
  topic: string;
  label?: string;
  score?: number;
  value?: number;
  anomaly?: boolean;
  features?: Record<string, number>;
  model?: string;
  count: number;
  arrivals: number[];
  last: number;
}

const RATE_WINDOW_MS = 10_000;

export class MonitorTable {
  readonly rows = new Map<string, MonitorRow>();

  update(topic: string, payload: unknown, now = Date.now()): void {
    const row = this.rows.get(topic) ?? { topic, count: 0, arrivals: [], last: now };
    const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
    row.count++;
    row.last = now;
    row.arrivals.push(now);
    while (row.arrivals.length && now - row.arrivals[0]! > RATE_WINDOW_MS) row.arrivals.shift();
    if (typeof p.label === 'string') row.label = p.label;
    if (typeof p.score === 'number') row.score = p.score;
    if (typeof p.value === 'number') row.value = p.value;
    if (typeof p.anomaly === 'boolean') row.anomaly = p.anomaly;
    const model = p.model as { name?: unknown; version?: unknown } | undefined;
    if (model && typeof model.name === 'string') row.model = `${model.name}${typeof model.version === 'string' ? ` ${model.version}` : ''}`;
    const features = (p.features ?? p.input) as Record<string, unknown> | undefined;
    if (features && typeof features === 'object') {
      row.features = Object.fromEntries(Object.entries(features).filter((e): e is [string, number] => typeof e[1] === 'number'));
    }
    this.rows.set(topic, row);
  }

  rate(row: MonitorRow, now = Date.now()): number {
    const recent = row.arrivals.filter((t) => now - t <= RATE_WINDOW_MS);
    return recent.length / (RATE_WINDOW_MS / 1000);
  }

  render(now = Date.now()): string {
    const fmt = (v: number | undefined, d = 3): string => (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(d));
    const header = ['topic', 'model', 'label', 'score', 'value', 'anomaly', 'msgs', 'rate/s', 'features'];
    const body = [...this.rows.values()].map((r) => [
      r.topic,
      r.model ?? '-',
      r.label ?? '-',
      fmt(r.score),
      fmt(r.value),
      r.anomaly === undefined ? '-' : r.anomaly ? 'YES' : 'no',
      String(r.count),
      this.rate(r, now).toFixed(1),
      r.features
        ? Object.entries(r.features)
            .map(([k, v]) => `${k}=${fmt(v, 2)}`)
            .join(' ')
        : '-',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
    return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
  }
}
