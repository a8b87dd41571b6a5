/**
 * The fleet rollout engine (host side, no Node-RED): discovers the devices from their retained
 * status reports, uploads the model's chunks once to the content-addressed blob topic, then wave by
 * wave names devices in signed per-device manifests, waits for their update reports, soaks, and
 * judges the health gates. A failing gate halts the rollout and rolls the wave's devices back; no
 * later wave is ever named. The state is retained on the broker after every step, so a killed
 * publisher (or another host) resumes from it. Everything waits on broker events; the only timers
 * are the plan's soak and timeouts (and the heartbeat).
 */
import os from 'node:os';
import { randomBytes, type KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { EdgeMlError } from '../errors';
import { MANIFEST_FORMAT, prepareUpdate, sha256Hex, signManifest, type UpdateManifest } from '../update/manifest';
import { DEFAULT_PREFIX, updateTopics, type UpdateStatus } from '../update/topics';
import { FleetDirectory, type DeviceView } from './device-status';
import { evaluateFigures, hasEnoughData } from './gates';
import { assignWaves, DEFAULT_ROLLBACK_TIMEOUT_MS, DEFAULT_SOAK_MS, DEFAULT_UPDATE_TIMEOUT_MS, planWaveOf } from './plan';
import {
  FINAL_STATUSES,
  gatesFor,
  isValidRolloutId,
  parseRolloutControl,
  parseRolloutState,
  ROLLOUT_FORMAT,
  rolloutTopics,
  type DeviceOutcome,
  type GateName,
  type GateResult,
  type GateThresholds,
  type RolloutControl,
  type RolloutCommand,
  type RolloutPlan,
  type RolloutState,
  type WaveState,
} from './rollout-state';

export interface RolloutHost {
  client: MqttClient;
  prefix?: string;
  /** PEM Ed25519 private key: manifests are signed with it (devices with a public key need that). */
  privateKey?: string | KeyObject;
  log?: (line: string) => void;
  /** Called after every change of the state (after it is retained on the broker). */
  onState?: (state: RolloutState) => void;
  /** How often the engine refreshes `engine.at` in the retained state (default 10 s). */
  heartbeatMs?: number;
  /** After the soak, how long to wait for the fresh reports asked for (default 5 s). */
  reportGraceMs?: number;
}

export interface RolloutSpec {
  id?: string;
  bytes: Uint8Array;
  name: string;
  version: string;
  plan: RolloutPlan;
}

const RANK: Record<GateName, number> = { update: 0, silent: 1, errorRate: 2, latencyP99: 3, guardRejections: 4, drift: 5, labelShift: 6, scorePsi: 7 };

function errorOf(code: string, message: string, params: Record<string, string | number>): EdgeMlError {
  return new EdgeMlError(code, message, params);
}

/** Waits until every retained message of the subscriptions made before it has arrived. */
async function sync(client: MqttClient, prefix: string): Promise<void> {
  const topic = `${prefix}/rollout/.sync/${randomBytes(6).toString('hex')}`;
  await new Promise<void>((resolve, reject) => {
    const onMessage = (t: string): void => {
      if (t !== topic) return;
      client.removeListener('message', onMessage);
      void client.unsubscribeAsync(topic).catch(() => undefined);
      resolve();
    };
    client.on('message', onMessage);
    // a broker delivers a connection's messages in order: the marker comes after the retained ones
    client
      .subscribeAsync(topic, { qos: 1 })
      .then(() => client.publishAsync(topic, '1', { qos: 1 }))
      .catch(reject);
  });
}

/** The retained state of rollout `id`, or undefined when the broker holds none. */
export async function readRollout(client: MqttClient, id: string, prefix = DEFAULT_PREFIX): Promise<RolloutState | undefined> {
  const topic = rolloutTopics(prefix).state(id);
  let state: RolloutState | undefined;
  let error: unknown;
  const onMessage = (t: string, payload: Buffer): void => {
    if (t !== topic || payload.length === 0) return;
    try {
      state = parseRolloutState(payload);
    } catch (e) {
      error = e;
    }
  };
  client.on('message', onMessage);
  try {
    await client.subscribeAsync(topic, { qos: 1 });
    await sync(client, prefix);
    await client.unsubscribeAsync(topic);
  } finally {
    client.removeListener('message', onMessage);
  }
  if (!state && error) throw error;
  return state;
}

/** Publishes a pause / resume / abort for rollout `id` (retained: the last command wins). */
export async function sendControl(client: MqttClient, id: string, command: RolloutCommand, prefix = DEFAULT_PREFIX, reason?: string): Promise<RolloutControl> {
  const control: RolloutControl = { command, ts: new Date().toISOString(), by: `${os.hostname()}:${process.pid}`, ...(reason ? { reason } : {}) };
  await client.publishAsync(rolloutTopics(prefix).control(id), JSON.stringify(control), { qos: 1, retain: true });
  return control;
}

interface UpdateSeen {
  status: UpdateStatus;
  retained: boolean;
  at: number;
}

export class RolloutEngine {
  private readonly prefix: string;
  private readonly topics;
  private readonly rollout;
  private readonly directory: FleetDirectory;
  private readonly updates = new Map<string, UpdateSeen>();
  private readonly reportAt = new Map<string, number>();
  private control: RolloutControl | undefined;
  private waiters: Array<() => void> = [];
  private dirty = false;
  private stopped = false;
  private finalAsked: { wave: number; at: number } | undefined;
  private lastPublished = '';
  private lastFigures = '';
  private lastHeartbeat = 0;
  /** Malformed reports seen (counted, never fatal). */
  malformed = 0;

  private constructor(
    private readonly host: RolloutHost,
    public state: RolloutState,
    private chunks: Buffer[] | undefined,
  ) {
    this.prefix = (host.prefix ?? DEFAULT_PREFIX).replace(/\/+$/, '');
    this.topics = updateTopics(this.prefix);
    this.rollout = rolloutTopics(this.prefix);
    this.directory = new FleetDirectory(this.prefix);
  }

  private readonly onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
    if (topic === this.rollout.control(this.state.id)) {
      if (payload.length === 0) return;
      try {
        this.control = parseRolloutControl(payload);
      } catch (e) {
        this.host.log?.(`ignored control message: ${(e as Error).message}`);
      }
      this.poke();
      return;
    }
    let view: DeviceView | undefined;
    try {
      view = this.directory.handle(topic, payload);
    } catch {
      this.malformed++;
      return;
    }
    if (!view) return;
    if (topic.endsWith('/update') && view.update) this.updates.set(view.device, { status: view.update, retained: !!packet.retain, at: Date.now() });
    if (topic.endsWith('/model') && view.model) this.reportAt.set(view.device, Date.now());
    this.poke();
  };

  private poke(): void {
    this.dirty = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next broker event, or at `until` (ms since 1970) at the latest. */
  private wait(until: number): Promise<void> {
    // an event that came while the engine was busy (not waiting) must not be lost
    if (this.dirty) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, Math.min(until - Date.now(), 2 ** 31 - 1)));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  private async attach(): Promise<void> {
    const { client } = this.host;
    client.on('message', this.onMessage);
    await client.subscribeAsync([`${this.prefix}/status/+/model`, `${this.prefix}/status/+/update`, this.rollout.control(this.state.id)], { qos: 1 });
    await sync(client, this.prefix);
  }

  private async detach(): Promise<void> {
    const { client } = this.host;
    client.removeListener('message', this.onMessage);
    if (client.connected) {
      await client.unsubscribeAsync([`${this.prefix}/status/+/model`, `${this.prefix}/status/+/update`, this.rollout.control(this.state.id)]).catch(() => undefined);
    }
  }

  /** Starts a new rollout: discovers the devices, uploads the chunks, retains the first state. */
  static async start(host: RolloutHost, spec: RolloutSpec): Promise<RolloutEngine> {
    const id = spec.id ?? `${spec.name}-${spec.version}-${Date.now().toString(36)}`;
    if (!isValidRolloutId(id)) throw errorOf('EDGEML_FLEET_PLAN_INVALID', `invalid rollout plan: id ${id} must be 1-100 of A-Z a-z 0-9 . _ -`, { reason: 'id' });
    const createdAt = new Date().toISOString();
    const { manifest, chunks } = prepareUpdate(spec.bytes, {
      name: spec.name,
      version: spec.version,
      ...(spec.plan.chunkSize ? { chunkSize: spec.plan.chunkSize } : {}),
      createdAt,
      ...(spec.plan.expiresInMs !== undefined ? { expiresAt: new Date(Date.parse(createdAt) + spec.plan.expiresInMs).toISOString() } : {}),
      ...(spec.plan.downgrade ? { downgrade: true } : {}),
    });
    const state: RolloutState = {
      format: ROLLOUT_FORMAT,
      id,
      model: { name: manifest.name, version: manifest.version, sha256: manifest.sha256, size: manifest.size },
      manifest: {
        chunkSize: manifest.chunkSize,
        chunks: manifest.chunks,
        chunkSha256: manifest.chunkSha256,
        createdAt: manifest.createdAt,
        sequence: manifest.sequence!,
        ...(manifest.expiresAt ? { expiresAt: manifest.expiresAt } : {}),
        ...(manifest.downgrade ? { downgrade: true } : {}),
        ...(host.privateKey ? { signed: true } : {}),
      },
      plan: spec.plan,
      status: 'running',
      wave: 0,
      waves: [],
      startedAt: createdAt,
      gates: [],
      devices: {},
      updatedAt: createdAt,
    };
    const engine = new RolloutEngine(host, state, chunks);
    // a control message left from an earlier rollout of the same id must not apply to this one
    await host.client.publishAsync(engine.rollout.control(id), '', { qos: 1, retain: true });
    await engine.attach();
    const targets = engine.discover();
    if (targets.length === 0) {
      await engine.detach();
      throw errorOf('EDGEML_FLEET_NO_DEVICES', `no device reports model ${spec.name} for this rollout`, { name: spec.name });
    }
    state.waves = assignWaves(id, spec.plan, targets);
    for (const w of state.waves) {
      for (const d of w.devices) {
        const view = engine.directory.get(d);
        const from = view?.model?.current?.version ?? view?.model?.model?.version ?? view?.update?.version;
        state.devices[d] = { wave: w.index, outcome: 'pending', ts: createdAt, ...(from ? { fromVersion: from } : {}) };
      }
    }
    engine.log(
      `rollout ${id}: ${spec.name} ${spec.version} (${manifest.size} bytes, ${chunks.length} chunks) to ${targets.length} devices in ${state.waves.length} waves (${state.waves.map((w) => w.devices.length).join(', ')})`,
    );
    await engine.uploadChunks();
    await engine.persist(true);
    return engine;
  }

  /** Picks up rollout `id` from its retained state (after a crash, or on another host). */
  static async resume(host: RolloutHost, id: string, bytes?: Uint8Array): Promise<RolloutEngine> {
    const state = await readRollout(host.client, id, host.prefix);
    if (!state) throw errorOf('EDGEML_FLEET_NOT_FOUND', `no rollout ${id} on the broker`, { id });
    if (FINAL_STATUSES.includes(state.status)) throw errorOf('EDGEML_FLEET_FINISHED', `rollout ${id} has already ended (${state.status})`, { id, status: state.status });
    if (state.manifest.signed && !host.privateKey) throw errorOf('EDGEML_FLEET_KEY_REQUIRED', `rollout ${id} needs the private key to sign its next wave`, { id });
    let chunks: Buffer[] | undefined;
    if (bytes) {
      const sha = sha256Hex(bytes);
      if (sha !== state.model.sha256)
        throw errorOf('EDGEML_FLEET_MODEL_MISMATCH', `the model file has sha256 ${sha}, the rollout ${state.model.sha256}`, { sha256: sha, expected: state.model.sha256 });
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      chunks = [];
      for (let at = 0; at < buf.length; at += state.manifest.chunkSize) chunks.push(buf.subarray(at, Math.min(buf.length, at + state.manifest.chunkSize)));
    }
    const engine = new RolloutEngine(host, state, chunks);
    await engine.attach();
    if (chunks) await engine.uploadChunks();
    engine.log(`rollout ${id}: resumed at wave ${state.wave + 1} of ${state.waves.length} (${state.status})`);
    return engine;
  }

  private log(line: string): void {
    this.host.log?.(line);
  }

  /** Devices that report the rollout's model name (and, if the plan says so, one of its groups). */
  private discover(): Array<{ device: string; groups: string[] }> {
    const name = this.state.model.name;
    return this.directory
      .all()
      .filter((v) => v.model?.model?.name === name || v.model?.current?.name === name || v.update?.name === name)
      .filter((v) => !this.state.plan.groups || v.groups.some((g) => this.state.plan.groups!.includes(g)))
      .map((v) => ({ device: v.device, groups: v.groups }));
  }

  private async uploadChunks(): Promise<void> {
    if (!this.chunks) return;
    // retained: a device that subscribes while it receives this file gets every chunk, now or later
    for (const [i, chunk] of this.chunks.entries()) {
      await this.host.client.publishAsync(this.topics.blob(this.state.model.sha256, i), chunk, { qos: 1, retain: true });
    }
  }

  private async clearChunks(): Promise<void> {
    for (let i = 0; i < this.state.manifest.chunks; i++) {
      await this.host.client.publishAsync(this.topics.blob(this.state.model.sha256, i), '', { qos: 1, retain: true });
    }
  }

  private manifestFor(device: string): UpdateManifest {
    const b = this.state.manifest;
    const m = this.state.model;
    let manifest: UpdateManifest = {
      format: MANIFEST_FORMAT,
      name: m.name,
      version: m.version,
      size: m.size,
      sha256: m.sha256,
      chunkSize: b.chunkSize,
      chunks: b.chunks,
      chunkSha256: b.chunkSha256,
      targets: [device],
      createdAt: b.createdAt,
      sequence: b.sequence,
      ...(b.expiresAt ? { expiresAt: b.expiresAt } : {}),
      ...(b.downgrade ? { downgrade: true } : {}),
    };
    if (this.host.privateKey) manifest = signManifest(manifest, this.host.privateKey);
    return manifest;
  }

  private async persist(force = false): Promise<void> {
    const now = Date.now();
    const { updatedAt: _u, engine: _e, gates, ...content } = this.state;
    const body = JSON.stringify(content);
    const figures = JSON.stringify(gates);
    const beat = now - this.lastHeartbeat >= (this.host.heartbeatMs ?? 10_000);
    // gate figures move with every report of a big wave: retained at most once a second
    const figuresDue = figures !== this.lastFigures && now - this.lastHeartbeat >= 1000;
    if (!force && body === this.lastPublished && !beat && !figuresDue) return;
    this.lastPublished = body;
    this.lastFigures = figures;
    this.lastHeartbeat = now;
    this.state.updatedAt = new Date(now).toISOString();
    if (!FINAL_STATUSES.includes(this.state.status)) this.state.engine = { host: os.hostname(), pid: process.pid, at: this.state.updatedAt };
    else delete this.state.engine;
    await this.host.client.publishAsync(this.rollout.state(this.state.id), JSON.stringify(this.state), { qos: 1, retain: true });
    this.host.onState?.(this.state);
  }

  private setOutcome(device: string, outcome: DeviceOutcome, extra: { code?: string; reason?: string } = {}): void {
    const d = this.state.devices[device];
    if (!d) return;
    d.outcome = outcome;
    d.ts = new Date().toISOString();
    if (extra.code) d.code = extra.code;
    if (extra.reason) d.reason = extra.reason;
  }

  private gates(wave: WaveState): GateThresholds {
    return gatesFor(this.state.plan, planWaveOf(this.state.plan, wave));
  }

  /** The update report of `device` that belongs to this wave (retained ones only if written after the wave started). */
  private updateOf(device: string, since: number): UpdateStatus | undefined {
    const seen = this.updates.get(device);
    if (!seen) return undefined;
    if (seen.retained && Date.parse(seen.status.ts) < since) return undefined;
    return seen.status;
  }

  /** Stops driving the rollout without changing its state (it stays resumable). */
  stop(): void {
    this.stopped = true;
    this.poke();
  }

  /** Drives the rollout until it completes, halts or is aborted (or stop() is called). */
  async run(): Promise<RolloutState> {
    try {
      while (!this.stopped && !FINAL_STATUSES.includes(this.state.status)) {
        const until = await this.step();
        await this.persist();
        if (this.stopped || FINAL_STATUSES.includes(this.state.status)) break;
        if (until !== 'now') await this.wait(Math.min(until, Date.now() + (this.host.heartbeatMs ?? 10_000)));
      }
      await this.persist();
      return this.state;
    } finally {
      await this.detach();
    }
  }

  /** One pass over the state; returns when to look again at the latest (or 'now' to go on at once). */
  private async step(): Promise<number | 'now'> {
    this.dirty = false;
    const s = this.state;
    const c = this.control;
    if (c && (!s.controlTs || Date.parse(c.ts) > Date.parse(s.controlTs))) {
      s.controlTs = c.ts;
      this.log(`rollout ${s.id}: ${c.command}${c.by ? ` (from ${c.by})` : ''}`);
      if (c.command === 'abort') {
        s.reason = c.reason ?? 'aborted';
        await this.rollBack('aborted');
        return 'now';
      }
      if (c.command === 'pause' && s.status === 'running') s.status = 'paused';
      if (c.command === 'resume' && s.status === 'paused') s.status = 'running';
    }
    if (s.status === 'rolling-back') {
      await this.rollBack(s.halt ? 'halted' : 'aborted');
      return 'now';
    }
    const wave = s.waves[s.wave];
    if (!wave) {
      s.status = 'completed';
      return 'now';
    }
    switch (wave.status) {
      case 'pending':
        if (s.status === 'paused') return Number.POSITIVE_INFINITY;
        await this.deploy(wave);
        return 'now';
      case 'deploying':
        return this.watchDeploy(wave);
      case 'soaking':
        return this.watchSoak(wave);
      default: {
        // passed (or skipped): on to the next wave, unless paused
        if (s.wave + 1 >= s.waves.length) {
          s.status = 'completed';
          this.log(`rollout ${s.id}: completed`);
          return 'now';
        }
        if (s.status === 'paused') return Number.POSITIVE_INFINITY;
        s.wave++;
        return 'now';
      }
    }
  }

  private async deploy(wave: WaveState): Promise<void> {
    wave.status = 'deploying';
    wave.startedAt = new Date().toISOString();
    this.state.gates = [];
    this.log(`rollout ${this.state.id}: ${wave.name}: ${wave.devices.length} devices`);
    for (const d of wave.devices) {
      // retained on the device's own topic: a device that is offline now gets it when it returns
      await this.host.client.publishAsync(this.topics.manifest(d), JSON.stringify(this.manifestFor(d)), { qos: 1, retain: true });
      this.setOutcome(d, 'sent');
    }
  }

  private watchDeploy(wave: WaveState): number | 'now' {
    const since = Date.parse(wave.startedAt!);
    const sha = this.state.model.sha256;
    for (const d of wave.devices) {
      if (this.state.devices[d]?.outcome !== 'sent') continue;
      const u = this.updateOf(d, since);
      if (!u || u.sha256 !== sha) continue;
      if (u.state === 'active') this.setOutcome(d, 'active');
      else if (u.state === 'rejected') this.setOutcome(d, 'rejected', { ...(u.code ? { code: u.code } : {}), ...(u.reason ? { reason: u.reason } : {}) });
    }
    const rejected = wave.devices.filter((d) => this.state.devices[d]?.outcome === 'rejected');
    if (rejected.length) {
      this.halt(
        wave,
        'update',
        rejected.map((d) => ({
          gate: 'update' as const,
          device: d,
          passed: false,
          value: this.state.devices[d]?.code ?? 'rejected',
          threshold: 'active',
          ...(this.state.devices[d]?.reason ? { detail: this.state.devices[d]!.reason! } : {}),
        })),
      );
      return 'now';
    }
    const waiting = wave.devices.filter((d) => this.state.devices[d]?.outcome === 'sent');
    const deadline = since + (this.state.plan.updateTimeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS);
    if (waiting.length && Date.now() < deadline) return deadline;
    if (waiting.length && this.silent(wave, waiting, 'no update report within the update timeout')) return 'now';
    wave.status = 'soaking';
    wave.deployedAt = new Date().toISOString();
    const plan = this.state.plan;
    const soak = plan.waves[planWaveOf(plan, wave)]?.soakMs ?? plan.soakMs ?? DEFAULT_SOAK_MS;
    wave.soakEndsAt = new Date(Date.now() + soak).toISOString();
    this.state.soakEndsAt = wave.soakEndsAt;
    return 'now';
  }

  /** Marks devices silent; returns true when that halted the wave (silent: fail). */
  private silent(wave: WaveState, devices: string[], why: string): boolean {
    const gates = this.gates(wave);
    for (const d of devices) this.setOutcome(d, gates.silent === 'fail' ? 'silent' : 'skipped', { reason: why });
    if (gates.silent === 'skip') {
      this.log(`rollout ${this.state.id}: ${wave.name}: skipped silent ${devices.join(', ')}`);
      return false;
    }
    this.halt(
      wave,
      'silent',
      devices.map((d) => ({ gate: 'silent' as const, device: d, passed: false, value: null, threshold: 'a report', detail: why })),
    );
    return true;
  }

  private async askForReports(devices: string[]): Promise<void> {
    for (const d of devices) await this.host.client.publishAsync(this.topics.command(d), JSON.stringify({ command: 'report' }), { qos: 1 });
  }

  private async watchSoak(wave: WaveState): Promise<number | 'now'> {
    const sha = this.state.model.sha256;
    const gates = this.gates(wave);
    const since = Date.parse(wave.startedAt!);
    const active = wave.devices.filter((d) => this.state.devices[d]?.outcome === 'active');
    const results: GateResult[] = [];
    const failed: GateResult[] = [];
    const judged = new Set<string>();
    for (const d of active) {
      const u = this.updateOf(d, since);
      if (u && u.state === 'rolled-back') {
        failed.push({ gate: 'update', device: d, passed: false, value: 'rolled-back', threshold: 'active', detail: 'the device went back by itself' });
        continue;
      }
      const report = this.directory.get(d)?.model;
      const current = report?.current?.sha256 === sha ? report.current : undefined;
      if (!current || !hasEnoughData(current, gates)) continue;
      judged.add(d);
      for (const r of evaluateFigures(d, current, report?.previous, gates)) {
        results.push(r);
        if (!r.passed) failed.push(r);
      }
    }
    this.state.gates = summarise(results);
    if (failed.length) {
      const first = [...failed].sort((a, b) => RANK[a.gate] - RANK[b.gate])[0]!;
      this.halt(
        wave,
        first.gate,
        failed.filter((r) => r.gate === first.gate),
        failed,
      );
      return 'now';
    }
    const end = Date.parse(wave.soakEndsAt!);
    if (Date.now() < end) return end;
    // soak over: ask for fresh figures once, then judge on what came back within the grace time
    if (!this.finalAsked || this.finalAsked.wave !== wave.index) {
      this.finalAsked = { wave: wave.index, at: Date.now() };
      await this.askForReports(active);
      return 'now';
    }
    const asked = this.finalAsked.at;
    const graceEnd = asked + (this.host.reportGraceMs ?? 5000);
    const fresh = active.filter((d) => (this.reportAt.get(d) ?? 0) >= asked);
    if (fresh.length < active.length && Date.now() < graceEnd) return graceEnd;
    const unjudged = active.filter((d) => !judged.has(d));
    if (unjudged.length && this.silent(wave, unjudged, `fewer than ${gates.minInferences} inferences reported on the new version`)) return 'now';
    for (const d of active) if (judged.has(d)) this.setOutcome(d, 'healthy');
    wave.status = 'passed';
    wave.finishedAt = new Date().toISOString();
    wave.gates = this.state.gates;
    delete this.state.soakEndsAt;
    this.log(`rollout ${this.state.id}: ${wave.name} passed (${judged.size} healthy)`);
    return 'now';
  }

  private halt(wave: WaveState, gate: GateName, failing: GateResult[], all: GateResult[] = failing): void {
    const devices = [...new Set(failing.map((r) => r.device))];
    for (const d of new Set(all.map((r) => r.device))) {
      const o = this.state.devices[d]?.outcome;
      if (o === 'active' || o === 'healthy')
        this.setOutcome(d, 'unhealthy', {
          reason: all
            .filter((r) => r.device === d)
            .map((r) => r.gate)
            .join(', '),
        });
    }
    wave.status = 'failed';
    wave.finishedAt = new Date().toISOString();
    wave.gates = this.state.gates;
    this.state.halt = { gate, wave: wave.index, devices, figures: all, at: new Date().toISOString() };
    this.state.status = 'rolling-back';
    this.log(`rollout ${this.state.id}: HALT at ${wave.name}: gate ${gate} failed on ${devices.join(', ')}`);
  }

  /**
   * Takes the model back from the current wave: clears the wave's retained manifests (so nobody
   * picks it up again), sends each device that took it one rollback command, and waits for their
   * reports. Then clears the chunks and ends in `final`.
   */
  private async rollBack(final: 'halted' | 'aborted'): Promise<void> {
    const s = this.state;
    s.status = 'rolling-back';
    delete s.soakEndsAt;
    const wave = s.waves[s.wave];
    const started = Date.now();
    await this.persist(true);
    if (wave) {
      if (wave.status !== 'failed') {
        wave.status = 'failed';
        wave.finishedAt = new Date().toISOString();
      }
      for (const d of wave.devices) await this.host.client.publishAsync(this.topics.manifest(d), '', { qos: 1, retain: true });
      const since = Date.parse(wave.startedAt ?? s.startedAt);
      // a device that reports active for this model after all (it had the manifest in hand) is taken back too
      for (const d of wave.devices) {
        const o = s.devices[d]?.outcome;
        const u = this.updateOf(d, since);
        if ((o === 'sent' || o === 'silent' || o === 'skipped') && u?.state === 'active' && u.sha256 === s.model.sha256) this.setOutcome(d, 'active');
      }
      const takeBack = wave.devices.filter((d) => ['active', 'healthy', 'unhealthy'].includes(s.devices[d]?.outcome ?? ''));
      for (const d of takeBack) {
        this.setOutcome(d, 'rolling-back');
        await this.persist(true); // recorded before sent: a resumed engine never sends it twice
        await this.host.client.publishAsync(this.topics.command(d), JSON.stringify({ command: 'rollback' }), { qos: 1 });
      }
      const deadline = started + (s.plan.rollbackTimeoutMs ?? DEFAULT_ROLLBACK_TIMEOUT_MS);
      const haltAt = Date.parse(s.halt?.at ?? new Date(started).toISOString());
      for (;;) {
        this.dirty = false;
        const pending = wave.devices.filter((d) => s.devices[d]?.outcome === 'rolling-back');
        for (const d of pending) {
          const u = this.updateOf(d, haltAt);
          if (u?.state === 'rolled-back' && u.sha256 !== s.model.sha256) this.setOutcome(d, 'rolled-back');
          else if (u?.state === 'rejected' && u.code === 'EDGEML_UPDATE_NO_PREVIOUS') this.setOutcome(d, 'unhealthy', { code: u.code, reason: 'could not roll back' });
        }
        const still = wave.devices.filter((d) => s.devices[d]?.outcome === 'rolling-back');
        if (still.length === 0 || Date.now() >= deadline || this.stopped) {
          if (still.length && !this.stopped) this.log(`rollout ${s.id}: no rollback report from ${still.join(', ')}`);
          break;
        }
        await this.persist();
        await this.wait(deadline);
      }
      if (this.stopped) return;
    }
    await this.clearChunks();
    s.status = final;
    this.log(`rollout ${s.id}: ${final}`);
  }
}

/** One result per gate: the worst device's, so the retained state stays small for big waves. */
function summarise(results: GateResult[]): GateResult[] {
  const worst = new Map<GateName, GateResult>();
  const score = (r: GateResult): number => (r.passed ? 0 : 1e12) + (typeof r.value === 'number' ? r.value : r.value === null ? -1 : 0);
  for (const r of results) {
    const w = worst.get(r.gate);
    if (!w || score(r) > score(w)) worst.set(r.gate, r);
  }
  return [...worst.values()];
}

/** Whether the engine named in the state still runs (same host: its pid lives; else a fresh heartbeat). */
export function engineAlive(state: RolloutState, heartbeatMs = 10_000, now = Date.now()): boolean {
  const e = state.engine;
  if (!e) return false;
  if (e.host === os.hostname()) {
    try {
      process.kill(e.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return now - Date.parse(e.at) < 3 * heartbeatMs;
}

/**
 * Removes what a rollout that has ended left retained on the broker: its chunks, the manifests of
 * its devices, its control topic and its state. A completed rollout keeps the chunks (so a device
 * that was away can still fetch the model) until this runs.
 */
export async function clearRollout(client: MqttClient, state: RolloutState, prefix = DEFAULT_PREFIX): Promise<void> {
  const topics = updateTopics(prefix);
  const rollout = rolloutTopics(prefix);
  for (let i = 0; i < state.manifest.chunks; i++) await client.publishAsync(topics.blob(state.model.sha256, i), '', { qos: 1, retain: true });
  for (const device of Object.keys(state.devices)) await client.publishAsync(topics.manifest(device), '', { qos: 1, retain: true });
  await client.publishAsync(rollout.control(state.id), '', { qos: 1, retain: true });
  await client.publishAsync(rollout.state(state.id), '', { qos: 1, retain: true });
}
