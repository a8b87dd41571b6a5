/** ml-format's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { defineConfig, numbersToStrings, stringsToBooleans } from '../shared/config';

/** Numeric settings are text fields: '' means "not set here" (the model card or the default decides). */
export const ML_FORMAT_NUMERIC = ['topK', 'confidence', 'targetMean', 'targetScale', 'decimals', 'threshold', 'hysteresis', 'minSamples', 'minDurationMs', 'detScore', 'detIou', 'detMax', 'segThreshold'] as const;

export const ML_FORMAT_CONFIG = defineConfig(
  {
    name: '',
    model: '',
    task: 'auto',
    outLabel: '',
    outScores: '',
    outScore: '',
    outValue: '',
    labels: '',
    logits: 'auto',
    topK: '3',
    confidence: '',
    unknownLabel: 'unknown',
    targetMean: '',
    targetScale: '',
    unit: '',
    decimals: '',
    threshold: '',
    hysteresis: '',
    minSamples: '1',
    minDurationMs: '0',
    passthrough: '',
    includeFeatures: false,
    keepCard: true,
    keepOther: true,
    featuresProperty: 'features',
    topic: 'edgeml/{model}/prediction',
    eventTopic: '',
    modelName: '',
    // detection / segmentation ('' = from the card's edgeml.detection, else the default)
    detFormat: '',
    detLayout: '',
    detBox: '',
    detObjectness: '',
    detNormalized: '',
    detScore: '',
    detIou: '',
    detMax: '',
    detBoxes: '',
    detScores: '',
    detClasses: '',
    detCount: '',
    segOutput: '',
    segMask: false,
    // detection / segmentation: msg.annotated, a JPEG of msg.image with the boxes or mask drawn on it
    annotate: false,
    annotateBackend: 'auto',
    segThreshold: '',
  },
  [
    // 0 -> 1 (0.1.x -> 0.2): numbers saved as numbers become the strings the editor writes (topK
    // was string | number in the runtime and string in the editor); "true"/"false" become booleans.
    (c) => stringsToBooleans(numbersToStrings(c, ML_FORMAT_NUMERIC), ['includeFeatures', 'keepCard', 'keepOther', 'segMask']),
  ],
);

export type MlFormatConfig = typeof ML_FORMAT_CONFIG.defaults;
