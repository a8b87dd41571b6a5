/** The onnx-model config node as its users (onnx-infer) see it. */
import path from 'node:path';
import type { Node, NodeDef } from 'node-red';
import type { ModelIdentity } from '../../lib/metrics';
import type { OnnxModelConfig } from './config';
import type { ModelSession, ReloadOutcome } from '../../lib/onnx/model-session';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
export type OnnxModelDef = NodeDef & OnnxModelConfig;

export interface OnnxModelNode extends Node {
  /** The file being served (a delivered update may have replaced the configured one). */
  modelPath: string;
  /** The file the node is configured with, resolved against the user directory. */
  configuredPath: string;
  users: Record<string, Node>;
  session: ModelSession | undefined;
  /** Set when a setting is out of range (e.g. threads): its users refuse every message with it. */
  configError?: Error & { code: string };
  /** Adds a user and returns the shared session (created on the first user). */
  register(user: Node): ModelSession;
  /** Removes a user; the last one out releases the session. */
  deregister(user: Node): Promise<void>;
  reload(): Promise<ReloadOutcome>;
  /** Name, version and sha256 of a model file (lib/onnx/model-file.ts modelIdentity); undefined when unreadable. */
  identify(file: string): ModelIdentity | undefined;
  /** The served model's name (see identify). */
  modelName(): string | undefined;
  /**
   * Switches to another model file (a delivered update): loads it beside the current model, checks
   * it like a hot reload and swaps; rejects with the check's error while the old model keeps serving.
   */
  swapModel(file: string): Promise<void>;
}

export function resolveModelPath(file: string, userDir: string | undefined): string {
  const trimmed = file.trim();
  return path.isAbsolute(trimmed) ? trimmed : path.resolve(userDir ?? process.cwd(), trimmed);
}

