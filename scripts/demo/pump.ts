/**
 * Seeded synthetic data for the demo pump: five sensor readings that depend on the pump's load and
 * condition (normal, cavitation, bearing wear). Used to train the demo model
 * (scripts/train-demo-model.ts) and to feed a simulated plant; the same seed gives the same numbers
 * on every machine (only +, *, sqrt, log and cos of doubles; mulberry32 for randomness).
 */

export const PUMP_FEATURES = ['flow', 'pressure', 'motor_current', 'vibration', 'temperature'] as const;
export type PumpFeature = (typeof PUMP_FEATURES)[number];

export const PUMP_UNITS: Record<PumpFeature, string> = {
  flow: 'm3/h',
  pressure: 'bar',
  motor_current: 'A',
  vibration: 'mm/s',
  temperature: '°C',
};

/** Physically plausible ranges (what a sensor on this pump can report); outside means a broken reading. */
export const PUMP_RANGES: Record<PumpFeature, [number, number]> = {
  flow: [0, 160],
  pressure: [0, 10],
  motor_current: [0, 60],
  vibration: [0, 20],
  temperature: [-20, 120],
};

export const PUMP_CONDITIONS = ['normal', 'cavitation', 'bearing_wear'] as const;
export type PumpCondition = (typeof PUMP_CONDITIONS)[number];

/** A seeded random source: uniform in [0, 1) and standard normal. */
export interface Rng {
  uniform(): number;
  normal(): number;
}

/** mulberry32 with Box-Muller normals: small, fast, identical everywhere for a given seed. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  let spare: number | undefined;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]: log stays finite
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal };
}

/**
 * One reading, features in PUMP_FEATURES order. `load` is the pump's operating point (0.6..1 of
 * rated speed), `severity` how far a fault has progressed (0..1; ignored for normal).
 */
export function pumpReading(rng: Rng, condition: PumpCondition, load: number, severity = 0): number[] {
  const n = (sd: number): number => rng.normal() * sd;
  // Healthy affinity-law behaviour: flow ~ speed, head ~ speed^2, power ~ speed^3 (current tracks it loosely).
  let flow = 120 * load + n(2.5);
  let pressure = 0.8 + 5.5 * load * load + n(0.12);
  let current = 14 + 24 * load * load * load + n(0.6);
  let vibration = 1.2 + 1.0 * load + n(0.25);
  let temperature = 38 + 14 * load + n(1.2);
  if (condition === 'cavitation') {
    // Vapour bubbles: delivery and head drop and fluctuate, the impeller rattles.
    flow *= 1 - 0.16 * severity;
    pressure = pressure * (1 - 0.28 * severity) + n(0.35 * severity);
    current = current * (1 - 0.07 * severity) + n(0.8 * severity);
    vibration += 2.2 * severity + Math.abs(n(0.9 * severity));
  } else if (condition === 'bearing_wear') {
    // Friction: more current and heat, vibration at bearing frequencies; hydraulics unchanged.
    current += 2.8 * severity + n(0.3 * severity);
    vibration += 3.2 * severity + n(0.5 * severity);
    temperature += 11 * severity + n(1.5 * severity);
  }
  return [flow, pressure, current, vibration, temperature].map((v, i) => {
    const [lo, hi] = PUMP_RANGES[PUMP_FEATURES[i]!];
    return Math.min(hi, Math.max(lo, v));
  });
}

export interface PumpSample {
  features: number[];
  condition: PumpCondition;
  /** Index into PUMP_CONDITIONS. */
  label: number;
}

/**
 * A labelled data set: `count` independent readings, conditions drawn with `mix` probabilities
 * (normal, cavitation, bearing wear), load uniform in 0.6..1, fault severity uniform in 0.3..1.
 */
export function pumpDataset(count: number, seed: number, mix: [number, number, number] = [0.5, 0.25, 0.25]): PumpSample[] {
  const rng = seededRng(seed);
  const total = mix[0] + mix[1] + mix[2];
  const samples: PumpSample[] = [];
  for (let i = 0; i < count; i++) {
    const u = rng.uniform() * total;
    const label = u < mix[0] ? 0 : u < mix[0] + mix[1] ? 1 : 2;
    const load = 0.6 + 0.4 * rng.uniform();
    const severity = 0.3 + 0.7 * rng.uniform();
    const condition = PUMP_CONDITIONS[label]!;
    samples.push({ features: pumpReading(rng, condition, load, severity), condition, label });
  }
  return samples;
}

export interface PlantReading {
  /** Seconds since the simulation started. */
  time: number;
  features: Record<PumpFeature, number>;
  /** The same values in PUMP_FEATURES order. */
  vector: number[];
  condition: PumpCondition;
  load: number;
  severity: number;
}

export interface PlantOptions {
  seed?: number;
  /** Seconds between readings (default 1). */
  stepSeconds?: number;
  /** Mean seconds of healthy running between faults (default 120). */
  meanHealthySeconds?: number;
  /** Seconds a fault episode lasts, severity ramping up then the pump being "repaired" (default 60). */
  faultSeconds?: number;
}

/**
 * A pump over time, for a simulated plant: the load wanders slowly, and now and then a fault
 * episode (cavitation or bearing wear) grows from mild to severe and is then repaired.
 */
export class PumpPlant {
  private readonly rng: Rng;
  private readonly step: number;
  private readonly meanHealthy: number;
  private readonly faultLength: number;
  private time = 0;
  private load = 0.8;
  private condition: PumpCondition = 'normal';
  private phaseLeft: number;
  private faultElapsed = 0;

  constructor(options: PlantOptions = {}) {
    this.rng = seededRng(options.seed ?? 1);
    this.step = options.stepSeconds ?? 1;
    this.meanHealthy = options.meanHealthySeconds ?? 120;
    this.faultLength = options.faultSeconds ?? 60;
    this.phaseLeft = this.healthyDuration();
  }

  private healthyDuration(): number {
    return this.meanHealthy * (0.5 + this.rng.uniform());
  }

  /** Advances one step and returns the reading. */
  next(): PlantReading {
    this.time += this.step;
    this.load = Math.min(1, Math.max(0.6, this.load + this.rng.normal() * 0.01 * Math.sqrt(this.step)));
    this.phaseLeft -= this.step;
    if (this.phaseLeft <= 0) {
      if (this.condition === 'normal') {
        this.condition = this.rng.uniform() < 0.5 ? 'cavitation' : 'bearing_wear';
        this.phaseLeft = this.faultLength;
        this.faultElapsed = 0;
      } else {
        this.condition = 'normal';
        this.phaseLeft = this.healthyDuration();
      }
    }
    let severity = 0;
    if (this.condition !== 'normal') {
      this.faultElapsed += this.step;
      severity = Math.min(1, 0.3 + (0.7 * this.faultElapsed) / this.faultLength);
    }
    const vector = pumpReading(this.rng, this.condition, this.load, severity);
    const features = Object.fromEntries(PUMP_FEATURES.map((f, i) => [f, vector[i]!])) as Record<PumpFeature, number>;
    return { time: this.time, features, vector, condition: this.condition, load: this.load, severity };
  }
}
