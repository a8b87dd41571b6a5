/**
 * Chooses the ONNX Runtime build that serves the models, once per thread: onnxruntime-node (native;
 * prebuilt for Linux x64/arm64 with glibc, macOS, Windows) or, where that cannot load (32-bit ARM,
 * musl, ...), onnxruntime-web (WebAssembly) if the user has installed it. Neither missing runtime
 * crashes anything: the failure becomes one coded error that says what failed and how to fix it.
 *
 * Environment:
 * - EDGEML_ORT_BACKEND = auto (default) | node | web: which runtime to use (auto: node, else web).
 * - EDGEML_ORT_WASM_THREADS: threads for the WebAssembly runtime (default 1, like the node's default).
 * - EDGEML_ORT_SIMULATE_FAILURE = node | web | node,web: for tests, behave as if that runtime
 *   could not load (the fallback is otherwise untestable on a machine where both work).
 */
import { createRequire } from 'node:module';
import type * as OrtNode from 'onnxruntime-node';
import { EdgeMlError } from '../errors';

/** Both runtimes implement the onnxruntime-common API; onnxruntime-node's typings describe it. */
export type Ort = typeof OrtNode;
export type OrtRuntimeName = 'onnxruntime-node' | 'onnxruntime-web';
export type OrtBackendChoice = 'auto' | 'node' | 'web';

export interface OrtRuntime {
  ort: Ort;
  name: OrtRuntimeName;
  /** Options every session of this runtime needs (the web runtime: its wasm execution provider). */
  sessionOptions: OrtNode.InferenceSession.SessionOptions;
  /** Why onnxruntime-node is not the one serving (set when auto fell back to onnxruntime-web). */
  fallbackReason?: string;
}

export const RUNTIME_UNAVAILABLE = 'EDGEML_ONNX_RUNTIME_UNAVAILABLE';

/** The fix a user can apply, in the words of the README. */
export const RUNTIME_FIX =
  'install onnxruntime-web in the Node-RED user directory (cd ~/.node-red && npm install onnxruntime-web) and restart Node-RED, or use a platform with an onnxruntime-node build (Linux x64/arm64 with glibc, macOS, Windows)';

/** "linux/arm (glibc 2.31)", "linux/x64 (musl)": what decides whether a prebuilt binary exists. */
export function describePlatform(): string {
  let libc = '';
  if (process.platform === 'linux') {
    try {
      const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
      libc = header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'musl or another non-glibc libc';
    } catch {
      libc = 'libc unknown';
    }
  }
  return `${process.platform}/${process.arch}${libc ? ` (${libc})` : ''}, Node.js ${process.version}`;
}

export function backendChoice(env: NodeJS.ProcessEnv = process.env): OrtBackendChoice | undefined {
  const value = (env.EDGEML_ORT_BACKEND ?? 'auto').trim().toLowerCase() || 'auto';
  return value === 'auto' || value === 'node' || value === 'web' ? value : undefined;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
}

type Requirer = (id: string) => unknown;

function attempt(name: OrtRuntimeName, env: NodeJS.ProcessEnv, load: Requirer): { ort: Ort } | { error: string } {
  const simulated = (env.EDGEML_ORT_SIMULATE_FAILURE ?? '').split(',').map((s) => s.trim());
  if (simulated.includes(name.replace('onnxruntime-', ''))) return { error: 'simulated failure (EDGEML_ORT_SIMULATE_FAILURE)' };
  try {
    const ort = load(name) as Ort;
    // A half-installed package can resolve without its API (e.g. a native binding stub).
    if (typeof ort?.InferenceSession?.create !== 'function') return { error: `${name} loaded but has no InferenceSession` };
    return { ort };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' && firstLine(e).includes(`'${name}'`) ? 'not installed' : firstLine(e) };
  }
}

function wasmThreads(env: NodeJS.ProcessEnv): number {
  const n = Math.floor(Number(env.EDGEML_ORT_WASM_THREADS ?? 1));
  return Number.isFinite(n) && n >= 1 ? Math.min(n, 16) : 1;
}

/**
 * Loads the runtime (no cache: see runtime()). `load` resolves package names; by default from this
 * file, which in an installed package walks up to the Node-RED user directory's node_modules.
 */
export function loadOrtRuntime(env: NodeJS.ProcessEnv = process.env, load: Requirer = createRequire(__filename)): OrtRuntime {
  const choice = backendChoice(env);
  if (!choice) {
    const reason = `EDGEML_ORT_BACKEND is "${env.EDGEML_ORT_BACKEND}"; use auto, node or web`;
    throw new EdgeMlError(RUNTIME_UNAVAILABLE, `ONNX Runtime is not available: ${reason}`, { reason, platform: describePlatform(), fix: 'set EDGEML_ORT_BACKEND to auto, node or web' });
  }
  const failures: string[] = [];
  let nodeError: string | undefined;
  if (choice !== 'web') {
    const node = attempt('onnxruntime-node', env, load);
    if ('ort' in node) return { ort: node.ort, name: 'onnxruntime-node', sessionOptions: {} };
    nodeError = node.error;
    failures.push(`onnxruntime-node: ${node.error}`);
  }
  if (choice !== 'node') {
    const web = attempt('onnxruntime-web', env, load);
    if ('ort' in web) {
      // One thread by default, like the node's own default; the wasm build is single-process anyway.
      web.ort.env.wasm.numThreads = wasmThreads(env);
      web.ort.env.wasm.proxy = false;
      const runtime: OrtRuntime = { ort: web.ort, name: 'onnxruntime-web', sessionOptions: { executionProviders: ['wasm'] } };
      if (nodeError !== undefined) runtime.fallbackReason = `onnxruntime-node cannot load on ${describePlatform()}: ${nodeError}`;
      return runtime;
    }
    failures.push(`onnxruntime-web: ${web.error}`);
  }
  const platform = describePlatform();
  const reason = failures.join('; ');
  const fix = choice === 'node' ? `${RUNTIME_FIX}; EDGEML_ORT_BACKEND=node rules out onnxruntime-web` : RUNTIME_FIX;
  throw new EdgeMlError(RUNTIME_UNAVAILABLE, `ONNX Runtime cannot load on ${platform} (${reason}). Fix: ${fix}`, { reason, platform, fix });
}

let cached: { runtime: OrtRuntime } | { error: EdgeMlError } | undefined;

/** The runtime of this thread, chosen on first use; a failure is kept too (a native addon does not load on retry). */
export function runtime(): OrtRuntime {
  if (!cached) {
    try {
      cached = { runtime: loadOrtRuntime() };
    } catch (e) {
      cached = { error: e instanceof EdgeMlError ? e : new EdgeMlError(RUNTIME_UNAVAILABLE, firstLine(e), { reason: firstLine(e), platform: describePlatform(), fix: RUNTIME_FIX }) };
    }
  }
  if ('error' in cached) throw cached.error;
  return cached.runtime;
}
