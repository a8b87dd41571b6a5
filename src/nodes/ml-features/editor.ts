/** Editor definition of ml-features. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_FEATURES_CONFIG, type MlFeaturesConfig } from './config';

declare const RED: EditorRED;

type FeaturesProps = EditorNodeProperties & MlFeaturesConfig & { configVersion: number };

RED.nodes.registerType<FeaturesProps>('ml-features', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-guard.svg',
  inputs: 1,
  outputs: 1,
  paletteLabel: 'features',
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_FEATURES_CONFIG, {
    mapping: { required: true, validate: (v: string) => typeof v === 'string' && v.split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#')) },
    key: { required: true },
    maxAge: { required: true, validate: inRangeOf('ml-features', 'maxAge') },
    timestamp: { validate: (v: string) => v === 'source' || v === 'arrival' },
  }),
  label: function () {
    return this.name || 'features';
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
});
