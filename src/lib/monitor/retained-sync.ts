/**
 * MQTT has no "end of retained messages" marker. To know when a fresh subscription has delivered
 * everything the broker holds, subscribe, then publish a marker on a topic of our own (also
 * subscribed): the broker sends the retained messages of the subscriptions before it forwards
 * our later publish on the same connection, so the marker's arrival says "all delivered".
 * Where an ACL forbids publishing the marker, a quiet spell of `quietMs` after the last message
 * ends the wait instead (and `maxMs` bounds it in any case).
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';

export interface SyncOptions {
  client: MqttClient;
  filters: string[];
  /** topic prefix under which the marker is published (e.g. edge-ml) */
  prefix: string;
  quietMs?: number;
  maxMs?: number;
}

/** Subscribes to `filters` (QoS 1) and resolves once their retained messages have arrived. */
export async function subscribeAndSync(options: SyncOptions): Promise<'marker' | 'quiet'> {
  const { client, filters } = options;
  const marker = `${options.prefix}/monitor/${randomBytes(6).toString('hex')}/sync`;
  let wake: ((how: 'marker' | 'quiet') => void) | undefined;
  let quiet: NodeJS.Timeout | undefined;
  const armQuiet = (): void => {
    if (quiet) clearTimeout(quiet);
    quiet = setTimeout(() => wake?.('quiet'), options.quietMs ?? 2000);
  };
  const onMessage = (topic: string): void => {
    if (topic === marker) wake?.('marker');
    else armQuiet();
  };
  const done = new Promise<'marker' | 'quiet'>((resolve) => (wake = resolve));
  client.on('message', onMessage);
  const max = setTimeout(() => wake?.('quiet'), options.maxMs ?? 30_000);
  try {
    await client.subscribeAsync([...filters, marker], { qos: 1 });
    armQuiet();
    await client.publishAsync(marker, '', { qos: 1 }).catch(() => undefined);
    return await done;
  } finally {
    clearTimeout(max);
    if (quiet) clearTimeout(quiet);
    client.removeListener('message', onMessage);
    void client.unsubscribeAsync(marker).catch(() => undefined);
  }
}
