/**
 * ml-outbox: publishes messages through the user's MQTT broker config node and, unlike the core
 * mqtt out node (which drops what arrives while the broker is unreachable), holds them in a bounded
 * queue until the connection is back, then sends them in order. done() follows the broker's
 * acknowledgement, so a Complete node sees what was really delivered and a Catch node what was not.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { OUTBOX_OVERFLOW, Outbox, type OutboxOverflow } from '../../lib/outbox/outbox';
import type { MqttBrokerNode } from '../shared/mqtt-broker';
import { NodeStatus, onInput, refuseConfig } from '../shared/runtime';
import { numericSetting } from '../../lib/config-ranges';

interface OutboxDef extends NodeDef {
  broker: string;
  topic: string;
  qos: number | string;
  retain: boolean | string;
  capacity: number | string;
  overflow: string;
}

interface Outgoing {
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
}

/** Safety net for a reconnect the broker node did not announce to its users. */
const RECHECK_MS = 1000;

function isPublishTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && topic.length > 0 && !/[+#]/.test(topic);
}

function serialise(payload: unknown): Buffer | string {
  if (Buffer.isBuffer(payload)) return payload;
  if (payload === null || payload === undefined) return '';
  if (typeof payload === 'object') return JSON.stringify(payload);
  return String(payload);
}

export = function register(RED: NodeAPI): void {
  function MlOutboxNode(this: Node, config: OutboxDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new NodeStatus(RED, node);
    const broker = RED.nodes.getNode(config.broker) as MqttBrokerNode | null;
    if (!broker) {
      status.show('error', 'ml-outbox.status.unconfigured');
      node.error(RED._('ml-outbox.errors.unconfigured'));
      return;
    }
    let qos: number;
    let capacity: number;
    try {
      qos = numericSetting('ml-outbox', 'qos', config.qos, 1);
      capacity = numericSetting('ml-outbox', 'capacity', config.capacity, 10000);
    } catch (e) {
      refuseConfig(RED, node, e);
      return;
    }
    const retain = config.retain === true || config.retain === 'true';
    const overflow: OutboxOverflow = (OUTBOX_OVERFLOW as readonly string[]).includes(config.overflow) ? (config.overflow as OutboxOverflow) : 'drop-oldest';

    const outbox = new Outbox<Outgoing>({
      capacity,
      overflow,
      isOpen: () => broker.connected,
      deliver: (m) =>
        new Promise<void>((resolve, reject) => {
          // QoS 0 has no acknowledgement: the callback fires once the packet is written.
          broker.publish({ ...m }, (err?: Error) => (err ? reject(err) : resolve()));
        }),
    });

    // rendered when shown (at most every 200 ms while messages flow), not for every message
    const showStatus = (): void =>
      status.update(() => {
        const s = outbox.stats;
        if (!broker.connected) return [s.held ? 'warn' : 'idle', 'ml-outbox.status.holding', { held: s.held, dropped: s.dropped }];
        if (s.dropped) return ['error', 'ml-outbox.status.dropped', { dropped: s.dropped }];
        return ['ready', 'ml-outbox.status.connected'];
      });

    let recheck: NodeJS.Timeout | undefined;
    const settle = (): void => {
      outbox.flush();
      showStatus();
      const held = outbox.stats.held;
      if (held > 0 && !recheck) {
        recheck = setInterval(settle, RECHECK_MS);
      } else if (held === 0 && recheck) {
        clearInterval(recheck);
        recheck = undefined;
      }
    };

    // Registered as a user so the broker connects for us and tells us when the connection comes and goes.
    const user = { id: node.id, status: (): void => settle() };
    broker.register(user);
    status.show('idle', 'ml-outbox.status.waiting');

    onInput(RED, node, async (msg: NodeMessageInFlow) => {
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
    });

    node.on('close', (removed: boolean, done: () => void) => {
      if (recheck) clearInterval(recheck);
      status.close();
      outbox.close();
      broker.deregister(user, done, removed);
    });
  }

  RED.nodes.registerType('ml-outbox', MlOutboxNode);
};
