/**
 * ml-features: gathers values that arrive one per message (node-red-contrib-opcua's client sends one
 * per node id; MQTT one per topic) or as a batch into one named feature vector for onnx-infer, by a
 * mapping table, with a maximum age so a stale value is not mixed with fresh ones.
 */
import { numericSetting } from '../../lib/config-ranges';
import { refuseConfig } from '../shared/runtime';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { FeatureJoin, parseMapping, type Reading } from '../../lib/features/join';
import { NodeStatus, onInput, type SendFn } from '../shared/runtime';
import { resolveConfig } from '../shared/config';
import { ML_FEATURES_CONFIG, type MlFeaturesConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type FeaturesDef = NodeDef & MlFeaturesConfig;

/** A source timestamp as ms: Date, number or date string; undefined when absent or unreadable. */
function timeOf(v: unknown): number | undefined {
  const t = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

export = function register(RED: NodeAPI): void {
  function MlFeaturesNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: FeaturesDef = resolveConfig(ML_FEATURES_CONFIG, saved);
    const node = this;
    const status = new NodeStatus(RED, node);
    let maxAge: number;
    try {
      maxAge = numericSetting('ml-features', 'maxAge', config.maxAge, 5000);
    } catch (e) {
      refuseConfig(RED, node, e);
      return;
    }
    let join: FeatureJoin;
    try {
      join = new FeatureJoin(parseMapping(config.mapping ?? ''), maxAge, config.reset === true);
    } catch (e) {
      refuseConfig(RED, node, e, { code: 'EDGEML_FEATURES_CONFIG', statusKey: 'ml-features.status.unconfigured' });
      return;
    }
    const key = (config.key || 'topic').trim();
    const useSource = config.timestamp !== 'arrival';

    const readingsOf = (msg: Record<string, unknown>): Reading[] => {
      const now = Date.now();
      const at = (m: Record<string, unknown>): number => (useSource ? (timeOf(m.sourceTimestamp) ?? timeOf(m.serverTimestamp) ?? now) : now);
      const p = msg.payload;
      const id = RED.util.getMessageProperty(msg, key) as unknown;
      if (typeof id === 'string' && id !== '') return [{ source: id, value: p, time: at(msg) }];
      // a batch: [{ topic|nodeId, payload|value, sourceTimestamp? }, ...] or { source: value, ... }
      if (Array.isArray(p)) {
        return p.map((item: unknown, i) => {
          const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
          const source = [o[key], o.topic, o.nodeId, o.source].find((v) => typeof v === 'string' && v !== '') as string | undefined;
          if (!source) throw new EdgeMlError('EDGEML_FEATURES_NO_SOURCE', `batch item ${i} names no source (${key}, topic or nodeId)`, { key, item: i });
          return { source, value: 'value' in o ? o.value : o.payload, time: at(o) };
        });
      }
      if (typeof p === 'object' && p !== null && !Buffer.isBuffer(p)) {
        return Object.entries(p as Record<string, unknown>).map(([source, value]) => ({ source, value, time: at(msg) }));
      }
      throw new EdgeMlError('EDGEML_FEATURES_NO_SOURCE', `msg.${key} names no source and msg.payload is no batch`, { key, item: -1 });
    };

    status.show('idle', 'ml-features.status.waiting', { missing: join.mapping.map((m) => m.name).join(', ') });
    onInput(RED, node, (msg: NodeMessageInFlow, send: SendFn) => {
      const m = msg as NodeMessageInFlow & Record<string, unknown>;
      const result = join.add(readingsOf(m));
      if ('vector' in result) {
        status.update(() => ['ready', 'ml-features.status.complete', { spread: Math.round(result.vector.spreadMs) }]);
        const out: Record<string, unknown> = { ...m, payload: result.vector.features, featureTimes: result.vector.times, featureSpreadMs: result.vector.spreadMs, time: result.vector.time };
        for (const k of ['statusCode', 'serverTimestamp', 'sourceTimestamp', 'datatype', 'browseName']) delete out[k];
        send(out as NodeMessageInFlow);
        return;
      }
      status.update(() =>
        result.stale.length
          ? ['warn', 'ml-features.status.stale', { stale: result.stale.join(', ') }]
          : ['idle', 'ml-features.status.waiting', { missing: result.waiting.join(', ') }],
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType('ml-features', MlFeaturesNode);
};
