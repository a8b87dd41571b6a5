/** Editor definition of ml-features. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface FeaturesProps extends EditorNodeProperties {
  mapping: string;
  key: string;
  maxAge: number;
  reset: boolean;
  timestamp: string;
}

RED.nodes.registerType<FeaturesProps>('ml-features', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-guard.svg',
  inputs: 1,
  outputs: 1,
  paletteLabel: 'features',
  defaults: {
    name: { value: '' },
    mapping: { value: '', required: true, validate: (v: string) => typeof v === 'string' && v.split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#')) },
    key: { value: 'topic', required: true },
    maxAge: { value: 5000, required: true, validate: inRangeOf('ml-features', 'maxAge') },
    reset: { value: false },
    timestamp: { value: 'source', validate: (v: string) => v === 'source' || v === 'arrival' },
  },
  label: function () {
    return this.name || 'features';
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
});
