/** Editor definition of ml-model-update. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { inRangeOf } from '../../editor/validators';

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
    deviceId: { value: '', validate: (v: string) => v === '' || /^[^/#+\s]+$/.test(v) },
    deviceIdType: { value: 'str' },
    groups: { value: '', validate: (v: string) => v === '' || /^[^/#+]+(,[^/#+]+)*$/.test(v) },
    prefix: { value: 'edge-ml', required: true, validate: (v: string) => /^[^#+]+$/.test(v) },
    publicKey: { value: '', validate: (v: string) => v.trim() === '' || /-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----/.test(v) },
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
