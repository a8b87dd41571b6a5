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
 *   edgeml.nan             "forbid" | "allow"  whether NaN may reach the model (default forbid)
 *   edgeml.labels          ["normal", "cavitation", ...]  class index -> label
 *   edgeml.outputs         { "label": "...", "scores": "...", "score": "...", "value": "..." }
 *                          which output plays which role (ml-format)
 *   edgeml.logits          "true" when the scores output is raw logits (softmax to be applied)
 *   edgeml.target_scaler   { "mean": m, "scale": s }  regression output = y * scale + mean
 *   edgeml.thresholds      { "anomaly": 0.8, "confidence": 0.5, "hysteresis": 0.1 }
 *   edgeml.training_stats  { "flow": { "mean", "std", "min", "max", "histogram"?: { "edges": [...], "counts": [...] } }, ... }
 *   edgeml.provenance      { "training_data": { "sha256", "rows", "file"? }, "created", "source_commit"?, "tool"? }
 *                          where the card came from (written by the edge-ml-card tool)
 */
import { EdgeMlError } from './errors';

export type ModelTask = 'classification' | 'regression' | 'anomaly';

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

/** Reads the model card from ONNX metadata_props. Throws EDGEML_MODELCARD_INVALID on a malformed key. */
export function parseModelCard(metadata: Record<string, string>): ModelCard {
  const card: ModelCard = {};
  const p = MODEL_CARD_PREFIX;
  const str = (key: string): string | undefined => metadata[p + key];

  if (str('name') !== undefined) card.name = str('name');
  if (str('version') !== undefined) card.version = str('version');
  if (str('description') !== undefined) card.description = str('description');
  if (str('input') !== undefined) card.input = str('input');

  const task = str('task');
  if (task !== undefined) {
    if (task !== 'classification' && task !== 'regression' && task !== 'anomaly') throw invalid(p + 'task', `unknown task "${task}"`);
    card.task = task;
  }
  const nan = str('nan');
  if (nan !== undefined) {
    if (nan !== 'forbid' && nan !== 'allow') throw invalid(p + 'nan', 'expected "forbid" or "allow"');
    card.nan = nan;
  }
  const logits = str('logits');
  if (logits !== undefined) card.logits = logits === 'true';

  const features = json(metadata, 'features');
  if (features !== undefined) card.features = strArray(features, p + 'features');
  const labels = json(metadata, 'labels');
  if (labels !== undefined) card.labels = strArray(labels, p + 'labels');
  const units = json(metadata, 'units');
  if (units !== undefined) card.units = strMap(units, p + 'units');
  const outputs = json(metadata, 'outputs');
  if (outputs !== undefined) card.outputs = strMap(outputs, p + 'outputs');

  const scaler = json(metadata, 'scaler');
  if (scaler !== undefined) {
    if (!isObj(scaler)) throw invalid(p + 'scaler', 'expected { mean, scale }');
    const mean = numArray(scaler.mean, p + 'scaler.mean');
    const scale = numArray(scaler.scale, p + 'scaler.scale');
    if (mean.length !== scale.length) throw invalid(p + 'scaler', 'mean and scale differ in length');
    if (scale.some((s) => s === 0)) throw invalid(p + 'scaler', 'a scale of 0');
    if (card.features && card.features.length !== mean.length) throw invalid(p + 'scaler', 'length differs from features');
    card.scaler = { mean, scale };
  }

  const target = json(metadata, 'target_scaler');
  if (target !== undefined) {
    if (!isObj(target) || !isNum(target.mean) || !isNum(target.scale)) throw invalid(p + 'target_scaler', 'expected { mean, scale } numbers');
    card.targetScaler = { mean: target.mean, scale: target.scale };
  }

  const ranges = json(metadata, 'ranges');
  if (ranges !== undefined) {
    if (!isObj(ranges)) throw invalid(p + 'ranges', 'expected { feature: [min, max] }');
    card.ranges = {};
    for (const [name, r] of Object.entries(ranges)) {
      const pair = numArray(r, `${p}ranges.${name}`);
      if (pair.length !== 2 || pair[0]! > pair[1]!) throw invalid(`${p}ranges.${name}`, 'expected [min, max] with min <= max');
      card.ranges[name] = [pair[0]!, pair[1]!];
    }
  }

  const thresholds = json(metadata, 'thresholds');
  if (thresholds !== undefined) {
    if (!isObj(thresholds) || !Object.values(thresholds).every(isNum)) throw invalid(p + 'thresholds', 'expected an object of numbers');
    card.thresholds = thresholds as ModelCard['thresholds'];
  }

  const stats = json(metadata, 'training_stats');
  if (stats !== undefined) {
    if (!isObj(stats)) throw invalid(p + 'training_stats', 'expected { feature: stats }');
    card.trainingStats = {};
    for (const [name, s] of Object.entries(stats)) {
      const key = `${p}training_stats.${name}`;
      if (!isObj(s) || !isNum(s.mean) || !isNum(s.std) || !isNum(s.min) || !isNum(s.max)) throw invalid(key, 'expected { mean, std, min, max }');
      const entry: FeatureStats = { mean: s.mean, std: s.std, min: s.min, max: s.max };
      if (isNum(s.count)) entry.count = s.count;
      if (s.histogram !== undefined) {
        if (!isObj(s.histogram)) throw invalid(key, 'histogram must be { edges, counts }');
        const edges = numArray(s.histogram.edges, `${key}.histogram.edges`);
        const counts = numArray(s.histogram.counts, `${key}.histogram.counts`);
        if (edges.length !== counts.length + 1) throw invalid(key, 'histogram needs one more edge than counts');
        entry.histogram = { edges, counts };
      }
      card.trainingStats[name] = entry;
    }
  }
  const provenance = json(metadata, 'provenance');
  if (provenance !== undefined) card.provenance = parseProvenance(provenance, p + 'provenance');
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
  if (card.provenance) {
    const { trainingData, created, sourceCommit, tool } = card.provenance;
    put('provenance', { training_data: trainingData, created, ...(sourceCommit !== undefined ? { source_commit: sourceCommit } : {}), ...(tool !== undefined ? { tool } : {}) });
  }
  return out;
}
