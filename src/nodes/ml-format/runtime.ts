/**
 * ml-format: onnx-infer's output tensors (+ the model card on msg.modelCard) -> the public
 * prediction payload and an MQTT topic. Output 1: one message per prediction; output 2: anomaly
 * state changes (anomaly-start / anomaly-end), once each.
 */
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError, toEdgeMlError } from '../../lib/errors';
import { numericSetting, type SettingOf } from '../../lib/config-ranges';
import { MODEL_TASKS, type ModelTask } from '../../lib/model-card';
import { checkDetectionSpec, parseDetectionCard, type DetectionSpec } from '../../lib/format/detection';
import { segmentationMasks, segmentationResults } from '../../lib/format/vision';
import { annotateError, Annotator, labelColour, PALETTE, type AnnotateBackend, type AnnotateRequest, type Rgb } from '../../lib/image/annotate';
import { asImageInput } from '../../lib/image/preprocess';
import { DEFAULT_MAX_PIXELS } from '../../lib/image/options';
import { asGeometry } from '../../lib/image/geometry';
import { ImageWorker } from '../../lib/image/worker';
import { AnomalyTrackers, type AnomalyOptions } from '../../lib/format/anomaly';
import { formatPrediction, resolveFormatOptions, type FormatConfig, type FormatOptions, type PredictionPayload } from '../../lib/format/format';
import { asTensorMap } from '../../lib/format/tensor';
import { msgPath, renderTopic } from '../../lib/format/topic';
import { metricsRegistry } from '../../lib/metrics';
import { ModelCardSource, PerCard } from '../shared/model-card-source';
import type { MlFormatOutput } from '../../lib/contracts';
import { NodeStatus, onInput, statusKeyOf } from '../shared/runtime';
import type { StatusSpec } from '../shared/runtime';
import { resolveConfig } from '../shared/config';
import { ML_FORMAT_CONFIG, type MlFormatConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type MlFormatDef = NodeDef & MlFormatConfig;

/** The node's detection settings, checked like the card's edgeml.detection. */
function detectionFromDef(def: MlFormatDef): DetectionSpec {
  const raw: Record<string, unknown> = {};
  if (def.detFormat) raw.format = def.detFormat;
  if (def.detLayout) raw.layout = def.detLayout;
  if (def.detBox) raw.box = def.detBox;
  if (def.detObjectness === 'true' || def.detObjectness === 'false') raw.objectness = def.detObjectness === 'true';
  if (def.detNormalized === 'true' || def.detNormalized === 'false') raw.normalized = def.detNormalized === 'true';
  const score = optionalNumber(def.detScore, 'detScore');
  if (score !== undefined) raw.scoreThreshold = score;
  const iou = optionalNumber(def.detIou, 'detIou');
  if (iou !== undefined) raw.iouThreshold = iou;
  const max = optionalNumber(def.detMax, 'detMax');
  if (max !== undefined) raw.maxDetections = max;
  const outputs: Record<string, string> = {};
  for (const [role, v] of [['boxes', def.detBoxes], ['scores', def.detScores], ['classes', def.detClasses], ['count', def.detCount]] as const) if (v) outputs[role] = v;
  if (Object.keys(outputs).length) raw.outputs = outputs;
  return checkDetectionSpec(raw, (field, reason) => new EdgeMlError('EDGEML_FORMAT_CONFIG', `setting ${field}: ${reason}`, { field: field || 'detection', value: reason }));
}

const list = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** '' means "not set here" (the model card or the default decides); anything else must be in range. */
const optionalNumber = (v: string | number | undefined, field: SettingOf<'ml-format'>): number | undefined => numericSetting('ml-format', field, v);

function configFromDef(def: MlFormatDef): FormatConfig {
  const task = def.task || 'auto';
  if (!['auto', ...MODEL_TASKS].includes(task)) {
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
    detection: detectionFromDef(def),
    segmentationOutput: def.segOutput || undefined,
    segmentationMask: def.segMask === true,
  };
  const segThreshold = optionalNumber(def.segThreshold, 'segThreshold');
  if (segThreshold !== undefined) c.segmentationThreshold = segThreshold;
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
  if (last.task === 'detection') {
    const counts = Object.entries(last.counts ?? {}).map(([label, n]) => `${label} ${n}`).join(', ');
    return ['ready', 'ml-format.status.detections', { n: last.detections?.length ?? 0, counts }];
  }
  if (last.task === 'segmentation') {
    const top = Object.entries(last.areas ?? {}).sort((a, b) => b[1] - a[1])[0];
    return ['ready', 'ml-format.status.areas', { label: top ? top[0] : '-', share: top ? (top[1] * 100).toFixed(1) : '-' }];
  }
  if (last.task === 'anomaly') {
    return [last.anomaly ? 'warn' : 'ready', last.anomaly ? 'ml-format.status.anomaly' : 'ml-format.status.normal', { score: last.score !== undefined ? last.score.toPrecision(3) : '-' }];
  }
  if (last.task === 'classification') {
    return ['ready', 'ml-format.status.label', { label: last.label ?? '-', score: last.score !== undefined ? last.score.toFixed(2) : '-' }];
  }
  const v = Array.isArray(last.value) ? last.value.map((x) => x.toPrecision(4)).join(', ') : last.value !== undefined ? String(last.value) : '-';
  return ['ready', 'ml-format.status.value', { value: v, unit: last.unit ?? '' }];
}

/** What the annotation of one prediction needs: its boxes or class map, in the image's colours. */
function annotateRequest(payload: PredictionPayload, labels: readonly string[] | undefined, geometry: unknown): AnnotateRequest {
  const seg = segmentationResults.get(payload);
  const g = asGeometry(geometry);
  const req: AnnotateRequest = {
    boxes: (payload.detections ?? []).map((d) => ({ ...d, colour: labelColour(d.label, labels) })),
    quality: ANNOTATE_QUALITY,
    maxPixels: DEFAULT_MAX_PIXELS,
    expect: g ? { width: g.width, height: g.height } : undefined,
  };
  // class 0 is the background: left as it is
  if (seg) req.mask = { classMap: seg.classMap, width: seg.width, height: seg.height, colours: PALETTE.concat(PALETTE, PALETTE, PALETTE).map((c, k): Rgb | null => (k === 0 ? null : c)) };
  return req;
}

/** JPEG quality of msg.annotated. */
const ANNOTATE_QUALITY = 85;

export = function (RED: NodeAPI): void {
  function MlFormatNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const def: MlFormatDef = resolveConfig(ML_FORMAT_CONFIG, saved);
    const node = this;
    const topicTemplate = def.topic || 'edgeml/{model}/prediction';
    const eventTemplate = def.eventTopic || '';
    const featuresProperty = def.featuresProperty || 'features';
    const keepCard = def.keepCard !== false;
    const keepOther = def.keepOther !== false;
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
    // The annotated image: libvips when sharp loads, else ml-image's worker thread draws it.
    let worker: ImageWorker | undefined;
    const annotator = def.annotate
      ? new Annotator((['auto', 'sharp', 'js'].includes(def.annotateBackend) ? def.annotateBackend : 'auto') as AnnotateBackend, (input, req) => {
          worker ??= new ImageWorker(path.join(__dirname, 'ml-image.decode.worker.js'));
          return worker.annotate(input, req);
        })
      : undefined;
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
      // A card from msg.modelCard has not been through the ONNX metadata reader: check its detection part here.
      (card) => resolveFormatOptions(config as FormatConfig, card?.detection !== undefined ? { ...card, detection: parseDetectionCard(card.detection) } : card),
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
            geometry: m.imageGeometry,
          },
          options,
        );
        const env = (name: string): string | undefined => {
          const v: unknown = RED.util.evaluateNodeProperty(name, 'env', node, msg);
          return v === undefined || v === null || v === '' ? undefined : String(v);
        };
        // Node-RED deep-copies a message for every extra wire; the card is most of what it copies,
        // and the properties gathered on the way (registers, features, guard findings) much of the rest.
        const image: unknown = m.image;
        const geometry: unknown = m.imageGeometry;
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
          const out = (payloads.length > 1 ? RED.util.cloneMessage(msg) : msg) as NodeMessage & MlFormatOutput;
          const mask = segmentationMasks.get(payload);
          if (mask) (out as NodeMessage & { mask?: Buffer }).mask = mask;
          out.payload = payload;
          out.topic = topic;
          outs.push(out);
        }
        // Every prediction goes out; one that cannot be annotated goes without msg.annotated, and the error to a Catch node.
        let annotateFailed: EdgeMlError | undefined;
        if (annotator) {
          for (let i = 0; i < outs.length; i++) {
            try {
              const one: unknown = Array.isArray(image) ? image[i] : outs.length === 1 ? image : undefined;
              if (one === undefined || one === null) {
                throw annotateError(`no original image in msg.image${Array.isArray(image) ? ` for image ${i}` : ''}: tick "Keep the image in msg.image" in ml-image`);
              }
              const rowGeometry = Array.isArray(geometry) ? geometry[i] : geometry;
              const req = annotateRequest(outs[i]!.payload as PredictionPayload, options.labels, rowGeometry);
              (outs[i] as NodeMessage & { annotated?: Buffer }).annotated = await annotator.annotate(asImageInput(one, req.maxPixels), req);
            } catch (e) {
              annotateFailed ??= toEdgeMlError(e, 'EDGEML_FORMAT_ANNOTATE_IMAGE');
            }
          }
        }
        send([outs, events.length ? events : null]);
        const last = payloads[payloads.length - 1];
        if (last) status.update(() => statusOf(last));
        if (annotateFailed) throw annotateFailed;
      },
      (err) => status.show('error', statusKeyOf(RED, err.code)),
    );
    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      Promise.all([cards.close(), worker?.close()]).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('ml-format', MlFormatNode);
};
