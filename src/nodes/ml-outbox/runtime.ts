/**
 * ml-outbox: publishes messages through the user's MQTT broker config node and, unlike the core
 * mqtt out node (which drops what arrives while the broker is unreachable), holds them in a bounded
 * queue until the connection is back, then sends them in order. done() follows the broker's
 * acknowledgement, so a Complete node sees what was really delivered and a Catch node what was not.
 *
 * Bounds: the hold by count and by bytes; messages handed to the MQTT client but not acknowledged
 * by `maxInFlight`, so a frozen broker (connected, no acks) fills the hold, not the client's queue.
 *
 * Redeploy: what is held (and what is in flight without an ack) is handed to the node's next
 * instance in the same process (a module-level handover keyed by node id) and sent by it. On close
 * the node first lets the flow drain (whenQuiet) and waits for acks up to DRAIN_MS; the broker
 * config node's disconnect waits for that too. Nothing is kept across a restart of the process.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { OUTBOX_OVERFLOW, Outbox, type OutboxOverflow } from '../../lib/outbox/outbox';
import type { MqttBrokerNode } from '../shared/mqtt-broker';
import { DRAIN_MS, NodeStatus, onInput, refuseConfig, whenQuiet } from '../shared/runtime';
import { numericSettings } from '../../lib/config-ranges';
import { resolveConfig } from '../shared/config';
import { ML_OUTBOX_CONFIG, type MlOutboxConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type OutboxDef = NodeDef & MlOutboxConfig;

interface Outgoing {
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
}

/** Safety net for a reconnect the broker node did not announce to its users. */
const RECHECK_MS = 1000;
/** A handover not taken by a new instance within this time is dropped (the node was not redeployed). */
const HANDOVER_MS = 60_000;

/** Messages a closing instance left for the next instance of the same node (same process). */
const handovers = new Map<string, { values: Outgoing[]; timer: NodeJS.Timeout }>();

function takeHandover(id: string): Outgoing[] {
  const h = handovers.get(id);
  if (!h) return [];
  clearTimeout(h.timer);
  handovers.delete(id);
  return h.values;
}

/**
 * The broker config node ends its MQTT client when it closes (shutdown, full deploy), in the same
 * tick as our close. Its disconnect is made to wait for the outboxes using it to drain first
 * (bounded by DRAIN_MS), so what they still hold is published while the client is up.
 */
const DRAINS = Symbol.for('node-red-contrib-edge-ml.outbox-drains');
type DrainingBroker = MqttBrokerNode & { [DRAINS]?: Set<() => Promise<unknown>>; disconnect?: (cb?: () => void) => void };

function holdBrokerOpen(broker: DrainingBroker, drain: () => Promise<unknown>): () => void {
  let drains = broker[DRAINS];
  if (!drains && typeof broker.disconnect === 'function') {
    const set = new Set<() => Promise<unknown>>();
    drains = broker[DRAINS] = set;
    const original = broker.disconnect.bind(broker);
    broker.disconnect = (cb?: () => void): void => {
      const waits = [...set].map((d) => d().catch(() => undefined));
      const bound = new Promise((resolve) => setTimeout(resolve, DRAIN_MS + 500));
      void Promise.race([Promise.all(waits), bound]).then(() => original(cb));
    };
  }
  drains?.add(drain);
  return () => drains?.delete(drain);
}

function isPublishTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && topic.length > 0 && !/[+#]/.test(topic);
}

function serialise(payload: unknown): Buffer | string {
  if (Buffer.isBuffer(payload)) return payload;
  if (payload === null || payload === undefined) return '';
  if (typeof payload === 'object') return JSON.stringify(payload);
  return String(payload);
}

const sizeOf = (m: Outgoing): number => (Buffer.isBuffer(m.payload) ? m.payload.length : Buffer.byteLength(m.payload)) + Buffer.byteLength(m.topic);

export = function register(RED: NodeAPI): void {
  function MlOutboxNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: OutboxDef = resolveConfig(ML_OUTBOX_CONFIG, saved);
    const node = this;
    let settings: { qos: number; capacity: number; maxMiB: number; maxInFlight: number };
    try {
      settings = numericSettings('ml-outbox', config, { qos: 1, capacity: 10000, maxMiB: 64, maxInFlight: 100 });
    } catch (e) {
      refuseConfig(RED, node, e);
      return;
    }
    const { qos, capacity, maxInFlight } = settings;
    const maxBytes = settings.maxMiB * 1024 * 1024;
    const status = new NodeStatus(RED, node);
    const broker = RED.nodes.getNode(config.broker) as DrainingBroker | null;
    if (!broker) {
      status.show('error', 'ml-outbox.status.unconfigured');
      node.error(RED._('ml-outbox.errors.unconfigured'));
      return;
    }
    const retain = config.retain === true;
    const overflow: OutboxOverflow = (OUTBOX_OVERFLOW as readonly string[]).includes(config.overflow) ? (config.overflow as OutboxOverflow) : 'drop-oldest';

    const outbox = new Outbox<Outgoing>({
      capacity,
      maxBytes,
      maxInFlight,
      sizeOf,
      overflow,
      isOpen: () => broker.connected,
      deliver: (m) =>
        new Promise<void>((resolve, reject) => {
          // QoS 0 has no acknowledgement: the callback fires once the packet is written.
          broker.publish({ ...m }, (err?: Error) => (err ? reject(err) : resolve()));
        }),
    });
    // what the previous instance of this node held when it was redeployed goes first
    const adopted = takeHandover(node.id);
    if (adopted.length) {
      outbox.adopt(adopted);
      node.log(RED._('ml-outbox.log.adopted', { count: adopted.length }));
    }

    // rendered when shown (at most every 200 ms while messages flow), not for every message
    const showStatus = (): void =>
      status.update(() => {
        const s = outbox.stats;
        if (!broker.connected) return [s.held ? 'warn' : 'idle', 'ml-outbox.status.holding', { held: s.held, dropped: s.dropped }];
        if (outbox.awaitingAcks) return ['warn', 'ml-outbox.status.awaiting', { inFlight: s.inFlight, held: s.held, dropped: s.dropped }];
        if (s.dropped) return ['error', 'ml-outbox.status.dropped', { dropped: s.dropped }];
        return ['ready', 'ml-outbox.status.connected'];
      });

    let recheck: NodeJS.Timeout | undefined;
    const settle = (): void => {
      outbox.flush();
      showStatus();
      const pending = outbox.stats.held + outbox.stats.inFlight;
      if (pending > 0 && !recheck) {
        recheck = setInterval(settle, RECHECK_MS);
      } else if (pending === 0 && recheck) {
        clearInterval(recheck);
        recheck = undefined;
      }
    };

    // Registered as a user so the broker connects for us and tells us when the connection comes and goes.
    const user = { id: node.id, status: (): void => settle() };
    broker.register(user);
    status.show('idle', 'ml-outbox.status.waiting');
    if (adopted.length) settle();

    // the flow drains into this node first, then what it holds goes out while the broker is up
    const drain = (): Promise<boolean> => whenQuiet().then(() => (broker.connected ? outbox.whenIdle(DRAIN_MS) : false));
    const releaseBroker = holdBrokerOpen(broker, drain);

    onInput(
      RED,
      node,
      async (msg: NodeMessageInFlow) => {
        const topic = config.topic?.trim() || msg.topic;
        if (!isPublishTopic(topic)) {
          throw new EdgeMlError('EDGEML_OUTBOX_TOPIC_INVALID', `no valid topic to publish to (${String(topic)})`, { topic: String(topic ?? '') });
        }
        const sent = outbox.push({ topic, payload: serialise(msg.payload), qos, retain });
        settle();
        try {
          await sent;
        } finally {
          showStatus();
        }
      },
      undefined,
      false,
    );

    node.on('close', (removed: boolean, done: () => void) => {
      void drain().then(() => {
        if (recheck) clearInterval(recheck);
        status.close();
        releaseBroker();
        if (removed) {
          const lost = outbox.stats.held;
          outbox.close();
          if (lost) node.warn(RED._('ml-outbox.log.lost', { count: lost }));
        } else {
          const left = outbox.detach();
          if (left.length) {
            // a redeploy: the next instance of this node takes them; nobody else would
            const timer = setTimeout(() => handovers.delete(node.id), HANDOVER_MS);
            timer.unref();
            handovers.set(node.id, { values: left, timer });
            node.log(RED._('ml-outbox.log.handover', { count: left.length }));
          }
        }
        broker.deregister(user, done, removed);
      });
    });
  }

  RED.nodes.registerType('ml-outbox', MlOutboxNode);
};
