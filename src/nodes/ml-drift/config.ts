/**
 * ml-drift's configuration, declared once for the editor and the runtime (see ../shared/config).
 * The numbers are the library's own defaults (DEFAULT_DRIFT_OPTIONS), as the text the editor shows.
 */
import { DEFAULT_DRIFT_OPTIONS as D } from '../../lib/drift/drift';
import { defineConfig, numbersToStrings } from '../shared/config';

export const ML_DRIFT_NUMERIC = ['referenceSamples', 'window', 'step', 'bins', 'psiWarn', 'psiAlarm', 'shiftWarn', 'shiftAlarm', 'ksWarn', 'ksAlarm'] as const;

export const ML_DRIFT_CONFIG = defineConfig(
  {
    name: '',
    model: '',
    reference: 'card',
    referenceFile: '',
    referenceSamples: String(D.referenceSamples),
    features: '',
    featuresProperty: 'payload',
    predictionProperty: '',
    window: String(D.window),
    mode: D.mode,
    step: String(D.step),
    bins: String(D.bins),
    psiWarn: String(D.psi.warn),
    psiAlarm: String(D.psi.alarm),
    shiftWarn: String(D.meanShift.warn),
    shiftAlarm: String(D.meanShift.alarm),
    ksWarn: String(D.ksP.warn),
    ksAlarm: String(D.ksP.alarm),
  },
  [
    // 0 -> 1 (0.1.x -> 0.2): numbers saved as numbers become the strings the editor writes.
    (c) => numbersToStrings(c, ML_DRIFT_NUMERIC),
  ],
);

export type MlDriftConfig = typeof ML_DRIFT_CONFIG.defaults;
