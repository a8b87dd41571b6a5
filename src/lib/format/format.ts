/**
 * onnx-infer output + model card -> the public prediction payload (schemas/ml-format-payload.schema.json).
 *
 * Non-finite results: a class label, top-k, score, anomaly verdict or value is never computed from
 * NaN or +-Infinity. Any non-finite number in the output a result is read from (the scores, the
 * value, the anomaly score) refuses the whole message with EDGEML_FORMAT_NONFINITE (a consumer that
 * reads only `label` must never see "normal" for a broken sensor).
 *
 * JSON safety: every number in the payload is finite. Input features that are not finite are left
 * out and listed in `invalid` (`features.<name>`); passthrough tensors (`raw`) spell non-finite
 * values "NaN", "Infinity", "-Infinity". Nothing is ever null.
 */
import { EdgeMlError } from '../errors';
import type { ModelCard, ModelTask } from '../model-card';
import { argmax, looksLikeLogits, softmax, topK } from './classify';
import { isFloatTensor, isIntegerTensor, isStringTensor, jsonSafeTensor, tensorNumbers, tensorRows, type TensorLike, type TensorMap } from './tensor';
import { resolveDetectionOptions, type DetectionOptions, type DetectionSpec } from './detection';
import { formatVision, type VisionFields } from './vision';

export type OutputRoles = { label?: string; scores?: string; score?: string; value?: string };

/** The node's own settings; anything left undefined falls back to the model card. */
export interface FormatConfig {
  task?: ModelTask | 'auto';
  outputs?: OutputRoles;
  labels?: string[];
  logits?: 'auto' | 'true' | 'false';
  topK?: number;
  confidenceThreshold?: number;
  unknownLabel?: string;
  targetScaler?: { mean: number; scale: number };
  unit?: string;
  decimals?: number;
  anomalyThreshold?: number;
  hysteresis?: number;
  minSamples?: number;
  minDurationMs?: number;
  passthrough?: string[];
  features?: string[];
  modelName?: string;
  /** detection task: decoder settings (over the card's edgeml.detection). */
  detection?: DetectionSpec;
  /** segmentation task: the output to read, and whether to make a PNG mask. */
  segmentationOutput?: string;
  segmentationMask?: boolean;
  /** segmentation task: a single-channel map is probabilities, class 1 where p > this (default 0.5). */
  segmentationThreshold?: number;
}

export interface FormatOptions {
  task: ModelTask | 'auto';
  outputs: OutputRoles;
  labels: string[] | undefined;
  logits: 'auto' | boolean;
  topK: number;
  confidenceThreshold: number | undefined;
  unknownLabel: string;
  targetScaler: { mean: number; scale: number } | undefined;
  unit: string | undefined;
  decimals: number | undefined;
  anomaly: { threshold: number | undefined; hysteresis: number; minSamples: number; minDurationMs: number };
  passthrough: string[];
  features: string[] | undefined;
  modelName: string | undefined;
  cardModelName: string | undefined;
  detection: DetectionOptions;
  segmentationOutput: string | undefined;
  segmentationMask: boolean;
  segmentationThreshold: number | undefined;
}

const defined = <T>(...values: Array<T | undefined>): T | undefined => values.find((v) => v !== undefined);

/** Node config over model card over built-in defaults. */
export function resolveFormatOptions(config: FormatConfig, card: ModelCard = {}): FormatOptions {
  const roles: OutputRoles = { ...(card.outputs ?? {}) };
  for (const [k, v] of Object.entries(config.outputs ?? {})) if (v) roles[k as keyof OutputRoles] = v;
  const logitsSetting = config.logits ?? 'auto';
  const logits = logitsSetting === 'auto' ? (card.logits ?? 'auto') : logitsSetting === 'true';
  const valueOutput = roles.value;
  return {
    task: config.task && config.task !== 'auto' ? config.task : (card.task ?? 'auto'),
    outputs: roles,
    labels: config.labels && config.labels.length ? config.labels : card.labels,
    logits,
    topK: config.topK ?? 3,
    confidenceThreshold: defined(config.confidenceThreshold, card.thresholds?.confidence),
    unknownLabel: config.unknownLabel || 'unknown',
    targetScaler: defined(config.targetScaler, card.targetScaler),
    unit: defined(config.unit || undefined, valueOutput ? card.units?.[valueOutput] : undefined, card.units?.value),
    decimals: config.decimals,
    anomaly: {
      threshold: defined(config.anomalyThreshold, card.thresholds?.anomaly),
      hysteresis: defined(config.hysteresis, card.thresholds?.hysteresis) ?? 0,
      minSamples: config.minSamples ?? 1,
      minDurationMs: config.minDurationMs ?? 0,
    },
    passthrough: config.passthrough ?? [],
    features: config.features && config.features.length ? config.features : card.features,
    modelName: config.modelName || undefined,
    cardModelName: card.name,
    detection: resolveDetectionOptions(config.detection ?? {}, card.detection),
    segmentationOutput: config.segmentationOutput || undefined,
    segmentationMask: config.segmentationMask === true,
    segmentationThreshold: config.segmentationThreshold,
  };
}

export interface ModelIdentity {
  name: string;
  version?: string;
  sha256?: string;
}

export interface TopClass {
  label: string;
  score: number;
}

export interface PredictionPayload extends VisionFields {
  task: ModelTask;
  label?: string;
  score?: number;
  value?: number | number[];
  unit?: string;
  anomaly?: boolean;
  topk?: TopClass[];
  model: ModelIdentity;
  ts: string;
  time: number;
  inferenceMs?: number;
  row?: number;
  features?: Record<string, number>;
  raw?: Record<string, { dtype: string; dims: number[]; data: Array<number | string | boolean> }>;
  invalid?: string[];
}

export interface FormatInput {
  tensors: TensorMap;
  model?: { name?: unknown; version?: unknown; sha256?: unknown };
  time: number;
  inferenceMs?: unknown;
  /** Input features to include (array in feature order, or an object by name); undefined = leave out. */
  features?: unknown;
  /** ml-image's msg.imageGeometry, for boxes and masks in original-image pixels. */
  geometry?: unknown;
}

function pickOutput(tensors: TensorMap, role: keyof OutputRoles, name: string | undefined, fallback: (t: TensorLike, n: string) => boolean): string | undefined {
  if (name) {
    if (!tensors[name]) {
      throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', `output "${name}" (role ${role}) is not in msg.payload`, {
        output: name,
        role,
        available: Object.keys(tensors).join(', '),
      });
    }
    return name;
  }
  return Object.keys(tensors).find((n) => fallback(tensors[n] as TensorLike, n));
}

function resolveTask(opts: FormatOptions, tensors: TensorMap): ModelTask {
  if (opts.task !== 'auto') return opts.task;
  const r = opts.outputs;
  if (r.scores || r.label) return 'classification';
  if (r.value) return 'regression';
  if (r.score || opts.anomaly.threshold !== undefined) return 'anomaly';
  const all = Object.values(tensors);
  if (all.some((t) => isStringTensor(t) || (isIntegerTensor(t) && t.dtype !== 'bool'))) return 'classification';
  if (opts.labels && opts.labels.length > 1) return 'classification';
  return 'regression';
}

/** -0 becomes 0: JSON has no negative zero, and the payload must survive a JSON round trip unchanged. */
const plain = (v: number): number => (v === 0 ? 0 : v);

function round(v: number, decimals: number | undefined): number {
  if (decimals === undefined || decimals < 0) return plain(v);
  const r = Number(v.toFixed(Math.min(decimals, 100)));
  return plain(Number.isFinite(r) ? r : v);
}

/** The refusal of a result read from a non-finite number (see the header). */
function nonFinite(output: string, role: string, row: number, value: number): EdgeMlError {
  return new EdgeMlError('EDGEML_FORMAT_NONFINITE', `output "${output}" row ${row} holds ${value}; no ${role} is published from a non-finite value`, {
    output,
    role,
    row,
    value: String(value),
  });
}

const firstNonFinite = (values: number[]): number | undefined => values.find((v) => !Number.isFinite(v));

const labelOf = (labels: string[] | undefined, index: number): string => labels?.[index] ?? String(index);

function featureMap(features: unknown, names: string[] | undefined, invalid: string[]): Record<string, number> | undefined {
  if (features === undefined || features === null) return undefined;
  const entries: Array<[string, unknown]> = Array.isArray(features)
    ? features.map((v, i) => [names?.[i] ?? `f${i}`, v])
    : typeof features === 'object'
      ? Object.entries(features as Record<string, unknown>)
      : [];
  const out: Record<string, number> = {};
  for (const [name, v] of entries) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isFinite(n)) out[name] = plain(n);
    else invalid.push(`features.${name}`);
  }
  return out;
}

function modelIdentity(model: FormatInput['model'], opts: FormatOptions): ModelIdentity {
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
  // The node's setting wins (a user renaming the model for the topic), then onnx-infer's msg.model, then the card.
  const id: ModelIdentity = { name: opts.modelName ?? str(model?.name) ?? opts.cardModelName ?? 'unknown' };
  const version = str(model?.version);
  if (version !== undefined) id.version = version;
  const sha = str(model?.sha256)?.toLowerCase();
  if (sha !== undefined && /^[0-9a-f]{64}$/.test(sha)) id.sha256 = sha;
  return id;
}

/**
 * Formats one inference result into one payload per batch row (one row for the usual [1, C] output).
 * The anomaly flag is not set here: it depends on history (see AnomalyTracker), the node adds it.
 */
export function formatPrediction(input: FormatInput, opts: FormatOptions): PredictionPayload[] {
  const { tensors } = input;
  const task = resolveTask(opts, tensors);
  const base = (): PredictionPayload => {
    const time = Math.floor(input.time);
    const p: PredictionPayload = { task, model: modelIdentity(input.model, opts), ts: new Date(time).toISOString(), time };
    if (typeof input.inferenceMs === 'number' && Number.isFinite(input.inferenceMs) && input.inferenceMs >= 0) p.inferenceMs = plain(input.inferenceMs);
    return p;
  };
  if (task === 'detection' || task === 'segmentation') return formatVision(task, tensors, opts, input.geometry, base);
  const rows: Array<{ payload: PredictionPayload; invalid: string[] }> = [];
  const row = (i: number): { payload: PredictionPayload; invalid: string[] } => {
    while (rows.length <= i) rows.push({ payload: base(), invalid: [] });
    return rows[i] as { payload: PredictionPayload; invalid: string[] };
  };

  if (task === 'classification') {
    const labelName = pickOutput(tensors, 'label', opts.outputs.label, (t) => isStringTensor(t) || (isIntegerTensor(t) && t.dtype !== 'bool'));
    const scoresName = pickOutput(tensors, 'scores', opts.outputs.scores, (t, n) => isFloatTensor(t) && n !== labelName);
    if (!labelName && !scoresName) {
      throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', 'no output to read a class from', { output: 'scores', role: 'scores', available: Object.keys(tensors).join(', ') });
    }
    if (scoresName) {
      const t = tensors[scoresName] as TensorLike;
      const scoreRows = tensorRows(tensorNumbers(t), t.dims);
      scoreRows.forEach((raw, i) => {
        const r = row(i);
        const bad = firstNonFinite(raw);
        if (bad !== undefined) throw nonFinite(scoresName, 'label', i, bad);
        const useSoftmax = opts.logits === 'auto' ? looksLikeLogits(raw) : opts.logits;
        const probs = useSoftmax ? softmax(raw) : raw;
        const badProb = firstNonFinite(probs);
        if (badProb !== undefined) throw nonFinite(scoresName, 'label', i, badProb);
        if (probs.length === 0) {
          r.invalid.push('score', 'topk');
          if (!labelName) r.invalid.push('label');
          return;
        }
        const best = argmax(probs);
        const top = probs[best] as number;
        r.payload.score = plain(top);
        if (opts.topK !== 0) r.payload.topk = topK(probs, opts.topK).map((c) => ({ label: labelOf(opts.labels, c.index), score: plain(c.score) }));
        if (!labelName) {
          r.payload.label = opts.confidenceThreshold !== undefined && top < opts.confidenceThreshold ? opts.unknownLabel : labelOf(opts.labels, best);
        }
      });
    }
    if (labelName) {
      const t = tensors[labelName] as TensorLike;
      for (let i = 0; i < t.data.length; i++) {
        const r = row(i);
        const v = t.data[i];
        let label: string | undefined;
        if (typeof v === 'string' && isStringTensor(t)) label = v;
        else {
          const n = typeof v === 'bigint' ? Number(v) : Number(v);
          if (Number.isInteger(n)) label = labelOf(opts.labels, n);
        }
        if (label === undefined) r.invalid.push('label');
        else if (opts.confidenceThreshold !== undefined && r.payload.score !== undefined && r.payload.score < opts.confidenceThreshold) r.payload.label = opts.unknownLabel;
        else r.payload.label = label;
      }
    }
  } else if (task === 'regression') {
    const name = pickOutput(tensors, 'value', opts.outputs.value, (t) => isFloatTensor(t) || isIntegerTensor(t));
    if (!name) throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', 'no numeric output for the value', { output: 'value', role: 'value', available: Object.keys(tensors).join(', ') });
    const t = tensors[name] as TensorLike;
    const s = opts.targetScaler;
    // 1-D (or scalar) output: one value per row; [N, T]: N rows of T targets.
    const values1d = tensorNumbers(t);
    const valueRows = t.dims.length <= 1 ? values1d.map((v) => [v]) : tensorRows(values1d, t.dims);
    valueRows.forEach((raw, i) => {
      const r = row(i);
      const values = raw.map((y) => round(s ? y * s.scale + s.mean : y, opts.decimals));
      // The model's own value, or the target scaler's result (a finite value can overflow it).
      const bad = firstNonFinite(raw) ?? firstNonFinite(values);
      if (bad !== undefined) throw nonFinite(name, 'value', i, bad);
      r.payload.value = values.length === 1 ? (values[0] as number) : values;
      if (opts.unit) r.payload.unit = opts.unit;
    });
  } else {
    const name = pickOutput(tensors, 'score', opts.outputs.score, (t) => isFloatTensor(t));
    if (!name) throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', 'no float output for the anomaly score', { output: 'score', role: 'score', available: Object.keys(tensors).join(', ') });
    if (opts.anomaly.threshold === undefined) {
      throw new EdgeMlError('EDGEML_FORMAT_NO_THRESHOLD', 'anomaly task without a threshold (node config or model card thresholds.anomaly)', {});
    }
    const t = tensors[name] as TensorLike;
    if (t.dims.length > 1 && (t.dims[t.dims.length - 1] ?? 1) > 1) {
      throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_SHAPE', `anomaly score output "${name}" has ${t.dims[t.dims.length - 1]} values per row, expected 1`, {
        output: name,
        dims: JSON.stringify(t.dims),
      });
    }
    tensorNumbers(t).forEach((v, i) => {
      if (!Number.isFinite(v)) throw nonFinite(name, 'anomaly verdict', i, v);
      row(i).payload.score = plain(v);
    });
  }

  if (rows.length === 0) row(0).invalid.push(task === 'classification' ? 'label' : task === 'regression' ? 'value' : 'score');

  const passNames = opts.passthrough.includes('*') ? Object.keys(tensors) : opts.passthrough;
  for (const name of passNames) {
    if (!tensors[name])
      throw new EdgeMlError('EDGEML_FORMAT_OUTPUT_MISSING', `passthrough output "${name}" is not in msg.payload`, { output: name, role: 'passthrough', available: Object.keys(tensors).join(', ') });
  }
  return rows.map(({ payload, invalid }, i) => {
    if (rows.length > 1) payload.row = i;
    if (input.features !== undefined) {
      const f = featureMap(input.features, opts.features, invalid);
      if (f) payload.features = f;
    }
    if (passNames.length) {
      payload.raw = {};
      for (const name of passNames) payload.raw[name] = jsonSafeTensor(tensors[name] as TensorLike);
    }
    if (invalid.length) payload.invalid = [...new Set(invalid)];
    return payload;
  });
}
