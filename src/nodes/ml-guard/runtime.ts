/**
 * ml-guard: per-feature data-quality checks before a model. Output 1: messages that pass (possibly
 * flagged or with values replaced, see msg.guard); output 2: messages routed by a "route" policy,
 * and the statistics reply (msg.command = "stats").
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { numericSetting } from '../../lib/config-ranges';
import {
  CHECKS,
  DataGuard,
  DEFAULT_FEATURE_TABLE,
  FEATURE_CHECKS,
  resolveGuardOptions,
  type GuardConfig,
  type GuardPolicy,
  type ReplaceWith,
} from '../../lib/guard/guard';
import { ModelCardSource, PerCard } from '../shared/model-card-source';
import { DEFAULT_GUARD_SERIES, metricsRegistry } from '../../lib/metrics';
import type { MlGuardInput, MlGuardOutput } from '../../lib/contracts';
import { NodeStatus, onInput, statusKeyOf } from '../shared/runtime';
import { edgeMlSetting } from '../shared/settings';
import { resolveConfig } from '../shared/config';
import { ML_GUARD_CONFIG, type MlGuardConfig } from './config';


/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type MlGuardDef = NodeDef & MlGuardConfig;

const POLICIES: GuardPolicy[] = ['drop', 'flag', 'replace', 'route', 'off'];
const REPLACE: ReplaceWith[] = ['last', 'default', 'clamp'];

function num(v: string | number | undefined, field: string): number | undefined {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new EdgeMlError('EDGEML_GUARD_CONFIG', `${field} is not a number`, { reason: `${field} is not a number: ${String(v)}` });
  return n;
}

function configFromDef(def: MlGuardDef): GuardConfig {
  const c: GuardConfig = {
    features: (def.features ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    ranges: {},
    defaults: {},
    maxDelta: {},
    policies: {},
    replaceWith: {},
  };
  const count = numericSetting('ml-guard', 'expectedCount', def.expectedCount);
  if (count !== undefined) c.expectedCount = count;
  c.stuckSamples = numericSetting('ml-guard', 'stuckSamples', def.stuckSamples, 0);
  c.staleMs = numericSetting('ml-guard', 'staleMs', def.staleMs, 0);
  for (const r of def.rules ?? []) {
    if (!r.feature) continue;
    const min = num(r.min, `${r.feature} min`);
    const max = num(r.max, `${r.feature} max`);
    if (min !== undefined || max !== undefined) {
      const range: [number, number] = [min ?? -Infinity, max ?? Infinity];
      if (range[0] > range[1]) throw new EdgeMlError('EDGEML_GUARD_CONFIG', `${r.feature}: min > max`, { reason: `${r.feature}: min > max` });
      c.ranges![r.feature] = range;
    }
    const d = num(r.default, `${r.feature} default`);
    if (d !== undefined) c.defaults![r.feature] = d;
    const delta = num(r.maxDelta, `${r.feature} maxDelta`);
    if (delta !== undefined && delta < 0) throw new EdgeMlError('EDGEML_GUARD_CONFIG', `${r.feature}: max. change < 0`, { reason: `${r.feature}: max. change must be at least 0` });
    if (delta !== undefined) c.maxDelta![r.feature] = delta;
  }
  for (const check of CHECKS) {
    const p = POLICIES.find((known) => known === def.policies[check]);
    const saved = def.policies[check];
    if (saved === undefined || saved === '') continue;
    if (!p) throw new EdgeMlError('EDGEML_GUARD_CONFIG', `unknown policy ${saved}`, { reason: `unknown policy "${saved}" for ${check}` });
    c.policies![check] = p;
  }
  for (const check of FEATURE_CHECKS) {
    const r = REPLACE.find((known) => known === def.replaceWith[check]);
    const saved = def.replaceWith[check];
    if (saved === undefined || saved === '') continue;
    if (!r) throw new EdgeMlError('EDGEML_GUARD_CONFIG', `unknown replacement ${saved}`, { reason: `unknown replacement "${saved}" for ${check}` });
    c.replaceWith![check] = r;
  }
  return c;
}

export = function (RED: NodeAPI): void {
  function MlGuardNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const def: MlGuardDef = resolveConfig(ML_GUARD_CONFIG, saved);
    const node = this;
    const timestampProperty = def.timestampProperty || 'timestamp';
    let config: GuardConfig | undefined;
    let configError: EdgeMlError | undefined;
    const status = new NodeStatus(RED, node);
    try {
      config = configFromDef(def);
      config.featureTable = edgeMlSetting(RED, 'guardFeatureTable', DEFAULT_FEATURE_TABLE);
      resolveGuardOptions(config); // fail at deploy on a bad combination, not at the first message
      status.show('idle', 'ml-guard.status.waiting');
    } catch (e) {
      configError = e instanceof EdgeMlError ? e : new EdgeMlError('EDGEML_GUARD_CONFIG', String(e), { reason: String(e) });
      status.show('error', 'ml-guard.status.config');
    }
    const cards = new ModelCardSource(RED, node, def.model || undefined);
    // The card supplies names and ranges, the history lives in the guard: only a card that names
    // other features or ranges starts a new one.
    const guards = new PerCard<DataGuard>(
      (card) => [card?.features, card?.ranges],
      (card) => new DataGuard(resolveGuardOptions(config as GuardConfig, card)),
      true,
    );

    const showStatus = (g: DataGuard): void =>
      status.update(() => {
        const s = g.stats;
        const bad = s.flagged + s.dropped + s.routed + s.replaced;
        return [bad ? 'warn' : 'ready', 'ml-guard.status.counts', { passed: s.passed, flagged: s.flagged, replaced: s.replaced, dropped: s.dropped, routed: s.routed }];
      });

    const metrics = metricsRegistry();
    metrics.guardSeriesLimit = edgeMlSetting(RED, 'guardFeatureTable', DEFAULT_GUARD_SERIES);
    onInput(
      RED,
      node,
      async (msg, send) => {
        if (configError) throw configError;
        const m = msg as NodeMessage & MlGuardInput & MlGuardOutput;
        const g = guards.get(await cards.cardFor(m));
        if (m.command === 'stats' || m.command === 'reset-stats') {
          const stats = g.stats;
          if (m.command === 'reset-stats') g.resetStats();
          send([null, { ...m, topic: 'guard/stats', payload: stats } as NodeMessage]);
          showStatus(g);
          return;
        }
        const timestamp = RED.util.getMessageProperty(m, timestampProperty) as unknown;
        const result = g.check(m.payload, Date.now(), timestamp);
        m.guard = { ok: result.issues.length === 0, action: result.action, issues: result.issues };
        for (const issue of result.issues) metrics.recordGuard(issue.check, issue.feature ?? '');
        m.payload = result.payload as MlGuardOutput['payload'];
        if (result.action === 'pass' || result.action === 'flag') send([m, null]);
        else if (result.action === 'route') send([null, m]);
        showStatus(g);
      },
      (err) => status.show('error', statusKeyOf(RED, err.code)),
    );
    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      cards.close().then(done, done);
    });
  }
  RED.nodes.registerType('ml-guard', MlGuardNode);
};
