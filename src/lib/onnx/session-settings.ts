/**
 * How an onnx-model node asks ONNX Runtime to run its model: execution providers in order of
 * preference (CPU always last), thread counts, graph optimization level and the CPU memory arena.
 *
 * An execution provider is offered only by some builds on some platforms (CUDA and TensorRT by
 * onnxruntime-node on Linux x64 once its GPU libraries are installed, CoreML on macOS, DirectML on
 * Windows; WebGPU where a GPU adapter (Vulkan, Metal, D3D12) is present; XNNPACK only in builds
 * that include it, which the npm ones do not). A provider that is named but cannot start
 * on this device is skipped with a reason, and the next one is tried; CPU always works. A name
 * that is no execution provider at all is a configuration error (EDGEML_ONNX_PROVIDER_UNKNOWN).
 */
import { EdgeMlError } from '../errors';

/** Execution provider names as onnxruntime-node / onnxruntime-web spell them. */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'coreml', 'dml', 'webgpu', 'xnnpack'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

export interface SessionSettings {
  /** Preferred providers, best first; 'cpu' is appended when missing. */
  providers: ExecutionProvider[];
  /** Intra-op threads (0: one per core). */
  threads: number;
  /** Inter-op threads (0: ONNX Runtime's default). */
  interOpThreads: number;
  graphOptimization: GraphOptimizationLevel;
  /** ONNX Runtime's CPU memory arena: faster allocation, memory it keeps once grown. */
  memoryArena: boolean;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = { providers: ['cpu'], threads: 1, interOpThreads: 1, graphOptimization: 'all', memoryArena: true };

/** Aliases users type for the same provider. */
const ALIASES: Record<string, ExecutionProvider> = { directml: 'dml', gpu: 'cuda', trt: 'tensorrt', wasm: 'cpu' };

/** "cuda, cpu" -> ['cuda', 'cpu']; blank -> ['cpu']. Throws EDGEML_ONNX_PROVIDER_UNKNOWN for a name that is none. */
export function parseProviders(value: unknown): ExecutionProvider[] {
  const text = Array.isArray(value) ? value.join(',') : value === undefined || value === null ? '' : String(value);
  const names = text
    .split(/[\s,;]+/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .map((s) => ALIASES[s] ?? s);
  const out: ExecutionProvider[] = [];
  for (const name of names) {
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(name)) {
      throw new EdgeMlError('EDGEML_ONNX_PROVIDER_UNKNOWN', `unknown execution provider "${name}" (one of ${EXECUTION_PROVIDERS.join(', ')})`, {
        provider: name,
        known: EXECUTION_PROVIDERS.join(', '),
      });
    }
    if (!out.includes(name as ExecutionProvider)) out.push(name as ExecutionProvider);
  }
  if (!out.includes('cpu')) out.push('cpu');
  return out;
}

export function parseGraphOptimization(value: unknown): GraphOptimizationLevel {
  const v = value === undefined || value === null || value === '' ? 'all' : String(value);
  if (!(GRAPH_OPTIMIZATION_LEVELS as readonly string[]).includes(v)) {
    throw new EdgeMlError('EDGEML_CONFIG_CHOICE', `graph optimization must be one of ${GRAPH_OPTIMIZATION_LEVELS.join(', ')}, not "${v}"`, {
      setting: 'graphOptimization',
      value: v,
      choices: GRAPH_OPTIMIZATION_LEVELS.join(', '),
    });
  }
  return v as GraphOptimizationLevel;
}

/**
 * Where a provider can be offered by the prebuilt runtimes at all (platform/arch); elsewhere it is
 * skipped without asking ONNX Runtime. Whether it really starts is only known when a session tries it.
 */
export function providerPossibleHere(provider: ExecutionProvider, runtime: 'onnxruntime-node' | 'onnxruntime-web', platform = process.platform, arch = process.arch): string | undefined {
  const here = `${platform}/${arch}`;
  if (provider === 'cpu') return undefined;
  if (runtime === 'onnxruntime-web') return provider === 'webgpu' || provider === 'xnnpack' ? undefined : `${provider} is not offered by onnxruntime-web`;
  switch (provider) {
    case 'cuda':
      return (platform === 'linux' || platform === 'win32') && arch === 'x64' ? undefined : `CUDA needs Linux or Windows on x64 (this is ${here})`;
    case 'tensorrt':
      return platform === 'linux' && arch === 'x64' ? undefined : `TensorRT needs Linux on x64 (this is ${here})`;
    case 'coreml':
      return platform === 'darwin' ? undefined : `CoreML needs macOS (this is ${here})`;
    case 'dml':
      return platform === 'win32' ? undefined : `DirectML needs Windows (this is ${here})`;
    default:
      // webgpu, xnnpack: only a session can tell whether this build and device have them
      return undefined;
  }
}

/** ONNX Runtime session options for one provider (the rest of the settings shared). */
export function sessionOptionsFor(settings: SessionSettings, provider: ExecutionProvider, base: Record<string, unknown> = {}): Record<string, unknown> {
  const options: Record<string, unknown> = {
    ...base,
    graphOptimizationLevel: settings.graphOptimization,
    enableCpuMemArena: settings.memoryArena,
    executionProviders: [provider],
  };
  if (settings.threads > 0) options.intraOpNumThreads = settings.threads;
  if (settings.interOpThreads > 0) options.interOpNumThreads = settings.interOpThreads;
  return options;
}

export interface ProviderAttempt {
  provider: ExecutionProvider;
  reason: string;
}

export interface ProviderChoice<S> {
  session: S;
  provider: ExecutionProvider;
  /** Providers tried before the one that serves, and why each was skipped. */
  skipped: ProviderAttempt[];
}

/**
 * Creates a session with the first provider of the preference list that starts; a provider that
 * cannot run here (or whose session fails to start) is skipped with its reason. The last error
 * (of CPU, which is always in the list) is thrown when none starts.
 */
export async function createWithProviders<S>(
  settings: SessionSettings,
  runtime: 'onnxruntime-node' | 'onnxruntime-web',
  create: (options: Record<string, unknown>) => Promise<S>,
  base: Record<string, unknown> = {},
): Promise<ProviderChoice<S>> {
  const skipped: ProviderAttempt[] = [];
  const providers = settings.providers.includes('cpu') ? settings.providers : [...settings.providers, 'cpu' as const];
  let lastError: unknown;
  for (const provider of providers) {
    const impossible = providerPossibleHere(provider, runtime);
    if (impossible !== undefined) {
      skipped.push({ provider, reason: impossible });
      continue;
    }
    try {
      // onnxruntime-web names its CPU provider "wasm"
      const name = provider === 'cpu' && runtime === 'onnxruntime-web' ? 'wasm' : provider;
      const options = sessionOptionsFor(settings, provider, base);
      options.executionProviders = [name];
      return { session: await create(options), provider, skipped };
    } catch (e) {
      lastError = e;
      if (provider === 'cpu') break;
      skipped.push({ provider, reason: ((e as Error).message ?? String(e)).split('\n')[0]! });
    }
  }
  throw lastError;
}

/** One line for the log and the editor: which providers were skipped and why. */
export function describeSkipped(skipped: readonly ProviderAttempt[]): string {
  return skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
}
