/**
 * The device case: the root filesystem is read-only and only Node-RED's user directory is writable.
 * A real node-red runs in its own mount namespace (unshare) where `/` is remounted read-only and the
 * user directory bound writable; the classic flow answers a Modbus write with an MQTT prediction and
 * ml-model-update stores and activates a delivered model. Skipped where mount namespaces are not
 * allowed (no CAP_SYS_ADMIN).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { classicFlow, DEMO_MODEL, installIntoUserDir, PREDICTION_FILTER } from '../scripts/demo-setup';
import { floatsToRegisters, ModbusMaster } from '../scripts/plant-simulator';
import { pumpDataset } from '../scripts/demo/pump';
import { prepareUpdate } from '../src/lib/update/manifest';
import { publishUpdate } from '../src/lib/update/publisher';
import { startBroker, type TestBroker } from './helpers/broker';
import { freePort, waitForPort } from './helpers/net';
import { startNodeRed, type NodeRedProcess } from './helpers/nodered-process';

/** Remounts / read-only, then binds the user directory (argument $0) writable, then runs the command. */
const READ_ONLY_ROOT = 'mount -o remount,bind,ro / && mount --bind "$0" "$0" && mount -o remount,bind,rw "$0" && exec "$@"';
const unshare = (userDir: string): string[] => ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', READ_ONLY_ROOT, userDir];

function namespacesAllowed(): boolean {
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -o remount,bind,ro / && ! touch /edgeml-ro-probe 2>/dev/null'], { stdio: 'ignore' });
  return probe.status === 0;
}

const allowed = namespacesAllowed();

describe('read-only root filesystem', { skip: allowed ? false : 'mount namespaces are not allowed here (needs CAP_SYS_ADMIN)', timeout: 180_000 }, () => {
  let broker: TestBroker;
  let red: NodeRedProcess;
  let userDir: string;
  let modbusPort: number;
  let client: MqttClient;

  before(async () => {
    broker = await startBroker();
    modbusPort = await freePort();
    userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-ro-'));
    installIntoUserDir(userDir);
    const flow = classicFlow({ modbusPort, mqttHost: '127.0.0.1', mqttPort: broker.port });
    const brokerId = flow.find((n) => n.type === 'mqtt-broker')!.id;
    const modelId = flow.find((n) => n.type === 'onnx-model')!.id;
    const tab = flow.find((n) => n.type === 'tab')!.id;
    flow.push({
      id: 'ro-update',
      type: 'ml-model-update',
      z: tab,
      broker: brokerId,
      model: modelId,
      deviceId: 'ro-device',
      deviceIdType: 'str',
      groups: '',
      prefix: 'edge-ml',
      publicKey: '',
      reportInterval: '3600',
      stallSeconds: '2',
      wires: [[]],
    });
    red = await startNodeRed({ userDir, flows: flow, prefix: unshare(userDir), settings: { mqttReconnectTime: 250 } });
    await red.waitForLog(/Connected to broker/);
    await waitForPort(modbusPort);
    client = await mqtt.connectAsync(broker.url, { clientId: `ro-${process.pid}` });
  });

  after(async () => {
    await client?.endAsync();
    await red?.stop();
    await broker?.stop();
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  it('Node-RED really cannot write outside its user directory', () => {
    // the same command line, asked to write next to the user directory
    const outside = path.join(path.dirname(userDir), `edgeml-ro-outside-${process.pid}`);
    const r = spawnSync(unshare(userDir)[0]!, [...unshare(userDir).slice(1), 'touch', outside], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.equal(existsSync(outside), false);
  });

  it('the classic flow answers a Modbus write with an MQTT prediction', async () => {
    const [vector] = pumpDataset(1, 42).map((s) => s.features);
    const prediction = new Promise<{ features: Record<string, number> }>((resolve) => client.once('message', (_t, p) => resolve(JSON.parse(p.toString()))));
    await client.subscribeAsync(PREDICTION_FILTER, { qos: 1 });
    const master = new ModbusMaster('127.0.0.1', modbusPort);
    await master.connect();
    await master.write(0, floatsToRegisters(vector!, 'CDAB'));
    await master.close();
    assert.equal((await prediction).features.flow, Math.fround(vector![0]!));
    await client.unsubscribeAsync(PREDICTION_FILTER);
  });

  it('a model update is stored inside the user directory and activated', async () => {
    const { manifest, chunks } = prepareUpdate(readFileSync(DEMO_MODEL), { name: 'pump-classifier', version: '1.0.1', chunkSize: 4096 });
    const result = await publishUpdate({ client, manifest, chunks, targets: ['ro-device'], waitFor: ['ro-device'], timeoutMs: 60000 });
    assert.deepEqual(result.rejected, []);
    assert.deepEqual(result.active, ['ro-device']);
    const state = JSON.parse(readFileSync(path.join(userDir, 'edge-ml', 'updates', 'ro-device', 'pump-classifier', 'state.json'), 'utf8')) as { active: { file: string } };
    assert.ok(state.active.file.startsWith(userDir), state.active.file);
    assert.doesNotMatch(red.log(), /EROFS|read-only file system/i);
    assert.ok(red.running);
  });
});
