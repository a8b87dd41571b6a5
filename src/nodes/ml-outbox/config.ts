/** ml-outbox's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig, numberOrText } from '../shared/config';

// 0 -> 1 (0.1.x -> 0.2): qos and limits saved as numbers become text, retain "true" becomes true.
export const ML_OUTBOX_CONFIG = defineTypedConfig({
  name: '',
  broker: '',
  topic: '',
  qos: '1',
  retain: false,
  // a number since 0.1 (a text field stores text once edited)
  capacity: numberOrText(10000),
  maxMiB: '64',
  maxInFlight: '100',
  overflow: 'drop-oldest',
});

export type MlOutboxConfig = ConfigOf<typeof ML_OUTBOX_CONFIG>;
