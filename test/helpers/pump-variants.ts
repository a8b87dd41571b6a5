/**
 * Other versions of the demo pump model for update tests: the same graph, inputs, outputs and model
 * card, another `edgeml.version`, and the classifier's last layer shifted so that its
 * probabilities differ measurably from the shipped model on the same reading (a prediction then
 * tells which version answered it).
 */
import { readFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { PUMP_MODEL } from './pump-reference';

export function pumpVariant(version: string, shift: number[] = [0.8, -0.4, -0.4], scale = 1.15): Buffer {
  const model = onnx.ModelProto.decode(readFileSync(PUMP_MODEL));
  for (const p of model.metadataProps ?? []) if (p.key === 'edgeml.version') p.value = version;
  for (const t of model.graph?.initializer ?? []) {
    if (t.name !== 'w2' && t.name !== 'b2') continue;
    const raw = t.rawData!;
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    for (let i = 0; i < values.length; i++) values[i] = t.name === 'b2' ? values[i]! + shift[i % shift.length]! : values[i]! * scale;
    t.rawData = new Uint8Array(values.buffer);
  }
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}
