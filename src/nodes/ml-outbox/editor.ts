/** Editor definition of ml-outbox. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { matches, oneOf, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_OUTBOX_CONFIG, type MlOutboxConfig } from './config';

declare const RED: EditorRED;

type OutboxProps = EditorNodeProperties & MlOutboxConfig & { configVersion: number };

RED.nodes.registerType<OutboxProps>('ml-outbox', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-outbox.svg',
  align: 'right',
  inputs: 1,
  outputs: 0,
  paletteLabel: 'mqtt outbox',
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_OUTBOX_CONFIG, {
    broker: { type: 'mqtt-broker', required: true },
    topic: { validate: matches(/^[^+#]+$/, 'topic', { blank: true }) },
    qos: { validate: inRangeOf('ml-outbox', 'qos') },
    capacity: { required: true, validate: inRangeOf('ml-outbox', 'capacity') },
    maxMiB: { validate: inRangeOf('ml-outbox', 'maxMiB', true) },
    maxInFlight: { validate: inRangeOf('ml-outbox', 'maxInFlight', true) },
    overflow: { validate: oneOf(['drop-oldest', 'drop-newest']) },
  }),
  label: function () {
    return this.name || this.topic || 'mqtt outbox';
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
});
