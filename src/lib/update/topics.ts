/**
 * MQTT topics of the update and monitoring protocol, all under one prefix (default `edge-ml`):
 *
 *   <prefix>/update/<target>/manifest         host -> devices   manifest JSON (QoS 1)
 *   <prefix>/update/<target>/chunk/<sha256>/<index>  host -> devices  raw chunk bytes (QoS 1)
 *   <prefix>/blob/<sha256>/<index>            host -> devices   chunk bytes by content (retained, QoS 1):
 *                                             a fleet rollout uploads them once; a device subscribes
 *                                             while it receives that file
 *   <prefix>/update/<device>/command          host -> device    {"command":"rollback"|"report"} (QoS 1)
 *   <prefix>/status/<device>/update           device -> host    update state (retained)
 *   <prefix>/status/<device>/model            device -> host    what it runs and how well (retained)
 *
 * <target> is a device id or a group name; a device subscribes to its own id and its groups.
 */
export interface UpdateTopics {
  manifest(target: string): string;
  chunk(target: string, sha256: string, index: number): string;
  chunkFilter(target: string): string;
  blob(sha256: string, index: number): string;
  blobFilter(sha256: string): string;
  command(device: string): string;
  updateStatus(device: string): string;
  modelStatus(device: string): string;
}

export const DEFAULT_PREFIX = 'edge-ml';
const SEGMENT = /^[^/#+]+$/;

export function isValidSegment(value: string): boolean {
  return SEGMENT.test(value);
}

export function updateTopics(prefix = DEFAULT_PREFIX): UpdateTopics {
  const p = prefix.replace(/\/+$/, '');
  return {
    manifest: (t) => `${p}/update/${t}/manifest`,
    chunk: (t, sha, i) => `${p}/update/${t}/chunk/${sha}/${i}`,
    chunkFilter: (t) => `${p}/update/${t}/chunk/+/+`,
    blob: (sha, i) => `${p}/blob/${sha}/${i}`,
    blobFilter: (sha) => `${p}/blob/${sha}/+`,
    command: (d) => `${p}/update/${d}/command`,
    updateStatus: (d) => `${p}/status/${d}/update`,
    modelStatus: (d) => `${p}/status/${d}/model`,
  };
}

/** Splits a chunk topic into its sha256 and index, or undefined if it is not one. */
export function parseChunkTopic(topic: string): { sha256: string; index: number } | undefined {
  const parts = topic.split('/');
  const kind = parts[parts.length - 3];
  if (parts.length < 4 || (kind !== 'chunk' && kind !== 'blob')) return undefined;
  const sha256 = parts[parts.length - 2]!;
  const index = Number(parts[parts.length - 1]);
  if (!/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(index) || index < 0) return undefined;
  return { sha256, index };
}

export type UpdateState = 'receiving' | 'received' | 'verified' | 'active' | 'rejected' | 'rolled-back';

export interface UpdateStatus {
  device: string;
  state: UpdateState;
  name: string;
  version: string;
  sha256: string;
  ts: string;
  /** chunk indexes still missing (state receiving), so the host can send them again */
  missing?: number[];
  code?: string;
  reason?: string;
}
