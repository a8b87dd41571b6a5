/** Editor definition of onnx-infer: which model, where the input is, queue and batching. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { oneOf, rule, inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface OnnxInferProps extends EditorNodeProperties {
  model: string;
  property: string;
  outputNames: string;
  features: string;
  queueSize: string;
  overflow: string;
  batch: boolean;
  maxBatch: string;
  batchWindow: string;
}

RED.nodes.registerType<OnnxInferProps>('onnx-infer', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-model.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    model: { value: '', type: 'onnx-model', required: true },
    property: { value: 'payload', required: true, validate: rule((v) => v.length > 0, 'property') },
    outputNames: { value: "" },
    features: { value: '' },
    queueSize: { value: '100', validate: inRangeOf('onnx-infer', 'queueSize') },
    overflow: { value: 'drop-oldest', validate: oneOf(['drop-oldest', 'drop-newest', 'error']) },
    batch: { value: false },
    maxBatch: { value: '32', validate: inRangeOf('onnx-infer', 'maxBatch') },
    batchWindow: { value: '0', validate: inRangeOf('onnx-infer', 'batchWindow') },
  },
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
