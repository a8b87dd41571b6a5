/** Metrics registry and its Prometheus text exposition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry, metricsRegistry, toPrometheus } from '../src/lib/metrics';

const model = { name: 'pump "classifier"', version: '1.2.0', sha256: 'ab'.repeat(32) };

/** Parses exposition lines `name{labels} value` into records (an independent reader for the test). */
function parse(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+)$/.exec(line);
    assert.ok(m, `a valid sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

test('latency quantiles, rate and counts follow the recorded inferences', () => {
  const registry = new MetricsRegistry();
  const start = Date.parse('2026-01-01T00:00:00Z');
  registry.setModel('m1', model, start);
  const latencies = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) + 1);
  latencies.forEach((ms, i) => registry.recordInference('m1', ms, true, start + i * 500));
  registry.recordInference('m1', 0, false, start);
  const now = start + 199 * 500;
  const snap = registry.snapshot(now);
  const sorted = [...latencies].sort((a, b) => a - b);
  const m = snap.models[0]!;
  assert.equal(m.inferences, latencies.length);
  assert.equal(m.errors, 1);
  assert.equal(m.latencyMs.p50, sorted[Math.ceil(0.5 * sorted.length) - 1]);
  assert.equal(m.latencyMs.p99, sorted[Math.ceil(0.99 * sorted.length) - 1]);
  assert.equal(m.inferencesPerMinute, latencies.filter((_, i) => now - (start + i * 500) <= 60_000).length);
});

test('a model swap resets latency and since, keeps the running totals', () => {
  const registry = new MetricsRegistry();
  registry.setModel('m1', model, 1000);
  registry.recordInference('m1', 5, true, 1000);
  registry.setModel('m1', { ...model, version: '2', sha256: 'cd'.repeat(32) }, 5000);
  const m = registry.snapshot(6000).models[0]!;
  assert.equal(m.version, '2');
  assert.equal(m.since, new Date(5000).toISOString());
  assert.equal(m.inferences, 1);
  assert.equal(m.latencyMs.p50, null);
});

test('the Prometheus text parses, escapes labels and carries the same numbers as the snapshot', () => {
  const registry = new MetricsRegistry();
  registry.setModel('m1', model);
  for (const ms of [3, 4, 5]) registry.recordInference('m1', ms, true);
  registry.recordGuard('out_of_range', 'pressure');
  registry.recordGuard('out_of_range', 'pressure');
  registry.recordDrift('alarm');
  const snap = registry.snapshot();
  const samples = parse(toPrometheus(snap));
  const find = (name: string, extra: Record<string, string> = {}) => samples.find((s) => s.name === name && Object.entries(extra).every(([k, v]) => s.labels[k] === v));
  assert.equal(find('edgeml_inferences_total', { model: model.name })?.value, snap.models[0]!.inferences);
  assert.equal(find('edgeml_inference_latency_ms', { quantile: '0.5' })?.value, snap.models[0]!.latencyMs.p50);
  assert.equal(find('edgeml_guard_findings_total', { check: 'out_of_range', feature: 'pressure' })?.value, snap.guard['out_of_range:pressure']);
  assert.equal(find('edgeml_drift_reports_total', { level: 'alarm' })?.value, snap.drift.alarm);
});

test('every bundle shares one registry through globalThis', () => {
  assert.equal(metricsRegistry(), metricsRegistry());
});
