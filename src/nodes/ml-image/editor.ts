/** Editor definition of ml-image: steps with validators that say why a value is refused. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { oneOf, rule } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_IMAGE_CONFIG, type MlImageConfig } from './config';

declare const RED: EditorRED;

type MlImageProps = EditorNodeProperties & MlImageConfig & { configVersion: number };

type Check = (v: string) => boolean;
/** The shared validator with this node's reason (`ml-image.validate.<key>`, translated by the node). */
const says = (check: Check, key: string) => rule(check, `ml-image.validate.${key}`);

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

RED.nodes.registerType<MlImageProps>('ml-image', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-image.svg',
  inputs: 1,
  outputs: 1,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_IMAGE_CONFIG, {
    model: { type: 'onnx-model', required: false },
    width: { validate: says(side, 'side') },
    height: { validate: says(side, 'side') },
    layout: { validate: oneOf(['NCHW', 'NHWC'], { blank: true }) },
    order: { validate: oneOf(['RGB', 'BGR'], { blank: true }) },
    channels: { validate: says((v) => ['', '1', '3'].includes(v), 'channels') },
    resizeMode: { validate: oneOf(['stretch', 'letterbox', 'center-crop'], { blank: true }) },
    pad: { validate: says(pad, 'pad') },
    scale: { validate: says(scale, 'scale') },
    mean: { validate: says(list(false), 'mean') },
    std: { validate: says(list(true), 'std') },
    dtype: { validate: oneOf(['float32', 'uint8'], { blank: true }) },
    maxPixels: { validate: says(pixels, 'maxPixels') },
    backend: { validate: oneOf(['auto', 'sharp', 'js']) },
    // blank: a flow saved before the setting existed (background)
    priority: { validate: oneOf(['background', 'normal'], { blank: true }) },
  }),
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
