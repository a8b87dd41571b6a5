/**
 * The training side of the model card: statistics of a training CSV, and writing the card into an
 * ONNX file's metadata_props while every other byte of the file stays as it was. Used by the
 * edge-ml-card bin; needs only Node.js (no ONNX Runtime).
 *
 * Ranges are robust percentiles: [P(q), P(100 - q)] of each feature (linear interpolation between
 * the sorted values, as numpy.percentile's default), q = 0.5 by default, widened on each side by
 * `margin` (default 5 %) of their span, so one outlier row does not widen what ml-guard accepts and
 * values just past the training extremes are not refused.
 * Training stats: mean, standard deviation (population, ddof 0 as numpy's default), min, max, count
 * and a histogram of `bins` equal-width bins from min to max (the last bin includes max).
 */
import { createHash } from 'node:crypto';
import { EdgeMlError } from '../errors';
import { MODEL_CARD_PREFIX, modelCardToMetadata, parseModelCard, type FeatureStats, type ModelCard } from '../model-card';
import { MODEL, STRING_ENTRY, decodeModel, messages, str } from '../onnx/model-file';
import { ProtoWriter, fieldRaw } from '../onnx/protobuf';

export interface TrainingTable {
  header: string[];
  rows: string[][];
}

function csvError(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_CARD_CSV_INVALID', `training CSV: ${reason}`, { reason });
}

/** RFC 4180 CSV (quotes, "" inside quotes, CRLF or LF); the first row is the header. */
export function parseCsv(text: string): TrainingTable {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let i = 0;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  while (i < src.length) {
    const c = src[i]!;
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      row.push(cell);
      cell = '';
      if (row.some((v) => v !== '') || row.length > 1) rows.push(row);
      row = [];
      if (c === '\r' && src[i + 1] === '\n') i++;
    } else cell += c;
    i++;
  }
  if (quoted) throw csvError('a quoted value is not closed');
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  const header = rows.shift();
  if (!header || header.length === 0) throw csvError('no header row');
  const names = header.map((h) => h.trim());
  if (new Set(names).size !== names.length) throw csvError('duplicate column names');
  rows.forEach((r, n) => {
    if (r.length !== names.length) throw csvError(`row ${n + 2} has ${r.length} values, the header ${names.length}`);
  });
  if (rows.length === 0) throw csvError('no data rows');
  return { header: names, rows };
}

/** The numbers of one column; a value that is not a finite number is an error naming its row. */
export function numericColumn(table: TrainingTable, name: string): number[] {
  const index = table.header.indexOf(name);
  if (index < 0) throw csvError(`no column "${name}" (columns: ${table.header.join(', ')})`);
  return table.rows.map((r, n) => {
    const raw = r[index]!.trim();
    const v = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(v)) throw csvError(`column "${name}", row ${n + 2}: "${raw}" is not a number`);
    return v;
  });
}

/** Percentile p (0..100) of sorted values, linear interpolation between closest ranks (numpy's default). */
export function percentile(sorted: number[], p: number): number {
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function featureStats(values: number[], bins: number): FeatureStats {
  const n = values.length;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / n);
  const width = (max - min) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? max : min + i * width));
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const b = width > 0 ? Math.min(bins - 1, Math.floor((v - min) / width)) : 0;
    counts[b]!++;
  }
  // A constant column: one bin of zero width would not be a histogram; widen it to [v - 0.5, v + 0.5].
  if (width === 0) {
    edges.splice(0, edges.length, ...Array.from({ length: bins + 1 }, (_, i) => min - 0.5 + i / bins));
    counts.fill(0);
    counts[Math.floor(bins / 2)] = n;
  }
  return { mean, std, min, max, count: n, histogram: { edges, counts } };
}

export function robustRange(values: number[], q: number, margin: number): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const lo = percentile(sorted, q);
  const hi = percentile(sorted, 100 - q);
  const pad = (hi - lo) * margin;
  return [lo - pad, hi + pad];
}

export interface StampOptions {
  features?: string[];
  /** Column that holds the label or target (not a feature). */
  target?: string;
  labels?: string[];
  task?: string;
  name?: string;
  version?: string;
  description?: string;
  scaler?: 'standard';
  thresholds?: string;
  sourceCommit?: string;
  trainFile?: string;
  bins?: number;
  rangePercentile?: number;
  rangeMargin?: number;
  now?: Date;
}

export interface Provenance {
  training_data: { file?: string; sha256: string; rows: number };
  created: string;
  source_commit?: string;
  tool: string;
}

/** The card entries (metadata_props) for a model trained on `csv`; validated with the nodes' parser. */
export function cardFromTraining(csv: Buffer, options: StampOptions): { metadata: Record<string, string>; card: ModelCard } {
  const table = parseCsv(csv.toString('utf8'));
  const features = options.features?.length ? options.features : table.header.filter((h) => h !== options.target);
  if (features.length === 0) throw csvError('no feature columns');
  const bins = options.bins ?? 20;
  if (!Number.isInteger(bins) || bins < 1 || bins > 1000) throw new EdgeMlError('EDGEML_CARD_ARGUMENT', `--bins ${bins}: expected 1..1000`, { reason: `--bins ${bins}: expected 1..1000` });
  const q = options.rangePercentile ?? 0.5;
  const margin = options.rangeMargin ?? 0.05;
  if (!(q >= 0 && q < 50) || !(margin >= 0))
    throw new EdgeMlError('EDGEML_CARD_ARGUMENT', 'range percentile must be in [0, 50) and margin >= 0', { reason: 'range percentile must be in [0, 50) and margin >= 0' });

  const card: ModelCard = { features };
  const trainingStats: Record<string, FeatureStats> = {};
  const ranges: Record<string, [number, number]> = {};
  for (const f of features) {
    const values = numericColumn(table, f);
    trainingStats[f] = featureStats(values, bins);
    ranges[f] = robustRange(values, q, margin);
  }
  card.trainingStats = trainingStats;
  card.ranges = ranges;
  if (options.scaler === 'standard') {
    card.scaler = { mean: features.map((f) => trainingStats[f]!.mean), scale: features.map((f) => trainingStats[f]!.std || 1) };
  }
  let labels = options.labels;
  if (!labels?.length && options.target && (options.task ?? 'classification') === 'classification') {
    const index = table.header.indexOf(options.target);
    if (index < 0) throw csvError(`no column "${options.target}" (columns: ${table.header.join(', ')})`);
    labels = [...new Set(table.rows.map((r) => r[index]!.trim()))].sort();
  }
  const metadata = modelCardToMetadata(card);
  const p = MODEL_CARD_PREFIX;
  // Values given as text go through the card parser below exactly as a user wrote them.
  if (labels?.length) metadata[p + 'labels'] = JSON.stringify(labels);
  if (options.task !== undefined) metadata[p + 'task'] = options.task;
  if (options.name !== undefined) metadata[p + 'name'] = options.name;
  if (options.version !== undefined) metadata[p + 'version'] = options.version;
  if (options.description !== undefined) metadata[p + 'description'] = options.description;
  if (options.thresholds !== undefined) metadata[p + 'thresholds'] = options.thresholds;
  const provenance: Provenance = {
    training_data: { ...(options.trainFile ? { file: options.trainFile } : {}), sha256: createHash('sha256').update(csv).digest('hex'), rows: table.rows.length },
    created: (options.now ?? new Date()).toISOString(),
    ...(options.sourceCommit ? { source_commit: options.sourceCommit } : {}),
    tool: 'edge-ml-card',
  };
  metadata[p + 'provenance'] = JSON.stringify(provenance);
  return { metadata, card: parseModelCard(metadata) };
}

/** metadata_props of a model file, in file order. */
export function readMetadata(model: Uint8Array): Record<string, string> {
  const { fields } = decodeModel(model);
  const out: Record<string, string> = {};
  for (const entry of messages(fields, MODEL.metadataProps)) out[str(entry, STRING_ENTRY.key)] = str(entry, STRING_ENTRY.value);
  return out;
}

/**
 * The model with `entries` set in metadata_props: every other field is copied byte for byte in its
 * place; metadata entries not named in `entries` stay as they were; the new entries follow them.
 * The resulting card is checked with the nodes' parser before anything is written.
 */
export function writeMetadata(model: Uint8Array, entries: Record<string, string>): Uint8Array {
  const { fields } = decodeModel(model);
  const merged = { ...readMetadata(model), ...entries };
  parseModelCard(merged);
  const w = new ProtoWriter();
  for (const f of fields) {
    if (f.no !== MODEL.metadataProps) {
      w.raw(fieldRaw(f));
      continue;
    }
    const key = str(messages([f], MODEL.metadataProps)[0]!, STRING_ENTRY.key);
    if (!(key in entries)) w.raw(fieldRaw(f));
  }
  for (const [key, value] of Object.entries(entries)) w.message(MODEL.metadataProps, (m) => m.string(STRING_ENTRY.key, key).string(STRING_ENTRY.value, value));
  return w.finish();
}
