/**
 * Where delivered models live on the device: `<root>/<name>/<version>-<sha8>.onnx`, written
 * atomically (temp file, fsync, rename, fsync of the folder) so a power cut never leaves a
 * half-written model in place, plus `<root>/<name>/state.json` naming the active and the previous
 * version (for rollback). Only the active and previous files are kept.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { EdgeMlError } from '../errors';

export interface StoredModel {
  name: string;
  version: string;
  sha256: string;
  file: string;
  since: string;
}

export interface StoreState {
  active?: StoredModel;
  previous?: StoredModel;
}

function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const dirFd = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  }
}

/** The newest manifest accepted for a model name (kept across restarts against replays). */
export interface SequenceRecord {
  sequence: number;
  sha256: string;
  /** The transfer of this manifest ended (active, rejected or rolled back): seeing it again starts nothing. */
  settled: boolean;
}

export class ModelStore {
  constructor(readonly root: string) {}

  private dir(name: string): string {
    return path.join(this.root, name);
  }

  state(name: string): StoreState {
    const file = path.join(this.dir(name), 'state.json');
    if (!existsSync(file)) return {};
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as StoreState;
    } catch {
      return {};
    }
  }

  private saveState(name: string, state: StoreState): void {
    writeAtomic(path.join(this.dir(name), 'state.json'), JSON.stringify(state, null, 2));
  }

  sequence(name: string): SequenceRecord | undefined {
    try {
      const r = JSON.parse(readFileSync(path.join(this.dir(name), 'sequence.json'), 'utf8')) as SequenceRecord;
      return Number.isSafeInteger(r.sequence) ? r : undefined;
    } catch {
      return undefined;
    }
  }

  recordSequence(name: string, record: SequenceRecord): void {
    mkdirSync(this.dir(name), { recursive: true });
    writeAtomic(path.join(this.dir(name), 'sequence.json'), JSON.stringify(record));
  }

  /** Writes the model file atomically; does not make it active. */
  write(name: string, version: string, sha256: string, bytes: Uint8Array): StoredModel {
    mkdirSync(this.dir(name), { recursive: true });
    const file = path.join(this.dir(name), `${version}-${sha256.slice(0, 8)}.onnx`);
    writeAtomic(file, bytes);
    return { name, version, sha256, file, since: new Date().toISOString() };
  }

  /** Records `model` as active, the old active as previous, and removes files no longer referenced. */
  activate(model: StoredModel): StoreState {
    const old = this.state(model.name);
    const next: StoreState = { active: { ...model, since: new Date().toISOString() } };
    if (old.active && old.active.file !== model.file) next.previous = old.active;
    else if (old.previous) next.previous = old.previous;
    this.saveState(model.name, next);
    this.prune(old, next);
    return next;
  }

  /** Swaps active and previous; throws EDGEML_UPDATE_NO_PREVIOUS when there is nothing to go back to. */
  rollback(name: string): StoreState {
    const old = this.state(name);
    if (!old.previous || !existsSync(old.previous.file)) {
      throw new EdgeMlError('EDGEML_UPDATE_NO_PREVIOUS', `no previous version of ${name} to roll back to`, { name });
    }
    const next: StoreState = { active: { ...old.previous, since: new Date().toISOString() } };
    if (old.active) next.previous = old.active;
    this.saveState(name, next);
    return next;
  }

  /**
   * Goes back to the model the owner is configured with (no delivered version active); the active
   * one becomes previous, so a second rollback returns to it.
   */
  deactivate(name: string): StoreState {
    const old = this.state(name);
    const next: StoreState = old.active ? { previous: old.active } : {};
    this.saveState(name, next);
    this.prune(old, next);
    return next;
  }

  /** Deletes a written but rejected file (never the active or previous one). */
  discard(model: StoredModel): void {
    const state = this.state(model.name);
    if (state.active?.file === model.file || state.previous?.file === model.file) return;
    rmSync(model.file, { force: true });
  }

  /** Removes the files the old state referenced and the new one does not (never a file being written). */
  private prune(old: StoreState, next: StoreState): void {
    const keep = new Set([next.active?.file, next.previous?.file]);
    for (const entry of [old.active, old.previous]) {
      if (entry && !keep.has(entry.file)) rmSync(entry.file, { force: true });
    }
  }
}
