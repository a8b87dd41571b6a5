/**
 * The committed demo CNN (models/part-inspector.onnx): its card, and its accuracy on fresh
 * procedural images under onnxruntime-node, against the plain-JS forward pass of the training script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ROOT } from './helpers/flow';
import { partDataset } from '../scripts/demo/parts';
import { ACCURACY_GOAL } from '../scripts/train-vision-model';
import { readModelInfo } from '../src/lib/onnx/model-file';
import { parseModelCard } from '../src/lib/model-card';

const FILE = path.join(ROOT, 'models', 'part-inspector.onnx');

test('part-inspector: card with labels and image steps; small file', () => {
  const bytes = readFileSync(FILE);
  assert.ok(bytes.length < 10_000, `${bytes.length} bytes`);
  const card = parseModelCard(readModelInfo(bytes).metadata);
  assert.deepEqual(card.labels, ['ok', 'scratch']);
  assert.equal(card.image?.width, 64);
  assert.equal(card.task, 'classification');
});

test(`part-inspector: at least ${ACCURACY_GOAL * 100} % right on 300 images it never saw (ONNX Runtime, batch of 300)`, async () => {
  const images = partDataset(31337, 300);
  const plane = 64 * 64;
  const x = new Float32Array(images.length * 3 * plane);
  images.forEach((img, n) => {
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) x[(n * 3 + c) * plane + p] = (img.data[p * 3 + c] as number) / 255;
  });
  const session = await ort.InferenceSession.create(readFileSync(FILE));
  const r = await session.run({ image: new ort.Tensor('float32', x, [images.length, 3, 64, 64]) });
  const probs = r.probabilities!.data as Float32Array;
  const correct = images.filter((img, n) => ((probs[n * 2 + 1] as number) > (probs[n * 2] as number) ? 1 : 0) === img.label).length;
  await session.release();
  assert.ok(correct / images.length >= ACCURACY_GOAL, `${correct} of ${images.length}`);
});
