/**
 * The range of every numeric setting of every node, in one table shared by the editors (their
 * validators, with a translated reason) and the runtimes (a coded error instead of a value silently
 * corrected: "Report every" -10 no longer reports every second, "Top k" 0 is refused).
 *
 * Blank or absent means "not set": the node's default (or the model card's value) applies.
 * Settings inside a table (modbus-decode/-encode fields, ml-guard rules) are checked where the
 * table is parsed (EDGEML_MODBUS_FIELDS_INVALID, EDGEML_GUARD_CONFIG).
 */
import { EdgeMlError } from './errors';

export interface NumericSetting {
  /** Whole numbers only. */
  integer: boolean;
  min: number;
  max: number;
}

const int = (min: number, max: number): NumericSetting => ({ integer: true, min, max });
const num = (min = -Infinity, max = Infinity): NumericSetting => ({ integer: false, min, max });
const DAY_S = 86400;
const DAY_MS = DAY_S * 1000;

export const NUMERIC_SETTINGS = {
  'modbus-server-in': {
    port: int(0, 65535), // 0: an ephemeral port (the status shows the bound one)
    unitId: int(0, 255),
    holdingSize: int(0, 65536),
    inputSize: int(0, 65536),
    coilsSize: int(0, 65536),
    discreteSize: int(0, 65536),
    maxConnections: int(1, 1000),
    idleTimeout: int(0, DAY_S),
    frameStart: int(0, 65535),
    frameLength: int(1, 65536),
    frameTrigger: int(0, 65535),
    frameQuiet: int(0, 3_600_000),
    writeAddress: int(0, 65535),
  },
  'modbus-encode': { address: int(0, 65535), unitid: int(0, 255) },
  'modbus-decode': {},
  // sizes, scale (which may be a fraction such as 1/255) and the pixel limit: checked by ml-image's own parser (EDGEML_IMAGE_CONFIG)
  'ml-image': {},
  'onnx-model': { threads: int(0, 64), interOpThreads: int(0, 64) },
  'onnx-infer': { queueSize: int(1, 1_000_000), maxBatch: int(1, 4096), batchWindow: int(0, 60_000) },
  'ml-guard': { expectedCount: int(1, 100_000), stuckSamples: int(0, 1_000_000), staleMs: int(0, 365 * DAY_MS) },
  'ml-format': {
    topK: int(1, 1000),
    confidence: num(0, 1),
    targetMean: num(),
    targetScale: num(),
    decimals: int(0, 15),
    threshold: num(),
    hysteresis: num(0),
    minSamples: int(1, 1_000_000),
    minDurationMs: int(0, DAY_MS),
    detScore: num(0, 1),
    detIou: num(0, 1),
    detMax: int(1, 100_000),
    segThreshold: num(0, 1),
  },
  'ml-drift': {
    referenceSamples: int(2, 10_000_000),
    window: int(2, 1_000_000),
    step: int(1, 1_000_000),
    bins: int(2, 1000),
    psiWarn: num(0),
    psiAlarm: num(0),
    shiftWarn: num(0),
    shiftAlarm: num(0),
    ksWarn: num(0, 1),
    ksAlarm: num(0, 1),
  },
  'ml-outbox': { qos: int(0, 2), capacity: int(1, 10_000_000), maxMiB: int(1, 4096), maxInFlight: int(1, 65535) },
  'ml-features': { maxAge: int(1, DAY_MS) },
  'ml-sparkplug': { capacity: int(1, 10_000_000) },
  'ml-model-update': { reportInterval: int(1, DAY_S), stallSeconds: int(1, 3600) },
} as const satisfies Record<string, Record<string, NumericSetting>>;

export type NodeType = keyof typeof NUMERIC_SETTINGS;
export type SettingOf<T extends NodeType> = keyof (typeof NUMERIC_SETTINGS)[T] & string;

export const isBlankSetting = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

/** How a bound is shown to a user: unbounded ends as -∞ / ∞. */
export const showBound = (n: number): string => (n === Infinity ? '∞' : n === -Infinity ? '−∞' : String(n));

/** Whether `value` is a valid, set value of `spec` (blank is "not set", checked by the caller). */
export function inRange(spec: NumericSetting, value: unknown): boolean {
  if (typeof value !== 'number' && typeof value !== 'string') return false;
  const n = Number(value);
  return Number.isFinite(n) && (!spec.integer || Number.isInteger(n)) && n >= spec.min && n <= spec.max;
}

/** The coded refusal of an out-of-range value (EDGEML_CONFIG_INTEGER for whole-number settings). */
export function rangeError(type: string, field: string, spec: NumericSetting, value: unknown): EdgeMlError {
  const shown = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const [min, max] = [showBound(spec.min), showBound(spec.max)];
  const kind = spec.integer ? 'a whole number' : 'a number';
  return new EdgeMlError(spec.integer ? 'EDGEML_CONFIG_INTEGER' : 'EDGEML_CONFIG_RANGE', `${type}: setting ${field} is ${shown}; it takes ${kind} from ${min} to ${max}`, {
    node: type,
    field,
    value: shown,
    min,
    max,
  });
}

/**
 * A numeric setting of a node's config: `fallback` when blank or absent, else the number, or a
 * coded error when it is not a number in the setting's range.
 */
export function numericSetting<T extends NodeType>(type: T, field: SettingOf<T>, value: unknown, fallback: number): number;
export function numericSetting<T extends NodeType>(type: T, field: SettingOf<T>, value: unknown, fallback?: number): number | undefined;
export function numericSetting<T extends NodeType>(type: T, field: SettingOf<T>, value: unknown, fallback?: number): number | undefined {
  if (isBlankSetting(value)) return fallback;
  const spec = (NUMERIC_SETTINGS[type] as Record<string, NumericSetting>)[field]!;
  if (!inRange(spec, value)) throw rangeError(type, field, spec, value);
  return Number(value);
}

/** Several numeric settings of one node at once: `defaults` names them and gives each its default. */
export function numericSettings<T extends NodeType, K extends SettingOf<T>>(type: T, def: object, defaults: Record<K, number>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const field of Object.keys(defaults) as K[]) out[field] = numericSetting(type, field, (def as Record<string, unknown>)[field], defaults[field]);
  return out;
}
