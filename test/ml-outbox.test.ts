/**
 * ml-outbox: the queue logic alone, then the node in a real Node-RED runtime against a real broker
 * that is stopped and started again, with real Catch and Complete nodes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Outbox } from '../src/lib/outbox/outbox';
import { getNode, helper, inject, nextMessage, nextMessages, nextStatus, nodeModule, type FlowNode } from './helpers/flow';
import { startBroker, type TestBroker } from './helpers/broker';

const coreMqtt = require(path.join(path.dirname(require.resolve('@node-red/nodes/package.json')), 'core', 'network', '10-mqtt.js'));
const codeOf = (e: unknown): string => (e as { code?: string }).code ?? String(e);

describe('Outbox (logic)', () => {
  it('sends at once while open, holds while closed, flushes in order, drops by policy and rejects on close', async () => {
    let open = true;
    const delivered: number[] = [];
    const make = (overflow: 'drop-oldest' | 'drop-newest') =>
      new Outbox<number>({ capacity: 2, overflow, isOpen: () => open, deliver: async (v) => void delivered.push(v) });
    const box = make('drop-oldest');
    await box.push(1);
    open = false;
    const held = [box.push(2), box.push(3), box.push(4)];
    assert.equal(codeOf(await held[0]!.catch((e: unknown) => e)), 'EDGEML_OUTBOX_OVERFLOW', 'the oldest held one is dropped');
    assert.equal(box.stats.held, 2);
    open = true;
    box.flush();
    await Promise.all(held.slice(1));
    assert.deepEqual(delivered, [1, 3, 4]);
    assert.deepEqual({ ...box.stats }, { delivered: 3, dropped: 1, failed: 0, held: 0 });

    const newest = make('drop-newest');
    open = false;
    const kept = [newest.push(5), newest.push(6)];
    assert.equal(codeOf(await newest.push(7).catch((e: unknown) => e)), 'EDGEML_OUTBOX_OVERFLOW', 'the new one is dropped');
    newest.close();
    for (const p of kept) assert.equal(codeOf(await p.catch((e: unknown) => e)), 'EDGEML_OUTBOX_CLOSED');
    assert.equal(codeOf(await newest.push(8).catch((e: unknown) => e)), 'EDGEML_OUTBOX_CLOSED');
  });

  it('a value queued behind held ones waits its turn even when the link is already back', async () => {
    let open = false;
    const delivered: string[] = [];
    const box = new Outbox<string>({ capacity: 10, overflow: 'drop-oldest', isOpen: () => open, deliver: async (v) => void delivered.push(v) });
    const first = box.push('a');
    open = true;
    const second = box.push('b');
    box.flush();
    await Promise.all([first, second]);
    assert.deepEqual(delivered, ['a', 'b']);
  });
});

describe('ml-outbox node with a broker that goes away', () => {
  let broker: TestBroker;
  let sub: MqttClient;
  /** Everything the subscriber received, with its topic (QoS 1 redeliveries included). */
  const got: Array<{ topic: string; payload: string }> = [];
  const wake: Array<() => void> = [];

  const flow = (port: number): FlowNode[] => [
    { id: 'tab', type: 'tab', label: 'outbox' },
    { id: 'br', type: 'mqtt-broker', broker: '127.0.0.1', port: String(port), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
    { id: 'box', type: 'ml-outbox', z: 'tab', broker: 'br', topic: '', qos: '1', retain: false, capacity: '3', overflow: 'drop-oldest', wires: [] },
    { id: 'catcher', type: 'catch', z: 'tab', scope: ['box'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab', wires: [] },
    { id: 'completer', type: 'complete', z: 'tab', scope: ['box'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper', z: 'tab', wires: [] },
  ];

  /**
   * The first `count` distinct payloads published on `topic`, in arrival order. QoS 1 is at least
   * once: after a broker stop the persistent subscriber may get a message again (the previous
   * test's, or one of these), so repeats and other topics are skipped, not counted. Each test
   * publishes distinct payloads, so a repeat is a redelivery.
   */
  const published = (topic: string, count: number): Promise<string[]> =>
    new Promise((resolve) => {
      const check = (): void => {
        const distinct = [...new Set(got.filter((m) => m.topic === topic).map((m) => m.payload))];
        if (distinct.length >= count) resolve(distinct.slice(0, count));
        else wake.push(check);
      };
      check();
    });

  before(async () => {
    broker = await startBroker({ persistent: true });
    helper.settings({ mqttReconnectTime: 200 });
    sub = await mqtt.connectAsync(broker.url, { clientId: `outbox-sub-${process.pid}`, clean: false, reconnectPeriod: 200 });
    sub.on('message', (topic, payload) => {
      got.push({ topic, payload: payload.toString() });
      for (const w of wake.splice(0)) w();
    });
    await sub.subscribeAsync('outbox/#', { qos: 1 });
    await helper.load([nodeModule('ml-outbox'), coreMqtt], flow(broker.port), {});
    await nextStatus('box', (s) => s.fill === 'green');
  });

  after(async () => {
    await helper.unload();
    helper.settings({});
    await sub.endAsync(true);
    await broker.stop();
  });

  it('publishes JSON and completes after the acknowledgement', async () => {
    const done = nextMessage('completed');
    inject('box', { topic: 'outbox/a', payload: { n: 1 } });
    await done;
    assert.deepEqual(await published('outbox/a', 1), [JSON.stringify({ n: 1 })]);
  });

  it('a message without a usable topic reaches the Catch node with a code; the next one still goes out', async () => {
    const caught = nextMessage('caught');
    inject('box', { payload: 'no topic' });
    assert.equal(((await caught).error as { code: string }).code, 'EDGEML_OUTBOX_TOPIC_INVALID');
    const bad = nextMessage('caught');
    inject('box', { topic: 'outbox/#', payload: 'wildcard' });
    assert.equal(((await bad).error as { code: string }).code, 'EDGEML_OUTBOX_TOPIC_INVALID');
    inject('box', { topic: 'outbox/b', payload: 2 });
    assert.deepEqual(await published('outbox/b', 1), ['2']);
  });

  it('holds messages while the broker is down, drops the oldest beyond capacity, sends the rest in order when it is back', async () => {
    const offline = nextStatus('box', (s) => s.fill === 'red' || s.fill === 'grey' || /offline|disconnected/.test(s.text ?? ''));
    await broker.down();
    await offline;
    assert.equal((getNode('br') as unknown as { connected: boolean }).connected, false);
    const dropped = nextMessage('caught');
    const completed = nextMessages('completed', 3, 30000);
    for (let i = 0; i < 4; i++) inject('box', { topic: 'outbox/held', payload: `m${i}` });
    assert.equal(((await dropped).error as { code: string }).code, 'EDGEML_OUTBOX_OVERFLOW');
    await broker.up();
    await completed;
    assert.deepEqual(await published('outbox/held', 3), ['m1', 'm2', 'm3']);
    // nothing dropped was published later, not even as a redelivery
    assert.ok(!got.some((m) => m.topic === 'outbox/held' && m.payload === 'm0'));
  });
});
