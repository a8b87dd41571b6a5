/**
 * Reassembles a chunked model transfer on disk, so that a transfer survives a reconnect (and a
 * restart): chunks already received stay in `<dir>/<sha256>/`, duplicates are ignored, a chunk whose
 * hash does not match the manifest is refused on arrival, and `missing()` says what to ask for again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { EdgeMlError } from '../errors';
import { sha256Hex, type UpdateManifest } from './manifest';
import { asStoreError, checkAssembled, type ModelStore, type StoredModel } from './store';

export type ChunkResult = 'stored' | 'duplicate';

export class ChunkAssembler {
  private readonly dir: string;
  private readonly have = new Set<number>();

  constructor(
    readonly manifest: UpdateManifest,
    incomingDir: string,
  ) {
    this.dir = path.join(incomingDir, manifest.sha256);
    mkdirSync(this.dir, { recursive: true });
    for (const f of readdirSync(this.dir)) {
      const index = Number(f);
      if (f === String(index) && index >= 0 && index < manifest.chunks) this.have.add(index);
    }
  }

  get received(): number {
    return this.have.size;
  }

  add(index: number, bytes: Uint8Array): ChunkResult {
    const m = this.manifest;
    if (!Number.isSafeInteger(index) || index < 0 || index >= m.chunks) {
      throw new EdgeMlError('EDGEML_UPDATE_CHUNK_INVALID', `chunk ${index} is outside 0..${m.chunks - 1}`, { index, reason: 'index' });
    }
    if (this.have.has(index)) return 'duplicate';
    const expectedSize = index === m.chunks - 1 ? m.size - m.chunkSize * (m.chunks - 1) : m.chunkSize;
    if (bytes.byteLength !== expectedSize) {
      throw new EdgeMlError('EDGEML_UPDATE_CHUNK_INVALID', `chunk ${index} has ${bytes.byteLength} bytes, expected ${expectedSize}`, {
        index,
        reason: 'size',
      });
    }
    if (sha256Hex(bytes) !== m.chunkSha256[index]) {
      throw new EdgeMlError('EDGEML_UPDATE_CHUNK_INVALID', `chunk ${index} does not match its sha256`, { index, reason: 'sha256' });
    }
    const file = path.join(this.dir, String(index));
    try {
      writeFileSync(file + '.tmp', bytes); // writes every byte or throws (ENOSPC on a full disk)
    } catch (e) {
      rmSync(file + '.tmp', { force: true });
      throw asStoreError(e, m);
    }
    renameSync(file + '.tmp', file);
    this.have.add(index);
    return 'stored';
  }

  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.manifest.chunks; i++) if (!this.have.has(i)) out.push(i);
    return out;
  }

  isComplete(): boolean {
    return this.have.size === this.manifest.chunks;
  }

  /** Bytes of the chunks received so far (they already take space on the disk). */
  get receivedBytes(): number {
    const m = this.manifest;
    let bytes = 0;
    for (const i of this.have) bytes += i === m.chunks - 1 ? m.size - m.chunkSize * (m.chunks - 1) : m.chunkSize;
    return bytes;
  }

  private *parts(): Generator<Buffer> {
    if (!this.isComplete()) {
      throw new EdgeMlError('EDGEML_UPDATE_INCOMPLETE', `${this.missing().length} chunks are still missing`, { missing: this.missing().length });
    }
    for (let i = 0; i < this.manifest.chunks; i++) yield readFileSync(path.join(this.dir, String(i)));
  }

  /**
   * Streams the chunks into the model store, one chunk in memory at a time; the file lands only when
   * every write succeeded and its size and sha256 match the manifest.
   */
  storeInto(store: ModelStore): StoredModel {
    return store.writeVerified(this.manifest, this.parts());
  }

  /** The whole file in memory, checked against the manifest's size and sha256 (tests; the receiver streams with storeInto). */
  assemble(): Buffer {
    const bytes = Buffer.concat([...this.parts()]);
    checkAssembled(this.manifest, bytes.length, sha256Hex(bytes));
    return bytes;
  }

  discard(): void {
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
    this.have.clear();
  }
}
