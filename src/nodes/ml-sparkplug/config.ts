/** ml-sparkplug's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig, numberOrText } from '../shared/config';

// 0 -> 1 (0.1.x -> 0.2): features "true"/"false" becomes a boolean.
export const ML_SPARKPLUG_CONFIG = defineTypedConfig({
  name: '',
  broker: '',
  groupId: 'edge-ml',
  edgeNodeId: 'node-red',
  deviceId: 'model',
  primaryHost: '',
  features: false,
  // a number since 0.1 (a text field stores text once edited)
  capacity: numberOrText(10000),
  overflow: 'drop-oldest',
});

export type MlSparkplugConfig = ConfigOf<typeof ML_SPARKPLUG_CONFIG>;
