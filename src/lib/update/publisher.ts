/**
 * Host side of a model update: announces a manifest, sends the chunks, answers devices that report
 * missing chunks (after a reconnect or a broker restart) by sending those again, and resolves when
 * every awaited device reports the new version active, or rejects when one refuses it.
 */
import type { MqttClient } from 'mqtt';
import { EdgeMlError } from '../errors';
import type { UpdateManifest } from './manifest';
import { updateTopics, type UpdateStatus } from './topics';

export interface PublishOptions {
  client: MqttClient;
  manifest: UpdateManifest;
  chunks: Buffer[];
  /** Device ids or group names the update is published to. */
  targets: string[];
  /** Device ids to wait for; empty means do not wait. */
  waitFor: string[];
  prefix?: string;
  timeoutMs?: number;
  onStatus?: (status: UpdateStatus) => void;
}

export interface PublishResult {
  active: string[];
  rejected: Array<{ device: string; code?: string; reason?: string }>;
}

async function sendChunks(client: MqttClient, topicFor: (index: number) => string, chunks: Buffer[], indexes: number[]): Promise<void> {
  for (const i of indexes) {
    const chunk = chunks[i];
    if (chunk) await client.publishAsync(topicFor(i), chunk, { qos: 1 });
  }
}

export async function publishUpdate(options: PublishOptions): Promise<PublishResult> {
  const { client, manifest, chunks, targets, waitFor } = options;
  const topics = updateTopics(options.prefix);
  const result: PublishResult = { active: [], rejected: [] };
  const pending = new Set(waitFor);
  // the chunks are sent to the first target that names the device (its own id or its group)
  const chunkTopic = (index: number, target: string): string => topics.chunk(target, manifest.sha256, index);

  const finished = new Promise<void>((resolve, reject) => {
    if (pending.size === 0) return resolve();
    const timer = setTimeout(() => {
      client.removeListener('message', onMessage);
      reject(new EdgeMlError('EDGEML_UPDATE_TIMEOUT', `no final report from ${[...pending].join(', ')}`, { devices: [...pending].join(', ') }));
    }, options.timeoutMs ?? 120_000);
    const onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
      const device = waitFor.find((d) => topic === topics.updateStatus(d));
      // A retained report belongs to an earlier attempt (perhaps of this very file): only live ones count.
      if (!device || packet.retain) return;
      let status: UpdateStatus;
      try {
        status = JSON.parse(payload.toString('utf8')) as UpdateStatus;
      } catch {
        return;
      }
      if (status.sha256 !== manifest.sha256) return; // a retained report of an older update
      options.onStatus?.(status);
      if (status.state === 'receiving' && status.missing?.length) {
        const target = targets.includes(device) ? device : targets[0]!;
        void sendChunks(client, (i) => chunkTopic(i, target), chunks, status.missing);
        return;
      }
      if (status.state === 'active') result.active.push(device);
      else if (status.state === 'rejected') {
        const entry: { device: string; code?: string; reason?: string } = { device };
        if (status.code) entry.code = status.code;
        if (status.reason) entry.reason = status.reason;
        result.rejected.push(entry);
      } else return;
      pending.delete(device);
      if (pending.size === 0) {
        clearTimeout(timer);
        client.removeListener('message', onMessage);
        resolve();
      }
    };
    client.on('message', onMessage);
  });

  if (waitFor.length)
    await client.subscribeAsync(
      waitFor.map((d) => topics.updateStatus(d)),
      { qos: 1 },
    );
  for (const target of targets) {
    // retained, so a device that is offline now picks the update up when it comes back
    await client.publishAsync(topics.manifest(target), JSON.stringify(manifest), { qos: 1, retain: true });
    await sendChunks(
      client,
      (i) => chunkTopic(i, target),
      chunks,
      chunks.map((_, i) => i),
    );
  }
  await finished;
  if (waitFor.length) await client.unsubscribeAsync(waitFor.map((d) => topics.updateStatus(d)));
  return result;
}

export async function sendRollback(client: MqttClient, device: string, prefix?: string): Promise<void> {
  await client.publishAsync(updateTopics(prefix).command(device), JSON.stringify({ command: 'rollback' }), { qos: 1 });
}
