/** ml-features' configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig, numberOrText } from '../shared/config';

// 0 -> 1 (0.1.x -> 0.2): reset "true"/"false" becomes a boolean.
export const ML_FEATURES_CONFIG = defineTypedConfig({
  name: '',
  mapping: '',
  key: 'topic',
  // a number since 0.1 (a text field stores text once edited)
  maxAge: numberOrText(5000),
  reset: false,
  timestamp: 'source',
});

export type MlFeaturesConfig = ConfigOf<typeof ML_FEATURES_CONFIG>;
