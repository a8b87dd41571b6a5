/**
 * The Sparkplug B (3.0) side of one edge node with one device that reports predictions: which
 * messages go out (NBIRTH, DBIRTH, DDATA, DDEATH, NDEATH), their topics, bdSeq, seq 0..255 and
 * metric aliases. Payloads are encoded with Eclipse Tahu's sparkplug-payload. Nothing here touches
 * MQTT or Node-RED: the node hands the packets to its own MQTT client in the order returned.
 *
 * Rules kept here (Sparkplug 3.0):
 * - NDEATH is the MQTT will of each connection; its bdSeq is the one of that CONNECT, and the NBIRTH
 *   sent on that connection carries the same bdSeq. A new connection takes the next bdSeq (mod 256).
 * - NBIRTH has seq 0; every later NBIRTH/DBIRTH/DDATA/DDEATH of the session takes the next seq (mod
 *   256). NDEATH has no seq.
 * - A birth names every metric with its alias; DDATA carries aliases only.
 * - A birth declares the metric set: a prediction with a metric the birth did not declare, or from
 *   another model (name, version or sha256), makes a full rebirth (NBIRTH + DBIRTH) first.
 */
import { get as getSparkplug } from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload';
import { EdgeMlError } from '../errors';

export const NAMESPACE = 'spBv1.0';
export const REBIRTH_METRIC = 'Node Control/Rebirth';

const codec = getSparkplug(NAMESPACE)!;

export interface SparkplugIds {
  groupId: string;
  edgeNodeId: string;
  deviceId: string;
}

export interface ModelIdentity {
  name: string;
  version?: string;
  sha256?: string;
}

/** One prediction as the device reports it (from ml-format's payload). */
export interface Prediction {
  time: number;
  model: ModelIdentity;
  label?: string;
  score?: number;
  value?: number;
  anomaly?: boolean;
  topk?: Array<{ label: string; score: number }>;
  features?: Record<string, number>;
  inferenceMs?: number;
}

export interface Packet {
  /** NBIRTH, DBIRTH, DDATA, DDEATH or NDEATH */
  kind: string;
  topic: string;
  payload: Buffer;
}

type MetricType = 'String' | 'Double' | 'Boolean';
interface MetricValue {
  name: string;
  type: MetricType;
  value: string | number | boolean;
}

/** Topic names must be valid MQTT topic levels and may not hold Sparkplug's own separators. */
export function checkId(what: string, id: string): string {
  const trimmed = id.trim();
  if (trimmed === '' || /[/+#]/.test(trimmed)) {
    throw new EdgeMlError('EDGEML_SPARKPLUG_CONFIG', `${what} "${id}" is empty or contains / + #`, { reason: `${what} "${id}" is empty or contains / + #` });
  }
  return trimmed;
}

export function topicOf(ids: SparkplugIds, kind: string): string {
  const base = `${NAMESPACE}/${ids.groupId}/${kind}/${ids.edgeNodeId}`;
  return kind.startsWith('D') ? `${base}/${ids.deviceId}` : base;
}

export function stateTopic(hostId: string): string {
  return `${NAMESPACE}/STATE/${hostId}`;
}

/** Sparkplug 3.0 STATE payload: {"online": boolean, "timestamp": ms}. undefined when it is not one. */
export function parseState(payload: Buffer | string): { online: boolean; timestamp: number } | undefined {
  try {
    const v = JSON.parse(payload.toString()) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const { online, timestamp } = v as { online?: unknown; timestamp?: unknown };
    if (typeof online !== 'boolean' || typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return undefined;
    return { online, timestamp };
  } catch {
    return undefined;
  }
}

/** The metrics of a prediction, in a stable order. Top-k entries are 1-based. */
export function predictionMetrics(p: Prediction): MetricValue[] {
  const out: MetricValue[] = [];
  const num = (name: string, v: number | undefined): void => {
    if (typeof v === 'number' && Number.isFinite(v)) out.push({ name, type: 'Double', value: v });
  };
  if (typeof p.label === 'string') out.push({ name: 'Prediction/Label', type: 'String', value: p.label });
  num('Prediction/Score', p.score);
  num('Prediction/Value', p.value);
  if (typeof p.anomaly === 'boolean') out.push({ name: 'Prediction/Anomaly', type: 'Boolean', value: p.anomaly });
  (p.topk ?? []).forEach((t, i) => {
    out.push({ name: `Prediction/Top/${i + 1}/Label`, type: 'String', value: t.label });
    num(`Prediction/Top/${i + 1}/Score`, t.score);
  });
  num('Inference/Time ms', p.inferenceMs);
  for (const [name, v] of Object.entries(p.features ?? {})) num(`Features/${name}`, v);
  return out;
}

function modelMetrics(m: ModelIdentity): MetricValue[] {
  return [
    { name: 'Model/Name', type: 'String', value: m.name },
    { name: 'Model/Version', type: 'String', value: m.version ?? '' },
    { name: 'Model/SHA256', type: 'String', value: m.sha256 ?? '' },
  ];
}

const sameModel = (a: ModelIdentity, b: ModelIdentity): boolean => a.name === b.name && (a.version ?? '') === (b.version ?? '') && (a.sha256 ?? '') === (b.sha256 ?? '');

export class SparkplugEdgeNode {
  /** bdSeq of the current (or next) MQTT connection. */
  bdSeq = 0;
  private seq = 0;
  private nodeBorn = false;
  /** name -> alias, for every metric declared in the current births. 1 is the rebirth command. */
  private aliases = new Map<string, number>();
  private declared: { model: ModelIdentity; names: Map<string, MetricType> } | undefined;
  private last: Prediction | undefined;

  constructor(readonly ids: SparkplugIds) {}

  get born(): boolean {
    return this.nodeBorn;
  }

  /** The NDEATH for the will of a connection with the current bdSeq. */
  will(now = Date.now()): Packet {
    return this.death(now);
  }

  /** Call when a connection ended: the next CONNECT takes the next bdSeq and the session must be born again. */
  connectionLost(): void {
    this.nodeBorn = false;
    this.bdSeq = (this.bdSeq + 1) % 256;
  }

  /** The host went offline (or asked for nothing yet): the next delivery needs a fresh birth. */
  unborn(): void {
    this.nodeBorn = false;
  }

  /** NBIRTH, and DBIRTH with the latest values when a prediction has been reported before. */
  birth(now = Date.now()): Packet[] {
    this.seq = 0;
    const packets: Packet[] = [
      this.encode('NBIRTH', now, [
        { name: 'bdSeq', type: 'UInt64', value: this.bdSeq, timestamp: now },
        { name: REBIRTH_METRIC, alias: 1, type: 'Boolean', value: false, timestamp: now },
      ]),
    ];
    this.nodeBorn = true;
    if (this.last && this.declared) packets.push(this.deviceBirth(this.last, now));
    return packets;
  }

  /**
   * The packets that report one prediction: DDATA, or a (re)birth carrying its values when the
   * prediction does not fit what was declared. Call only while born.
   */
  report(p: Prediction, historical = false, now = Date.now()): Packet[] {
    const metrics = predictionMetrics(p);
    const declared = this.declared;
    const fits = declared !== undefined && sameModel(declared.model, p.model) && metrics.every((m) => declared.names.get(m.name) === m.type);
    this.last = p;
    if (fits) {
      return [
        this.encode(
          'DDATA',
          now,
          metrics.map((m) => ({ alias: this.aliases.get(m.name)!, type: m.type, value: m.value, timestamp: p.time, ...(historical ? { isHistorical: true } : {}) })),
        ),
      ];
    }
    // A changed metric set or model: declare it. Names seen before keep their aliases.
    const names = new Map<string, MetricType>(declared && sameModel(declared.model, p.model) ? declared.names : []);
    for (const m of metrics) names.set(m.name, m.type);
    this.declared = { model: p.model, names };
    for (const name of names.keys()) if (!this.aliases.has(name)) this.aliases.set(name, this.aliases.size + 2);
    // The first birth of the device goes after the NBIRTH already sent; any later change is a full rebirth.
    return declared === undefined && this.nodeBorn ? [this.deviceBirth(p, now)] : this.birth(now);
  }

  /** A rebirth command (NCMD) addressed to this node: true when one of its metrics asks for a rebirth. */
  isRebirthCommand(payload: Buffer): boolean {
    let decoded: UPayload;
    try {
      decoded = codec.decodePayload(payload);
    } catch {
      return false;
    }
    return (decoded.metrics ?? []).some((m) => (m.name === REBIRTH_METRIC || (m.name == null && Number(m.alias) === 1)) && m.value === true);
  }

  /** DDEATH then NDEATH, for a clean shutdown while born. */
  goodbye(now = Date.now()): Packet[] {
    const packets = this.nodeBorn && this.declared ? [this.encode('DDEATH', now, [])] : [];
    packets.push(this.death(now));
    this.nodeBorn = false;
    return packets;
  }

  private deviceBirth(p: Prediction, now: number): Packet {
    const current = new Map(predictionMetrics(p).map((m) => [m.name, m]));
    const metrics: UMetric[] = [];
    for (const [name, type] of this.declared!.names) {
      const m = current.get(name);
      // A declared metric this prediction lacks (e.g. a NaN score) is born null.
      metrics.push(
        m ? { name, alias: this.aliases.get(name)!, type, value: m.value, timestamp: p.time } : { name, alias: this.aliases.get(name)!, type, value: null, isNull: true, timestamp: p.time },
      );
    }
    for (const m of modelMetrics(p.model)) metrics.push({ name: m.name, type: m.type, value: m.value, timestamp: now });
    return this.encode('DBIRTH', now, metrics);
  }

  private death(now: number): Packet {
    const payload: UPayload = { timestamp: now, metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq, timestamp: now }] };
    return { kind: 'NDEATH', topic: topicOf(this.ids, 'NDEATH'), payload: Buffer.from(codec.encodePayload(payload)) };
  }

  private encode(kind: string, now: number, metrics: UMetric[]): Packet {
    const payload: UPayload = { timestamp: now, seq: kind === 'NBIRTH' ? 0 : this.nextSeq(), metrics };
    return { kind, topic: topicOf(this.ids, kind), payload: Buffer.from(codec.encodePayload(payload)) };
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 256;
    return this.seq;
  }
}

/** ml-format's payload (msg.payload) plus what onnx-infer left on the message, as a Prediction. */
export function toPrediction(msg: Record<string, unknown>, includeFeatures: boolean, now = Date.now()): Prediction {
  const p = msg.payload;
  if (typeof p !== 'object' || p === null || Array.isArray(p) || Buffer.isBuffer(p)) {
    throw new EdgeMlError('EDGEML_SPARKPLUG_PAYLOAD_INVALID', 'msg.payload is not a prediction (ml-format output)', {
      reason: `msg.payload is ${Array.isArray(p) ? 'an array' : p === null ? 'null' : typeof p}`,
    });
  }
  const o = p as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const modelSrc = (typeof o.model === 'object' && o.model !== null ? o.model : msg.model) as Record<string, unknown> | undefined;
  const model: ModelIdentity = { name: str(modelSrc?.name) ?? 'unknown' };
  const version = str(modelSrc?.version);
  if (version !== undefined) model.version = version;
  const sha = str(modelSrc?.sha256);
  if (sha !== undefined) model.sha256 = sha;

  const prediction: Prediction = { time: num(o.time) ?? now, model };
  if (typeof o.label === 'string') prediction.label = o.label;
  const score = num(o.score);
  if (score !== undefined) prediction.score = score;
  const value = Array.isArray(o.value) ? num(o.value[0]) : num(o.value);
  if (value !== undefined) prediction.value = value;
  if (typeof o.anomaly === 'boolean') prediction.anomaly = o.anomaly;
  if (Array.isArray(o.topk)) {
    prediction.topk = o.topk.filter((t): t is { label: unknown; score: unknown } => typeof t === 'object' && t !== null).map((t) => ({ label: String(t.label), score: num(t.score) ?? NaN }));
  }
  const ms = num(o.inferenceMs) ?? num(msg.inferenceMs);
  if (ms !== undefined) prediction.inferenceMs = ms;
  if (includeFeatures) {
    const f = (typeof o.features === 'object' && o.features !== null ? o.features : msg.features) as unknown;
    if (typeof f === 'object' && f !== null && !Array.isArray(f)) {
      prediction.features = {};
      for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
        const n = num(v);
        if (n !== undefined && !/[+#]/.test(k)) prediction.features[k] = n;
      }
    }
  }
  if (prediction.label === undefined && prediction.score === undefined && prediction.value === undefined && prediction.anomaly === undefined) {
    throw new EdgeMlError('EDGEML_SPARKPLUG_PAYLOAD_INVALID', 'msg.payload has no label, score, value or anomaly', { reason: 'no label, score, value or anomaly' });
  }
  return prediction;
}
