/**
 * The package's limits that a user may change in Node-RED's settings.js, under one key:
 *
 *   edgeMl: { maxMessageDepth: 64, maxUpdateBytes: 268435456, guardFeatureTable: 256, maxInputBytes: 67108864 }
 *
 * docs/limits.md lists every one with its default. A value that is not a positive integer is
 * ignored (the default applies) with a warning in the log, so a typo never lifts a limit.
 */
import type { NodeAPI } from 'node-red';

export interface EdgeMlSettings {
  maxMessageDepth?: number;
  maxUpdateBytes?: number;
  guardFeatureTable?: number;
  /** Largest input one message may bring into onnx-infer (bytes of tensor data). */
  maxInputBytes?: number;
  /** Largest model file the editor's model-info endpoint reads. */
  modelInfoMaxBytes?: number;
  /** Input bytes that may wait in one onnx-infer node's queue. */
  maxQueuedBytes?: number;
  /** Largest model file the editor may upload into <userDir>/models. */
  uploadMaxBytes?: number;
}

const warned = new Set<string>();

export function edgeMlSetting(RED: NodeAPI, name: keyof EdgeMlSettings, fallback: number): number {
  let all: unknown;
  try {
    all = (RED.settings as unknown as { edgeMl?: unknown }).edgeMl;
  } catch {
    return fallback;
  }
  if (typeof all !== 'object' || all === null) return fallback;
  const v: unknown = (all as Record<string, unknown>)[name];
  if (v === undefined) return fallback;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  if (!warned.has(name)) {
    warned.add(name);
    RED.log.warn(`node-red-contrib-edge-ml: settings edgeMl.${name} = ${String(v)} is not a positive integer; using ${fallback}`);
  }
  return fallback;
}
