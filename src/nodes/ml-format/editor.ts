/** Editor definition of ml-format. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { blankOrNonNegative, withReason } from '../../editor/validators';

declare const RED: EditorRED;

interface MlFormatProps extends EditorNodeProperties {
  model: string;
  task: string;
  outLabel: string;
  outScores: string;
  outScore: string;
  outValue: string;
  labels: string;
  logits: string;
  topK: string;
  confidence: string;
  unknownLabel: string;
  targetMean: string;
  targetScale: string;
  unit: string;
  decimals: string;
  threshold: string;
  hysteresis: string;
  minSamples: string;
  minDurationMs: string;
  passthrough: string;
  includeFeatures: boolean;
  keepCard: boolean;
  keepOther: boolean;
  featuresProperty: string;
  topic: string;
  eventTopic: string;
  modelName: string;
  detFormat: string;
  detLayout: string;
  detBox: string;
  detObjectness: string;
  detNormalized: string;
  detScore: string;
  detIou: string;
  detMax: string;
  detBoxes: string;
  detScores: string;
  detClasses: string;
  detCount: string;
  segOutput: string;
  segMask: boolean;
}

const TASKS = ['auto', 'classification', 'regression', 'anomaly', 'detection', 'segmentation'];
const blankOr01 = (v: string): boolean => v === '' || v === undefined || (Number.isFinite(Number(v)) && Number(v) >= 0 && Number(v) <= 1);
const blankOrPositiveInteger = (v: string): boolean => v === '' || v === undefined || (Number.isInteger(Number(v)) && Number(v) >= 1);
const oneOf =
  (...allowed: string[]) =>
  (v: string): boolean =>
    v === undefined || allowed.includes(v);
const says = (check: (v: string) => boolean, key: string) => withReason(check, `node-red-contrib-edge-ml/ml-format:ml-format.validate.${key}`);

const blankOrNumber = (v: string): boolean => v === '' || v === undefined || Number.isFinite(Number(v));
const blankOrInteger = (v: string): boolean => v === '' || v === undefined || (Number.isInteger(Number(v)) && Number(v) >= 0);
// Placeholders in a topic template are {name} with no nesting; braces must balance.
const topicTemplate = (v: string): boolean => v === '' || v === undefined || /^([^{}]|\{[^{}]+\})*$/.test(v);

RED.nodes.registerType<MlFormatProps>('ml-format', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-format.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    model: { value: '', type: 'onnx-model', required: false },
    task: { value: 'auto', validate: (v: string) => TASKS.includes(v) },
    outLabel: { value: '' },
    outScores: { value: '' },
    outScore: { value: '' },
    outValue: { value: '' },
    labels: { value: '' },
    logits: { value: 'auto', validate: (v: string) => ['auto', 'true', 'false'].includes(v) },
    topK: { value: '3', validate: blankOrInteger },
    confidence: { value: '', validate: blankOrNumber },
    unknownLabel: { value: 'unknown' },
    targetMean: { value: '', validate: blankOrNumber },
    targetScale: { value: '', validate: blankOrNumber },
    unit: { value: '' },
    decimals: { value: '', validate: blankOrInteger },
    threshold: { value: '', validate: blankOrNumber },
    hysteresis: { value: '', validate: blankOrNonNegative },
    minSamples: { value: '1', validate: blankOrInteger },
    minDurationMs: { value: '0', validate: blankOrNonNegative },
    passthrough: { value: '' },
    includeFeatures: { value: false },
    keepCard: { value: true },
    keepOther: { value: true },
    featuresProperty: { value: 'features' },
    topic: { value: 'edgeml/{model}/prediction', validate: topicTemplate },
    eventTopic: { value: '', validate: topicTemplate },
    modelName: { value: '' },
    detFormat: { value: '', validate: oneOf('', 'yolo', 'ssd') },
    detLayout: { value: '', validate: oneOf('', 'auto', 'channels-first', 'boxes-first') },
    detBox: { value: '', validate: oneOf('', 'cxcywh', 'xyxy', 'yxyx', 'xywh') },
    detObjectness: { value: '', validate: oneOf('', 'true', 'false') },
    detNormalized: { value: '', validate: oneOf('', 'true', 'false') },
    detScore: { value: '', validate: says(blankOr01, 'fraction') },
    detIou: { value: '', validate: says(blankOr01, 'fraction') },
    detMax: { value: '', validate: says(blankOrPositiveInteger, 'positiveInteger') },
    detBoxes: { value: '' },
    detScores: { value: '' },
    detClasses: { value: '' },
    detCount: { value: '' },
    segOutput: { value: '' },
    segMask: { value: false },
  },
  inputLabels: function () {
    return this._('ml-format.label.input');
  },
  outputLabels: function (i: number) {
    return this._(i === 0 ? 'ml-format.label.prediction' : 'ml-format.label.events');
  },
  label: function () {
    return this.name || this._('ml-format.label.node');
  },
  paletteLabel: 'ml format',
  oneditprepare: function () {
    $('#node-input-featuresProperty').typedInput({ default: 'msg', types: ['msg'] });
    const showTask = (): void => {
      const task = String($('#node-input-task').val());
      $('.ml-format-classification').toggle(task === 'auto' || task === 'classification');
      $('.ml-format-regression').toggle(task === 'auto' || task === 'regression');
      $('.ml-format-anomaly').toggle(task === 'auto' || task === 'anomaly');
      $('.ml-format-detection').toggle(task === 'detection');
      $('.ml-format-segmentation').toggle(task === 'segmentation');
      $('.ml-format-vision').toggle(task === 'detection' || task === 'segmentation');
    };
    $('#node-input-task').on('change', showTask);
    showTask();
    $('#node-input-includeFeatures').on('change', function () {
      $('.ml-format-features').toggle($(this).is(':checked'));
    });
    $('.ml-format-features').toggle(this.includeFeatures);
  },
});
