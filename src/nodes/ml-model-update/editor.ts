/** Editor definition of ml-model-update. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { matches, publicKeyPem, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_MODEL_UPDATE_CONFIG, type MlModelUpdateConfig } from './config';

declare const RED: EditorRED;

type ModelUpdateProps = EditorNodeProperties & MlModelUpdateConfig & { configVersion: number };

RED.nodes.registerType<ModelUpdateProps>('ml-model-update', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-update.svg',
  inputs: 1,
  outputs: 1,
  paletteLabel: 'model update',
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_MODEL_UPDATE_CONFIG, {
    broker: { type: 'mqtt-broker', required: true },
    model: { type: 'onnx-model', required: true },
    deviceId: { validate: matches(/^[^/#+\s]+$/, 'mqtt-id', { blank: true }) },
    groups: { validate: matches(/^[^/#+]+(,[^/#+]+)*$/, 'mqtt-groups', { blank: true }) },
    prefix: { required: true, validate: matches(/^[^#+]+$/, 'topic') },
    publicKey: { validate: publicKeyPem },
    reportInterval: { required: true, validate: inRangeOf('ml-model-update', 'reportInterval') },
    stallSeconds: { required: true, validate: inRangeOf('ml-model-update', 'stallSeconds') },
  }),
  label: function () {
    return this.name || 'model update';
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function () {
    $('#node-input-deviceId').typedInput({ default: 'str', types: ['str', 'env'], typeField: '#node-input-deviceIdType' });
  },
});
