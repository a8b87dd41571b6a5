/** Editor definition of ml-model-update. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { matches, publicKeyPem, inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface ModelUpdateProps extends EditorNodeProperties {
  broker: string;
  model: string;
  deviceId: string;
  deviceIdType: string;
  groups: string;
  prefix: string;
  publicKey: string;
  reportInterval: number;
  stallSeconds: number;
}

RED.nodes.registerType<ModelUpdateProps>('ml-model-update', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-update.svg',
  inputs: 1,
  outputs: 1,
  paletteLabel: 'model update',
  defaults: {
    name: { value: '' },
    broker: { value: '', type: 'mqtt-broker', required: true },
    model: { value: '', type: 'onnx-model', required: true },
    deviceId: { value: '', validate: matches(/^[^/#+\s]+$/, 'mqtt-id', { blank: true }) },
    deviceIdType: { value: 'str' },
    groups: { value: '', validate: matches(/^[^/#+]+(,[^/#+]+)*$/, 'mqtt-groups', { blank: true }) },
    prefix: { value: 'edge-ml', required: true, validate: matches(/^[^#+]+$/, 'topic') },
    publicKey: { value: '', validate: publicKeyPem },
    reportInterval: { value: 60, required: true, validate: inRangeOf('ml-model-update', 'reportInterval') },
    stallSeconds: { value: 10, required: true, validate: inRangeOf('ml-model-update', 'stallSeconds') },
  },
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
