/** Editor definition of ml-format. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { matches, oneOf, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_FORMAT_CONFIG, type MlFormatConfig } from './config';

declare const RED: EditorRED;

type MlFormatProps = EditorNodeProperties & MlFormatConfig & { configVersion: number };

const TASKS = ['auto', 'classification', 'regression', 'anomaly', 'detection', 'segmentation'];

// Placeholders in a topic template are {name} with no nesting; braces must balance.
const topicTemplate = matches(/^([^{}]|\{[^{}]+\})*$/, 'topic-template', { blank: true });

RED.nodes.registerType<MlFormatProps>('ml-format', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-format.svg',
  inputs: 1,
  outputs: 2,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_FORMAT_CONFIG, {
    model: { type: 'onnx-model', required: false },
    task: { validate: oneOf(TASKS) },
    logits: { validate: oneOf(['auto', 'true', 'false']) },
    topK: { validate: inRangeOf('ml-format', 'topK', true) },
    confidence: { validate: inRangeOf('ml-format', 'confidence', true) },
    targetMean: { validate: inRangeOf('ml-format', 'targetMean', true) },
    targetScale: { validate: inRangeOf('ml-format', 'targetScale', true) },
    decimals: { validate: inRangeOf('ml-format', 'decimals', true) },
    threshold: { validate: inRangeOf('ml-format', 'threshold', true) },
    hysteresis: { validate: inRangeOf('ml-format', 'hysteresis', true) },
    minSamples: { validate: inRangeOf('ml-format', 'minSamples', true) },
    minDurationMs: { validate: inRangeOf('ml-format', 'minDurationMs', true) },
    topic: { validate: topicTemplate },
    eventTopic: { validate: topicTemplate },
    detFormat: { validate: oneOf(['', 'yolo', 'ssd']) },
    detLayout: { validate: oneOf(['', 'auto', 'channels-first', 'boxes-first']) },
    detBox: { validate: oneOf(['', 'cxcywh', 'xyxy', 'yxyx', 'xywh']) },
    detObjectness: { validate: oneOf(['', 'true', 'false']) },
    detNormalized: { validate: oneOf(['', 'true', 'false']) },
    detScore: { validate: inRangeOf('ml-format', 'detScore', true) },
    detIou: { validate: inRangeOf('ml-format', 'detIou', true) },
    detMax: { validate: inRangeOf('ml-format', 'detMax', true) },
    // blank: a flow saved before the setting existed (the runtime takes auto)
    annotateBackend: { validate: oneOf(['auto', 'sharp', 'js'], { blank: true }) },
    segThreshold: { validate: inRangeOf('ml-format', 'segThreshold', true) },
  }),

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
    $('#node-input-annotate').on('change', function () {
      $('.ml-format-annotate').toggle($(this).is(':checked'));
    });
    $('.ml-format-annotate').toggle(this.annotate);
  },
});
