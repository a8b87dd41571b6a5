/** Editor definition of onnx-infer: which model, where the input is, queue and batching. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { oneOf, rule, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ONNX_INFER_CONFIG, type OnnxInferConfig } from './config';

declare const RED: EditorRED;

type OnnxInferProps = EditorNodeProperties & OnnxInferConfig & { configVersion: number };

RED.nodes.registerType<OnnxInferProps>('onnx-infer', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-model.svg',
  inputs: 1,
  outputs: 1,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ONNX_INFER_CONFIG, {
    model: { type: 'onnx-model', required: true },
    property: { required: true, validate: rule((v) => v.length > 0, 'property') },
    queueSize: { validate: inRangeOf('onnx-infer', 'queueSize') },
    overflow: { validate: oneOf(['drop-oldest', 'drop-newest', 'error']) },
    maxBatch: { validate: inRangeOf('onnx-infer', 'maxBatch') },
    batchWindow: { validate: inRangeOf('onnx-infer', 'batchWindow') },
  }),
  inputLabels: function () {
    return this._('onnx-infer.label.input');
  },
  outputLabels: function () {
    return this._('onnx-infer.label.output');
  },
  label: function () {
    return this.name || this._('onnx-infer.label.node');
  },
  paletteLabel: 'onnx infer',
  oneditprepare: function () {
    $('#node-input-property').typedInput({ default: 'msg', types: ['msg'] });
    const toggle = (): void => {
      $('.onnx-infer-batch-row').toggle($('#node-input-batch').is(':checked'));
    };
    $('#node-input-batch').on('change', toggle);
    toggle();
  },
});
