/** Editor definition of ml-drift. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { explain, fieldValue, oneOf, reason, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_DRIFT_CONFIG, type MlDriftConfig } from './config';

declare const RED: EditorRED;

type MlDriftProps = EditorNodeProperties & MlDriftConfig & { configVersion: number };


RED.nodes.registerType<MlDriftProps>('ml-drift', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-drift.svg',
  inputs: 1,
  outputs: 1,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_DRIFT_CONFIG, {
    model: { type: 'onnx-model', required: false },
    reference: { validate: oneOf(['card', 'file', 'samples']) },
    referenceFile: {
      validate: explain((v, node) => (fieldValue(node, 'reference') !== 'file' || String(v ?? '').trim() !== '' ? undefined : reason(node, 'file-needed'))),
    },
    referenceSamples: { validate: inRangeOf('ml-drift', 'referenceSamples') },
    featuresProperty: { validate: RED.validators.typedInput('msg') },
    window: { validate: inRangeOf('ml-drift', 'window') },
    mode: { validate: oneOf(['tumbling', 'sliding']) },
    step: { validate: inRangeOf('ml-drift', 'step') },
    bins: { validate: inRangeOf('ml-drift', 'bins') },
    psiWarn: { validate: inRangeOf('ml-drift', 'psiWarn') },
    psiAlarm: { validate: inRangeOf('ml-drift', 'psiAlarm') },
    shiftWarn: { validate: inRangeOf('ml-drift', 'shiftWarn') },
    shiftAlarm: { validate: inRangeOf('ml-drift', 'shiftAlarm') },
    ksWarn: { validate: inRangeOf('ml-drift', 'ksWarn') },
    ksAlarm: { validate: inRangeOf('ml-drift', 'ksAlarm') },
  }),

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
