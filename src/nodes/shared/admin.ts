/**
 * Admin HTTP endpoints shared by several node types. Every node type is its own bundle and may
 * register them; a WeakSet on globalThis keeps it to once per admin app.
 */
import type { NodeAPI } from 'node-red';
import { metricsRegistry, toPrometheus } from '../../lib/metrics';

const KEY = Symbol.for('node-red-contrib-edge-ml.admin-apps');

export const METRICS_PATH = '/edge-ml/metrics';

export function registerMetricsEndpoint(RED: NodeAPI): void {
  const app = RED.httpAdmin as unknown as object | undefined;
  if (!app) return;
  const g = globalThis as { [KEY]?: WeakSet<object> };
  const seen = (g[KEY] ??= new WeakSet());
  if (seen.has(app)) return;
  seen.add(app);
  // Prometheus text format; protected like the rest of the admin API (scrape with a token).
  RED.httpAdmin.get(METRICS_PATH, RED.auth.needsPermission('edge-ml.read'), (_req, res) => {
    res.set('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.send(toPrometheus(metricsRegistry().snapshot()));
  });
  RED.httpAdmin.get(`${METRICS_PATH}.json`, RED.auth.needsPermission('edge-ml.read'), (_req, res) => {
    res.json(metricsRegistry().snapshot());
  });
}
