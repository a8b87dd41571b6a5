/** ml-image's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig } from '../shared/config';

/**
 * Blank text means "from the model card" (then the built-in default).
 * 0 -> 1 (0.1.x -> 0.2): sizes saved as numbers become text, keepOriginal "true" becomes true.
 */
export const ML_IMAGE_CONFIG = defineTypedConfig({
  name: '',
  model: '',
  width: '',
  height: '',
  layout: '',
  order: '',
  channels: '',
  // not `resize`: Node-RED's editor sets node.resize (a redraw flag) on every node
  resizeMode: '',
  pad: '',
  scale: '',
  mean: '',
  std: '',
  dtype: '',
  maxPixels: '25000000',
  backend: 'auto',
  // image threads at SCHED_IDLE (see src/lib/image/priority.ts), or as they are
  priority: 'background',
  inputName: '',
  keepOriginal: false,
});

export type MlImageConfig = ConfigOf<typeof ML_IMAGE_CONFIG>;
