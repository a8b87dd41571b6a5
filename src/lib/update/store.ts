/**
 * Where delivered models live on the device: `<root>/<name>/<version>-<sha8>.onnx`, written
 * atomically (temp file, fsync, rename, fsync of the folder) so a power cut never leaves a
 * half-written model in place, plus `<root>/<name>/state.json` naming the active and the previous
 * version (for rollback). Only the active and previous files are kept.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { EdgeMlError } from '../errors';

/** Default largest model update a device accepts (settings edgeMl.maxUpdateBytes). */
export const DEFAULT_MAX_UPDATE_BYTES = 256 * 1024 * 1024;
/** Space left free on the store's file system beyond what an update needs. */
export const FREE_SPACE_MARGIN = 1024 * 1024;

/** What an update says about itself, as far as the store cares. */
export interface UpdateSize {
  name: string;
  version: string;
  size: number;
  sha256: string;
}

/** The file-system calls that write; replaceable in tests (a disk that fills up). */
export interface StoreFs {
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function storeFull(what: { name: string; version: string }, reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_UPDATE_STORE_FULL', `model store: ${reason}`, { model: what.name, version: what.version, reason });
}

/** A write error as the store reports it: a full disk is EDGEML_UPDATE_STORE_FULL, anything else unchanged. */
export function asStoreError(e: unknown, what: { name: string; version: string }): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code && NO_SPACE.has(code) ? storeFull(what, `${code}: ${(e as Error).message}`) : e;
}

/** Writes every byte or throws: a write that lands fewer bytes is retried; one that lands none is a full disk. */
function writeFully(io: StoreFs, fd: number, bytes: Uint8Array, what: { name: string; version: string }): void {
  let at = 0;
  while (at < bytes.byteLength) {
    let n: number;
    try {
      n = io.writeSync(fd, bytes, at, bytes.byteLength - at);
    } catch (e) {
      throw asStoreError(e, what);
    }
    if (!(n > 0)) throw storeFull(what, `wrote ${at} of ${bytes.byteLength} bytes`);
    at += n;
  }
}

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

/**
 * Writes `parts` to a temp file, every write checked, calls `check` (which may throw) and only then
 * renames the file into place: a short write, a full disk or a failed check leaves nothing behind.
 */
function writeAtomic(io: StoreFs, file: string, parts: Iterable<Uint8Array>, what: { name: string; version: string }, check?: (written: number) => void): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let written = 0;
    for (const part of parts) {
      writeFully(io, fd, part, what);
      written += part.byteLength;
    }
    try {
      fsyncSync(fd);
    } catch (e) {
      throw asStoreError(e, what);
    }
    check?.(written);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
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

/** Throws EDGEML_UPDATE_SIZE_MISMATCH or EDGEML_UPDATE_HASH_MISMATCH when an assembled file is not the announced one. */
export function checkAssembled(update: Pick<UpdateSize, 'size' | 'sha256'>, size: number, sha256: string): void {
  if (size !== update.size) {
    throw new EdgeMlError('EDGEML_UPDATE_SIZE_MISMATCH', `assembled ${size} bytes, manifest says ${update.size}`, { size, expected: update.size });
  }
  if (sha256 !== update.sha256) {
    throw new EdgeMlError('EDGEML_UPDATE_HASH_MISMATCH', `assembled file has sha256 ${sha256}, manifest says ${update.sha256}`, { sha256, expected: update.sha256 });
  }
}

/** Bytes free for an unprivileged writer on the file system that holds `dir` (or its nearest existing parent). */
export function freeBytes(dir: string): number | undefined {
  if (typeof fs.statfsSync !== 'function') return undefined; // Node < 18.15
  let at = path.resolve(dir);
  while (!existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  try {
    const s = fs.statfsSync(at);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

export class ModelStore {
  constructor(
    readonly root: string,
    private readonly io: StoreFs = fs,
  ) {}

  /**
   * Refuses an update before a byte of it is received: larger than `maxBytes`
   * (EDGEML_UPDATE_TOO_LARGE), or more than the file system has free (EDGEML_UPDATE_STORE_FULL).
   * While receiving, the chunks and the model file both take the update's size (`have` bytes of
   * chunks may already be there), plus a margin.
   */
  admit(update: UpdateSize, maxBytes = DEFAULT_MAX_UPDATE_BYTES, have = 0): void {
    if (update.size > maxBytes) {
      throw new EdgeMlError('EDGEML_UPDATE_TOO_LARGE', `update ${update.name} ${update.version} has ${update.size} bytes, the limit is ${maxBytes}`, {
        model: update.name,
        version: update.version,
        size: update.size,
        limit: maxBytes,
      });
    }
    const free = freeBytes(this.root);
    const need = 2 * update.size - have + FREE_SPACE_MARGIN;
    if (free !== undefined && free < need) throw storeFull(update, `needs ${need} bytes, ${free} are free`);
  }

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
    const current = state.active ?? state.previous ?? { name, version: '' };
    writeAtomic(this.io, path.join(this.dir(name), 'state.json'), [Buffer.from(JSON.stringify(state, null, 2))], current);
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
    writeAtomic(this.io, path.join(this.dir(name), 'sequence.json'), [Buffer.from(JSON.stringify(record))], { name, version: '' });
  }

  private fileOf(name: string, version: string, sha256: string): string {
    mkdirSync(this.dir(name), { recursive: true });
    return path.join(this.dir(name), `${version}-${sha256.slice(0, 8)}.onnx`);
  }

  /** Writes the model file atomically (every write checked; its hash is the caller's); does not make it active. */
  write(name: string, version: string, sha256: string, bytes: Uint8Array): StoredModel {
    const file = this.fileOf(name, version, sha256);
    writeAtomic(this.io, file, [bytes], { name, version });
    return { name, version, sha256, file, since: new Date().toISOString() };
  }

  /**
   * Streams `parts` into the model file (one part in memory at a time) and renames it into place only
   * when every byte was written and size and sha256 match `update`; does not make it active.
   */
  writeVerified(update: UpdateSize, parts: Iterable<Uint8Array>): StoredModel {
    const { name, version, sha256 } = update;
    const file = this.fileOf(name, version, sha256);
    const hash = createHash('sha256');
    const hashed = function* (): Generator<Uint8Array> {
      for (const part of parts) {
        hash.update(part);
        yield part;
      }
    };
    writeAtomic(this.io, file, hashed(), update, (written) => checkAssembled(update, written, hash.digest('hex')));
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
