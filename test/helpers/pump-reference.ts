/**
 * The demo pump model as the tests' reference: its model card, the card's scaler applied here (not
 * by the code under test), and onnxruntime-node run directly on the standardised rows.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseModelCard, type ModelCard } from '../../src/lib/model-card';
import { readModelInfo } from '../../src/lib/onnx/model-file';

export const PUMP_MODEL = path.resolve(__dirname, '..', '..', 'models', 'pump-classifier.onnx');
export const pumpCard: ModelCard = parseModelCard(readModelInfo(readFileSync(PUMP_MODEL)).metadata);

/** Rows of raw readings -> one float32 matrix in the model's input space: (x - mean) / scale per feature. */
export function standardise(rows: readonly (readonly number[])[], card: ModelCard = pumpCard): Float32Array {
  const { mean, scale } = card.scaler!;
  return Float32Array.from(rows.flatMap((r) => r.map((v, i) => (v - mean[i]!) / scale[i]!)));
}

export interface PumpReference {
  /** Class index per row. */
  labels: number[];
  probabilities: number[][];
  anomalyScores: number[];
}

/** onnxruntime-node directly on the rows (standardised here), in one batch. */
export async function pumpReference(rows: readonly (readonly number[])[], session?: ort.InferenceSession): Promise<PumpReference> {
  const own = session ?? (await ort.InferenceSession.create(PUMP_MODEL));
  try {
    const width = pumpCard.features!.length;
    const out = await own.run({ [pumpCard.input ?? own.inputNames[0]!]: new ort.Tensor('float32', standardise(rows), [rows.length, width]) });
    const outputs = pumpCard.outputs!;
    const labels = out[outputs.label!]!.data as BigInt64Array;
    const probs = out[outputs.scores!]!.data as Float32Array;
    const scores = out[outputs.score!]!.data as Float32Array;
    const k = pumpCard.labels!.length;
    return {
      labels: rows.map((_, r) => Number(labels[r])),
      probabilities: rows.map((_, r) => Array.from(probs.subarray(r * k, r * k + k))),
      anomalyScores: rows.map((_, r) => scores[r]!),
    };
  } finally {
    if (!session) await own.release();
  }
}
