/**
 * ml-sparkplug: publishes predictions as a Sparkplug B edge node with one device (NBIRTH, DBIRTH,
 * DDATA, DDEATH, NDEATH; bdSeq, seq, aliases), so Ignition and other Sparkplug hosts read them
 * without hand-written mapping.
 *
 * The connection settings (server, port, TLS, credentials, client id, keepalive) come from the
 * user's core mqtt-broker config node, but the node opens its own MQTT connection with them: a
 * Sparkplug edge node needs NDEATH as the MQTT will of its connection, with a bdSeq that changes on
 * every reconnect. The core broker node has one fixed will for all its users, set when it is
 * configured, and would send the same will for every node sharing the broker.
 *
 * While the primary host (its STATE topic) is offline, predictions wait in a bounded queue
 * (src/lib/outbox, the store of ml-outbox) and go out in order, flagged historical, after the
 * rebirth that follows the host coming back.
 */
import { numericSetting } from '../../lib/config-ranges';
import { refuseConfig } from '../shared/runtime';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { EdgeMlError, isEdgeMlError } from '../../lib/errors';
import { OUTBOX_OVERFLOW, Outbox, type OutboxOverflow } from '../../lib/outbox/outbox';
import { SparkplugEdgeNode, checkId, parseState, stateTopic, toPrediction, topicOf, type Packet, type Prediction } from '../../lib/sparkplug/edge-node';
import { NodeStatus, onInput } from '../shared/runtime';
import { resolveConfig } from '../shared/config';
import { ML_SPARKPLUG_CONFIG, type MlSparkplugConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type SparkplugDef = NodeDef & MlSparkplugConfig;

/** What ml-sparkplug reads of the core mqtt-broker config node: its URL and its client options. */
interface BrokerSettings extends Node {
  brokerurl?: string;
  options?: IClientOptions;
}

interface Held {
  prediction: Prediction;
  historical: boolean;
}

/** How long a closing node waits for its goodbye (DDEATH, NDEATH) to be written. */
const CLOSE_MS = 2000;

export = function register(RED: NodeAPI): void {
  function MlSparkplugNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: SparkplugDef = resolveConfig(ML_SPARKPLUG_CONFIG, saved);
    const node = this;
    const status = new NodeStatus(RED, node);
    const broker = RED.nodes.getNode(config.broker) as BrokerSettings | null;
    let capacity: number;
    try {
      capacity = numericSetting('ml-sparkplug', 'capacity', config.capacity, 10000);
    } catch (e) {
      refuseConfig(RED, node, e);
      return;
    }
    let edge: SparkplugEdgeNode;
    let hostId: string | undefined;
    try {
      if (!broker?.brokerurl) throw new EdgeMlError('EDGEML_SPARKPLUG_CONFIG', 'no MQTT broker configured', { reason: 'no MQTT broker' });
      edge = new SparkplugEdgeNode({
        groupId: checkId('group id', config.groupId ?? ''),
        edgeNodeId: checkId('edge node id', config.edgeNodeId ?? ''),
        deviceId: checkId('device id', config.deviceId ?? ''),
      });
      hostId = config.primaryHost?.trim() ? checkId('primary host id', config.primaryHost) : undefined;
    } catch (e) {
      refuseConfig(RED, node, e, { code: 'EDGEML_SPARKPLUG_CONFIG', statusKey: 'ml-sparkplug.status.unconfigured' });
      return;
    }
    const includeFeatures = config.features === true;
    const overflow: OutboxOverflow = (OUTBOX_OVERFLOW as readonly string[]).includes(config.overflow) ? (config.overflow as OutboxOverflow) : 'drop-oldest';
    let hostOnline = hostId === undefined;
    let hostSeen = -Infinity;

    const options: IClientOptions = { ...(broker.options ?? {}) };
    delete options.will;
    options.clientId = `${broker.options?.clientId || 'nodered'}-spb-${edge.ids.edgeNodeId}`;
    options.reconnectPeriod = broker.options?.reconnectPeriod || 5000;
    options.clean = true;
    const willOf = (p: Packet): NonNullable<IClientOptions['will']> => ({ topic: p.topic, payload: p.payload, qos: 1, retain: false });
    options.will = willOf(edge.will());
    const client: MqttClient = mqtt.connect(broker.brokerurl, options);

    const publish = (packets: Packet[]): Promise<void> =>
      Promise.all(
        packets.map(
          (p) => new Promise<void>((resolve, reject) => client.publish(p.topic, p.payload, { qos: 0, retain: false }, (err?: Error) => (err ? reject(err) : resolve()))),
        ),
      ).then(() => undefined);

    const outbox = new Outbox<Held>({
      capacity,
      overflow,
      isOpen: () => client.connected && hostOnline && edge.born,
      deliver: (h) => publish(edge.report(h.prediction, h.historical)),
    });

    const showStatus = (): void =>
      status.update(() => {
        const s = outbox.stats;
        if (!client.connected) return [s.held ? 'warn' : 'idle', 'ml-sparkplug.status.offline', { held: s.held, dropped: s.dropped }];
        if (!hostOnline) return [s.held ? 'warn' : 'idle', 'ml-sparkplug.status.hostOffline', { host: hostId ?? '', held: s.held, dropped: s.dropped }];
        if (s.dropped) return ['error', 'ml-sparkplug.status.dropped', { dropped: s.dropped }];
        return ['ready', 'ml-sparkplug.status.online', { bdSeq: edge.bdSeq }];
      });

    /** (Re)birth when everything is up, then send what waited. */
    const rebirth = (): void => {
      if (!client.connected || !hostOnline) return;
      publish(edge.birth()).catch((e: unknown) => node.warn(String(e)));
      outbox.flush();
      showStatus();
    };

    const ncmd = topicOf(edge.ids, 'NCMD');
    const state = hostId ? stateTopic(hostId) : undefined;
    client.on('connect', () => {
      client.subscribe(state ? [ncmd, state] : [ncmd], { qos: 1 }, (err) => {
        if (err) node.warn(String(err));
        // Without a primary host, the edge node is born as soon as it is subscribed to its commands.
        if (!state) rebirth();
      });
      showStatus();
    });
    client.on('message', (topic, payload) => {
      if (topic === ncmd) {
        if (edge.isRebirthCommand(payload)) rebirth();
        return;
      }
      if (topic !== state) return;
      const s = parseState(payload);
      if (!s) {
        node.warn(RED._('ml-sparkplug.warn.badState', { topic }));
        return;
      }
      // An offline STATE older than the last online one is a stale will of an earlier host session.
      if (s.timestamp < hostSeen) return;
      hostSeen = s.timestamp;
      const wasOnline = hostOnline;
      hostOnline = s.online;
      if (!s.online) edge.unborn();
      else if (!wasOnline || !edge.born) rebirth();
      showStatus();
    });
    client.on('close', () => {
      // Every CONNECT carries the next bdSeq in its will; the NBIRTH sent on it repeats it.
      edge.connectionLost();
      client.options.will = willOf(edge.will());
      if (hostId) hostOnline = false;
      showStatus();
    });
    client.on('error', (err) => node.debug(String(err)));
    status.show('idle', 'ml-sparkplug.status.connecting');

    onInput(RED, node, async (msg: NodeMessageInFlow) => {
      const prediction = toPrediction(msg as NodeMessageInFlow & Record<string, unknown>, includeFeatures);
      const waits = outbox.stats.held > 0 || !(client.connected && hostOnline && edge.born);
      const sent = outbox.push({ prediction, historical: waits });
      showStatus();
      try {
        await sent;
      } catch (e) {
        if (isEdgeMlError(e) && e.code === 'EDGEML_OUTBOX_OVERFLOW') {
          throw new EdgeMlError('EDGEML_SPARKPLUG_OVERFLOW', e.message, { capacity });
        }
        if (isEdgeMlError(e) && e.code === 'EDGEML_OUTBOX_CLOSED') throw new EdgeMlError('EDGEML_SPARKPLUG_CLOSED', e.message, {});
        throw e;
      } finally {
        showStatus();
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      outbox.close();
      const end = (): void => {
        client.removeAllListeners('close');
        client.end(false, {}, () => done());
      };
      if (!client.connected) {
        client.removeAllListeners('close');
        client.end(true, {}, () => done());
        return;
      }
      // A clean goodbye: DDEATH and NDEATH before the disconnect (the broker drops the will then).
      const timer = setTimeout(() => client.end(true, {}, () => done()), CLOSE_MS);
      publish(edge.goodbye()).then(
        () => {
          clearTimeout(timer);
          end();
        },
        () => {
          clearTimeout(timer);
          end();
        },
      );
    });
  }

  RED.nodes.registerType('ml-sparkplug', MlSparkplugNode);
};
