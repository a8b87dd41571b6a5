/**
 * edge-ml-card: writes, shows and checks the model card (edgeml.* metadata_props) of an ONNX file.
 * Runs with Node.js alone (no ONNX Runtime), e.g. `npx -p node-red-contrib-edge-ml edge-ml-card ...`
 * on a training machine.
 *
 *   edge-ml-card stamp model.onnx --train train.csv [--out copy.onnx] [--features a,b] [--target col]
 *                [--labels a,b] [--task classification] [--name N --version V] [--scaler standard]
 *                [--thresholds JSON] [--source-commit SHA] [--bins 20] [--range-percentile 0.5] [--range-margin 0.05]
 *   edge-ml-card show model.onnx
 *   edge-ml-card check model.onnx
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cardFromTraining, readMetadata, writeMetadata, type StampOptions } from '../lib/card/stamp';
import { isEdgeMlError, EdgeMlError } from '../lib/errors';
import { MODEL_CARD_PREFIX, parseModelCard } from '../lib/model-card';
import { modelIdentity, readModelInfo } from '../lib/onnx/model-file';

const USAGE = `usage:
  edge-ml-card stamp MODEL.onnx --train TRAIN.csv [--out COPY.onnx] [--features A,B,...] [--target COLUMN]
                     [--labels A,B,...] [--task classification|regression|anomaly] [--name NAME] [--version VERSION]
                     [--description TEXT] [--scaler standard] [--thresholds JSON] [--source-commit SHA]
                     [--bins 20] [--range-percentile 0.5] [--range-margin 0.05]
  edge-ml-card show MODEL.onnx
  edge-ml-card check MODEL.onnx`;

const list = (s: string | undefined): string[] | undefined =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

function number(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new EdgeMlError('EDGEML_CARD_ARGUMENT', `--${name} ${raw}: not a number`, { reason: `--${name} ${raw}: not a number` });
  return v;
}

function load(file: string | undefined): { file: string; bytes: Buffer } {
  if (!file) throw new EdgeMlError('EDGEML_CARD_ARGUMENT', 'no model file given', { reason: 'no model file given' });
  return { file, bytes: readFileSync(file) };
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      train: { type: 'string' },
      out: { type: 'string' },
      features: { type: 'string' },
      target: { type: 'string' },
      labels: { type: 'string' },
      task: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      description: { type: 'string' },
      scaler: { type: 'string' },
      thresholds: { type: 'string' },
      'source-commit': { type: 'string' },
      bins: { type: 'string' },
      'range-percentile': { type: 'string' },
      'range-margin': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !command || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const { file, bytes } = load(positionals[0]);

  if (command === 'show') {
    const info = readModelInfo(bytes);
    const metadata = readMetadata(bytes);
    const other = Object.fromEntries(Object.entries(metadata).filter(([k]) => !k.startsWith(MODEL_CARD_PREFIX)));
    const id = modelIdentity(file, bytes, info);
    console.log(JSON.stringify({ model: id, card: parseModelCard(metadata), otherMetadata: other }, null, 2));
    return 0;
  }
  if (command === 'check') {
    // The same reading as the onnx-model node: the file's structure, then the card parser.
    const info = readModelInfo(bytes);
    const card = parseModelCard(info.metadata);
    const keys = Object.keys(info.metadata).filter((k) => k.startsWith(MODEL_CARD_PREFIX));
    const problems: string[] = [];
    const width = info.inputs[0]?.dims.at(-1);
    if (card.features && typeof width === 'number' && width > 0 && width !== card.features.length && !card.input) {
      problems.push(`edgeml.features has ${card.features.length} names, the first input takes ${width} values`);
    }
    for (const p of problems) console.error(`warning: ${p}`);
    console.log(`${file}: model card OK (${keys.length} keys: ${keys.map((k) => k.slice(MODEL_CARD_PREFIX.length)).join(', ') || 'none'})`);
    return 0;
  }
  if (command === 'stamp') {
    if (!values.train) throw new EdgeMlError('EDGEML_CARD_ARGUMENT', '--train is required', { reason: '--train is required' });
    if (values.scaler !== undefined && values.scaler !== 'standard') {
      throw new EdgeMlError('EDGEML_CARD_ARGUMENT', `--scaler ${values.scaler}: only "standard" is known`, { reason: `--scaler ${values.scaler}: only "standard" is known` });
    }
    const options: StampOptions = { trainFile: path.basename(values.train) };
    const features = list(values.features);
    if (features) options.features = features;
    const labels = list(values.labels);
    if (labels) options.labels = labels;
    if (values.target !== undefined) options.target = values.target;
    if (values.task !== undefined) options.task = values.task;
    if (values.name !== undefined) options.name = values.name;
    if (values.version !== undefined) options.version = values.version;
    if (values.description !== undefined) options.description = values.description;
    if (values.scaler === 'standard') options.scaler = 'standard';
    if (values.thresholds !== undefined) options.thresholds = values.thresholds;
    if (values['source-commit'] !== undefined) options.sourceCommit = values['source-commit'];
    const bins = number('bins', values.bins);
    if (bins !== undefined) options.bins = bins;
    const q = number('range-percentile', values['range-percentile']);
    if (q !== undefined) options.rangePercentile = q;
    const margin = number('range-margin', values['range-margin']);
    if (margin !== undefined) options.rangeMargin = margin;

    const { metadata } = cardFromTraining(readFileSync(values.train), options);
    const stamped = writeMetadata(bytes, metadata);
    const out = values.out ?? file;
    // Written beside the target and renamed: an interrupted run never leaves half a model.
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, stamped);
    renameSync(tmp, out);
    console.log(`${out}: model card written (${Object.keys(metadata).length} keys)`);
    return 0;
  }
  console.error(USAGE);
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (isEdgeMlError(e)) console.error(`${e.code}: ${e.message}`);
  else console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
