/**
 * ml-outbox across a redeploy (a real Node-RED process, a real mosquitto): 10 messages held while
 * the broker is down are handed to the node's new instance, for a full deploy and for a
 * nodes-only deploy that changes only the outbox, and all 10 arrive once the broker is back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { installIntoUserDir } from '../scripts/demo-setup';
import { startBroker, type TestBroker } from './helpers/broker';
import { startNodeRed, type NodeRedProcess } from './helpers/nodered-process';

const HELD = 10;
let broker: TestBroker;
let sub: MqttClient;
let red: NodeRedProcess;
let userDir: string;
const got = new Set<string>();
const wake: Array<() => void> = [];

/** A flow whose function node sends HELD messages once, after a start delay, into the outbox. */
function flow(run: string, outboxName: string, sendOnce: boolean): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'redeploy' },
    {
      id: 'br',
      type: 'mqtt-broker',
      name: 'b',
      broker: '127.0.0.1',
      port: String(broker.port),
      clientid: '',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
    },
    { id: 'start', type: 'inject', z: 'tab', once: sendOnce, onceDelay: 0.1, repeat: '', topic: '', payload: '', payloadType: 'date', wires: [['burst']] },
    {
      id: 'burst',
      type: 'function',
      z: 'tab',
      func: `for (let i = 0; i < ${HELD}; i++) node.send({ topic: 'redeploy/${run}', payload: '${run}-' + i });\nnode.log('burst sent');\nreturn null;`,
      outputs: 1,
      wires: [['box']],
    },
    { id: 'box', type: 'ml-outbox', z: 'tab', name: outboxName, broker: 'br', topic: '', qos: '1', retain: false, capacity: '100', overflow: 'drop-oldest', wires: [] },
  ];
}

async function arrived(run: string): Promise<void> {
  const want = Array.from({ length: HELD }, (_, i) => `${run}-${i}`);
  const deadline = Date.now() + 30_000;
  while (want.some((w) => !got.has(w))) {
    assert.ok(Date.now() < deadline, `${want.filter((w) => !got.has(w)).join(', ')} never arrived:\n${red.tail(20)}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      wake.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

describe('ml-outbox hands held messages to its next instance on redeploy', { timeout: 180_000 }, () => {
  before(async () => {
    broker = await startBroker({ persistent: true });
    sub = await mqtt.connectAsync(broker.url, { clientId: `outbox-redeploy-${process.pid}`, clean: false, reconnectPeriod: 200 });
    sub.on('message', (_t, payload) => {
      got.add(payload.toString());
      for (const w of wake.splice(0)) w();
    });
    await sub.subscribeAsync('redeploy/#', { qos: 1 });
    userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-redeploy-'));
    installIntoUserDir(userDir);
    red = await startNodeRed({ userDir, flows: [], settings: { mqttReconnectTime: 250 } });
  });

  after(async () => {
    await red?.stop();
    await sub?.endAsync(true);
    await broker?.stop();
    rmSync(userDir, { recursive: true, force: true });
  });

  for (const type of ['full', 'nodes'] as const) {
    it(`${type} deploy: the ${HELD} messages held while the broker is down arrive after it is back`, async () => {
      await broker.down();
      const from = red.log().length;
      await red.deploy(flow(type, 'outbox', true), 'full');
      await red.waitForLog(/burst sent/, 30_000, from);
      // the new flow: the inject does not fire again; for "nodes" only the outbox changed
      const redeployed = red.log().length;
      await red.deploy(flow(type, type === 'nodes' ? 'outbox renamed' : 'outbox', false), type);
      await red.waitForLog(new RegExp(`handed ${HELD} unsent messages`), 30_000, redeployed);
      await red.waitForLog(new RegExp(`took over ${HELD} messages`), 30_000, redeployed);
      await broker.up();
      await arrived(type);
    });
  }
});
