/** The onnx-model config node as its users (onnx-infer) see it. */
import path from 'node:path';
import type { Node, NodeDef } from 'node-red';
import type { ModelSession, ReloadOutcome } from '../../lib/onnx/model-session';

export interface OnnxModelDef extends NodeDef {
  path: string;
  watch: boolean;
  threads: number | string;
}

export interface OnnxModelNode extends Node {
  modelPath: string;
  users: Record<string, Node>;
  session: ModelSession | undefined;
  /** Adds a user and returns the shared session (created on the first user). */
  register(user: Node): ModelSession;
  /** Removes a user; the last one out releases the session. */
  deregister(user: Node): Promise<void>;
  reload(): Promise<ReloadOutcome>;
}

export function resolveModelPath(file: string, userDir: string | undefined): string {
  const trimmed = file.trim();
  return path.isAbsolute(trimmed) ? trimmed : path.resolve(userDir ?? process.cwd(), trimmed);
}

