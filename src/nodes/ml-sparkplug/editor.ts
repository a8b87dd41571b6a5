/** Editor definition of ml-sparkplug. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface SparkplugProps extends EditorNodeProperties {
  broker: string;
  groupId: string;
  edgeNodeId: string;
  deviceId: string;
  primaryHost: string;
  features: boolean;
  capacity: number;
  overflow: string;
}

/** A Sparkplug id is one MQTT topic level: not empty, no / + #. */
const sparkplugId = (v: string): boolean => typeof v === 'string' && v.trim() !== '' && !/[/+#]/.test(v);

RED.nodes.registerType<SparkplugProps>('ml-sparkplug', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-outbox.svg',
  align: 'right',
  inputs: 1,
  outputs: 0,
  paletteLabel: 'sparkplug out',
  defaults: {
    name: { value: '' },
    broker: { value: '', type: 'mqtt-broker', required: true },
    groupId: { value: 'edge-ml', required: true, validate: sparkplugId },
    edgeNodeId: { value: 'node-red', required: true, validate: sparkplugId },
    deviceId: { value: 'model', required: true, validate: sparkplugId },
    primaryHost: { value: '', validate: (v: string) => v === '' || sparkplugId(v) },
    features: { value: false },
    capacity: { value: 10000, required: true, validate: inRangeOf('ml-sparkplug', 'capacity') },
    overflow: { value: 'drop-oldest', validate: (v: string) => v === 'drop-oldest' || v === 'drop-newest' },
  },
  label: function () {
    return this.name || `${this.groupId}/${this.edgeNodeId}/${this.deviceId}`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
});
