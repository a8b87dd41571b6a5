/**
 * The publisher of the fleet bench, in a process of its own (so its peak RSS is its own):
 * fleetcore's RolloutEngine drives one rollout to its end (completed, or halted by a gate and
 * rolled back) and prints the final retained state and its peak RSS as one JSON line. With
 * `baseline` it only connects and exits: the same process's own footprint.
 * Usage: node --import tsx fleet-rollout.child.ts '<json options>'.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { parsePlan } from '../src/lib/fleet/plan';
import { RolloutEngine } from '../src/lib/fleet/rollout';

interface Options {
  url: string;
  file: string;
  name: string;
  version: string;
  id: string;
  plan: unknown;
  baseline?: boolean;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]!) as Options;
  const client = await mqtt.connectAsync(o.url, { clientId: `fleet-publisher-${process.pid}`, clean: true });
  let state: unknown = null;
  if (!o.baseline) {
    const engine = await RolloutEngine.start({ client, log: (l) => console.error(l) }, { id: o.id, bytes: readFileSync(o.file), name: o.name, version: o.version, plan: parsePlan(o.plan) });
    state = await engine.run();
  }
  // what this host put on the wire to the broker: the file once, manifests, its state and commands
  const bytesSent = (client.stream as { bytesWritten?: number }).bytesWritten ?? null;
  await client.endAsync();
  console.log(JSON.stringify({ state, maxRssBytes: process.resourceUsage().maxRSS * 1024, bytesSent }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
