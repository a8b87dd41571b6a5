/**
 * ml-format, ml-guard and ml-drift per-message cost, each against a baseline measured in the same run:
 *  - format: formatPrediction of a 10-class logit vector vs JSON.stringify of its result (what mqtt out does anyway);
 *  - guard: DataGuard.check of 8 features with range/spike/stuck on vs a bare Number.isFinite loop;
 *  - drift: DriftMonitor.add of 8 features (window 200, reports included) vs writing them into a ring buffer.
 */
import { compare, writeResults } from './util';
import { formatPrediction, resolveFormatOptions } from '../src/lib/format/format';
import { DataGuard, resolveGuardOptions } from '../src/lib/guard/guard';
import { DEFAULT_DRIFT_OPTIONS, DriftMonitor, referenceFromStats } from '../src/lib/drift/drift';

export async function run(): Promise<void> {
  const labels = Array.from({ length: 10 }, (_, i) => `class-${i}`);
  const opts = resolveFormatOptions({ labels, logits: 'true', topK: 3 });
  const logits = Array.from({ length: 10 }, (_, i) => Math.sin(i) * 3);
  const input = { tensors: { logits: { dtype: 'float32', dims: [1, 10], data: logits } }, model: { name: 'm', version: '1' }, time: Date.now() };
  const formatted = formatPrediction(input, opts)[0];
  const format = compare(
    () => formatPrediction(input, opts),
    () => JSON.stringify(formatted),
  );

  const names = Array.from({ length: 8 }, (_, i) => `f${i}`);
  const guard = new DataGuard(
    resolveGuardOptions({
      features: names,
      ranges: Object.fromEntries(names.map((n) => [n, [-100, 100]])),
      maxDelta: Object.fromEntries(names.map((n) => [n, 50])),
      stuckSamples: 10,
    }),
  );
  let k = 0;
  const vector = (): number[] => names.map((_, i) => Math.sin(k++ + i) * 10);
  const g = compare(
    () => guard.check(vector(), 0),
    () => vector().every((v) => Number.isFinite(v)),
  );

  const refs = Object.fromEntries(names.map((n) => [n, referenceFromStats({ mean: 0, std: 7, min: -10, max: 10 }, 10)]));
  const monitor = new DriftMonitor({ ...DEFAULT_DRIFT_OPTIONS, window: 200 }, 'card', refs);
  const ring = new Float64Array(200 * 8);
  let pos = 0;
  const d = compare(
    () => {
      const v = vector();
      monitor.add(Object.fromEntries(names.map((n, i) => [n, v[i]!])), 0);
    },
    () => {
      const v = vector();
      for (let i = 0; i < 8; i++) ring[(pos++ * 8 + i) % ring.length] = v[i]!;
    },
  );

  const file = writeResults('ml.json', 'ml', {
    format: { ...format, note: 'candidate formatPrediction (10 classes, softmax, top-3); baseline JSON.stringify of its result; ratio = baseline/candidate ops' },
    guard: { ...g, note: 'candidate DataGuard.check (8 features, range+spike+stuck); baseline Number.isFinite loop' },
    drift: { ...d, note: 'candidate DriftMonitor.add (8 features, window 200, PSI+shift+KS per window); baseline ring-buffer write' },
  });
  console.log(
    `ml: format ${format.candidate.toFixed(0)}/s (x${format.ratio.toFixed(1)} of stringify), guard ${g.candidate.toFixed(0)}/s (x${g.ratio.toFixed(1)}), drift ${d.candidate.toFixed(0)}/s (x${d.ratio.toFixed(1)}) -> ${file}`,
  );
}
