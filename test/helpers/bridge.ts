/**
 * Two mosquitto brokers bridged the way a plant runs them: a site broker the devices use, and a
 * central one the publisher and the monitor use. The site broker carries the bridge (an outgoing
 * `connection` to the central broker with `topic <prefix>/# both 1`), so every update, status and
 * rollout topic flows both ways and retained messages stay retained on both sides. Both listen on
 * free loopback ports. Ready when a message has crossed in each direction (events, not sleeps).
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { hasMosquitto, startBroker, type TestBroker } from './broker';

export interface BridgedBrokers {
  /** Where the devices connect. */
  site: TestBroker;
  /** Where the publisher and the monitor connect. */
  central: TestBroker;
  stop(): Promise<void>;
}

export { hasMosquitto };

/** Resolves when a message published on `from` arrives on `to` (re-sent until then: the bridge may still be connecting). */
async function crosses(from: TestBroker, to: TestBroker, topic: string, timeoutMs: number): Promise<void> {
  const rx = await mqtt.connectAsync(to.url);
  const tx = await mqtt.connectAsync(from.url);
  try {
    const arrived = new Promise<void>((resolve) => rx.on('message', (t) => t === topic && resolve()));
    await rx.subscribeAsync(topic, { qos: 1 });
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void arrived.then(() => (done = true));
    while (!done) {
      if (Date.now() > deadline) throw new Error(`the bridge did not carry ${topic} from ${from.url} to ${to.url} within ${timeoutMs} ms`);
      await tx.publishAsync(topic, 'probe', { qos: 1 });
      // retry interval while the bridge connects, not a wait for work: the arrival ends it
      await Promise.race([arrived, new Promise((r) => setTimeout(r, 100))]);
    }
  } finally {
    await Promise.all([rx.endAsync(), tx.endAsync()]);
  }
}

export async function startBridgedBrokers(options: { prefix?: string; siteConfig?: string; centralConfig?: string; timeoutMs?: number } = {}): Promise<BridgedBrokers> {
  if (!hasMosquitto()) throw new Error('the bridge needs mosquitto: apt-get install -y mosquitto');
  const prefix = options.prefix ?? 'edge-ml';
  const central = await startBroker(options.centralConfig ? { config: options.centralConfig } : {});
  const bridge = [
    'connection site-to-central',
    `address 127.0.0.1:${central.port}`,
    `clientid edgeml-bridge-${randomBytes(4).toString('hex')}`,
    `topic ${prefix}/# both 1`,
    'cleansession false',
    'restart_timeout 1 5',
    'keepalive_interval 30',
    // mosquitto to mosquitto: the bridge keeps retain flags and does not echo its own messages back
    'try_private true',
    'notifications false',
    options.siteConfig ?? '',
  ].join('\n');
  const site = await startBroker({ config: bridge });
  const probe = `${prefix}/bridge-probe/${randomBytes(4).toString('hex')}`;
  const timeoutMs = options.timeoutMs ?? 20_000;
  await crosses(central, site, `${probe}/down`, timeoutMs);
  await crosses(site, central, `${probe}/up`, timeoutMs);
  return {
    site,
    central,
    async stop() {
      await site.stop();
      await central.stop();
    },
  };
}
