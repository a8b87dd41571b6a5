/**
 * Where model files may be read from on behalf of an editor user, and how they are read without
 * trusting the path: confinement to the Node-RED user directory, the package's own example models
 * and folders the administrator adds in settings.js (`edgeMl.modelDirs`), with symlinks resolved
 * before the check; only regular files are read (a FIFO or a device never blocks a thread of Node's
 * file pool), and never more than a size limit.
 *
 * Used by the editor's admin endpoints (model-info; the model picker and upload) and by the model
 * session's loader (regular files and the size limit only: a deployed flow names its own path).
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { EdgeMlError } from '../errors';

/** The part of Node-RED's settings (settings.js) this package reads. */
export interface EdgeMlSettings {
  userDir?: string;
  edgeMl?: {
    /** More folders the editor may read models from, besides the user directory and the example models. */
    modelDirs?: unknown;
  };
}

/** Largest model file the editor's endpoints read, unless settings.js says otherwise: 256 MiB. */
export const DEFAULT_MODEL_INFO_MAX_BYTES = 256 * 1024 * 1024;
/** Largest model file a session loads: protobuf itself cannot describe a larger message (2 GiB). */
export const MODEL_LOAD_MAX_BYTES = 2 ** 31 - 1;

/** Folders of example models inside the package (models/; examples/models in 0.1.x). */
export function packageModelDirs(packageRoot: string): string[] {
  return [path.join(packageRoot, 'examples', 'models'), path.join(packageRoot, 'models')];
}

/**
 * The folders an editor user may read models from: the user directory (the current directory when
 * Node-RED reports none), the package's example models and `edgeMl.modelDirs` from settings.js.
 */
export function modelDirs(settings: EdgeMlSettings, packageRoot: string): string[] {
  const base = settings.userDir ?? process.cwd();
  const extra = settings.edgeMl?.modelDirs;
  const added = Array.isArray(extra) ? extra.filter((d): d is string => typeof d === 'string' && d.trim() !== '') : [];
  return [base, ...packageModelDirs(packageRoot), ...added.map((d) => path.resolve(base, d.trim()))];
}

/** True when `file` is `dir` itself or lies below it (both absolute, already resolved). */
export function isInsideDir(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The real path of `requested` (relative paths against the first folder, the user directory) when
 * it lies inside one of `dirs` after every symlink is resolved; undefined when it does not, or when
 * it does not exist (the caller answers both alike, so nobody can probe for files outside).
 */
export async function confineModelPath(requested: string, dirs: readonly string[]): Promise<string | undefined> {
  const trimmed = requested.trim();
  if (trimmed === '' || trimmed.includes('\0') || dirs.length === 0) return undefined;
  const absolute = path.isAbsolute(trimmed) ? trimmed : path.resolve(dirs[0]!, trimmed);
  let real: string;
  try {
    real = await realpath(absolute);
  } catch {
    return undefined;
  }
  for (const dir of dirs) {
    let realDir: string;
    try {
      realDir = await realpath(dir);
    } catch {
      continue; // a folder that does not exist holds nothing
    }
    if (isInsideDir(realDir, real)) return real;
  }
  return undefined;
}

/** Why a file was not read: `missing` covers absent, unreadable and not-a-regular-file alike. */
export type ReadRefusal = 'missing' | 'too-large';

/** Thrown by readRegularFile; `refusal` lets an endpoint answer without telling more than it should. */
export class ModelFileRefused extends EdgeMlError {
  constructor(
    readonly refusal: ReadRefusal,
    file: string,
    reason: string,
    extra: Record<string, number> = {},
  ) {
    super(refusal === 'too-large' ? 'EDGEML_ONNX_MODEL_TOO_LARGE' : 'EDGEML_ONNX_LOAD_FAILED', `cannot read model ${file}: ${reason}`, {
      path: file,
      reason,
      ...extra,
    });
  }
}

// O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer (which
// would hold one of libuv's four file threads, and with four such requests every fs call of the
// process; or, read synchronously, the event loop itself). Not defined on Windows, where there are
// no FIFOs to open this way. O_NOFOLLOW for paths already resolved by confineModelPath: a symlink
// put in their place after the check is refused instead of followed.
const NONBLOCK = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);
const NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0;

export interface ReadOptions {
  /** Refuse a symbolic link as the last path component (for paths that confineModelPath resolved). */
  noFollow?: boolean;
}

function openFlags(options: ReadOptions): number {
  return options.noFollow ? NONBLOCK | NOFOLLOW : NONBLOCK;
}

function openRefused(file: string, e: unknown): ModelFileRefused {
  const code = (e as NodeJS.ErrnoException).code;
  return new ModelFileRefused('missing', file, code === 'ENOENT' ? 'file not found' : code === 'ELOOP' ? 'a symbolic link' : (e as Error).message);
}

/** The buffer for a file that fstat says is a regular file of at most maxBytes. */
function bufferFor(file: string, info: Stats, maxBytes: number): Uint8Array {
  if (!info.isFile()) throw new ModelFileRefused('missing', file, 'not a regular file');
  if (info.size > maxBytes) throw new ModelFileRefused('too-large', file, `larger than ${maxBytes} bytes`, { size: info.size, max: maxBytes });
  // Exactly the size fstat gave (its own buffer, so it can be transferred to a worker as is).
  return new Uint8Array(info.size);
}

function checkComplete(file: string, filled: number, size: number, beyond: number): void {
  if (filled !== size || beyond !== 0) throw new ModelFileRefused('missing', file, 'the file changed while it was read');
}

/**
 * Reads a regular file of at most `maxBytes`. Opened without blocking, checked with fstat on the
 * open descriptor (the file read is the file checked), read to the size fstat gave (a file that
 * grows or shrinks meanwhile is refused, never read past the limit).
 */
export async function readRegularFile(file: string, maxBytes: number, options: ReadOptions = {}): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, openFlags(options));
  } catch (e) {
    throw openRefused(file, e);
  }
  try {
    const bytes = bufferFor(file, await handle.stat(), maxBytes);
    let filled = 0;
    for (let n = -1; filled < bytes.length && n !== 0; filled += n) n = (await handle.read(bytes, filled, bytes.length - filled, filled)).bytesRead;
    checkComplete(file, filled, bytes.length, (await handle.read(new Uint8Array(1), 0, 1, filled)).bytesRead);
    return bytes;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** readRegularFile for the main thread's quick looks (a model's name): a FIFO never blocks the event loop. */
export function readRegularFileSync(file: string, maxBytes: number, options: ReadOptions = {}): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, openFlags(options));
  } catch (e) {
    throw openRefused(file, e);
  }
  try {
    const bytes = bufferFor(file, fstatSync(fd), maxBytes);
    let filled = 0;
    for (let n = -1; filled < bytes.length && n !== 0; filled += n) n = readSync(fd, bytes, filled, bytes.length - filled, filled);
    checkComplete(file, filled, bytes.length, readSync(fd, new Uint8Array(1), 0, 1, filled));
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** Whether `file` is a regular file (stat follows symlinks; for listings, not for reading). */
export async function isRegularFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
