/** Editor definition of ml-image: steps with validators that say why a value is refused. */
import type { EditorNodeProperties, EditorRED } from 'node-red';

declare const RED: EditorRED;

interface MlImageProps extends EditorNodeProperties {
  model: string;
  width: string;
  height: string;
  layout: string;
  order: string;
  channels: string;
  resizeMode: string;
  pad: string;
  scale: string;
  mean: string;
  std: string;
  dtype: string;
  maxPixels: string;
  backend: string;
  inputName: string;
  keepOriginal: boolean;
}

type Check = (v: string) => boolean;
/**
 * A validator that returns the reason (Node-RED >= 3.1 shows it beside the field when it passes
 * `opt`) and a plain false on older editors.
 */
const says = (check: Check, key: string) =>
  function (v: string, opt?: unknown): boolean | string {
    if (check(v === undefined || v === null ? '' : String(v).trim())) return true;
    return opt ? RED._(`ml-image.validate.${key}`) : false;
  } as unknown as (v: string) => boolean;

const blank = (v: string): boolean => v === '';
const num = (v: string): number => {
  const m = /^(-?[\d.eE+-]+)\s*\/\s*([\d.eE+-]+)$/.exec(v);
  return m ? Number(m[1]) / Number(m[2]) : Number(v);
};
const side: Check = (v) => blank(v) || (Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 8192);
const pad: Check = (v) => blank(v) || (Number.isFinite(Number(v)) && Number(v) >= 0 && Number(v) <= 255);
const scale: Check = (v) => blank(v) || (Number.isFinite(num(v)) && num(v) !== 0);
const list =
  (nonZero: boolean): Check =>
  (v) =>
    blank(v) ||
    v.split(',').every((s) => s.trim() !== '' && Number.isFinite(num(s.trim())) && (!nonZero || num(s.trim()) !== 0));
const pixels: Check = (v) => blank(v) || (Number.isInteger(Number(v)) && Number(v) >= 1);
const oneOf =
  (...allowed: string[]): Check =>
  (v) =>
    allowed.includes(v);

RED.nodes.registerType<MlImageProps>('ml-image', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-image.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    model: { value: '', type: 'onnx-model', required: false },
    width: { value: '', validate: says(side, 'side') },
    height: { value: '', validate: says(side, 'side') },
    layout: { value: '', validate: says(oneOf('', 'NCHW', 'NHWC'), 'choice') },
    order: { value: '', validate: says(oneOf('', 'RGB', 'BGR'), 'choice') },
    channels: { value: '', validate: says(oneOf('', '1', '3'), 'channels') },
    // not `resize`: Node-RED's editor sets node.resize (a redraw flag) on every node
    resizeMode: { value: '', validate: says(oneOf('', 'stretch', 'letterbox', 'center-crop'), 'choice') },
    pad: { value: '', validate: says(pad, 'pad') },
    scale: { value: '', validate: says(scale, 'scale') },
    mean: { value: '', validate: says(list(false), 'mean') },
    std: { value: '', validate: says(list(true), 'std') },
    dtype: { value: '', validate: says(oneOf('', 'float32', 'uint8'), 'choice') },
    maxPixels: { value: '25000000', validate: says(pixels, 'maxPixels') },
    backend: { value: 'auto', validate: says(oneOf('auto', 'sharp', 'js'), 'choice') },
    inputName: { value: '' },
    keepOriginal: { value: false },
  },
  inputLabels: function () {
    return this._('ml-image.label.input');
  },
  outputLabels: function () {
    return this._('ml-image.label.output');
  },
  label: function () {
    return this.name || (this.width && this.height ? `${this._('ml-image.label.node')} ${this.width}x${this.height}` : this._('ml-image.label.node'));
  },
  paletteLabel: 'ml image',
  oneditprepare: function () {
    const showPad = (): void => {
      const r = String($('#node-input-resizeMode').val());
      $('.ml-image-pad').toggle(r === 'letterbox' || r === '');
    };
    $('#node-input-resizeMode').on('change', showPad);
    showPad();
  },
});
