/**
 * edge-ml-monitor: a live table of the predictions arriving on an MQTT topic, or (--fleet) of every
 * device and rollout from the retained status and rollout topics.
 *
 *   edge-ml-monitor [--broker mqtt://127.0.0.1:1883] [--topic 'plant/+/+/prediction'] [--once]
 *   edge-ml-monitor --fleet [--prefix edge-ml] [--json] [--once]
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { runFleet } from '../lib/monitor/fleet-cli';
import { MonitorTable } from '../lib/monitor/table';
import { DEFAULT_PREFIX } from '../lib/update/topics';

const { values } = parseArgs({
  options: {
    broker: { type: 'string', default: process.env.EDGEML_MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
    topic: { type: 'string', default: process.env.EDGEML_TOPIC ?? 'plant/+/+/prediction' },
    once: { type: 'boolean', default: false },
    fleet: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    prefix: { type: 'string', default: process.env.EDGEML_PREFIX ?? DEFAULT_PREFIX },
    interval: { type: 'string', default: '1' },
    username: { type: 'string' },
    password: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const USAGE = `usage: edge-ml-monitor [--broker URL] [--topic FILTER] [--once]
       edge-ml-monitor --fleet [--broker URL] [--prefix edge-ml] [--json] [--once] [--interval SECONDS]
  --once      print the first prediction's table (with --fleet: the fleet as the broker holds it) and exit
  --fleet     every device from <prefix>/status/+/model and /update, every rollout from <prefix>/rollout/+/state
  --json      with --fleet: one JSON snapshot (--once) or one JSON line per change, for scripts
  --interval  with --fleet: redraw or print at most once per this many seconds (default 1)
  --username, --password  broker credentials (also EDGEML_MQTT_USERNAME / EDGEML_MQTT_PASSWORD)`;

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const username = values.username ?? process.env.EDGEML_MQTT_USERNAME;
const password = values.password ?? process.env.EDGEML_MQTT_PASSWORD;
const auth = username ? { username, password: password ?? '' } : {};

if (values.fleet) {
  runFleet({
    broker: values.broker!,
    prefix: values.prefix!,
    json: values.json!,
    once: values.once!,
    intervalMs: Math.max(0.1, Number(values.interval) || 1) * 1000,
    tty: Boolean(process.stdout.isTTY),
    connect: auth,
  }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`edge-ml-monitor: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
} else {
  predictions();
}

function predictions(): void {
  const table = new MonitorTable();
  const client = mqtt.connect(values.broker!, { reconnectPeriod: 1000, ...auth });
  const tty = process.stdout.isTTY;
  let status = `connecting to ${values.broker}`;

  function draw(): void {
    const text = `edge-ml-monitor  ${values.broker}  ${values.topic}  (${status})\n\n${table.render()}\n`;
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${text}`);
  }

  client.on('connect', () => {
    status = 'connected';
    client.subscribe(values.topic!, { qos: 1 });
    draw();
  });
  client.on('reconnect', () => {
    status = 'reconnecting';
    draw();
  });
  client.on('error', (err) => {
    status = `error: ${err.message}`;
    draw();
  });
  client.on('message', (topic, payload) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      parsed = {};
    }
    table.update(topic, parsed);
    if (values.once) {
      console.log(table.render());
      client.end(true, () => process.exit(0));
    } else if (!tty) {
      console.log(`${topic} ${payload.toString('utf8')}`);
    }
  });

  const timer = tty ? setInterval(draw, 500) : undefined;
  const stop = (): void => {
    if (timer) clearInterval(timer);
    client.end(true, () => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
