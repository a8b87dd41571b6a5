/**
 * The update protocol end to end over a real broker: a host publisher and three device receivers,
 * each with its own MQTT connection. Activation here checks the stored file against the bytes the
 * host sent (the Node-RED flow tests use real ONNX validation).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from './helpers/broker';
import { prepareUpdate, signManifest } from '../src/lib/update/manifest';
import { publishUpdate, sendRollback } from '../src/lib/update/publisher';
import { UpdateReceiver } from '../src/lib/update/receiver';
import type { StoredModel } from '../src/lib/update/store';
import type { UpdateStatus } from '../src/lib/update/topics';
import { EdgeMlError } from '../src/lib/errors';

interface Device {
  id: string;
  client: MqttClient;
  receiver: UpdateReceiver;
  serving: () => Buffer | undefined;
  statuses: UpdateStatus[];
}

async function startDevice(broker: TestBroker, id: string, dir: string, opts: { publicKey?: string; accept?: (bytes: Buffer) => void; groups?: string[]; stallMs?: number } = {}): Promise<Device> {
  const client = await mqtt.connectAsync(broker.url, { clientId: `dev-${id}-${process.pid}`, reconnectPeriod: 50 });
  let serving: Buffer | undefined;
  const statuses: UpdateStatus[] = [];
  const receiver = new UpdateReceiver({
    deviceId: id,
    groups: opts.groups ?? ['line-1'],
    storeDir: path.join(dir, id),
    modelName: 'pump',
    ...(opts.stallMs ? { stallMs: opts.stallMs } : {}),
    ...(opts.publicKey ? { publicKey: opts.publicKey } : {}),
    activate: async (model: StoredModel) => {
      const bytes = readFileSync(model.file);
      opts.accept?.(bytes);
      serving = bytes;
    },
    publish: (topic, payload, retain) => void client.publish(topic, payload, { qos: 1, retain }),
    onState: (s) => statuses.push(s),
  });
  client.on('message', (topic, payload) => void receiver.handle(topic, payload));
  client.on('connect', () => void receiver.resume());
  await client.subscribeAsync(receiver.subscriptions(), { qos: 1 });
  return { id, client, receiver, serving: () => serving, statuses };
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }) {
  const broker = await startBroker();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-proto-'));
  const host = await mqtt.connectAsync(broker.url, { clientId: `host-${process.pid}`, reconnectPeriod: 50 });
  const clients: MqttClient[] = [host];
  const closers: Array<() => void> = [];
  t.after(async () => {
    closers.forEach((c) => c());
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const device = async (id: string, opts?: Parameters<typeof startDevice>[3]) => {
    const d = await startDevice(broker, id, dir, opts);
    clients.push(d.client);
    closers.push(() => d.receiver.close());
    return d;
  };
  return { broker, host, dir, device };
}

test('a host pushes a model to three devices; all report it active and serve its bytes; rollback returns', async (t) => {
  const { host, device } = await setup(t);
  const devices = await Promise.all(['a', 'b', 'c'].map((id) => device(id)));
  const v1 = randomBytes(50_000);
  const v2 = randomBytes(70_000);
  for (const [bytes, version] of [
    [v1, '1.0.0'],
    [v2, '2.0.0'],
  ] as const) {
    const { manifest, chunks } = prepareUpdate(bytes, { name: 'pump', version, chunkSize: 8192 });
    const result = await publishUpdate({ client: host, manifest, chunks, targets: ['line-1'], waitFor: ['a', 'b', 'c'], timeoutMs: 20000 });
    assert.deepEqual(result.active.sort(), ['a', 'b', 'c']);
    for (const d of devices) assert.ok(d.serving()?.equals(bytes), `${d.id} serves ${version}`);
  }
  const states = devices[0]!.statuses.filter((s) => s.version === '2.0.0').map((s) => s.state);
  assert.deepEqual(
    states.filter((s) => s !== 'receiving'),
    ['received', 'verified', 'active'],
  );

  const rolledBack = new Promise<UpdateStatus>((resolve) => {
    devices[1]!.receiver['options'].onState = (s) => s.state === 'rolled-back' && resolve(s);
  });
  await sendRollback(host, 'b');
  assert.equal((await rolledBack).version, '1.0.0');
  assert.ok(devices[1]!.serving()?.equals(v1));
});

test('a bad signature, a wrong hash and a refused model are each rejected while the old model serves', async (t) => {
  const { host, device } = await setup(t);
  const keys = generateKeyPairSync('ed25519');
  const intruder = generateKeyPairSync('ed25519');
  const publicKey = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const refuse = Buffer.from('different input contract');
  const d = await device('a', {
    publicKey,
    accept: (bytes) => {
      if (bytes.subarray(0, refuse.length).equals(refuse)) {
        throw new EdgeMlError('EDGEML_ONNX_CONTRACT_CHANGED', 'inputs differ', { reason: 'inputs differ' });
      }
    },
  });
  const good = randomBytes(20_000);
  const push = async (bytes: Buffer, version: string, sign: 'ok' | 'intruder' | 'none', tamper?: (m: ReturnType<typeof prepareUpdate>['manifest']) => void) => {
    const { manifest, chunks } = prepareUpdate(bytes, { name: 'pump', version, chunkSize: 4096 });
    tamper?.(manifest);
    const signed = sign === 'none' ? manifest : signManifest(manifest, sign === 'ok' ? keys.privateKey : intruder.privateKey);
    return publishUpdate({ client: host, manifest: signed, chunks, targets: ['a'], waitFor: ['a'], timeoutMs: 20000 });
  };
  assert.deepEqual((await push(good, '1', 'ok')).active, ['a']);

  const unsigned = await push(randomBytes(20_000), '2', 'none');
  assert.equal(unsigned.rejected[0]?.code, 'EDGEML_UPDATE_SIGNATURE_INVALID');
  const forged = await push(randomBytes(20_000), '3', 'intruder');
  assert.equal(forged.rejected[0]?.code, 'EDGEML_UPDATE_SIGNATURE_INVALID');
  const otherFile = randomBytes(20_000);
  const wrongHash = await push(randomBytes(20_000), '4', 'ok', (m) => {
    m.sha256 = prepareUpdate(otherFile, { name: 'pump', version: '4' }).manifest.sha256;
  });
  assert.equal(wrongHash.rejected[0]?.code, 'EDGEML_UPDATE_HASH_MISMATCH');
  const contract = await push(Buffer.concat([refuse, randomBytes(1000)]), '5', 'ok');
  assert.equal(contract.rejected[0]?.code, 'EDGEML_ONNX_CONTRACT_CHANGED');
  assert.ok(d.serving()?.equals(good), 'the first model still serves');
  assert.equal(d.receiver.active('pump')?.version, '1');
});

test('a corrupted chunk is refused on arrival and asked for again; the transfer then completes', async (t) => {
  const { host, device } = await setup(t);
  const d = await device('a');
  const bytes = randomBytes(30_000);
  const { manifest, chunks } = prepareUpdate(bytes, { name: 'pump', version: '7', chunkSize: 4096 });
  const sending = chunks.map((c, i) => (i === 3 ? Buffer.from(c).fill(0) : c));
  // once the device has refused the corrupt chunk, the host holds the good bytes for its repeat request
  d.receiver['options'].onState = (s) => {
    d.statuses.push(s);
    if (s.code === 'EDGEML_UPDATE_CHUNK_INVALID') sending[3] = chunks[3]!;
  };
  const result = await publishUpdate({ client: host, manifest, chunks: sending, targets: ['a'], waitFor: ['a'], timeoutMs: 20000 });
  assert.deepEqual(result.active, ['a']);
  assert.ok(d.statuses.some((s) => s.code === 'EDGEML_UPDATE_CHUNK_INVALID' && s.missing?.includes(3)));
  assert.ok(d.serving()?.equals(bytes));
});

test('a broker restart in the middle of a transfer resumes and completes', async (t) => {
  const { broker, host, device } = await setup(t);
  const d = await device('a');
  const bytes = randomBytes(200_000);
  const { manifest, chunks } = prepareUpdate(bytes, { name: 'pump', version: '9', chunkSize: 2048 });
  let restarted = false;
  // restart the broker as soon as the device has stored a part of the file
  d.client.on('message', (topic) => {
    if (!restarted && topic.includes('/chunk/') && (d.receiver['transfer']?.assembler.received ?? 0) >= 10) {
      restarted = true;
      void broker.restart();
    }
  });
  // chunks published while the broker is down are queued by the client; whatever is lost, the
  // device's "receiving" report after its reconnect asks for again
  const result = await publishUpdate({ client: host, manifest, chunks, targets: ['a'], waitFor: ['a'], timeoutMs: 30000 });
  assert.equal(restarted, true);
  assert.deepEqual(result.active, ['a']);
  assert.ok(d.serving()?.equals(bytes));
});

test('a chunk that never arrives is asked for again after a quiet spell, and the host sends it', async (t) => {
  const { host, device } = await setup(t);
  const d = await device('a', { stallMs: 200 });
  const bytes = randomBytes(40_000);
  const { manifest, chunks } = prepareUpdate(bytes, { name: 'pump', version: '11', chunkSize: 4096 });
  const lost = 5;
  const statusTopic = 'edge-ml/status/a/update';
  await host.subscribeAsync(statusTopic, { qos: 1 });
  const active = new Promise<void>((resolve) => {
    host.on('message', (topic, payload) => {
      if (topic !== statusTopic) return;
      const status = JSON.parse(payload.toString()) as UpdateStatus;
      if (status.sha256 !== manifest.sha256) return;
      // a hand-driven host: answer the device's report of what is missing
      if (status.state === 'receiving' && status.missing?.length === 1 && status.missing[0] === lost) {
        void host.publishAsync(`edge-ml/update/a/chunk/${manifest.sha256}/${lost}`, chunks[lost]!, { qos: 1 });
      }
      if (status.state === 'active') resolve();
    });
  });
  await host.publishAsync('edge-ml/update/a/manifest', JSON.stringify(manifest), { qos: 1 });
  for (let i = 0; i < chunks.length; i++) {
    if (i !== lost) await host.publishAsync(`edge-ml/update/a/chunk/${manifest.sha256}/${i}`, chunks[i]!, { qos: 1 });
  }
  await active;
  assert.ok(d.serving()?.equals(bytes));
});
