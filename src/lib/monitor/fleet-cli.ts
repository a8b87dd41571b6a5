/**
 * `edge-ml-monitor --fleet`: connects, subscribes to the retained status and rollout topics, waits
 * until the broker has delivered what it holds, then prints the fleet (a table, or JSON for
 * scripts) once or live. Kept apart from the bin so that its parts stay readable; the bin only
 * parses flags.
 */
import mqtt, { type IClientOptions } from 'mqtt';
import { FleetView } from './fleet';
import { subscribeAndSync } from './retained-sync';

export interface FleetCliOptions {
  broker: string;
  prefix: string;
  json: boolean;
  once: boolean;
  /** at most one redraw (TTY) or printed snapshot per interval */
  intervalMs: number;
  tty: boolean;
  connect?: IClientOptions;
  out?: (text: string) => void;
  /** how long to wait for the first connection before giving up (default 15 s) */
  connectTimeoutMs?: number;
}

const CLEAR = '\x1b[H\x1b[2J';

export async function runFleet(options: FleetCliOptions): Promise<number> {
  const out = options.out ?? ((text: string) => void process.stdout.write(text));
  const view = new FleetView(options.prefix);
  const client = mqtt.connect(options.broker, { reconnectPeriod: 1000, connectTimeout: options.connectTimeoutMs ?? 15_000, ...options.connect });
  let state = `connecting to ${options.broker}`;
  let dirty = true;
  client.on('message', (topic, payload) => {
    if (view.handle(topic, payload)) dirty = true;
  });
  client.on('reconnect', () => (state = 'reconnecting'));
  client.on('offline', () => (state = 'offline'));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connection to ${options.broker}`)), options.connectTimeoutMs ?? 15_000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    client.on('error', (err) => {
      state = `error: ${err.message}`;
      if (options.once) {
        clearTimeout(timer);
        reject(err);
      }
    });
  }).catch(async (err: unknown) => {
    await client.endAsync(true);
    throw err;
  });
  client.on('connect', () => (state = 'connected'));
  state = 'connected';
  await subscribeAndSync({ client, filters: view.subscriptions(), prefix: view.prefix });

  const draw = (): void => {
    const now = Date.now();
    if (options.json) out(`${JSON.stringify(view.snapshot(now))}\n`);
    else if (options.tty) out(`${CLEAR}edge-ml-monitor --fleet  ${options.broker}  ${view.prefix}  (${state})  ${new Date(now).toISOString()}\n\n${view.render(now)}\n`);
    else out(`${view.render(now)}\n\n`);
    dirty = false;
  };

  if (options.once) {
    if (options.json) out(`${JSON.stringify(view.snapshot(), null, 2)}\n`);
    else out(`${view.render()}\n`);
    await client.endAsync();
    return 0;
  }

  draw();
  return new Promise<number>((resolve) => {
    // a TTY table redraws every interval (ages and soak countdowns move); JSON and pipes get changes only
    const timer = setInterval(() => {
      if (dirty || (options.tty && !options.json)) draw();
    }, options.intervalMs);
    const stop = (): void => {
      clearInterval(timer);
      client.end(true, () => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
