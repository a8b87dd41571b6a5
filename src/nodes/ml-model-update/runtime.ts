/**
 * ml-model-update: receives model updates over the user's MQTT broker connection, verifies and
 * stores them in the Node-RED user directory, has the onnx-model config node validate and swap to
 * them, reports each step on a retained status topic, and publishes what the device runs.
 */
import os from 'node:os';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { MODEL_REPORT_FORMAT, VersionFigureTracker } from '../../lib/fleet/device-status';
import { metricsRegistry } from '../../lib/metrics';
import { UpdateReceiver } from '../../lib/update/receiver';
import { DEFAULT_PREFIX, isValidSegment, updateTopics, type UpdateStatus } from '../../lib/update/topics';
import { registerMetricsEndpoint } from '../shared/admin';
import type { MqttBrokerNode } from '../shared/mqtt-broker';
import type { OnnxModelNode } from '../onnx-model/types';
import { onInput, setStatus, statusWords, refuseConfig } from '../shared/runtime';
import { numericSettings } from '../../lib/config-ranges';
import { edgeMlSetting } from '../shared/settings';
import { DEFAULT_MAX_UPDATE_BYTES } from '../../lib/update/store';
import { resolveConfig } from '../shared/config';
import { ML_MODEL_UPDATE_CONFIG, type MlModelUpdateConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type UpdateNodeDef = NodeDef & MlModelUpdateConfig;

/** What this node needs of the onnx-model config node (each part checked before use). */
type UpdatableModel = Node & Partial<Pick<OnnxModelNode, 'configuredPath' | 'identify' | 'modelName' | 'swapModel'>>;

export = function register(RED: NodeAPI): void {
  registerMetricsEndpoint(RED);

  function MlModelUpdateNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: UpdateNodeDef = resolveConfig(ML_MODEL_UPDATE_CONFIG, saved);
    const node = this;
    const broker = RED.nodes.getNode(config.broker) as MqttBrokerNode | null;
    const model = RED.nodes.getNode(config.model) as UpdatableModel | null;
    const deviceId =
      (config.deviceIdType === 'env' ? process.env[config.deviceId] : config.deviceId)?.trim() || process.env.EDGEML_DEVICE_ID || os.hostname();
    const groups = String(config.groups ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    const prefix = (config.prefix || DEFAULT_PREFIX).trim();
    const topics = updateTopics(prefix);

    let settings: { reportInterval: number; stallSeconds: number };
    try {
      settings = numericSettings('ml-model-update', config, { reportInterval: 60, stallSeconds: 10 });
    } catch (e) {
      refuseConfig(RED, node, e);
      return;
    }
    const { reportInterval: reportSeconds, stallSeconds } = settings;
    if (!broker || !model) {
      setStatus(RED, node, 'error', 'ml-model-update.status.unconfigured');
      node.error(RED._('ml-model-update.errors.unconfigured'));
      return;
    }
    if (![deviceId, ...groups].every(isValidSegment)) {
      setStatus(RED, node, 'error', 'ml-model-update.status.unconfigured');
      node.error(RED._('errors.EDGEML_UPDATE_TOPIC_INVALID', { value: [deviceId, ...groups].join(', ') }));
      return;
    }

    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const publish = (topic: string, payload: string, retain: boolean): void => {
      broker.publish({ topic, payload, qos: 1, retain });
    };

    // read from the configured file once: the receiver only takes updates for this model name
    const modelName = model.modelName?.();
    const figures = new VersionFigureTracker();
    const observe = (): ReturnType<VersionFigureTracker['observe']> => {
      const metrics = metricsRegistry();
      const snapshot = metrics.snapshot();
      const versions = figures.observe(metrics.modelSnapshot(model.id), snapshot.guard, snapshot.drift);
      // label shares and score histogram of each version, as ml-format counted them
      for (const f of [versions.current, versions.previous]) {
        const p = f ? metrics.predictionCounts(f.sha256) : undefined;
        if (f && p) Object.assign(f, p);
      }
      return versions;
    };
    const onMessage = (t: string, payload: Buffer): void => {
      if (t === topics.command(deviceId) && isReportCommand(payload)) report();
      else void receiver.handle(t, payload);
    };
    const dynamic = new Set<string>();
    const receiver = new UpdateReceiver({
      deviceId,
      groups,
      maxUpdateBytes: edgeMlSetting(RED, 'maxUpdateBytes', DEFAULT_MAX_UPDATE_BYTES),
      // one folder per device id, so several device flows in one runtime never share files
      storeDir: path.join(userDir, 'edge-ml', 'updates', deviceId),
      prefix,
      ...(config.publicKey?.trim() ? { publicKey: config.publicKey.trim() } : {}),
      ...(modelName ? { modelName } : {}),
      stallMs: stallSeconds * 1000,
      baseline: () => {
        const file = model.configuredPath;
        const id = file ? model.identify?.(file) : undefined;
        return file && id ? { ...id, file, since: '' } : undefined;
      },
      activate: async (stored) => {
        if (typeof model.swapModel !== 'function') {
          throw new EdgeMlError('EDGEML_UPDATE_UNSUPPORTED', 'the model node cannot swap models', {});
        }
        await model.swapModel(stored.file);
        const metrics = metricsRegistry();
        const snapshot = metrics.snapshot();
        figures.markSwap(metrics.modelSnapshot(model.id), snapshot.guard, snapshot.drift); // the new version's figures count from here
      },
      // fleet rollouts send a file's chunks once, on <prefix>/blob/<sha256>/+
      subscribe: (filter) => {
        dynamic.add(filter);
        broker.subscribe(filter, { qos: 1 }, onMessage, node.id);
      },
      unsubscribe: (filter) => {
        if (dynamic.delete(filter)) broker.unsubscribe(filter, node.id);
      },
      publish,
      onState: (s: UpdateStatus) => {
        if (s.state === 'active' || s.state === 'rolled-back') setStatus(RED, node, 'ready', 'ml-model-update.status.active', { version: s.version });
        else if (s.state === 'rejected') setStatus(RED, node, 'error', 'ml-model-update.status.rejected', { reason: statusWords(RED, s.code) });
        else if (s.state === 'receiving') setStatus(RED, node, 'loading', 'ml-model-update.status.receiving', { version: s.version });
        node.send({ topic: topics.updateStatus(deviceId), payload: s });
      },
    });

    const subscriptions = receiver.subscriptions();
    broker.register(node);
    for (const topic of subscriptions) {
      broker.subscribe(topic, { qos: 1 }, onMessage, node.id);
    }
    setStatus(RED, node, 'idle', 'ml-model-update.status.waiting');

    // After a restart or redeploy the onnx-model node loads its configured file; put back the
    // version that was delivered and activated here, so an update survives a reboot.
    const delivered = modelName ? receiver.active(modelName) : undefined;
    if (delivered && typeof model.swapModel === 'function') {
      model.swapModel(delivered.file).then(
        () => setStatus(RED, node, 'ready', 'ml-model-update.status.active', { version: delivered.version }),
        (e: unknown) => {
          setStatus(RED, node, 'error', 'ml-model-update.status.rejected', { reason: statusWords(RED, (e as EdgeMlError).code ?? 'EDGEML_INTERNAL') });
          node.warn(RED._('ml-model-update.errors.restore', { version: delivered.version, reason: (e as Error).message }));
        },
      );
    }

    function report(): void {
      if (!broker!.connected) return;
      const metrics = metricsRegistry();
      const snapshot = metrics.snapshot();
      // the figures of this node's own model (metrics are kept per onnx-model node)
      const served = metrics.modelSnapshot(model!.id);
      const versions = observe();
      publish(
        topics.modelStatus(deviceId),
        JSON.stringify({
          format: MODEL_REPORT_FORMAT,
          device: deviceId,
          ts: new Date().toISOString(),
          groups,
          model: served ?? null,
          guard: snapshot.guard,
          drift: snapshot.drift,
          ...versions,
        }),
        true,
      );
    }
    const interval = reportSeconds * 1000;
    const reporter = setInterval(report, interval);

    onInput(RED, node, async (msg, send) => {
      const p = msg.payload as unknown;
      const command = typeof p === 'string' ? p : (p as { command?: unknown } | null)?.command;
      if (command === 'rollback') {
        await receiver.handle(topics.command(deviceId), Buffer.from(JSON.stringify({ command: 'rollback' })));
      } else if (command === 'report' || command === 'status') {
        report();
        send({ ...msg, payload: metricsRegistry().snapshot() });
      } else {
        throw new EdgeMlError('EDGEML_UPDATE_COMMAND_UNKNOWN', `unknown command ${String(command)}`, { command: String(command) });
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      clearInterval(reporter);
      receiver.close();
      for (const topic of [...subscriptions, ...dynamic]) broker.unsubscribe(topic, node.id);
      broker.deregister(node, done, false);
    });
  }

  RED.nodes.registerType('ml-model-update', MlModelUpdateNode);

  /** {"command":"report"} on the command topic: a host (a rollout's gate) asks for fresh figures. */
  function isReportCommand(payload: Buffer): boolean {
    try {
      return (JSON.parse(payload.toString('utf8')) as { command?: unknown }).command === 'report';
    } catch {
      return false;
    }
  }
};
