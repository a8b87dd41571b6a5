/**
 * The model update manifest: what a host announces before it sends a model's bytes. The signature
 * (Ed25519) covers the canonical JSON of every other field, so a device that holds the public key
 * can trust name, version, size, hash and targets before it stores a single chunk.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { EdgeMlError } from '../errors';

export const MANIFEST_FORMAT = 'edge-ml-update/1';

export interface UpdateManifest {
  format: typeof MANIFEST_FORMAT;
  name: string;
  version: string;
  size: number;
  sha256: string;
  chunkSize: number;
  chunks: number;
  /** sha256 of each chunk, so a corrupted chunk is caught (and asked for again) on arrival. */
  chunkSha256: string[];
  /** Device ids or group names this update is for; absent means every device that receives it. */
  targets?: string[];
  createdAt: string;
  /**
   * Monotonic per model name: a device refuses a manifest older than the newest it accepted
   * (replay). Absent in manifests of older publishers: their createdAt (ms since 1970) stands in.
   */
  sequence?: number;
  /** After this time the device refuses the manifest. */
  expiresAt?: string;
  /** A version lower than the device runs is refused unless the (signed) manifest says so. */
  downgrade?: boolean;
  /** base64 Ed25519 signature over canonicalManifest(manifest). */
  signature?: string;
}

/**
 * Default bytes per chunk: well below common broker packet limits (mosquitto's default is 256 MB,
 * EMQX's documented max_packet_size example 1 MB, AWS IoT Core 128 KB is the one it exceeds).
 */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function invalid(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_UPDATE_MANIFEST_INVALID', `invalid update manifest: ${reason}`, { reason });
}

/** Validates an untrusted manifest (parsed JSON). Names and versions become file names: keep them safe. */
export function parseManifest(raw: unknown): UpdateManifest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('not an object');
  const m = raw as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) throw invalid(`format must be "${MANIFEST_FORMAT}"`);
  for (const key of ['name', 'version'] as const) {
    if (typeof m[key] !== 'string' || !SAFE_NAME.test(m[key] as string)) throw invalid(`${key} must be 1-100 of A-Z a-z 0-9 . _ -`);
  }
  const int = (key: string, min: number): number => {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(`${key} must be an integer >= ${min}`);
    return v;
  };
  const size = int('size', 1);
  const chunkSize = int('chunkSize', 1);
  const chunks = int('chunks', 1);
  if (chunks !== Math.ceil(size / chunkSize)) throw invalid('chunks does not match size / chunkSize');
  if (typeof m.sha256 !== 'string' || !HEX64.test(m.sha256)) throw invalid('sha256 must be 64 lowercase hex digits');
  if (!Array.isArray(m.chunkSha256) || m.chunkSha256.length !== chunks || !m.chunkSha256.every((h) => typeof h === 'string' && HEX64.test(h))) {
    throw invalid('chunkSha256 must list one sha256 per chunk');
  }
  if (m.targets !== undefined && (!Array.isArray(m.targets) || !m.targets.every((t) => typeof t === 'string' && t.length > 0))) {
    throw invalid('targets must be an array of names');
  }
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt))) throw invalid('createdAt must be an ISO 8601 time');
  if (m.signature !== undefined && (typeof m.signature !== 'string' || m.signature.length === 0)) throw invalid('signature must be base64');
  if (m.sequence !== undefined && (typeof m.sequence !== 'number' || !Number.isSafeInteger(m.sequence) || m.sequence < 0)) {
    throw invalid('sequence must be an integer >= 0');
  }
  if (m.expiresAt !== undefined && (typeof m.expiresAt !== 'string' || Number.isNaN(Date.parse(m.expiresAt)))) throw invalid('expiresAt must be an ISO 8601 time');
  if (m.downgrade !== undefined && typeof m.downgrade !== 'boolean') throw invalid('downgrade must be true or false');
  const manifest: UpdateManifest = {
    format: MANIFEST_FORMAT,
    name: m.name as string,
    version: m.version as string,
    size,
    sha256: m.sha256,
    chunkSize,
    chunks,
    chunkSha256: m.chunkSha256 as string[],
    createdAt: m.createdAt,
  };
  if (m.targets !== undefined) manifest.targets = m.targets as string[];
  if (m.sequence !== undefined) manifest.sequence = m.sequence as number;
  if (m.expiresAt !== undefined) manifest.expiresAt = m.expiresAt as string;
  if (m.downgrade !== undefined) manifest.downgrade = m.downgrade as boolean;
  if (m.signature !== undefined) manifest.signature = m.signature as string;
  return manifest;
}

/** Stable bytes to sign: JSON with keys sorted, the signature left out. */
export function canonicalManifest(manifest: UpdateManifest): Buffer {
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value as object)
          .sort()
          .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
      );
    }
    return value;
  };
  const { signature: _signature, ...unsigned } = manifest;
  return Buffer.from(JSON.stringify(sortKeys(unsigned)), 'utf8');
}

function toKey(pem: string | KeyObject, kind: 'public' | 'private'): KeyObject {
  if (typeof pem !== 'string') return pem;
  try {
    return kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
  } catch (e) {
    throw new EdgeMlError('EDGEML_UPDATE_KEY_INVALID', `the ${kind} key is not a PEM Ed25519 key: ${(e as Error).message}`, { kind });
  }
}

export function signManifest(manifest: UpdateManifest, privateKey: string | KeyObject): UpdateManifest {
  const key = toKey(privateKey, 'private');
  if (key.asymmetricKeyType !== 'ed25519') throw new EdgeMlError('EDGEML_UPDATE_KEY_INVALID', 'the private key is not Ed25519', { kind: 'private' });
  return { ...manifest, signature: sign(null, canonicalManifest(manifest), key).toString('base64') };
}

/** Throws EDGEML_UPDATE_SIGNATURE_INVALID unless the manifest carries a valid signature of `publicKey`. */
export function verifyManifest(manifest: UpdateManifest, publicKey: string | KeyObject): void {
  const key = toKey(publicKey, 'public');
  if (key.asymmetricKeyType !== 'ed25519') throw new EdgeMlError('EDGEML_UPDATE_KEY_INVALID', 'the public key is not Ed25519', { kind: 'public' });
  const ok = manifest.signature !== undefined && verify(null, canonicalManifest(manifest), key, Buffer.from(manifest.signature, 'base64'));
  if (!ok) {
    throw new EdgeMlError('EDGEML_UPDATE_SIGNATURE_INVALID', `the signature of ${manifest.name} ${manifest.version} does not verify`, {
      name: manifest.name,
      version: manifest.version,
    });
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Builds the manifest and chunks for a model file (host side). */
export function prepareUpdate(
  bytes: Uint8Array,
  options: {
    name: string;
    version: string;
    chunkSize?: number;
    targets?: string[];
    createdAt?: string;
    sequence?: number;
    expiresAt?: string;
    downgrade?: boolean;
  },
): { manifest: UpdateManifest; chunks: Buffer[] } {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: Buffer[] = [];
  for (let at = 0; at < buf.length; at += chunkSize) chunks.push(buf.subarray(at, Math.min(buf.length, at + chunkSize)));
  const manifest: UpdateManifest = {
    format: MANIFEST_FORMAT,
    name: options.name,
    version: options.version,
    size: buf.length,
    sha256: sha256Hex(buf),
    chunkSize,
    chunks: chunks.length,
    chunkSha256: chunks.map(sha256Hex),
    createdAt: options.createdAt ?? new Date().toISOString(),
  };
  manifest.sequence = options.sequence ?? Date.parse(manifest.createdAt);
  if (options.targets) manifest.targets = options.targets;
  if (options.expiresAt) manifest.expiresAt = options.expiresAt;
  if (options.downgrade) manifest.downgrade = true;
  return { manifest: parseManifest(manifest), chunks };
}

export function isForDevice(manifest: UpdateManifest, deviceId: string, groups: readonly string[]): boolean {
  if (!manifest.targets) return true;
  return manifest.targets.includes(deviceId) || manifest.targets.some((t) => groups.includes(t));
}

/** The manifest's place in the order of its model name's manifests (replay protection). */
export function manifestSequence(manifest: Pick<UpdateManifest, 'sequence' | 'createdAt'>): number {
  return manifest.sequence ?? Date.parse(manifest.createdAt);
}

/**
 * Orders version strings: dot/dash separated parts, numeric parts by value, others as text, a
 * release above its pre-release ("2.0.0" > "2.0.0-rc1"). Negative when a < b.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): { main: string[]; pre: string } => {
    const dash = v.indexOf('-');
    return { main: (dash < 0 ? v : v.slice(0, dash)).split('.'), pre: dash < 0 ? '' : v.slice(dash + 1) };
  };
  const part = (x: string | undefined, y: string | undefined): number => {
    const nx = x !== undefined && /^\d+$/.test(x) ? Number(x) : undefined;
    const ny = y !== undefined && /^\d+$/.test(y) ? Number(y) : undefined;
    if (nx !== undefined && ny !== undefined) return nx - ny;
    if (x === undefined) return y === undefined ? 0 : -1;
    if (y === undefined) return 1;
    if (nx !== undefined) return -1; // numbers before text
    if (ny !== undefined) return 1;
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const va = split(a);
  const vb = split(b);
  for (let i = 0; i < Math.max(va.main.length, vb.main.length); i++) {
    const c = part(va.main[i], vb.main[i]);
    if (c !== 0) return c;
  }
  if (va.pre === vb.pre) return 0;
  if (!va.pre) return 1;
  if (!vb.pre) return -1;
  const pa = va.pre.split('.');
  const pb = vb.pre.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const c = part(pa[i], pb[i]);
    if (c !== 0) return c;
  }
  return 0;
}
