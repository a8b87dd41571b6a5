/** onnx-infer's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig } from '../shared/config';

// 0 -> 1 (0.1.x -> 0.2): queue and batch sizes saved as numbers become text; batch "false"
// (which 0.1 read as true) becomes false.
export const ONNX_INFER_CONFIG = defineTypedConfig({
  name: '',
  model: '',
  property: 'payload',
  outputNames: '',
  features: '',
  queueSize: '100',
  overflow: 'drop-oldest',
  batch: false,
  maxBatch: '32',
  batchWindow: '0',
});

export type OnnxInferConfig = ConfigOf<typeof ONNX_INFER_CONFIG>;
