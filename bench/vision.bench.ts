/**
 * Vision figures, each against a baseline measured in the same run (bench/results/vision.json):
 *   1. per-frame preprocessing of a 640x480 JPEG to a 224x224 tensor (stretch) and a 640x640 tensor
 *      (letterbox): sharp (libvips) vs the pure-JS pipeline (jpeg-js decode + JS resize), goal >= 5x;
 *   2. whole-frame throughput on one core: preprocess + the demo CNN (ONNX Runtime, 1 thread) + format;
 *   3. event-loop delay p99 while frames are processed one after the other (goal < 5 ms), each
 *      measurement in a fresh process (bench/vision-loop.child.ts), in alternating rounds, with the
 *      load average of the machine: what ml-image runs (all of it in the worker thread, background
 *      priority) against the same worker at normal priority and against the tensor laid out on the
 *      main thread (the first design), at 640 x 640 and 224 x 224, and an idle loop;
 *   4. the annotated image (ml-format's msg.annotated: six boxes with labels onto the 640x480 frame,
 *      JPEG out) against preprocessing the same frame to 640x640, with sharp and with the pure-JS
 *      fallback (each against its own backend's preprocessing).
 * libvips and ONNX Runtime are held to one thread each, so the figures are per core.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ImagePreprocessor } from '../src/lib/image/preprocess';
import { resolveImageOptions, type ImageOptions } from '../src/lib/image/options';
import { formatPrediction, resolveFormatOptions } from '../src/lib/format/format';
import { CARD } from '../scripts/train-vision-model';
import { Annotator, labelColour, type AnnotateRequest } from '../src/lib/image/annotate';
import { writeResults } from './util';
import { benchFrame } from './vision-frame';

const ROOT = path.resolve(__dirname, '..');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Frames per second of `frame` run one after the other for about `ms` (bounded in count too). */
async function fps(frame: () => Promise<unknown>, ms: number, maxFrames = 2000): Promise<number> {
  await frame();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms && n < maxFrames) {
    await frame();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

/** Candidate and baseline in alternating rounds; medians and their ratio. */
async function compare(candidate: () => Promise<unknown>, baseline: () => Promise<unknown>, rounds = 3, ms = 700): Promise<{ candidateFps: number; baselineFps: number; ratio: number }> {
  const c: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    b.push(await fps(baseline, ms));
    c.push(await fps(candidate, ms));
  }
  return { candidateFps: Number(median(c).toFixed(1)), baselineFps: Number(median(b).toFixed(1)), ratio: Number((median(c) / median(b)).toFixed(2)) };
}

interface LoopDelay {
  p99Ms: number;
  p90Ms: number;
  maxMs: number;
  frames: number;
  gcs: number;
  majorGcs: number;
  gcMs: number;
  priority: string;
}

/** One event-loop-delay measurement in a fresh process (see ./vision-loop.child.ts). */
function loopDelay(mode: 'inline' | 'normal' | 'background' | 'js' | 'idle', size: 224 | 640, ms = 2000): LoopDelay {
  const child = spawnSync(process.execPath, [...process.execArgv, path.join(__dirname, 'vision-loop.child.ts'), JSON.stringify({ mode, size, ms })], { encoding: 'utf8', timeout: 120_000 });
  if (child.status !== 0) throw new Error(`vision-loop ${mode} ${size}: ${child.stderr || child.signal}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as LoopDelay;
}

export async function run(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- sharp is optional: loaded only where it is installed
  const sharp = require('sharp') as { concurrency(n: number): number; versions: Record<string, string> };
  sharp.concurrency(1);
  const jpeg = benchFrame();
  const sharpPre = new ImagePreprocessor('sharp');
  const jsPre = new ImagePreprocessor('js');
  const o224: ImageOptions = resolveImageOptions({ width: 224, height: 224, resize: 'stretch', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, undefined);
  const o640: ImageOptions = resolveImageOptions({ width: 640, height: 640, resize: 'letterbox', pad: 114 }, undefined);

  console.log('vision: preprocessing 224 ...');
  const pre224 = await compare(
    () => sharpPre.prepare(jpeg, o224),
    () => jsPre.prepare(jpeg, o224),
  );
  console.log('vision: preprocessing 640 ...');
  const pre640 = await compare(
    () => sharpPre.prepare(jpeg, o640),
    () => jsPre.prepare(jpeg, o640),
  );

  console.log('vision: whole frame ...');
  const modelBytes = readFileSync(path.join(ROOT, 'models', 'part-inspector.onnx'));
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const o64 = resolveImageOptions({}, CARD.image);
  const fmt = resolveFormatOptions({}, CARD);
  const wholeFrame = (pre: ImagePreprocessor) => async (): Promise<unknown> => {
    const r = await pre.prepare(jpeg, o64);
    const out = await session.run({ image: new ort.Tensor('float32', r.tensor.data as Float32Array, r.tensor.dims) });
    const p = out.probabilities!;
    return formatPrediction({ tensors: { probabilities: { dtype: 'float32', dims: [...p.dims], data: p.data as Float32Array } }, time: Date.now() }, fmt);
  };
  const frame = await compare(wholeFrame(sharpPre), wholeFrame(jsPre));
  const inferOnly = await fps(async () => session.run({ image: new ort.Tensor('float32', new Float32Array(3 * 64 * 64), [1, 3, 64, 64]) }), 700);

  console.log('vision: annotated image ...');
  const labels = ['red', 'green', 'blue'];
  const boxes = Array.from({ length: 6 }, (_, i) => ({ label: labels[i % 3]!, score: 0.9 - i * 0.05, box: { x: 30 + (i % 3) * 200, y: 60 + Math.floor(i / 3) * 200, w: 120, h: 90 } }));
  const annotateReq: AnnotateRequest = { boxes: boxes.map((b) => ({ ...b, colour: labelColour(b.label, labels) })), quality: 85, maxPixels: 25e6, expect: { width: 640, height: 480 } };
  const sharpAnnotator = new Annotator('sharp');
  const jsAnnotator = new Annotator('js');
  const annotateCost = async (a: Annotator, pre: ImagePreprocessor): Promise<Record<string, number>> => {
    const r = await compare(
      () => a.annotate(jpeg, annotateReq),
      () => pre.prepare(jpeg, o640),
    );
    return {
      annotateMsPerFrame: Number((1000 / r.candidateFps).toFixed(2)),
      preprocess640MsPerFrame: Number((1000 / r.baselineFps).toFixed(2)),
      costRatio: Number((r.baselineFps / r.candidateFps).toFixed(2)),
    };
  };
  const annotateSharp = await annotateCost(sharpAnnotator, sharpPre);
  const annotateJs = await annotateCost(jsAnnotator, jsPre);

  console.log('vision: event-loop delay ...');
  const load = [os.loadavg()[0]!];
  const rounds: Record<'idle' | 'inline640' | 'normal640' | 'background640' | 'normal224' | 'background224' | 'js224', LoopDelay[]> = {
    idle: [],
    inline640: [],
    normal640: [],
    background640: [],
    normal224: [],
    background224: [],
    js224: [],
  };
  for (let r = 0; r < 3; r++) {
    rounds.idle.push(loopDelay('idle', 640, 500));
    rounds.inline640.push(loopDelay('inline', 640));
    rounds.normal640.push(loopDelay('normal', 640));
    rounds.background640.push(loopDelay('background', 640));
    rounds.normal224.push(loopDelay('normal', 224));
    rounds.background224.push(loopDelay('background', 224));
    rounds.js224.push(loopDelay('js', 224));
  }
  load.push(os.loadavg()[0]!);
  // The JS pipeline on the main thread blocks the loop for a whole frame: its frame time is the delay.
  const inlineFps = await fps(() => jsPre.prepare(jpeg, o224), 1000);
  await session.release();
  const summary = (xs: LoopDelay[]): Record<string, unknown> => ({
    p99Ms: xs.map((x) => x.p99Ms),
    medianP99Ms: median(xs.map((x) => x.p99Ms)),
    p90Ms: xs.map((x) => x.p90Ms),
    maxMs: xs.map((x) => x.maxMs),
    frames: xs.map((x) => x.frames),
    majorGcs: xs.map((x) => x.majorGcs),
    gcMs: xs.map((x) => x.gcMs),
    priority: xs[0]!.priority,
  });
  const med = (k: keyof typeof rounds): number => median(rounds[k].map((x) => x.p99Ms));

  const result = {
    frame: '640x480 JPEG, quality 85',
    libvipsThreads: 1,
    sharp: `${sharp.versions.sharp} (libvips ${sharp.versions.vips})`,
    preprocess224: { ...pre224, note: 'stretch to 224x224, mean/std, NCHW float32; candidate sharp, baseline jpeg-js + JS bilinear, frames/s', goal: '>= 5x' },
    preprocess640: { ...pre640, note: 'letterbox to 640x640, NCHW float32', goal: '>= 5x' },
    wholeFrame: {
      ...frame,
      inferenceOnlyFps: Number(inferOnly.toFixed(1)),
      note: 'decode + resize to 64x64 + part-inspector CNN (1 ORT thread) + ml-format classification, frames/s; baseline the same with the JS pipeline',
    },
    annotate: {
      sharp: annotateSharp,
      js: annotateJs,
      note: '6 labelled boxes onto the 640x480 frame, JPEG quality 85 out; costRatio = annotate time / preprocess-to-640x640 time, each with its own backend (sharp: SVG overlay in libvips; js: jpeg-js decode, JS drawing, jpeg-js encode, measured on the main thread, in the node it runs in the worker)',
    },
    eventLoopDelay: {
      ...Object.fromEntries(Object.entries(rounds).map(([k, xs]) => [k, summary(xs)])),
      ratios: {
        normalOverBackground640: Number((med('normal640') / med('background640')).toFixed(2)),
        inlineOverBackground640: Number((med('inline640') / med('background640')).toFixed(2)),
        normalOverBackground224: Number((med('normal224') / med('background224')).toFixed(2)),
      },
      jsInlineMainThread224: { blockedMsPerFrame: Number((1000 / inlineFps).toFixed(1)), note: 'the JS pipeline on the main thread, what the worker avoids' },
      loadAverage1m: load.map((x) => Number(x.toFixed(2))),
      note: 'p99 of a 2 s round of back-to-back frames (idle: 0.5 s, no frames), each round a fresh process, 3 rounds alternating. inline = sharp with the tensor laid out on the main thread (yielding every 2 ms); normal / background = what ml-image runs (decode, resize, layout in its worker thread) with the image threads at normal priority / at SCHED_IDLE (the default); js224 = the pure-JS pipeline in the worker, background',
      goal: 'p99 < 5 ms',
    },
  };
  const file = writeResults('vision.json', 'vision', result);
  console.log(JSON.stringify(result, null, 2));
  console.log(`vision: -> ${file}`);
}
