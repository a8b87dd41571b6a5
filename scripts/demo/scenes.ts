/**
 * Seeded demo scenes for the object-detection example: coloured parts (red, green, blue
 * rectangles and discs) on a plain light background, 640 x 480, with each part's true box taken
 * from the pixels painted. Parts of one colour are at least SAME_CLASS_GAP apart, parts of any
 * colour do not touch (the demo detector's window needs both; scripts/make-part-detector.ts).
 */
import { seededRng, type Rng } from './pump';

export const SCENE_WIDTH = 640;
export const SCENE_HEIGHT = 480;
export const SCENE_LABELS = ['red', 'green', 'blue'] as const;
export type SceneLabel = (typeof SCENE_LABELS)[number];
/** Part sizes in pixels (both sides). */
export const PART_MIN = 36;
export const PART_MAX = 100;
export const SAME_CLASS_GAP = 150;
const ANY_GAP = 16;
const BACKGROUND: [number, number, number] = [222, 220, 214];
const COLOURS: Record<SceneLabel, [number, number, number]> = { red: [205, 38, 34], green: [36, 160, 62], blue: [32, 72, 196] };

export interface ScenePart {
  label: SceneLabel;
  shape: 'rect' | 'disc';
  /** The painted pixels' bounding box: x, y of the top-left pixel, w, h in pixels. */
  box: { x: number; y: number; w: number; h: number };
}

export interface Scene {
  width: number;
  height: number;
  /** RGB, row-major. */
  data: Uint8Array;
  parts: ScenePart[];
}

const gap = (a: ScenePart['box'], b: ScenePart['box']): number => Math.max(b.x - (a.x + a.w), a.x - (b.x + b.w), b.y - (a.y + a.h), a.y - (b.y + b.h));

function placeParts(rng: Rng, count: number): ScenePart[] {
  const parts: ScenePart[] = [];
  for (let tries = 0; parts.length < count && tries < 5000; tries++) {
    const label = SCENE_LABELS[Math.floor(rng.uniform() * SCENE_LABELS.length)] as SceneLabel;
    const shape = rng.uniform() < 0.5 ? 'rect' : 'disc';
    const w = PART_MIN + Math.floor(rng.uniform() * (PART_MAX - PART_MIN));
    const h = shape === 'disc' ? w : PART_MIN + Math.floor(rng.uniform() * (PART_MAX - PART_MIN));
    const box = { x: 8 + Math.floor(rng.uniform() * (SCENE_WIDTH - w - 16)), y: 8 + Math.floor(rng.uniform() * (SCENE_HEIGHT - h - 16)), w, h };
    if (parts.every((p) => gap(p.box, box) >= (p.label === label ? SAME_CLASS_GAP : ANY_GAP))) parts.push({ label, shape, box });
  }
  return parts;
}

/** One scene; the same seed gives the same pixels everywhere. */
export function demoScene(seed: number, count = 6): Scene {
  const rng = seededRng(seed);
  const planned = placeParts(rng, count);
  const data = new Uint8Array(SCENE_WIDTH * SCENE_HEIGHT * 3);
  for (let i = 0; i < SCENE_WIDTH * SCENE_HEIGHT; i++) data.set(BACKGROUND, i * 3);
  const parts = planned.map((p) => {
    const c = COLOURS[p.label];
    const { x, y, w, h } = p.box;
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (let yy = y; yy < y + h; yy++) {
      for (let xx = x; xx < x + w; xx++) {
        const dx = (xx + 0.5 - (x + w / 2)) / (w / 2);
        const dy = (yy + 0.5 - (y + h / 2)) / (h / 2);
        if (p.shape === 'disc' && dx * dx + dy * dy > 1) continue;
        data.set(c, (yy * SCENE_WIDTH + xx) * 3);
        x0 = Math.min(x0, xx);
        y0 = Math.min(y0, yy);
        x1 = Math.max(x1, xx);
        y1 = Math.max(y1, yy);
      }
    }
    return { ...p, box: { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 } };
  });
  return { width: SCENE_WIDTH, height: SCENE_HEIGHT, data, parts };
}

/** The scenes shipped in models/demo-scenes/ (scene-1.jpg ...). */
export const DEMO_SCENE_SEEDS = [1801, 1802, 1803, 1804];
