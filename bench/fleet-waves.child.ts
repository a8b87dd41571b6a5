/**
 * A wave-by-wave publisher for the fleet bench, in a process of its own (so its peak RSS is its
 * own): the model's chunks once on the content-addressed `<prefix>/blob/<sha256>/<i>` (retained),
 * then per wave a retained manifest to each of the wave's devices, and the wave ends when every one
 * of them reported the new version active (or rejected it). Prints one JSON line per wave and one
 * with its peak RSS. Usage: node --import tsx fleet-waves.child.ts '<json options>'.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { prepareUpdate } from '../src/lib/update/manifest';
import { updateTopics, type UpdateStatus } from '../src/lib/update/topics';

interface Options {
  url: string;
  file: string;
  name: string;
  version: string;
  waves: string[][];
  chunkSize?: number;
  timeoutMs: number;
  /** only connect, subscribe and exit: the process's own footprint, the baseline of its peak RSS */
  baseline?: boolean;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]!) as Options;
  const topics = updateTopics();
  const started = performance.now();
  const bytes = o.baseline ? Buffer.from('x') : readFileSync(o.file);
  const { manifest, chunks } = prepareUpdate(bytes, { name: o.name, version: o.version, ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}) });
  const client = await mqtt.connectAsync(o.url, { clientId: `fleet-publisher-${process.pid}`, clean: true });
  const final = new Map<string, string>();
  let wake: (() => void) | undefined;
  client.on('message', (_topic, payload, packet) => {
    if (packet.retain) return; // an earlier attempt's report
    const s = JSON.parse(payload.toString()) as UpdateStatus;
    if (s.sha256 !== manifest.sha256 || (s.state !== 'active' && s.state !== 'rejected')) return;
    final.set(s.device, s.state);
    wake?.();
  });
  await client.subscribeAsync(topics.updateStatus('+'), { qos: 1 });
  if (o.baseline) {
    await client.endAsync();
    console.log(JSON.stringify({ totalMs: performance.now() - started, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
    return;
  }
  for (let i = 0; i < chunks.length; i++) await client.publishAsync(topics.blob(manifest.sha256, i), chunks[i]!, { qos: 1, retain: true });
  const chunksMs = performance.now() - started;
  console.log(JSON.stringify({ chunks: chunks.length, chunkSize: manifest.chunkSize, chunksMs }));
  for (let w = 0; w < o.waves.length; w++) {
    const ids = o.waves[w]!;
    const t0 = performance.now();
    // only whom the manifest names changes between waves; the bytes stay on the blob topic
    for (const id of ids) await client.publishAsync(topics.manifest(id), JSON.stringify({ ...manifest, targets: [id] }), { qos: 1, retain: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`wave ${w + 1}: ${ids.filter((d) => !final.has(d)).length} of ${ids.length} devices silent`)), o.timeoutMs);
      wake = () => {
        if (ids.every((d) => final.has(d))) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake();
    });
    const rejected = ids.filter((d) => final.get(d) === 'rejected').length;
    console.log(JSON.stringify({ wave: w + 1, devices: ids.length, ms: performance.now() - t0, active: ids.length - rejected, rejected }));
  }
  // retained manifests and chunks are cleared, as a finished rollout would leave the broker
  for (const id of o.waves.flat()) await client.publishAsync(topics.manifest(id), '', { qos: 1, retain: true });
  for (let i = 0; i < chunks.length; i++) await client.publishAsync(topics.blob(manifest.sha256, i), '', { qos: 1, retain: true });
  await client.endAsync();
  console.log(JSON.stringify({ totalMs: performance.now() - started, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
