/**
 * A few simulated devices for tests that need devices but not a rollout's figures: one MQTT client
 * each, the package's real UpdateReceiver and store, every received model validated with ONNX
 * Runtime (loaded once per distinct file, run once on zeros), and the retained model report a
 * device with ml-model-update publishes. (The fleet simulator of src/lib/fleet does this at scale
 * with synthetic inference figures.)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import * as ort from 'onnxruntime-node';
import { UpdateReceiver } from '../../src/lib/update/receiver';
import type { StoredModel } from '../../src/lib/update/store';
import { updateTopics } from '../../src/lib/update/topics';

export interface SimDevices {
  serving(id: string): StoredModel | undefined;
  /** Publishes every device's model report now; resolves when the broker has them. */
  reportAll(): Promise<void>;
  stop(): Promise<void>;
}

const validated = new Map<string, Promise<void>>();

/** Loads the file with ONNX Runtime and runs it once on zeros (once per sha256 in this process). */
function validate(file: string, sha256: string): Promise<void> {
  let done = validated.get(sha256);
  if (!done) {
    done = (async () => {
      const session = await ort.InferenceSession.create(readFileSync(file));
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const name of session.inputNames) {
          const meta = session.inputMetadata.find((m) => m.name === name);
          const dims = meta && meta.isTensor ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1];
          feeds[name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
        }
        await session.run(feeds);
      } finally {
        await session.release();
      }
    })();
    validated.set(sha256, done);
    done.catch(() => validated.delete(sha256));
  }
  return done;
}

export async function startSimDevices(options: {
  url: string;
  ids: string[];
  groups: string[];
  storeDir: string;
  model: { name: string; version: string; bytes: Buffer };
  prefix?: string;
}): Promise<SimDevices> {
  const topics = updateTopics(options.prefix);
  mkdirSync(options.storeDir, { recursive: true });
  const baseFile = path.join(options.storeDir, 'baseline.onnx');
  writeFileSync(baseFile, options.model.bytes);
  const base: StoredModel = {
    name: options.model.name,
    version: options.model.version,
    sha256: createHash('sha256').update(options.model.bytes).digest('hex'),
    file: baseFile,
    since: new Date().toISOString(),
  };
  const devices = new Map<string, { client: MqttClient; serving: StoredModel; since: string }>();

  const report = (id: string): Promise<unknown> => {
    const d = devices.get(id)!;
    const ts = new Date().toISOString();
    const model = { name: d.serving.name, version: d.serving.version, sha256: d.serving.sha256, since: d.since, inferences: 0, errors: 0, inferencesPerMinute: 0, latencyMs: { p50: null, p99: null } };
    return d.client.publishAsync(topics.modelStatus(id), JSON.stringify({ device: id, ts, groups: options.groups, model, guard: {}, drift: {} }), { qos: 1, retain: true });
  };

  for (const id of options.ids) {
    const client = await mqtt.connectAsync(options.url, { clientId: `sim-${id}`, clean: true, reconnectPeriod: 500 });
    const device = { client, serving: base, since: base.since };
    devices.set(id, device);
    const receiver = new UpdateReceiver({
      deviceId: id,
      groups: options.groups,
      storeDir: path.join(options.storeDir, id),
      prefix: options.prefix,
      modelName: options.model.name,
      stallMs: 2000,
      baseline: () => base,
      activate: async (stored) => {
        await validate(stored.file, stored.sha256);
        device.serving = stored;
        device.since = new Date().toISOString();
      },
      publish: (topic, payload, retain) => void client.publish(topic, payload, { qos: 1, retain }),
    });
    client.on('message', (topic, payload) => void receiver.handle(topic, payload));
    client.on('close', () => receiver.close());
    await client.subscribeAsync(receiver.subscriptions(), { qos: 1 });
    await report(id);
  }

  return {
    serving: (id) => devices.get(id)?.serving,
    reportAll: async () => {
      await Promise.all([...devices.keys()].map(report));
    },
    stop: async () => {
      await Promise.all([...devices.values()].map((d) => d.client.endAsync()));
    },
  };
}
