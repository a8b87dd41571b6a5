/**
 * A simulated fleet for tests, benchmarks and `npm run fleet-sim`: N devices in this process, each
 * with its own MQTT connection and the package's real UpdateReceiver, ModelStore and manifest
 * checks (its store in a folder of its own). A received model is validated for real with ONNX
 * Runtime (session created and run once on zeros) once per distinct file, shared by the devices of
 * the process. Instead of running inferences, each device reports synthetic figures like
 * ml-model-update does; the figures of a version come from its profile, so a "bad" model can raise
 * the error rate, the latency or the guard rejections, or shift the predictions, on the devices
 * that run it. A model file names its profile in the model-card key `edgeml.sim` (JSON, see
 * SimProfile); a profile can also be given per version in the options.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { EdgeMlError, toEdgeMlError } from '../errors';
import { buildModel } from '../onnx/build-model';
import { readModelInfo, modelIdentity } from '../onnx/model-file';
import { runtime } from '../onnx/runtime-loader';
import { sha256Hex } from '../update/manifest';
import { UpdateReceiver } from '../update/receiver';
import type { StoredModel } from '../update/store';
import { DEFAULT_PREFIX, updateTopics, type UpdateStatus } from '../update/topics';
import { MODEL_REPORT_FORMAT, type DeviceModelReport, type VersionFigures } from './device-status';
import type { DriftLevel } from './rollout-state';

/** How a model version behaves on a simulated device. */
export interface SimProfile {
  /** Share of inferences that fail. */
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
  /** Share of inferences the guard flags. */
  guardRate: number;
  driftLevel: DriftLevel;
  /** Share of each predicted label. */
  labels: Record<string, number>;
  /** Shares of the score histogram's bins (edges SCORE_EDGES). */
  scores: number[];
}

export const SCORE_EDGES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

export const HEALTHY_PROFILE: Readonly<SimProfile> = {
  errorRate: 0,
  p50Ms: 1.2,
  p99Ms: 3,
  guardRate: 0.01,
  driftLevel: 'ok',
  labels: { normal: 0.9, cavitation: 0.06, dry_run: 0.04 },
  scores: [0.3, 0.22, 0.15, 0.1, 0.08, 0.05, 0.04, 0.03, 0.02, 0.01],
};

/** Reads a model file's `edgeml.sim` profile (over the healthy one); throws EDGEML_FLEET_SIM_PROFILE_INVALID if malformed. */
export function profileOf(metadata: Record<string, string>): SimProfile {
  const raw = metadata['edgeml.sim'];
  if (raw === undefined) return { ...HEALTHY_PROFILE };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EdgeMlError('EDGEML_FLEET_SIM_PROFILE_INVALID', 'edgeml.sim must be a JSON object', { reason: 'not an object' });
  }
  return { ...HEALTHY_PROFILE, ...(parsed as Partial<SimProfile>) };
}

/**
 * A small valid model for the simulator: sum = x + w with w a [1, width] float initializer, so
 * `width` sets the file size (4 bytes a weight). `sim` goes into the card key edgeml.sim.
 */
export function simModel(opts: { name: string; version: string; width?: number; sim?: Partial<SimProfile>; seed?: number }): Uint8Array {
  const width = opts.width ?? 16;
  let a = (opts.seed ?? 7) >>> 0;
  const data = new Float32Array(width);
  for (let i = 0; i < width; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    data[i] = a / 2 ** 32 - 0.5;
  }
  const metadata: Record<string, string> = { 'edgeml.name': opts.name, 'edgeml.version': opts.version };
  if (opts.sim) metadata['edgeml.sim'] = JSON.stringify(opts.sim);
  return buildModel({
    opsets: [{ domain: '', version: 13 }],
    producerName: 'edge-ml fleet-sim',
    graph: {
      name: opts.name,
      nodes: [{ opType: 'Add', inputs: ['x', 'w'], outputs: ['sum'] }],
      inputs: [{ name: 'x', type: { tensor: 'float32', dims: ['batch', width] } }],
      outputs: [{ name: 'sum', type: { tensor: 'float32', dims: ['batch', width] } }],
      initializers: [{ name: 'w', dtype: 'float32', dims: [1, width], data }],
    },
    metadata,
  });
}

interface Validated {
  name: string;
  version: string;
  profile: SimProfile;
}

/** Validates each distinct file once per process (by sha256): ONNX Runtime loads it and runs it on zeros. */
export class ModelValidator {
  private readonly cache = new Map<string, Promise<Validated>>();
  /** Files actually loaded by ONNX Runtime (distinct sha256). */
  loads = 0;

  validate(file: string, sha256: string): Promise<Validated> {
    let p = this.cache.get(sha256);
    if (!p) {
      p = this.load(file);
      this.cache.set(sha256, p);
    }
    return p;
  }

  private async load(file: string): Promise<Validated> {
    this.loads++;
    const bytes = readFileSync(file);
    let info;
    try {
      info = readModelInfo(bytes);
    } catch (e) {
      throw toEdgeMlError(e, 'EDGEML_ONNX_MODEL_INVALID');
    }
    const { ort } = runtime();
    let session;
    try {
      session = await ort.InferenceSession.create(bytes);
    } catch (e) {
      throw new EdgeMlError('EDGEML_ONNX_LOAD_FAILED', `ONNX Runtime cannot load the model: ${(e as Error).message}`, { reason: (e as Error).message });
    }
    try {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const input of info.inputs) {
        const dims = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
        feeds[input.name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
      }
      await session.run(feeds);
    } catch (e) {
      throw new EdgeMlError('EDGEML_ONNX_RUN_FAILED', `the model does not run on a sample: ${(e as Error).message}`, { reason: (e as Error).message });
    } finally {
      await session.release();
    }
    const id = modelIdentity(file, bytes, info);
    return { name: id.name, version: id.version, profile: profileOf(info.metadata) };
  }
}

export interface SimulatorOptions {
  brokerUrl: string;
  /** Device ids, or a count (ids `<idPrefix>-000`...). */
  devices: number | string[];
  idPrefix?: string;
  /** Groups of device i (default: ["line-<i mod 2 + 1>"]). */
  groups?: (index: number, id: string) => string[];
  prefix?: string;
  /** Each device's store goes into <storeRoot>/<id>. */
  storeRoot: string;
  /** PEM Ed25519 public key the devices check manifests against. */
  publicKey?: string;
  /** The model every device starts on (its configured file). Default: a simModel "pump" 1.0.0 written into storeRoot. */
  baseline?: { file: string };
  /** Model name the devices take updates for (default: the baseline's name). */
  modelName?: string;
  /** Periodic report interval (ms, default 5000); 0 reports only on events and on request. */
  reportMs?: number;
  /** Synthetic inferences per report (default 100). */
  inferencesPerReport?: number;
  /** Profiles by version, over the file's own (edgeml.sim). */
  profiles?: Record<string, Partial<SimProfile>>;
  /** Device ids that start offline (no connection until goOnline). */
  offline?: string[];
  /** How a stalled transfer asks again (ms, default 10000). */
  stallMs?: number;
  /** Validator shared by several simulators of one process (default: one per simulator). */
  validator?: ModelValidator;
}

interface Serving {
  name: string;
  version: string;
  sha256: string;
  profile: SimProfile;
  since: string;
  inferences: number;
  errors: number;
  guard: number;
  labels: Record<string, number>;
  scores: number[];
  /** fractional counts carried between reports so shares come out exact over time */
  carry: Record<string, number>;
}

function figuresOf(s: Serving): VersionFigures {
  return {
    name: s.name,
    version: s.version,
    sha256: s.sha256,
    since: s.since,
    inferences: s.inferences,
    errors: s.errors,
    p50Ms: s.inferences ? s.profile.p50Ms : null,
    p99Ms: s.inferences ? s.profile.p99Ms : null,
    guardRejections: s.guard,
    driftLevel: s.profile.driftLevel,
    labels: { ...s.labels },
    scoreHistogram: { edges: SCORE_EDGES, counts: [...s.scores] },
  };
}

/** The whole part of `n * share` plus what was carried under `key`; the fraction is carried on, so counts track shares exactly in the long run. */
function take(carry: Record<string, number>, key: string, n: number, share: number): number {
  const exact = n * share + (carry[key] ?? 0);
  const whole = Math.floor(exact + 1e-9);
  carry[key] = exact - whole;
  return whole;
}

export class SimDevice {
  client: MqttClient | undefined;
  readonly receiver: UpdateReceiver;
  readonly statuses: UpdateStatus[] = [];
  serving: Serving;
  previous: VersionFigures | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly topics;

  constructor(
    readonly id: string,
    readonly groups: string[],
    private readonly sim: FleetSimulator,
    baseline: Validated & { sha256: string; file: string },
  ) {
    this.topics = updateTopics(sim.options.prefix ?? DEFAULT_PREFIX);
    this.serving = this.serve(baseline.name, baseline.version, baseline.sha256, baseline.profile);
    const o = sim.options;
    this.receiver = new UpdateReceiver({
      deviceId: id,
      groups,
      storeDir: path.join(o.storeRoot, id),
      modelName: o.modelName ?? baseline.name,
      prefix: o.prefix ?? DEFAULT_PREFIX,
      ...(o.publicKey ? { publicKey: o.publicKey } : {}),
      ...(o.stallMs ? { stallMs: o.stallMs } : {}),
      baseline: () => ({ name: baseline.name, version: baseline.version, sha256: baseline.sha256, file: baseline.file, since: '' }),
      activate: (model) => this.activate(model),
      publish: (topic, payload, retain) => void this.client?.publish(topic, payload, { qos: 1, retain }),
      subscribe: (filter) => void this.client?.subscribe(filter, { qos: 1 }),
      unsubscribe: (filter) => void this.client?.unsubscribe(filter),
      onState: (s) => {
        this.statuses.push(s);
        sim.emitState(this, s);
      },
    });
  }

  private serve(name: string, version: string, sha256: string, profile: SimProfile): Serving {
    const over = this.sim.options.profiles?.[version];
    return {
      name,
      version,
      sha256,
      profile: over ? { ...profile, ...over } : profile,
      since: new Date().toISOString(),
      inferences: 0,
      errors: 0,
      guard: 0,
      labels: {},
      scores: SCORE_EDGES.slice(1).map(() => 0),
      carry: {},
    };
  }

  private async activate(model: StoredModel): Promise<void> {
    const v = await this.sim.validator.validate(model.file, model.sha256);
    if (this.serving.sha256 !== model.sha256) {
      if (this.serving.inferences + this.serving.errors > 0) this.previous = figuresOf(this.serving);
      this.serving = this.serve(model.name || v.name, model.version || v.version, model.sha256, v.profile);
    }
    void this.report(false);
  }

  get online(): boolean {
    return !!this.client;
  }

  async goOnline(): Promise<void> {
    if (this.client) return;
    const client = await mqtt.connectAsync(this.sim.options.brokerUrl, {
      clientId: `sim-${this.id}-${process.pid}`,
      reconnectPeriod: 200,
      connectTimeout: 10_000,
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic === this.topics.command(this.id) && isCommand(payload, 'report')) void this.report(false);
      else void this.receiver.handle(topic, payload);
    });
    client.on('connect', () => void this.receiver.resume());
    await client.subscribeAsync(this.receiver.subscriptions(), { qos: 1 });
    await this.report(false); // retained at the broker before anyone looks for this device
    const every = this.sim.options.reportMs ?? 5000;
    if (every > 0) {
      this.timer = setInterval(() => void this.report(true), every);
      this.timer.unref();
    }
  }

  /** Disconnects (as a device losing power would); the store stays. */
  async goOffline(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const c = this.client;
    this.client = undefined;
    this.receiver.close();
    await c?.endAsync(true);
  }

  /** Counts `inferencesPerReport` synthetic inferences on the serving version (when `run`) and publishes the model report. */
  report(run: boolean): Promise<void> {
    const s = this.serving;
    if (run) {
      const n = this.sim.options.inferencesPerReport ?? 100;
      const p = s.profile;
      const c = s.carry;
      const errors = take(c, 'errors', n, p.errorRate);
      const ok = n - errors;
      s.errors += errors;
      s.inferences += ok;
      s.guard += take(c, 'guard', ok, p.guardRate);
      for (const [label, share] of Object.entries(p.labels)) s.labels[label] = (s.labels[label] ?? 0) + take(c, `label:${label}`, ok, share);
      p.scores.forEach((share, i) => {
        s.scores[i] = (s.scores[i] ?? 0) + take(c, `score:${i}`, ok, share);
      });
    }
    // one version serves since the simulated flow started: the cumulative figures are the version's
    const current = figuresOf(s);
    const report: DeviceModelReport = {
      format: MODEL_REPORT_FORMAT,
      device: this.id,
      ts: new Date().toISOString(),
      groups: this.groups,
      model: {
        name: current.name,
        version: current.version,
        sha256: current.sha256,
        since: current.since,
        inferences: current.inferences,
        errors: current.errors,
        inferencesPerMinute: 0,
        latencyMs: { p50: current.p50Ms, p99: current.p99Ms },
      },
      guard: s.guard ? { out_of_range: s.guard } : {},
      drift: { [s.profile.driftLevel]: 1 },
      current,
      ...(this.previous ? { previous: this.previous } : {}),
    };
    const client = this.client;
    if (!client) return Promise.resolve();
    return client.publishAsync(this.topics.modelStatus(this.id), JSON.stringify(report), { qos: 1, retain: true }).then(
      () => undefined,
      () => undefined, // a report lost to a dropped link is replaced by the next one
    );
  }

  async close(): Promise<void> {
    await this.goOffline();
  }
}

function isCommand(payload: Buffer, command: string): boolean {
  try {
    return (JSON.parse(payload.toString('utf8')) as { command?: unknown }).command === command;
  } catch {
    return false;
  }
}

export class FleetSimulator {
  readonly devices: SimDevice[] = [];
  readonly validator: ModelValidator;
  private listeners: Array<(device: SimDevice, status: UpdateStatus) => void> = [];

  private constructor(readonly options: SimulatorOptions) {
    this.validator = options.validator ?? new ModelValidator();
  }

  static async start(options: SimulatorOptions): Promise<FleetSimulator> {
    const sim = new FleetSimulator(options);
    mkdirSync(options.storeRoot, { recursive: true });
    let file = options.baseline?.file;
    if (!file) {
      file = path.join(options.storeRoot, 'baseline.onnx');
      writeFileSync(file, simModel({ name: options.modelName ?? 'pump', version: '1.0.0' }));
    }
    const bytes = readFileSync(file);
    const sha256 = sha256Hex(bytes);
    const base = { ...(await sim.validator.validate(file, sha256)), sha256, file };
    const ids = Array.isArray(options.devices) ? options.devices : Array.from({ length: options.devices }, (_, i) => `${options.idPrefix ?? 'sim'}-${String(i).padStart(3, '0')}`);
    ids.forEach((id, i) => sim.devices.push(new SimDevice(id, options.groups?.(i, id) ?? [`line-${(i % 2) + 1}`], sim, base)));
    const offline = new Set(options.offline ?? []);
    // a few connections at a time: a thousand simultaneous CONNECTs only queue up at the broker
    const queue = sim.devices.filter((d) => !offline.has(d.id));
    const workers = Array.from({ length: Math.min(16, queue.length) }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) await d.goOnline();
    });
    await Promise.all(workers);
    return sim;
  }

  device(id: string): SimDevice {
    const d = this.devices.find((x) => x.id === id);
    if (!d) throw new RangeError(`no simulated device ${id}`);
    return d;
  }

  /** Calls `fn` with every update state a device reports. */
  onState(fn: (device: SimDevice, status: UpdateStatus) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  emitState(device: SimDevice, status: UpdateStatus): void {
    for (const l of this.listeners) l(device, status);
  }

  /** Every device reports once now (runs `inferencesPerReport` synthetic inferences first when `run`). */
  async reportAll(run = true): Promise<void> {
    await Promise.all(this.devices.filter((d) => d.online).map((d) => d.report(run)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.close()));
  }
}
