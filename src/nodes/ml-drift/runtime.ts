/**
 * ml-drift: compares each feature's live distribution (and optionally the prediction) with a
 * reference over fixed-size windows; one report message per window.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { numericSetting, type SettingOf } from '../../lib/config-ranges';
import {
  DEFAULT_DRIFT_OPTIONS,
  DriftMonitor,
  parseReferenceFile,
  referenceFromStats,
  type DriftOptions,
  type FeatureReference,
  type ReferenceSource,
} from '../../lib/drift/drift';
import { ModelCardSource, PerCard } from '../shared/model-card-source';
import { metricsRegistry } from '../../lib/metrics';
import { NodeStatus, onInput, statusKeyOf } from '../shared/runtime';
import { resolveConfig } from '../shared/config';
import { ML_DRIFT_CONFIG, type MlDriftConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type MlDriftDef = NodeDef & MlDriftConfig;

/** A numeric setting in its range (config-ranges.ts), else a coded error; blank gives the default. */
const num = (v: string | number | undefined, field: SettingOf<'ml-drift'>, fallback: number): number => numericSetting('ml-drift', field, v, fallback);

function optionsFromDef(def: MlDriftDef): DriftOptions {
  const d = DEFAULT_DRIFT_OPTIONS;
  const mode = def.mode === 'sliding' ? 'sliding' : 'tumbling';
  const o: DriftOptions = {
    window: num(def.window, 'window', d.window),
    mode,
    step: num(def.step, 'step', d.step),
    referenceSamples: num(def.referenceSamples, 'referenceSamples', d.referenceSamples),
    bins: num(def.bins, 'bins', d.bins),
    psi: { warn: num(def.psiWarn, 'psiWarn', d.psi.warn), alarm: num(def.psiAlarm, 'psiAlarm', d.psi.alarm) },
    meanShift: { warn: num(def.shiftWarn, 'shiftWarn', d.meanShift.warn), alarm: num(def.shiftAlarm, 'shiftAlarm', d.meanShift.alarm) },
    ksP: { warn: num(def.ksWarn, 'ksWarn', d.ksP.warn), alarm: num(def.ksAlarm, 'ksAlarm', d.ksP.alarm) },
  };
  if (o.bins < 2) throw new EdgeMlError('EDGEML_DRIFT_CONFIG', 'bins < 2', { reason: 'bins must be at least 2' });
  if (o.psi.alarm < o.psi.warn || o.meanShift.alarm < o.meanShift.warn || o.ksP.alarm > o.ksP.warn) {
    throw new EdgeMlError('EDGEML_DRIFT_CONFIG', 'alarm threshold milder than warn', { reason: 'an alarm threshold is milder than its warn threshold' });
  }
  return o;
}

/** Feature values of one message by name; non-numbers are left out (ml-guard's job is upstream). */
function featureValues(value: unknown, names: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'number') out[names?.[i] ?? `f${i}`] = v;
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'number') out[k] = v;
  } else {
    throw new EdgeMlError('EDGEML_DRIFT_INPUT', 'features must be an array or an object', { reason: `got ${value === null ? 'null' : typeof value}` });
  }
  return out;
}

export = function (RED: NodeAPI): void {
  function MlDriftNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const def: MlDriftDef = resolveConfig(ML_DRIFT_CONFIG, saved);
    const node = this;
    const status = new NodeStatus(RED, node);
    const source: ReferenceSource = def.reference === 'file' || def.reference === 'samples' ? def.reference : 'card';
    const names = (def.features ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const featuresProperty = def.featuresProperty || 'payload';
    const predictionProperty = def.predictionProperty || '';
    let monitor: DriftMonitor | undefined;
    let options: DriftOptions | undefined;
    let setupError: EdgeMlError | undefined;
    try {
      options = optionsFromDef(def);
      if (source === 'file') {
        if (!def.referenceFile) throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', 'no reference file', { reason: 'no reference file set' });
        const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
        const file = path.resolve(userDir, def.referenceFile);
        let json: unknown;
        try {
          json = JSON.parse(readFileSync(file, 'utf8'));
        } catch (e) {
          throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', `cannot read ${file}`, { reason: `cannot read ${file}: ${(e as Error).message}` });
        }
        monitor = new DriftMonitor(options, 'file', parseReferenceFile(json, options.bins, options.referenceSamples));
      } else if (source === 'samples') {
        monitor = new DriftMonitor(options, 'samples');
      }
      status.show(source === 'card' ? 'idle' : 'loading', source === 'samples' ? 'ml-drift.status.learningStart' : 'ml-drift.status.waiting');
    } catch (e) {
      setupError = e instanceof EdgeMlError ? e : new EdgeMlError('EDGEML_DRIFT_CONFIG', String(e), { reason: String(e) });
      status.show('error', 'ml-drift.status.config');
      node.error(setupError.message);
    }
    const cards = new ModelCardSource(RED, node, def.model || undefined);
    // With the card as reference: a new monitor only for other training statistics.
    const cardMonitors = new PerCard<DriftMonitor>(
      (card) => card?.trainingStats,
      (card) => {
        if (!card?.trainingStats || Object.keys(card.trainingStats).length === 0) {
          throw new EdgeMlError('EDGEML_DRIFT_REFERENCE', 'no training statistics in msg.modelCard', { reason: 'msg.modelCard has no trainingStats' });
        }
        const refs: Record<string, FeatureReference> = {};
        for (const [name, stats] of Object.entries(card.trainingStats)) refs[name] = referenceFromStats(stats, (options as DriftOptions).bins);
        return new DriftMonitor(options as DriftOptions, 'card', refs);
      },
      true,
    );

    onInput(
      RED,
      node,
      async (msg, send) => {
        if (setupError) throw setupError;
        const m = msg as NodeMessage & Record<string, unknown>;
        const card = await cards.cardFor(m);
        if (source === 'card') monitor = cardMonitors.get(card);
        const mon = monitor as DriftMonitor;
        const featureNames = names.length ? names : card?.features;
        const values = featureValues(RED.util.getMessageProperty(m, featuresProperty), featureNames);
        if (predictionProperty) {
          const p: unknown = RED.util.getMessageProperty(m, predictionProperty);
          if (typeof p === 'number') values.prediction = p;
        }
        const report = mon.add(values, Date.now());
        const phase = mon.phase;
        if (report) {
          send({ topic: 'drift', payload: report } as NodeMessage);
          metricsRegistry().recordDrift(report.state);
          const list = report.drifted.join(', ');
          // a window's verdict is news: shown at once, not folded into the next update
          if (report.state === 'ok') status.show('ready', 'ml-drift.status.ok', { window: report.window.index });
          else status.show(report.state === 'alarm' ? 'error' : 'warn', `ml-drift.status.${report.state}`, { features: list, window: report.window.index });
        } else if (phase.learning) {
          status.update(() => ['loading', 'ml-drift.status.learning', { n: mon.phase.learned, total: (options as DriftOptions).referenceSamples }]);
        }
      },
      (err) => status.show('error', statusKeyOf(RED, err.code)),
    );
    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      cards.close().then(done, done);
    });
  }
  RED.nodes.registerType('ml-drift', MlDriftNode);
};
