/** What our nodes use of the core mqtt-broker config node (@node-red/nodes core/network/10-mqtt.js). */
import type { Node } from 'node-red';

/** A broker user: the config node connects while it has users and reports its state through status(). */
export interface MqttBrokerUser {
  id: string;
  status: (status: object) => void;
}

export interface MqttBrokerNode extends Node {
  connected: boolean;
  register(user: MqttBrokerUser): void;
  deregister(user: MqttBrokerUser, done: () => void, autoDisconnect?: boolean): void;
  subscribe(topic: string, options: { qos: number }, callback: (topic: string, payload: Buffer) => void, ref: string): void;
  unsubscribe(topic: string, ref: string, removeClientSubscription?: boolean): void;
  /** Publishes only while connected (silently drops otherwise); done follows the broker's acknowledgement. */
  publish(msg: { topic: string; payload: Buffer | string; qos: number; retain: boolean }, done?: (err?: Error) => void): void;
}
