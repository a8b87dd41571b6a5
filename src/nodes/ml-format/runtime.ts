/**
 * ml-format: onnx-infer's output tensors (+ the model card on msg.modelCard) -> the public
 * prediction payload and an MQTT topic. Output 1: one message per prediction; output 2: anomaly
 * state changes (anomaly-start / anomaly-end), once each.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import type { ModelTask } from '../../lib/model-card';
import { AnomalyTrackers, type AnomalyOptions } from '../../lib/format/anomaly';
import { formatPrediction, resolveFormatOptions, type FormatConfig, type FormatOptions, type PredictionPayload } from '../../lib/format/format';
import { asTensorMap } from '../../lib/format/tensor';
import { msgPath, renderTopic } from '../../lib/format/topic';
import { metricsRegistry } from '../../lib/metrics';
import { ModelCardSource, PerCard } from '../shared/model-card-source';
import { NodeStatus, onInput } from '../shared/runtime';
import type { StatusSpec } from '../shared/runtime';

interface MlFormatDef extends NodeDef {
  model: string;
  task: string;
  outLabel: string;
  outScores: string;
  outScore: string;
  outValue: string;
  labels: string;
  logits: string;
  topK: string | number;
  confidence: string | number;
  unknownLabel: string;
  targetMean: string | number;
  targetScale: string | number;
  unit: string;
  decimals: string | number;
  threshold: string | number;
  hysteresis: string | number;
  minSamples: string | number;
  minDurationMs: string | number;
  passthrough: string;
  includeFeatures: boolean;
  /** false: the formatted message leaves msg.modelCard behind (cheaper to copy at every fan-out). */
  keepCard?: boolean | string;
  /** false: the formatted message carries only _msgid, topic and payload (and the card, if kept). */
  keepOther?: boolean | string;
  featuresProperty: string;
  topic: string;
  eventTopic: string;
  modelName: string;
}

const list = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** '' means "not set here" (the model card or the default decides); anything else must be a number. */
function optionalNumber(v: string | number | undefined, field: string): number | undefined {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new EdgeMlError('EDGEML_FORMAT_CONFIG', `setting ${field} is not a number`, { field, value: String(v) });
  return n;
}

function configFromDef(def: MlFormatDef): FormatConfig {
  const task = def.task || 'auto';
  if (!['auto', 'classification', 'regression', 'anomaly'].includes(task)) {
    throw new EdgeMlError('EDGEML_FORMAT_CONFIG', `unknown task ${task}`, { field: 'task', value: task });
  }
  const c: FormatConfig = {
    task: task as ModelTask | 'auto',
    outputs: { label: def.outLabel || undefined, scores: def.outScores || undefined, score: def.outScore || undefined, value: def.outValue || undefined },
    labels: list(def.labels),
    logits: def.logits === 'true' || def.logits === 'false' ? def.logits : 'auto',
    topK: optionalNumber(def.topK, 'topK') ?? 3,
    unknownLabel: def.unknownLabel || 'unknown',
    passthrough: list(def.passthrough),
    unit: def.unit || undefined,
    modelName: def.modelName || undefined,
  };
  const conf = optionalNumber(def.confidence, 'confidence');
  if (conf !== undefined) c.confidenceThreshold = conf;
  const mean = optionalNumber(def.targetMean, 'targetMean');
  const scale = optionalNumber(def.targetScale, 'targetScale');
  if (mean !== undefined || scale !== undefined) c.targetScaler = { mean: mean ?? 0, scale: scale ?? 1 };
  const decimals = optionalNumber(def.decimals, 'decimals');
  if (decimals !== undefined) c.decimals = decimals;
  const threshold = optionalNumber(def.threshold, 'threshold');
  if (threshold !== undefined) c.anomalyThreshold = threshold;
  const hysteresis = optionalNumber(def.hysteresis, 'hysteresis');
  if (hysteresis !== undefined) c.hysteresis = hysteresis;
  c.minSamples = optionalNumber(def.minSamples, 'minSamples') ?? 1;
  c.minDurationMs = optionalNumber(def.minDurationMs, 'minDurationMs') ?? 0;
  if (hysteresis !== undefined && hysteresis < 0) throw new EdgeMlError('EDGEML_FORMAT_CONFIG', 'hysteresis < 0', { field: 'hysteresis', value: String(hysteresis) });
  return c;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a formatted message keeps when "keep other properties" is off (besides a kept model card). */
const KEPT_ALWAYS = new Set(['_msgid', 'topic', 'payload']);

/** The status line for the latest prediction. */
function statusOf(last: PredictionPayload): StatusSpec {
  if (last.task === 'anomaly') {
    return [last.anomaly ? 'warn' : 'ready', last.anomaly ? 'ml-format.status.anomaly' : 'ml-format.status.normal', { score: last.score !== undefined ? last.score.toPrecision(3) : '-' }];
  }
  if (last.task === 'classification') {
    return ['ready', 'ml-format.status.label', { label: last.label ?? '-', score: last.score !== undefined ? last.score.toFixed(2) : '-' }];
  }
  const v = Array.isArray(last.value) ? last.value.map((x) => x.toPrecision(4)).join(', ') : last.value !== undefined ? String(last.value) : '-';
  return ['ready', 'ml-format.status.value', { value: v, unit: last.unit ?? '' }];
}

export = function (RED: NodeAPI): void {
  function MlFormatNode(this: Node, def: MlFormatDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const topicTemplate = def.topic || 'edgeml/{model}/prediction';
    const eventTemplate = def.eventTopic || '';
    const featuresProperty = def.featuresProperty || 'features';
    const keepCard = def.keepCard !== false && def.keepCard !== 'false';
    const keepOther = def.keepOther !== false && def.keepOther !== 'false';
    let config: FormatConfig | undefined;
    let configError: EdgeMlError | undefined;
    const status = new NodeStatus(RED, node);
    try {
      config = configFromDef(def);
      status.show('idle', 'ml-format.status.waiting');
    } catch (e) {
      configError = e as EdgeMlError;
      status.show('error', 'ml-format.status.config');
    }

    const cards = new ModelCardSource(RED, node, def.model || undefined);
    let trackers: AnomalyTrackers | undefined;
    let trackerKey = '';
    const trackersFor = (o: FormatOptions): AnomalyTrackers => {
      const a: AnomalyOptions = { threshold: o.anomaly.threshold as number, hysteresis: o.anomaly.hysteresis, minSamples: o.anomaly.minSamples, minDurationMs: o.anomaly.minDurationMs };
      const key = JSON.stringify(a);
      if (!trackers || key !== trackerKey) {
        trackers = new AnomalyTrackers(a);
        trackerKey = key;
      }
      return trackers;
    };
    const optionsPerCard = new PerCard<FormatOptions>(
      (card) => card,
      (card) => resolveFormatOptions(config as FormatConfig, card),
    );

    onInput(
      RED,
      node,
      async (msg, send) => {
        if (configError) throw configError;
        const m = msg as NodeMessage & Record<string, unknown>;
        const options = optionsPerCard.get(await cards.cardFor(m));
        const now = Date.now();
        const payloads = formatPrediction(
          {
            tensors: asTensorMap(m.payload),
            model: isObject(m.model) ? (m.model as { name?: unknown; version?: unknown; sha256?: unknown }) : undefined,
            time: now,
            inferenceMs: m.inferenceMs,
            features: def.includeFeatures ? (msgPath(m, featuresProperty) ?? []) : undefined,
          },
          options,
        );
        const env = (name: string): string | undefined => {
          const v: unknown = RED.util.evaluateNodeProperty(name, 'env', node, msg);
          return v === undefined || v === null || v === '' ? undefined : String(v);
        };
        // Node-RED deep-copies a message for every extra wire; the card is most of what it copies,
        // and the properties gathered on the way (registers, features, guard findings) much of the rest.
        if (!keepCard) delete m.modelCard;
        if (!keepOther) for (const key of Object.keys(m)) if (!KEPT_ALWAYS.has(key) && key !== 'modelCard') delete m[key];
        const outs: NodeMessage[] = [];
        const events: NodeMessage[] = [];
        for (const payload of payloads) {
          // what the model predicts, per version: a fleet rollout compares it with the version before
          if (payload.task !== 'regression') metricsRegistry().recordPrediction(payload.model.sha256 ?? '', payload.label, payload.score);
          const builtins = { model: payload.model.name, version: payload.model.version, task: payload.task, label: payload.label };
          const topic = renderTopic(topicTemplate, { builtins, msg: m, env });
          if (payload.task === 'anomaly') {
            const tracker = trackersFor(options).get(topic);
            const event = payload.score !== undefined ? tracker.update(payload.score, payload.time) : undefined;
            payload.anomaly = tracker.anomaly;
            if (event) {
              const eventTopic = eventTemplate ? renderTopic(eventTemplate, { builtins, msg: m, env }) : `${topic}/event`;
              events.push({
                topic: eventTopic,
                payload: { ...event, ts: new Date(event.time).toISOString(), model: payload.model },
              } as NodeMessage);
            }
          }
          const out = payloads.length > 1 ? RED.util.cloneMessage(msg) : msg;
          out.payload = payload;
          out.topic = topic;
          outs.push(out);
        }
        send([outs, events.length ? events : null]);
        const last = payloads[payloads.length - 1];
        if (last) status.update(() => statusOf(last));
      },
      () => status.show('error', 'ml-format.status.error'),
    );
    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      cards.close().then(done, done);
    });
  }
  RED.nodes.registerType('ml-format', MlFormatNode);
};
