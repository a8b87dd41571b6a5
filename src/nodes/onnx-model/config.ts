/** onnx-model's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig } from '../shared/config';

// 0 -> 1 (0.1.x -> 0.2): thread counts saved as numbers become text, "false" becomes false.
export const ONNX_MODEL_CONFIG = defineTypedConfig({
  name: '',
  path: '',
  watch: true,
  threads: '1',
  providers: 'cpu',
  interOpThreads: '1',
  // blank: a flow saved before this setting existed (the runtime then uses 'all')
  graphOptimization: 'all',
  memoryArena: true,
});

export type OnnxModelConfig = ConfigOf<typeof ONNX_MODEL_CONFIG>;
