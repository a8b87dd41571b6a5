/** Editor definition of ml-format. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { matches, oneOf, inRangeOf } from '../../editor/validators';

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
}

// Placeholders in a topic template are {name} with no nesting; braces must balance.
const topicTemplate = matches(/^([^{}]|\{[^{}]+\})*$/, 'topic-template', { blank: true });

RED.nodes.registerType<MlFormatProps>('ml-format', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-format.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    model: { value: '', type: 'onnx-model', required: false },
    task: { value: 'auto', validate: oneOf(['auto', 'classification', 'regression', 'anomaly']) },
    outLabel: { value: '' },
    outScores: { value: '' },
    outScore: { value: '' },
    outValue: { value: '' },
    labels: { value: '' },
    logits: { value: 'auto', validate: oneOf(['auto', 'true', 'false']) },
    topK: { value: '3', validate: inRangeOf('ml-format', 'topK', true) },
    confidence: { value: '', validate: inRangeOf('ml-format', 'confidence', true) },
    unknownLabel: { value: 'unknown' },
    targetMean: { value: '', validate: inRangeOf('ml-format', 'targetMean', true) },
    targetScale: { value: '', validate: inRangeOf('ml-format', 'targetScale', true) },
    unit: { value: '' },
    decimals: { value: '', validate: inRangeOf('ml-format', 'decimals', true) },
    threshold: { value: '', validate: inRangeOf('ml-format', 'threshold', true) },
    hysteresis: { value: '', validate: inRangeOf('ml-format', 'hysteresis', true) },
    minSamples: { value: '1', validate: inRangeOf('ml-format', 'minSamples', true) },
    minDurationMs: { value: '0', validate: inRangeOf('ml-format', 'minDurationMs', true) },
    passthrough: { value: '' },
    includeFeatures: { value: false },
    keepCard: { value: true },
    keepOther: { value: true },
    featuresProperty: { value: 'features' },
    topic: { value: 'edgeml/{model}/prediction', validate: topicTemplate },
    eventTopic: { value: '', validate: topicTemplate },
    modelName: { value: '' },
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
    };
    $('#node-input-task').on('change', showTask);
    showTask();
    $('#node-input-includeFeatures').on('change', function () {
      $('.ml-format-features').toggle($(this).is(':checked'));
    });
    $('.ml-format-features').toggle(this.includeFeatures);
  },
});
