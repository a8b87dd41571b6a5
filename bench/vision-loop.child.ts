/**
 * One event-loop-delay measurement of the vision bench, in a process of its own so that no other
 * configuration's heap or threads are in it: frames of the bench's 640x480 JPEG preprocessed one
 * after the other (after 20 frames of warm-up) for about `ms`, or none (idle), while
 * monitorEventLoopDelay samples the loop every millisecond. Prints one JSON line.
 *   mode: inline (sharp, tensor laid out on this thread, yielding every 2 ms: the design before the
 *         worker), normal / background (what ml-image runs: all of it in the worker thread, at the
 *         given priority), js (the pure-JS pipeline in the worker, background), idle (no frames)
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import path from 'node:path';
import { ImagePreprocessor } from '../src/lib/image/preprocess';
import { resolveImageOptions } from '../src/lib/image/options';
import { benchFrame } from './vision-frame';

interface Options {
  mode: 'inline' | 'normal' | 'background' | 'js' | 'idle';
  size: 224 | 640;
  ms: number;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]!) as Options;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bench runs where sharp is installed
  (require('sharp') as { concurrency(n: number): number }).concurrency(1);
  const jpeg = benchFrame();
  const options =
    o.size === 640
      ? resolveImageOptions({ width: 640, height: 640, resize: 'letterbox', pad: 114 }, undefined)
      : resolveImageOptions({ width: 224, height: 224, resize: 'stretch', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, undefined);
  const workerFile = path.join(__dirname, '..', 'nodes', 'ml-image.decode.worker.js');
  const pre =
    o.mode === 'inline' || o.mode === 'idle' ? new ImagePreprocessor('sharp') : new ImagePreprocessor(o.mode === 'js' ? 'js' : 'sharp', workerFile, o.mode === 'normal' ? 'normal' : 'background');
  const frame = (): Promise<unknown> => pre.prepare(jpeg, options);
  if (o.mode !== 'idle') for (let i = 0; i < 20; i++) await frame();
  const gc = { n: 0, ms: 0, majors: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.n++;
      gc.ms += e.duration;
      // kind 4: a mark-compact (major) collection
      if ((e as { detail?: { kind?: number } }).detail?.kind === 4) gc.majors++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const start = performance.now();
  let frames = 0;
  if (o.mode === 'idle') await new Promise((r) => setTimeout(r, o.ms));
  else
    while (performance.now() - start < o.ms && frames < 2000) {
      await frame();
      frames++;
    }
  h.disable();
  observer.disconnect();
  const info = await pre.info();
  await pre.close();
  const ms = (ns: number): number => Number((ns / 1e6).toFixed(2));
  const result = {
    p99Ms: ms(h.percentile(99)),
    p90Ms: ms(h.percentile(90)),
    maxMs: ms(h.max),
    frames,
    gcs: gc.n,
    majorGcs: gc.majors,
    gcMs: Number(gc.ms.toFixed(1)),
    priority: info?.priority ?? 'main thread',
  };
  console.log(JSON.stringify(result));
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
