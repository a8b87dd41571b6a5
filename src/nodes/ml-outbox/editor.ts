/** Editor definition of ml-outbox. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { matches, oneOf, inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface OutboxProps extends EditorNodeProperties {
  broker: string;
  topic: string;
  qos: string;
  retain: boolean;
  capacity: number;
  overflow: string;
}

RED.nodes.registerType<OutboxProps>('ml-outbox', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-outbox.svg',
  align: 'right',
  inputs: 1,
  outputs: 0,
  paletteLabel: 'mqtt outbox',
  defaults: {
    name: { value: '' },
    broker: { value: '', type: 'mqtt-broker', required: true },
    topic: { value: '', validate: matches(/^[^+#]+$/, 'topic', { blank: true }) },
    qos: { value: '1', validate: inRangeOf('ml-outbox', 'qos') },
    retain: { value: false },
    capacity: { value: 10000, required: true, validate: inRangeOf('ml-outbox', 'capacity') },
    overflow: { value: 'drop-oldest', validate: oneOf(['drop-oldest', 'drop-newest']) },
  },
  label: function () {
    return this.name || this.topic || 'mqtt outbox';
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
});
