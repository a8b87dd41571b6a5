/** ml-model-update's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineConfig, numberOrText, typedLikeDefaults } from '../shared/config';

const DEFAULTS = {
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
};

export const ML_MODEL_UPDATE_CONFIG = defineConfig(DEFAULTS, [
  // 0 -> 1 (0.1.x -> 0.2): nothing changes but the version (text stays text, numbers numbers).
  typedLikeDefaults(DEFAULTS),
]);

export type MlModelUpdateConfig = ConfigOf<typeof ML_MODEL_UPDATE_CONFIG>;
