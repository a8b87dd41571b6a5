/** Editor definition of ml-sparkplug. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ML_SPARKPLUG_CONFIG, type MlSparkplugConfig } from './config';

declare const RED: EditorRED;

type SparkplugProps = EditorNodeProperties & MlSparkplugConfig & { configVersion: number };

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
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_SPARKPLUG_CONFIG, {
    broker: { type: 'mqtt-broker', required: true },
    groupId: { required: true, validate: sparkplugId },
    edgeNodeId: { required: true, validate: sparkplugId },
    deviceId: { required: true, validate: sparkplugId },
    primaryHost: { validate: (v: string) => v === '' || sparkplugId(v) },
    capacity: { required: true, validate: inRangeOf('ml-sparkplug', 'capacity') },
    overflow: { validate: (v: string) => v === 'drop-oldest' || v === 'drop-newest' },
  }),
  label: function () {
    return this.name || `${this.groupId}/${this.edgeNodeId}/${this.deviceId}`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
});
