/** ml-features' configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineConfig, numberOrText, typedLikeDefaults } from '../shared/config';

const DEFAULTS = {
  name: '',
  mapping: '',
  key: 'topic',
  // a number since 0.1 (a text field stores text once edited)
  maxAge: numberOrText(5000),
  reset: false,
  timestamp: 'source',
};

export const ML_FEATURES_CONFIG = defineConfig(DEFAULTS, [
  // 0 -> 1 (0.1.x -> 0.2): reset "true"/"false" becomes a boolean.
  typedLikeDefaults(DEFAULTS),
]);

export type MlFeaturesConfig = ConfigOf<typeof ML_FEATURES_CONFIG>;
