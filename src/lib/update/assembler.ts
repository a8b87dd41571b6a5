/**
 * Reassembles a chunked model transfer on disk, so that a transfer survives a reconnect (and a
 * restart): chunks already received stay in `<dir>/<sha256>/`, duplicates are ignored, a chunk whose
 * hash does not match the manifest is refused on arrival, and `missing()` says what to ask for again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { EdgeMlError } from '../errors';
import { sha256Hex, type UpdateManifest } from './manifest';

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
    writeFileSync(file + '.tmp', bytes);
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

  /** The whole file, checked against the manifest's size and sha256. */
  assemble(): Buffer {
    if (!this.isComplete()) {
      throw new EdgeMlError('EDGEML_UPDATE_INCOMPLETE', `${this.missing().length} chunks are still missing`, { missing: this.missing().length });
    }
    const parts: Buffer[] = [];
    for (let i = 0; i < this.manifest.chunks; i++) parts.push(readFileSync(path.join(this.dir, String(i))));
    const bytes = Buffer.concat(parts);
    if (bytes.length !== this.manifest.size) {
      throw new EdgeMlError('EDGEML_UPDATE_SIZE_MISMATCH', `assembled ${bytes.length} bytes, manifest says ${this.manifest.size}`, {
        size: bytes.length,
        expected: this.manifest.size,
      });
    }
    const hash = sha256Hex(bytes);
    if (hash !== this.manifest.sha256) {
      throw new EdgeMlError('EDGEML_UPDATE_HASH_MISMATCH', `assembled file has sha256 ${hash}, manifest says ${this.manifest.sha256}`, {
        sha256: hash,
        expected: this.manifest.sha256,
      });
    }
    return bytes;
  }

  discard(): void {
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
    this.have.clear();
  }
}
