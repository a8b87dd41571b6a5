/**
 * The editor's model picker: which .onnx files a user may choose (GET /edge-ml/models), and an
 * upload that writes one into the user directory (POST /edge-ml/models?name=<file>.onnx).
 *
 * - Listing needs `onnx-model.read`, upload `onnx-model.write` (Node-RED's adminAuth permissions).
 * - The list covers the folders model-paths allows (the user directory, the package's models,
 *   settings.js `edgeMl.modelDirs`), a few levels deep, never node_modules or hidden folders,
 *   bounded in entries visited and files listed.
 * - An upload is written only to <userDir>/models/, under a sanitized name (letters, digits, . _ -,
 *   ending in .onnx), never over an existing file, within a size limit (settings.js
 *   `edgeMl.uploadMaxBytes`, default 64 MiB), and only when the bytes parse as an ONNX model. It is
 *   written to a temporary file first and renamed, so a half-written model never appears.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { readModelInfo } from '../../lib/onnx/model-file';
import { modelDirs, type EdgeMlSettings } from '../../lib/onnx/model-paths';
import { edgeMlSetting } from '../shared/settings';
import { toNodeError } from '../shared/runtime';

export const DEFAULT_UPLOAD_MAX_BYTES = 64 * 1024 * 1024;
const MAX_DEPTH = 3;
const MAX_VISITED = 5000;
const MAX_LISTED = 500;

export interface ModelFileEntry {
  /** What to put in the onnx-model's path: relative to the user directory when inside it. */
  path: string;
  name: string;
  sizeBytes: number;
  source: 'user' | 'package' | 'settings';
}

/** A file name safe to write: its last path part, letters/digits/._- only, ending in .onnx; else undefined. */
export function sanitizeModelName(requested: string): string | undefined {
  const base = String(requested ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.]+/, '');
  if (cleaned.length < 6 || cleaned.length > 128 || !/\.onnx$/i.test(cleaned)) return undefined;
  return cleaned;
}

/** The .onnx files in `dirs`, depth- and count-bounded. */
export async function listModelFiles(dirs: readonly string[], userDir: string): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  const seen = new Set<string>();
  let visited = 0;
  const walk = async (dir: string, depth: number, source: ModelFileEntry['source']): Promise<void> => {
    if (depth > MAX_DEPTH || visited > MAX_VISITED || out.length >= MAX_LISTED) return;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (++visited > MAX_VISITED || out.length >= MAX_LISTED) return;
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full, depth + 1, source);
      else if (e.isFile() && /\.onnx$/i.test(e.name) && !seen.has(full)) {
        seen.add(full);
        const size = await stat(full).then((s) => s.size, () => -1);
        if (size < 0) continue;
        const rel = path.relative(userDir, full);
        const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
        out.push({ path: inside ? rel : full, name: e.name, sizeBytes: size, source });
      }
    }
  };
  for (const [i, dir] of dirs.entries()) await walk(dir, 0, i === 0 ? 'user' : i <= 2 ? 'package' : 'settings');
  return out;
}

/** The request body, up to `maxBytes` (EDGEML_ONNX_UPLOAD_TOO_LARGE beyond it). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(new EdgeMlError('EDGEML_ONNX_UPLOAD_TOO_LARGE', `the upload is larger than ${maxBytes} bytes`, { max: maxBytes }));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new EdgeMlError('EDGEML_ONNX_UPLOAD_TOO_LARGE', `the upload is larger than ${maxBytes} bytes`, { max: maxBytes }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const STATUS: Record<string, number> = {
  EDGEML_ONNX_UPLOAD_NAME: 400,
  EDGEML_ONNX_UPLOAD_EXISTS: 409,
  EDGEML_ONNX_UPLOAD_TOO_LARGE: 413,
  EDGEML_ONNX_MODEL_INVALID: 422,
};

/** Registers the picker's endpoints on Node-RED's admin API. */
export function registerModelFileEndpoints(RED: NodeAPI, packageRoot: string): void {
  const settings = (): EdgeMlSettings & { edgeMl?: { uploadMaxBytes?: unknown } } => RED.settings as unknown as EdgeMlSettings;
  const userDir = (): string => settings().userDir ?? process.cwd();

  RED.httpAdmin.get('/edge-ml/models', RED.auth.needsPermission('onnx-model.read'), (_req, res) => {
    listModelFiles(modelDirs(settings(), packageRoot), userDir()).then(
      (files) => res.json({ files }),
      (e: unknown) => res.status(500).json({ code: 'EDGEML_INTERNAL', message: String((e as Error).message ?? e) }),
    );
  });

  RED.httpAdmin.post('/edge-ml/models', RED.auth.needsPermission('onnx-model.write'), (req, res) => {
    const fail = (e: unknown): void => {
      const err = toNodeError(RED, e);
      res.status(STATUS[err.code] ?? 500).json({ code: err.code, message: err.message, params: err.params });
    };
    const upload = async (): Promise<ModelFileEntry> => {
      const name = sanitizeModelName(String(req.query.name ?? ''));
      if (!name) throw new EdgeMlError('EDGEML_ONNX_UPLOAD_NAME', 'the file name must end in .onnx', { name: String(req.query.name ?? '') });
      const bytes = await readBody(req, edgeMlSetting(RED, 'uploadMaxBytes', DEFAULT_UPLOAD_MAX_BYTES));
      try {
        readModelInfo(bytes); // refuses what is not an ONNX model, with its reason
      } catch (e) {
        throw e instanceof EdgeMlError ? e : new EdgeMlError('EDGEML_ONNX_MODEL_INVALID', 'not an ONNX model', { reason: String((e as Error).message ?? e) });
      }
      const dir = path.join(userDir(), 'models');
      await mkdir(dir, { recursive: true });
      const target = path.join(dir, name);
      const exists = await stat(target).then(() => true, () => false);
      if (exists) throw new EdgeMlError('EDGEML_ONNX_UPLOAD_EXISTS', `models/${name} exists already`, { name });
      const temp = path.join(dir, `.${name}.${randomBytes(4).toString('hex')}.part`);
      try {
        await writeFile(temp, bytes, { flag: 'wx' });
        await rename(temp, target);
      } finally {
        await rm(temp, { force: true });
      }
      return { path: path.relative(userDir(), target), name, sizeBytes: bytes.length, source: 'user' };
    };
    upload().then((file) => res.json({ file }), fail);
  });
}
