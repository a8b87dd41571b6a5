/**
 * edge-ml-monitor: a live table of the predictions arriving on an MQTT topic.
 *
 *   edge-ml-monitor [--broker mqtt://127.0.0.1:1883] [--topic 'plant/+/+/prediction'] [--once]
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { MonitorTable } from '../lib/monitor/table';

const { values } = parseArgs({
  options: {
    broker: { type: 'string', default: process.env.EDGEML_MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
    topic: { type: 'string', default: process.env.EDGEML_TOPIC ?? 'plant/+/+/prediction' },
    once: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log("usage: edge-ml-monitor [--broker URL] [--topic FILTER] [--once]\n  --once  print the first prediction's table and exit");
  process.exit(0);
}

const table = new MonitorTable();
const client = mqtt.connect(values.broker!, { reconnectPeriod: 1000 });
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
