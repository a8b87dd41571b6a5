/** Editor definition of ml-drift. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { explain, fieldValue, oneOf, reason, inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface MlDriftProps extends EditorNodeProperties {
  model: string;
  reference: string;
  referenceFile: string;
  referenceSamples: string;
  features: string;
  featuresProperty: string;
  predictionProperty: string;
  window: string;
  mode: string;
  step: string;
  bins: string;
  psiWarn: string;
  psiAlarm: string;
  shiftWarn: string;
  shiftAlarm: string;
  ksWarn: string;
  ksAlarm: string;
}


RED.nodes.registerType<MlDriftProps>('ml-drift', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-drift.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    model: { value: '', type: 'onnx-model', required: false },
    reference: { value: 'card', validate: oneOf(['card', 'file', 'samples']) },
    referenceFile: {
      value: '',
      validate: explain((v, node) => (fieldValue(node, 'reference') !== 'file' || String(v ?? '').trim() !== '' ? undefined : reason(node, 'file-needed'))),
    },
    referenceSamples: { value: '500', validate: inRangeOf('ml-drift', 'referenceSamples') },
    features: { value: '' },
    featuresProperty: { value: 'payload', validate: RED.validators.typedInput('msg') },
    predictionProperty: { value: '' },
    window: { value: '200', validate: inRangeOf('ml-drift', 'window') },
    mode: { value: 'tumbling', validate: oneOf(['tumbling', 'sliding']) },
    step: { value: '50', validate: inRangeOf('ml-drift', 'step') },
    bins: { value: '10', validate: inRangeOf('ml-drift', 'bins') },
    psiWarn: { value: '0.1', validate: inRangeOf('ml-drift', 'psiWarn') },
    psiAlarm: { value: '0.25', validate: inRangeOf('ml-drift', 'psiAlarm') },
    shiftWarn: { value: '0.5', validate: inRangeOf('ml-drift', 'shiftWarn') },
    shiftAlarm: { value: '1', validate: inRangeOf('ml-drift', 'shiftAlarm') },
    ksWarn: { value: '0.01', validate: inRangeOf('ml-drift', 'ksWarn') },
    ksAlarm: { value: '0.001', validate: inRangeOf('ml-drift', 'ksAlarm') },
  },
  inputLabels: function () {
    return this._('ml-drift.label.input');
  },
  outputLabels: function () {
    return this._('ml-drift.label.report');
  },
  label: function () {
    return this.name || this._('ml-drift.label.node');
  },
  paletteLabel: 'ml drift',
  oneditprepare: function () {
    $('#node-input-featuresProperty').typedInput({ default: 'msg', types: ['msg'] });
    $('#node-input-predictionProperty').typedInput({ default: 'msg', types: ['msg'] });
    const sync = (): void => {
      const ref = String($('#node-input-reference').val());
      $('.ml-drift-file').toggle(ref === 'file');
      $('.ml-drift-samples').toggle(ref === 'samples' || ref === 'file');
      $('.ml-drift-step').toggle($('#node-input-mode').val() === 'sliding');
    };
    $('#node-input-reference, #node-input-mode').on('change', sync);
    sync();
  },
});
