/**
 * Procedural 64 x 64 inspection images for the vision demo: a bright round part on a darker,
 * noisy belt, with or without a scratch (a dark stroke across the part). Seeded: the same seed
 * gives the same images, so the trained model and its tests are reproducible.
 */
import { seededRng, type Rng } from './pump';

export const PART_LABELS = ['ok', 'scratch'] as const;
export const PART_SIZE = 64;

export interface PartImage {
  /** RGB, 64 x 64 x 3. */
  data: Uint8Array;
  width: number;
  height: number;
  label: 0 | 1;
  /** The part's disc: centre and radius (pixels). */
  part: { cx: number; cy: number; r: number };
}

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** Distance from (px, py) to the segment a-b. */
function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export function partImage(rng: Rng, label: 0 | 1, size = PART_SIZE): PartImage {
  const u = rng.uniform;
  const s = size / PART_SIZE;
  const cx = size / 2 + (u() - 0.5) * 12 * s;
  const cy = size / 2 + (u() - 0.5) * 12 * s;
  const r = (17 + u() * 7) * s;
  const belt = 55 + u() * 30;
  const tint = [200 + u() * 30, 185 + u() * 30, 160 + u() * 30];
  const light = 0.85 + u() * 0.3;
  let stroke: { ax: number; ay: number; bx: number; by: number; w: number; depth: number } | undefined;
  if (label === 1) {
    const angle = u() * Math.PI;
    const len = (0.8 + u() * 0.8) * r;
    const ox = (u() - 0.5) * r * 0.6;
    const oy = (u() - 0.5) * r * 0.6;
    stroke = {
      ax: cx + ox - (Math.cos(angle) * len) / 2,
      ay: cy + oy - (Math.sin(angle) * len) / 2,
      bx: cx + ox + (Math.cos(angle) * len) / 2,
      by: cy + oy + (Math.sin(angle) * len) / 2,
      w: (1 + u() * 0.8) * s,
      depth: 0.35 + u() * 0.25,
    };
  }
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      // soft edge over one pixel
      const inside = Math.max(0, Math.min(1, r - d + 0.5));
      let k = 1;
      if (stroke && inside > 0) {
        const sd = segmentDistance(x + 0.5, y + 0.5, stroke.ax, stroke.ay, stroke.bx, stroke.by);
        if (sd < stroke.w) k = 1 - stroke.depth * (1 - sd / stroke.w);
      }
      const noise = rng.normal() * 6;
      for (let c = 0; c < 3; c++) {
        const part = (tint[c] as number) * light * k;
        data[(y * size + x) * 3 + c] = clamp(belt * (1 - inside) + part * inside + noise);
      }
    }
  }
  return { data, width: size, height: size, label, part: { cx, cy, r } };
}

/** `count` images, labels alternating at random, from one seed. */
export function partDataset(seed: number, count: number, size = PART_SIZE): PartImage[] {
  const rng = seededRng(seed);
  const out: PartImage[] = [];
  for (let i = 0; i < count; i++) out.push(partImage(rng, rng.uniform() < 0.5 ? 0 : 1, size));
  return out;
}
