/**
 * SIGTERM while a Modbus master writes at 200/s: every write the master got an answer for is
 * published on MQTT. A real Node-RED process runs the classic example flow (modbus-server-in ->
 * decode -> guard -> onnx-infer -> ml-format -> ml-outbox), a real mosquitto, a modbus-serial master.
 * On close the server stops answering at once, the nodes after it close only once the flow is
 * quiet, and ml-outbox holds the broker connection open until what it holds is acknowledged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { classicFlow, installIntoUserDir, PREDICTION_FILTER, REJECTED_TOPIC } from '../scripts/demo-setup';
import { floatsToRegisters, ModbusMaster } from '../scripts/plant-simulator';
import { pumpDataset } from '../scripts/demo/pump';
import { startBroker, type TestBroker } from './helpers/broker';
import { freePort, waitForPort } from './helpers/net';
import { startNodeRed } from './helpers/nodered-process';

const RUNS = 2;
const RATE = 200;
/** Writes before the SIGTERM (1.5 s at 200/s); the master goes on until its connection is gone. */
const BEFORE_STOP = 300;
const MAX_WRITES = 2000;

let broker: TestBroker;
let subscriber: MqttClient;
const received = new Map<string, number>();
const waiters: Array<() => void> = [];
/** A reading as the flow sees it: float32 of each value (key of the published features). */
const key = (values: number[]): string => values.map((v) => Math.fround(v)).join(',');

describe('shutdown while a master writes', { timeout: 300_000 }, () => {
  before(async () => {
    broker = await startBroker({ persistent: true });
    subscriber = await mqtt.connectAsync(broker.url, { clientId: `shutdown-${process.pid}`, clean: false, reconnectPeriod: 200 });
    subscriber.on('message', (topic, payload) => {
      const p = JSON.parse(payload.toString('utf8')) as { features?: Record<string, number>; reading?: Record<string, number> };
      const values = topic === REJECTED_TOPIC ? p.reading : p.features;
      if (values) {
        const k = key(Object.values(values));
        received.set(k, (received.get(k) ?? 0) + 1);
      }
      for (const w of waiters.splice(0)) w();
    });
    await subscriber.subscribeAsync([PREDICTION_FILTER, REJECTED_TOPIC], { qos: 1 });
  });

  after(async () => {
    await subscriber?.endAsync(true);
    await broker?.stop();
  });

  for (let run = 0; run < RUNS; run++) {
    it(`run ${run + 1}: every answered write arrives on MQTT after SIGTERM`, async (t) => {
      const userDir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-shutdown-'));
      installIntoUserDir(userDir);
      const modbusPort = await freePort();
      const red = await startNodeRed({ userDir, flows: classicFlow({ modbusPort, mqttHost: '127.0.0.1', mqttPort: broker.port }) });
      try {
        await red.waitForLog(/Connected to broker/);
        await waitForPort(modbusPort);
        const vectors = pumpDataset(MAX_WRITES, 4100 + run).map((s) => s.features);
        const master = new ModbusMaster('127.0.0.1', modbusPort, 1, 1000);
        await master.connect();
        const answered: number[][] = [];
        const exited = red.whenExited();
        const start = performance.now();
        for (let i = 0; i < vectors.length; i++) {
          if (i === BEFORE_STOP) red.child.kill('SIGTERM');
          const ahead = start + (i * 1000) / RATE - performance.now();
          if (ahead > 1) await new Promise((r) => setTimeout(r, ahead)); // pacing the master
          try {
            await master.write(0, floatsToRegisters(vectors[i]!, 'CDAB'));
            answered.push(vectors[i]!);
          } catch {
            break; // the server stopped answering: later writes were never acknowledged
          }
        }
        await master.close();
        await exited;
        assert.ok(answered.length >= BEFORE_STOP, `${answered.length} writes answered`);
        // Everything Node-RED published was acknowledged by mosquitto before it exited; the
        // subscriber receives it (a timeout only turns a hang into a readable failure).
        const missing = (): number[][] => answered.filter((v) => !received.has(key(v)));
        const deadline = Date.now() + 30_000;
        while (missing().length > 0 && Date.now() < deadline) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deadline - Date.now());
            waiters.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        t.diagnostic(`${answered.length} writes answered (${answered.length - BEFORE_STOP} after SIGTERM was sent), ${missing().length} missing on MQTT`);
        assert.deepEqual(missing().map(key), [], `answered writes never published; Node-RED log:\n${red.tail(30)}`);
      } finally {
        await red.stop();
        rmSync(userDir, { recursive: true, force: true });
      }
    });
  }
});
