/**
 * ml-outbox: the queue logic alone, then the node in a real Node-RED runtime against a real broker
 * that is stopped and started again, with real Catch and Complete nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Outbox } from '../src/lib/outbox/outbox';
import { getNode, helper, inject, nextMessage, nextMessages, nextStatus, nodeModule, type FlowNode, coreNode } from './helpers/flow';
import { startBroker, type TestBroker } from './helpers/broker';

const coreMqtt = coreNode('network/10-mqtt.js');
const codeOf = (e: unknown): string => (e as { code?: string }).code ?? String(e);

describe('Outbox (logic)', () => {
  it('sends at once while open, holds while closed, flushes in order, drops by policy and rejects on close', async () => {
    let open = true;
    const delivered: number[] = [];
    const make = (overflow: 'drop-oldest' | 'drop-newest') => new Outbox<number>({ capacity: 2, overflow, isOpen: () => open, deliver: async (v) => void delivered.push(v) });
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
    assert.deepEqual({ ...box.stats }, { delivered: 3, dropped: 1, failed: 0, held: 0, heldBytes: 0, inFlight: 0 });

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

describe('Outbox bounds (logic)', () => {
  it('bounds the hold by bytes as well as by count: the oldest go first, a value larger than the bound is refused', async () => {
    const delivered: string[] = [];
    const box = new Outbox<string>({ capacity: 100, maxBytes: 10, sizeOf: (v) => v.length, overflow: 'drop-oldest', isOpen: () => false, deliver: async (v) => void delivered.push(v) });
    const a = box.push('aaaa'); // 4 bytes
    const b = box.push('bbbb'); // 8
    const c = box.push('cccccc'); // 14 > 10: the oldest ones go until it fits (8 - 4 + 6 = 10)
    assert.equal(codeOf(await a.catch((e: unknown) => e)), 'EDGEML_OUTBOX_OVERFLOW');
    assert.deepEqual({ held: box.stats.held, bytes: box.stats.heldBytes }, { held: 2, bytes: 10 });
    assert.equal(codeOf(await box.push('x'.repeat(11)).catch((e: unknown) => e)), 'EDGEML_OUTBOX_OVERFLOW', 'larger than the whole bound');
    const newest = new Outbox<string>({ capacity: 100, maxBytes: 5, sizeOf: (v) => v.length, overflow: 'drop-newest', isOpen: () => false, deliver: async () => undefined });
    void newest.push('aaaa');
    assert.equal(codeOf(await newest.push('bb').catch((e: unknown) => e)), 'EDGEML_OUTBOX_OVERFLOW');
    assert.equal(newest.stats.heldBytes, 4);
    box.close();
    for (const p of [b, c]) assert.equal(codeOf(await p.catch((e: unknown) => e)), 'EDGEML_OUTBOX_CLOSED');
  });

  it('a link that is up but confirms nothing gets at most maxInFlight values; the rest is held under the bounds', async () => {
    const acks: Array<() => void> = [];
    const handed: number[] = [];
    const box = new Outbox<number>({
      capacity: 3,
      maxInFlight: 2,
      overflow: 'drop-oldest',
      isOpen: () => true,
      deliver: (v) =>
        new Promise<void>((resolve) => {
          handed.push(v);
          acks.push(resolve);
        }),
    });
    const pushes = [1, 2, 3, 4, 5, 6].map((v) => box.push(v));
    assert.deepEqual(handed, [1, 2], 'only two handed to the link');
    assert.equal(box.awaitingAcks, true);
    assert.deepEqual({ held: box.stats.held, inFlight: box.stats.inFlight }, { held: 3, inFlight: 2 });
    assert.equal(codeOf(await pushes[2]!.catch((e: unknown) => e)), 'EDGEML_OUTBOX_OVERFLOW', 'the hold overflowed, not the link');
    acks.shift()!(); // the broker wakes up
    await pushes[0];
    assert.deepEqual(handed, [1, 2, 4]);
    while (acks.length) {
      acks.shift()!();
      await new Promise<void>((r) => setImmediate(r));
    }
    await Promise.all([pushes[1], pushes[3], pushes[4], pushes[5]]);
    assert.deepEqual(handed, [1, 2, 4, 5, 6]);
    assert.equal(await box.whenIdle(1000), true);
  });

  it('detach hands over what is in flight and held, in order; adopt sends it first', async () => {
    let open = false;
    const box = new Outbox<string>({ capacity: 10, overflow: 'drop-oldest', isOpen: () => open, deliver: () => new Promise<void>(() => undefined) });
    open = true;
    void box.push('flying');
    open = false;
    void box.push('held-1');
    void box.push('held-2');
    assert.equal(await box.whenIdle(1), false, 'not idle: something waits');
    const left = box.detach();
    assert.deepEqual(left, ['flying', 'held-1', 'held-2']);
    const sent: string[] = [];
    const next = new Outbox<string>({ capacity: 10, overflow: 'drop-oldest', isOpen: () => true, deliver: async (v) => void sent.push(v) });
    next.adopt(left);
    await next.push('new');
    assert.deepEqual(sent, ['flying', 'held-1', 'held-2', 'new']);
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

describe('ml-outbox node with a frozen broker (connected, no acks)', () => {
  let broker: TestBroker;
  let sub: MqttClient;
  const got = new Set<string>();
  const wake: Array<() => void> = [];

  before(async () => {
    broker = await startBroker();
    sub = await mqtt.connectAsync(broker.url, { clientId: `outbox-frozen-${process.pid}`, reconnectPeriod: 200 });
    sub.on('message', (_t, payload) => {
      got.add(payload.toString());
      for (const w of wake.splice(0)) w();
    });
    await sub.subscribeAsync('frozen/#', { qos: 1 });
  });

  after(async () => {
    await helper.unload();
    await sub?.endAsync(true);
    await broker?.stop();
  });

  it('hands at most maxInFlight messages to the MQTT client, says so in the status, and fills its own hold instead', async (t) => {
    if (!broker.freeze) return t.skip('needs mosquitto (SIGSTOP)');
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab', label: 'frozen' },
      { id: 'br', type: 'mqtt-broker', broker: '127.0.0.1', port: String(broker.port), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
      { id: 'box', type: 'ml-outbox', z: 'tab', broker: 'br', topic: 'frozen/x', qos: '1', retain: false, capacity: '20', maxInFlight: '5', overflow: 'drop-oldest', wires: [] },
      { id: 'catcher', type: 'catch', z: 'tab', scope: ['box'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'tab', wires: [] },
      { id: 'completer', type: 'complete', z: 'tab', scope: ['box'], uncaught: false, wires: [['completed']] },
      { id: 'completed', type: 'helper', z: 'tab', wires: [] },
    ];
    await helper.load([nodeModule('ml-outbox'), coreMqtt], flow, {});
    await nextStatus('box', (s) => s.fill === 'green');
    broker.freeze();
    const sent = 30;
    const inFlight = 5;
    const capacity = 20;
    const dropped = nextMessages('caught', sent - inFlight - capacity);
    // the key where the test runtime has no catalogue, the English text where it has
    const awaiting = nextStatus('box', (s) => s.fill === 'yellow' && /no acks|status\.awaiting/.test(s.text ?? ''));
    for (let i = 0; i < sent; i++) inject('box', { payload: `f${i}` });
    const errors = await dropped;
    assert.ok(errors.every((m) => (m.error as { code: string }).code === 'EDGEML_OUTBOX_OVERFLOW'));
    await awaiting;
    const client = (getNode('br') as unknown as { client: { outgoing: Record<string, unknown>; queue: unknown[]; connected: boolean } }).client;
    assert.equal(client.connected, true, 'the connection is up');
    assert.equal(Object.keys(client.outgoing).length, inFlight, 'the MQTT client holds only the in-flight ones');
    assert.equal(client.queue.length, 0, 'nothing in the MQTT client queue');
    const completed = nextMessages('completed', sent - errors.length, 30000);
    broker.thaw!();
    await completed;
    // drop-oldest dropped the oldest held ones: f5..f9 (f0..f4 were in flight)
    const want = Array.from({ length: sent }, (_, i) => `f${i}`).filter((_, i) => i < inFlight || i >= inFlight + (sent - inFlight - capacity));
    while (want.some((w) => !got.has(w))) await new Promise<void>((resolve) => wake.push(resolve));
    assert.deepEqual(
      [...got].filter((g) => !want.includes(g)),
      [],
      'nothing dropped was published',
    );
  });
});
