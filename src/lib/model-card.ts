/**
 * The "model card" convention: a model file carries its own setup in ONNX `metadata_props`, under
 * keys prefixed `edgeml.`. Every value is a string; structured values are JSON. All keys are
 * optional; a key that is present but malformed is an error (a wrong card must not half-apply).
 *
 *   edgeml.name            model name (else the graph name, else the file name)
 *   edgeml.version         model version string (else ModelProto.model_version)
 *   edgeml.description     free text
 *   edgeml.task            "classification" | "regression" | "anomaly"
 *   edgeml.features        ["flow", "pressure", ...]  feature names in input-vector order
 *   edgeml.input           name of the input that takes the feature vector (default: first input)
 *   edgeml.units           { "flow": "m3/h", ... }
 *   edgeml.scaler          { "mean": [...], "scale": [...] }  model input = (x - mean) / scale
 *   edgeml.ranges          { "flow": [min, max], ... }  physically plausible ranges (ml-guard)
 *   edgeml.nan             "forbid" | "allow"  whether NaN (and +-Infinity alike) may reach the model (default forbid)
 *   edgeml.labels          ["normal", "cavitation", ...]  class index -> label
 *   edgeml.outputs         { "label": "...", "scores": "...", "score": "...", "value": "..." }
 *                          which output plays which role (ml-format)
 *   edgeml.logits          "true" when the scores output is raw logits (softmax to be applied)
 *   edgeml.target_scaler   { "mean": m, "scale": s }  regression output = y * scale + mean
 *   edgeml.thresholds      { "anomaly": 0.8, "confidence": 0.5, "hysteresis": 0.1 }
 *   edgeml.training_stats  { "flow": { "mean", "std", "min", "max", "histogram"?: { "edges": [...], "counts": [...] } }, ... }
 *   edgeml.image           image preprocessing for ml-image (src/lib/image/options.ts)
 *   edgeml.detection       detection decoding for ml-format (src/lib/format/detection.ts)
 *   edgeml.provenance      { "training_data": { "sha256", "rows", "file"? }, "created", "source_commit"?, "tool"? }
 *                          where the card came from (written by the edge-ml-card tool)
 */
import { EdgeMlError } from './errors';
import { parseImageCard, type ImageSpec } from './image/options';
import { parseDetectionCard, type DetectionSpec } from './format/detection';

export type ModelTask = 'classification' | 'regression' | 'anomaly' | 'detection' | 'segmentation';
export const MODEL_TASKS: readonly ModelTask[] = ['classification', 'regression', 'anomaly', 'detection', 'segmentation'];

export interface FeatureStats {
  mean: number;
  std: number;
  min: number;
  max: number;
  count?: number;
  histogram?: { edges: number[]; counts: number[] };
}

export interface ModelCard {
  name?: string;
  version?: string;
  description?: string;
  task?: ModelTask;
  features?: string[];
  input?: string;
  units?: Record<string, string>;
  scaler?: { mean: number[]; scale: number[] };
  ranges?: Record<string, [number, number]>;
  nan?: 'forbid' | 'allow';
  labels?: string[];
  outputs?: { label?: string; scores?: string; score?: string; value?: string };
  logits?: boolean;
  targetScaler?: { mean: number; scale: number };
  thresholds?: { anomaly?: number; confidence?: number; hysteresis?: number };
  trainingStats?: Record<string, FeatureStats>;
  image?: ImageSpec;
  detection?: DetectionSpec;
  provenance?: ModelProvenance;
}

export interface ModelProvenance {
  trainingData: { sha256: string; rows: number; file?: string };
  created: string;
  sourceCommit?: string;
  tool?: string;
}

export const MODEL_CARD_PREFIX = 'edgeml.';

function invalid(key: string, reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_MODELCARD_INVALID', `model card key ${key}: ${reason}`, { key, reason });
}

function json(metadata: Record<string, string>, key: string): unknown {
  const raw = metadata[MODEL_CARD_PREFIX + key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw invalid(MODEL_CARD_PREFIX + key, 'not valid JSON');
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function numArray(v: unknown, key: string): number[] {
  if (!Array.isArray(v) || !v.every(isNum)) throw invalid(key, 'expected an array of numbers');
  return v;
}

function strArray(v: unknown, key: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalid(key, 'expected an array of strings');
  return v;
}

function strMap(v: unknown, key: string): Record<string, string> {
  if (!isObj(v) || !Object.values(v).every((s) => typeof s === 'string')) throw invalid(key, 'expected an object of strings');
  return v as Record<string, string>;
}

/**
 * The structured keys of a card, read through `get` (a metadata key's parsed JSON, or a property of
 * a card object) and named in errors through `name`. One set of rules for both ways in.
 */
function readStructured(card: ModelCard, get: (key: string) => unknown, name: (key: string) => string): void {
  const features = get('features');
  if (features !== undefined) card.features = strArray(features, name('features'));
  const labels = get('labels');
  if (labels !== undefined) card.labels = strArray(labels, name('labels'));
  const units = get('units');
  if (units !== undefined) card.units = strMap(units, name('units'));
  const outputs = get('outputs');
  if (outputs !== undefined) card.outputs = strMap(outputs, name('outputs'));

  const scaler = get('scaler');
  if (scaler !== undefined) {
    if (!isObj(scaler)) throw invalid(name('scaler'), 'expected { mean, scale }');
    const mean = numArray(scaler.mean, name('scaler') + '.mean');
    const scale = numArray(scaler.scale, name('scaler') + '.scale');
    if (mean.length !== scale.length) throw invalid(name('scaler'), 'mean and scale differ in length');
    if (scale.some((s) => s === 0)) throw invalid(name('scaler'), 'a scale of 0');
    if (card.features && card.features.length !== mean.length) throw invalid(name('scaler'), 'length differs from features');
    card.scaler = { mean, scale };
  }

  const target = get('target_scaler');
  if (target !== undefined) {
    if (!isObj(target) || !isNum(target.mean) || !isNum(target.scale)) throw invalid(name('target_scaler'), 'expected { mean, scale } numbers');
    card.targetScaler = { mean: target.mean, scale: target.scale };
  }

  const ranges = get('ranges');
  if (ranges !== undefined) {
    if (!isObj(ranges)) throw invalid(name('ranges'), 'expected { feature: [min, max] }');
    card.ranges = {};
    for (const [feature, r] of Object.entries(ranges)) {
      const pair = numArray(r, `${name('ranges')}.${feature}`);
      if (pair.length !== 2 || pair[0]! > pair[1]!) throw invalid(`${name('ranges')}.${feature}`, 'expected [min, max] with min <= max');
      card.ranges[feature] = [pair[0]!, pair[1]!];
    }
  }

  const thresholds = get('thresholds');
  if (thresholds !== undefined) {
    if (!isObj(thresholds) || !Object.values(thresholds).every(isNum)) throw invalid(name('thresholds'), 'expected an object of numbers');
    card.thresholds = { ...thresholds } as ModelCard['thresholds'];
  }

  const stats = get('training_stats');
  if (stats !== undefined) {
    if (!isObj(stats)) throw invalid(name('training_stats'), 'expected { feature: stats }');
    card.trainingStats = {};
    for (const [feature, s] of Object.entries(stats)) {
      const key = `${name('training_stats')}.${feature}`;
      if (!isObj(s) || !isNum(s.mean) || !isNum(s.std) || !isNum(s.min) || !isNum(s.max)) throw invalid(key, 'expected { mean, std, min, max }');
      if (s.std < 0 || s.min > s.max) throw invalid(key, 'expected std >= 0 and min <= max');
      const entry: FeatureStats = { mean: s.mean, std: s.std, min: s.min, max: s.max };
      if (isNum(s.count) && s.count >= 0) entry.count = s.count;
      if (s.histogram !== undefined) {
        if (!isObj(s.histogram)) throw invalid(key, 'histogram must be { edges, counts }');
        const edges = numArray(s.histogram.edges, `${key}.histogram.edges`);
        const counts = numArray(s.histogram.counts, `${key}.histogram.counts`);
        if (edges.length !== counts.length + 1) throw invalid(key, 'histogram needs one more edge than counts');
        if (edges.some((e, i) => i > 0 && !(e > edges[i - 1]!))) throw invalid(key, 'histogram edges must increase');
        if (counts.some((c) => c < 0)) throw invalid(key, 'histogram counts must be >= 0');
        entry.histogram = { edges, counts };
      }
      card.trainingStats[feature] = entry;
    }
  }
}

/** Reads the model card from ONNX metadata_props. Throws EDGEML_MODELCARD_INVALID on a malformed key. */
export function parseModelCard(metadata: Record<string, string>): ModelCard {
  const card: ModelCard = {};
  const p = MODEL_CARD_PREFIX;
  const str = (key: string): string | undefined => metadata[p + key];

  // An empty name is no name: the graph or file name applies (an empty name would leave a hole in every topic).
  if (str('name')) card.name = str('name');
  if (str('version') !== undefined) card.version = str('version');
  if (str('description') !== undefined) card.description = str('description');
  if (str('input') !== undefined) card.input = str('input');

  const task = str('task');
  if (task !== undefined) {
    if (!(MODEL_TASKS as readonly string[]).includes(task)) throw invalid(p + 'task', `unknown task "${task}"`);
    card.task = task as ModelTask;
  }
  const nan = str('nan');
  if (nan !== undefined) {
    if (nan !== 'forbid' && nan !== 'allow') throw invalid(p + 'nan', 'expected "forbid" or "allow"');
    card.nan = nan;
  }
  const logits = str('logits');
  if (logits !== undefined) card.logits = logits === 'true';

  readStructured(
    card,
    (key) => json(metadata, key),
    (key) => p + key,
  );
  const image = json(metadata, 'image');
  if (image !== undefined) card.image = parseImageCard(image);
  const detection = json(metadata, 'detection');
  if (detection !== undefined) card.detection = parseDetectionCard(detection);
  const provenance = json(metadata, 'provenance');
  if (provenance !== undefined) card.provenance = parseProvenance(provenance, p + 'provenance');
  return card;
}

/** Card object properties by metadata key (the two that differ in spelling). */
const CARD_PROPERTY: Record<string, keyof ModelCard> = { target_scaler: 'targetScaler', training_stats: 'trainingStats' };
const CARD_KEYS = new Set<string>([
  'name',
  'version',
  'description',
  'task',
  'features',
  'input',
  'units',
  'scaler',
  'ranges',
  'nan',
  'labels',
  'outputs',
  'logits',
  'targetScaler',
  'thresholds',
  'trainingStats',
  'image',
  'detection',
]);

/** True when `v` survives JSON.stringify as it is (no BigInt, function, symbol or non-finite number). */
function jsonSafe(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object' || depth > 64) return false;
  return Array.isArray(v) ? v.every((x) => jsonSafe(x, depth + 1)) : Object.values(v).every((x) => jsonSafe(x, depth + 1));
}

/**
 * Checks a card that arrives as an object (msg.modelCard): the same rules as parseModelCard, and a
 * fresh card object as the result. An empty name counts as no name. Keys this package does not know
 * are kept if they are plain JSON. Throws EDGEML_MODELCARD_INVALID with the key and the reason.
 */
export function checkModelCard(value: unknown, where = 'msg.modelCard'): ModelCard {
  if (!isObj(value)) throw invalid(where, 'expected an object');
  const name = (key: string): string => `${where}.${CARD_PROPERTY[key] ?? key}`;
  const card: ModelCard = {};
  for (const key of ['name', 'version', 'description', 'input'] as const) {
    const v = value[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(name(key), 'expected a string');
    if (key !== 'name' || v !== '') card[key] = v;
  }
  if (value.task !== undefined) {
    if (typeof value.task !== 'string' || !(MODEL_TASKS as readonly string[]).includes(value.task)) throw invalid(name('task'), `expected one of ${MODEL_TASKS.join(', ')}`);
    card.task = value.task as ModelTask;
  }
  if (value.nan !== undefined) {
    if (value.nan !== 'forbid' && value.nan !== 'allow') throw invalid(name('nan'), 'expected "forbid" or "allow"');
    card.nan = value.nan;
  }
  if (value.logits !== undefined) {
    if (typeof value.logits !== 'boolean') throw invalid(name('logits'), 'expected true or false');
    card.logits = value.logits;
  }
  readStructured(card, (key) => value[CARD_PROPERTY[key] ?? key], name);
  for (const [key, v] of Object.entries(value)) {
    if (CARD_KEYS.has(key)) continue;
    if (!jsonSafe(v)) throw invalid(`${where}.${key}`, 'not plain JSON');
    (card as Record<string, unknown>)[key] = v;
  }
  if (value.image !== undefined) card.image = parseImageCard(value.image);
  if (value.detection !== undefined) card.detection = parseDetectionCard(value.detection);
  return card;
}

function parseProvenance(v: unknown, key: string): ModelProvenance {
  if (!isObj(v) || !isObj(v.training_data)) throw invalid(key, 'expected { training_data: { sha256, rows }, created }');
  const data = v.training_data;
  if (typeof data.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(data.sha256)) throw invalid(key, 'training_data.sha256 must be 64 hex digits');
  if (!isNum(data.rows) || !Number.isInteger(data.rows) || data.rows < 0) throw invalid(key, 'training_data.rows must be a whole number');
  if (typeof v.created !== 'string' || Number.isNaN(Date.parse(v.created))) throw invalid(key, 'created must be a date (ISO 8601)');
  const out: ModelProvenance = { trainingData: { sha256: data.sha256, rows: data.rows }, created: v.created };
  if (typeof data.file === 'string') out.trainingData.file = data.file;
  if (v.source_commit !== undefined) {
    if (typeof v.source_commit !== 'string') throw invalid(key, 'source_commit must be a string');
    out.sourceCommit = v.source_commit;
  }
  if (typeof v.tool === 'string') out.tool = v.tool;
  return out;
}

/** The inverse of parseModelCard: metadata_props entries for a card (used by model-writing scripts). */
export function modelCardToMetadata(card: ModelCard): Record<string, string> {
  const p = MODEL_CARD_PREFIX;
  const out: Record<string, string> = {};
  const put = (key: string, value: unknown, asJson = true): void => {
    if (value !== undefined) out[p + key] = asJson ? JSON.stringify(value) : String(value);
  };
  put('name', card.name, false);
  put('version', card.version, false);
  put('description', card.description, false);
  put('task', card.task, false);
  put('input', card.input, false);
  put('nan', card.nan, false);
  put('logits', card.logits, false);
  put('features', card.features);
  put('labels', card.labels);
  put('units', card.units);
  put('outputs', card.outputs);
  put('scaler', card.scaler);
  put('target_scaler', card.targetScaler);
  put('ranges', card.ranges);
  put('thresholds', card.thresholds);
  put('training_stats', card.trainingStats);
  put('image', card.image);
  put('detection', card.detection);
  if (card.provenance) {
    const { trainingData, created, sourceCommit, tool } = card.provenance;
    put('provenance', { training_data: trainingData, created, ...(sourceCommit !== undefined ? { source_commit: sourceCommit } : {}), ...(tool !== undefined ? { tool } : {}) });
  }
  return out;
}
