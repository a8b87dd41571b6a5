/**
 * Device side of a model update. Fed with the MQTT messages of its subscriptions, it checks the
 * manifest (targets, signature), reassembles and verifies the file, stores it atomically, asks the
 * model owner to validate and swap to it, and reports each state on the retained status topic.
 * Messages are handled one at a time, in arrival order. Nothing here touches Node-RED.
 */
import path from 'node:path';
import { EdgeMlError, toEdgeMlError } from '../errors';
import { ChunkAssembler } from './assembler';
import { compareVersions, isForDevice, manifestSequence, parseManifest, verifyManifest, type UpdateManifest } from './manifest';
import { ModelStore, type StoredModel } from './store';
import { parseChunkTopic, updateTopics, type UpdateState, type UpdateStatus } from './topics';

export interface ReceiverOptions {
  deviceId: string;
  groups: string[];
  /** Folder for delivered models and partial transfers (inside the Node-RED user directory). */
  storeDir: string;
  /** PEM Ed25519 public key; when set, unsigned or badly signed manifests are rejected. */
  publicKey?: string;
  /** Only updates for this model name are accepted (empty: any). */
  modelName?: string;
  prefix?: string;
  /**
   * The model the owner serves when no delivered version is active (its configured file): rollback
   * returns to it when the store holds no previous delivered version.
   */
  baseline?: () => StoredModel | undefined;
  /** Validates the stored file (loads, runs on a sample, same inputs) and makes it serve; throws to reject. */
  activate: (model: StoredModel) => Promise<void>;
  publish: (topic: string, payload: string, retain: boolean) => void;
  onState?: (status: UpdateStatus) => void;
  /** While a transfer is open and nothing arrives for this long, report the missing chunks again (default 10 s). */
  stallMs?: number;
  /**
   * Subscribe to / leave a topic filter (QoS 1). Given, the receiver takes a file's chunks from the
   * content-addressed `<prefix>/blob/<sha256>/+` while it receives that file (fleet rollouts).
   */
  subscribe?: (filter: string) => void;
  unsubscribe?: (filter: string) => void;
  /** The clock for manifest expiry (tests). */
  now?: () => number;
}

export class UpdateReceiver {
  private readonly topics;
  private readonly store: ModelStore;
  private transfer: { manifest: UpdateManifest; assembler: ChunkAssembler } | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly counts = { received: 0, active: 0, rejected: 0 };
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReceiverOptions) {
    this.topics = updateTopics(options.prefix);
    this.store = new ModelStore(options.storeDir);
  }

  get stats(): Readonly<{ received: number; active: number; rejected: number }> {
    return this.counts;
  }

  /** The topics to subscribe to (QoS 1). */
  subscriptions(): string[] {
    const targets = [this.options.deviceId, ...this.options.groups];
    return [...targets.flatMap((t) => [this.topics.manifest(t), this.topics.chunkFilter(t)]), this.topics.command(this.options.deviceId)];
  }

  /** What the store says is active for a model name (to load at start-up). */
  active(name: string): StoredModel | undefined {
    return this.store.state(name).active;
  }

  handle(topic: string, payload: Buffer): Promise<void> {
    this.queue = this.queue
      .then(() => this.dispatch(topic, payload))
      .catch(() => undefined)
      .then(() => this.watchStall());
    return this.queue;
  }

  /** Stops the stall timer; call when the owner closes. */
  close(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  // A lost chunk (broker restart, dropped link) would stall a transfer for ever; asking again
  // after a quiet spell lets the host fill the gap without either side tracking connections.
  private watchStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (!this.transfer) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      void this.resume().then(() => this.watchStall());
    }, this.options.stallMs ?? 10_000);
    this.stallTimer.unref?.();
  }

  /** After a reconnect: tell the host which chunks are still missing so it sends them again. */
  resume(): Promise<void> {
    this.queue = this.queue.then(() => {
      if (!this.transfer) return;
      const filter = this.topics.blobFilter(this.transfer.manifest.sha256);
      // subscribing again delivers the retained chunks again (duplicates are ignored)
      if (this.options.subscribe) {
        this.options.unsubscribe?.(filter);
        this.options.subscribe(filter);
      }
      this.report('receiving', this.transfer.manifest, { missing: this.transfer.assembler.missing() });
    });
    return this.queue;
  }

  private openTransfer(manifest: UpdateManifest): ChunkAssembler {
    this.closeTransfer();
    const assembler = new ChunkAssembler(manifest, path.join(this.options.storeDir, '.incoming'));
    this.transfer = { manifest, assembler };
    this.options.subscribe?.(this.topics.blobFilter(manifest.sha256));
    return assembler;
  }

  /** Ends the open transfer (its partial chunks are deleted) and leaves its blob topic. */
  private closeTransfer(): void {
    const t = this.transfer;
    if (!t) return;
    this.transfer = undefined;
    t.assembler.discard();
    this.options.unsubscribe?.(this.topics.blobFilter(t.manifest.sha256));
  }

  private settle(m: UpdateManifest): void {
    const rec = this.store.sequence(m.name);
    if (rec && rec.sha256 === m.sha256 && !rec.settled) this.store.recordSequence(m.name, { ...rec, settled: true });
  }

  /**
   * Replay, expiry and downgrade checks of a manifest whose signature holds. Returns 'ignore' for
   * the manifest this device already settled (seen again, e.g. retained after a rollback).
   */
  private admit(m: UpdateManifest): 'accept' | 'resume' | 'ignore' {
    const now = this.options.now?.() ?? Date.now();
    if (m.expiresAt && Date.parse(m.expiresAt) <= now) {
      throw new EdgeMlError('EDGEML_UPDATE_EXPIRED', `the manifest of ${m.name} ${m.version} expired at ${m.expiresAt}`, {
        name: m.name,
        version: m.version,
        expiresAt: m.expiresAt,
      });
    }
    const sequence = manifestSequence(m);
    const rec = this.store.sequence(m.name);
    if (rec && rec.sequence === sequence && rec.sha256 === m.sha256) return rec.settled ? 'ignore' : 'resume';
    if (rec && sequence <= rec.sequence) {
      throw new EdgeMlError('EDGEML_UPDATE_REPLAYED', `manifest ${sequence} of ${m.name} is not newer than the accepted ${rec.sequence}`, {
        name: m.name,
        version: m.version,
        sequence,
        accepted: rec.sequence,
      });
    }
    const current = this.store.state(m.name).active ?? this.options.baseline?.();
    if (current?.version && !m.downgrade && compareVersions(m.version, current.version) < 0) {
      throw new EdgeMlError('EDGEML_UPDATE_DOWNGRADE', `${m.name} ${m.version} is older than the running ${current.version}`, {
        name: m.name,
        version: m.version,
        running: current.version,
      });
    }
    return 'accept';
  }

  private async dispatch(topic: string, payload: Buffer): Promise<void> {
    if (topic === this.topics.command(this.options.deviceId)) return this.onCommand(payload);
    if (topic.endsWith('/manifest')) return this.onManifest(payload);
    const chunk = parseChunkTopic(topic);
    if (chunk) return this.onChunk(chunk.sha256, chunk.index, payload);
  }

  private report(state: UpdateState, m: Pick<UpdateManifest, 'name' | 'version' | 'sha256'>, extra: Partial<UpdateStatus> = {}): void {
    const status: UpdateStatus = { device: this.options.deviceId, state, name: m.name, version: m.version, sha256: m.sha256, ts: new Date().toISOString(), ...extra };
    this.options.publish(this.topics.updateStatus(this.options.deviceId), JSON.stringify(status), true);
    this.options.onState?.(status);
  }

  private reject(m: Pick<UpdateManifest, 'name' | 'version' | 'sha256'>, err: unknown): void {
    const e = toEdgeMlError(err);
    this.counts.rejected++;
    this.report('rejected', m, { code: e.code, reason: e.message });
  }

  private async onManifest(payload: Buffer): Promise<void> {
    if (payload.length === 0) return; // a cleared retained manifest
    let manifest: UpdateManifest;
    try {
      manifest = parseManifest(JSON.parse(payload.toString('utf8')));
    } catch (e) {
      const err = e instanceof SyntaxError ? new EdgeMlError('EDGEML_UPDATE_MANIFEST_INVALID', 'manifest is not JSON', { reason: 'not JSON' }) : e;
      this.reject({ name: '', version: '', sha256: '' }, err);
      return;
    }
    if (!isForDevice(manifest, this.options.deviceId, this.options.groups)) return;
    if (this.options.modelName && manifest.name !== this.options.modelName) return;
    const active = this.store.state(manifest.name).active;
    if (active?.sha256 === manifest.sha256) {
      this.report('active', active); // already serving it (e.g. a retained manifest seen again)
      return;
    }
    if (this.transfer?.manifest.sha256 === manifest.sha256) {
      this.report('receiving', manifest, { missing: this.transfer.assembler.missing() });
      return;
    }
    let admission: 'accept' | 'resume' | 'ignore';
    try {
      if (this.options.publicKey) verifyManifest(manifest, this.options.publicKey);
      // checked before anything is discarded: a replayed manifest never ends a running transfer
      admission = this.admit(manifest);
    } catch (e) {
      this.reject(manifest, e);
      return;
    }
    if (admission === 'ignore') return;
    if (admission === 'accept') this.store.recordSequence(manifest.name, { sequence: manifestSequence(manifest), sha256: manifest.sha256, settled: false });
    const assembler = this.openTransfer(manifest);
    this.counts.received++;
    if (assembler.isComplete()) return this.finish();
    this.report('receiving', manifest, { missing: assembler.missing() });
  }

  private async onChunk(sha256: string, index: number, payload: Buffer): Promise<void> {
    const t = this.transfer;
    if (!t || t.manifest.sha256 !== sha256) return;
    try {
      if (t.assembler.add(index, payload) === 'duplicate') return;
    } catch (e) {
      // refused on arrival: ask for it again; the active model keeps serving meanwhile
      const err = toEdgeMlError(e);
      this.report('receiving', t.manifest, { missing: t.assembler.missing(), code: err.code, reason: err.message });
      return;
    }
    if (t.assembler.isComplete()) await this.finish();
  }

  private async finish(): Promise<void> {
    const t = this.transfer!;
    const m = t.manifest;
    let stored: StoredModel | undefined;
    try {
      const bytes = t.assembler.assemble();
      this.report('received', m);
      this.report('verified', m);
      stored = this.store.write(m.name, m.version, m.sha256, bytes);
      await this.options.activate(stored);
      this.store.activate(stored);
      this.counts.active++;
      this.settle(m);
      this.report('active', m);
    } catch (e) {
      if (stored) this.store.discard(stored);
      this.settle(m);
      this.reject(m, e);
    } finally {
      if (this.transfer === t) this.closeTransfer();
      else t.assembler.discard();
    }
  }

  private async onCommand(payload: Buffer): Promise<void> {
    let command: unknown;
    try {
      command = (JSON.parse(payload.toString('utf8')) as { command?: unknown }).command;
    } catch {
      return;
    }
    if (command !== 'rollback') return;
    const name = this.options.modelName;
    if (!name) return;
    const state = this.store.state(name);
    const current = state.active ?? this.options.baseline?.() ?? { name, version: '', sha256: '' };
    try {
      if (state.previous) {
        await this.options.activate(state.previous);
        this.report('rolled-back', this.store.rollback(name).active!);
        return;
      }
      const baseline = state.active ? this.options.baseline?.() : undefined;
      if (!baseline) throw new EdgeMlError('EDGEML_UPDATE_NO_PREVIOUS', `no previous version of ${name} to roll back to`, { name });
      await this.options.activate(baseline);
      this.store.deactivate(name);
      this.report('rolled-back', baseline);
    } catch (e) {
      this.reject(current, e);
    }
  }
}
