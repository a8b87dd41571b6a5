/** ml-model-update's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig, numberOrText } from '../shared/config';

// 0 -> 1 (0.1.x -> 0.2): nothing changes but the version (text stays text, numbers numbers).
export const ML_MODEL_UPDATE_CONFIG = defineTypedConfig({
  name: '',
  broker: '',
  model: '',
  deviceId: '',
  deviceIdType: 'str',
  groups: '',
  prefix: 'edge-ml',
  publicKey: '',
  // numbers since 0.1 (a text field stores text once edited)
  reportInterval: numberOrText(60),
  stallSeconds: numberOrText(10),
});

export type MlModelUpdateConfig = ConfigOf<typeof ML_MODEL_UPDATE_CONFIG>;
