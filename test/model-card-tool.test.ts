/**
 * edge-ml-card, run as the built bin in a child process with plain Node.js. Oracles: the model read
 * back with onnx-proto (an independent protobuf decoder), statistics recomputed here in a different
 * way (sums of sorted values, counting by comparison), the CSV hashed with node:crypto, and ONNX
 * Runtime's outputs before and after stamping.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { ROOT } from './helpers/flow';
import { mlpModel, seededRandom } from './helpers/onnx-models';

const BIN = path.join(ROOT, 'nodes', 'bin', 'edge-ml-card.js');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('edge-ml-card', () => {
  let dir: string;
  let model: string;
  let original: Uint8Array;
  let csv: string;
  const features = ['flow', 'pressure', 'current', 'vibration'];
  const columns: Record<string, number[]> = {};
  const rows = 400;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'edge-ml-card-'));
    // A model without metadata: every byte of it is "not metadata".
    original = mlpModel({ inputs: 4, hidden: 5, outputs: 3, seed: 11 }).bytes;
    model = path.join(dir, 'model.onnx');
    writeFileSync(model, original);
    const rnd = seededRandom(42);
    const lines = [[...features, 'state'].join(',')];
    for (const f of features) columns[f] = [];
    for (let r = 0; r < rows; r++) {
      const v = features.map((_, i) => Number((10 * (i + 1) + 5 * rnd() + (r === 7 ? 1000 : 0)).toFixed(4)));
      v.forEach((x, i) => columns[features[i]!]!.push(x));
      lines.push([...v, r % 3 === 0 ? 'cavitation' : r % 3 === 1 ? 'normal' : 'bearing'].join(','));
    }
    csv = path.join(dir, 'train.csv');
    writeFileSync(csv, lines.join('\n') + '\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stamp writes the card into a copy; all bytes but the metadata stay the same; ONNX Runtime gives identical outputs', async () => {
    const out = path.join(dir, 'stamped.onnx');
    const r = run(
      'stamp',
      model,
      '--train',
      csv,
      '--out',
      out,
      '--target',
      'state',
      '--task',
      'classification',
      '--name',
      'pump',
      '--version',
      '2.1.0',
      '--scaler',
      'standard',
      '--thresholds',
      '{"confidence":0.6}',
      '--source-commit',
      'abc123',
      '--bins',
      '10',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(model), Buffer.from(original), 'the input model is untouched');
    const stamped = readFileSync(out);
    assert.deepEqual(stamped.subarray(0, original.length), Buffer.from(original), 'the original bytes come first, unchanged');
    const decoded = onnx.ModelProto.decode(stamped);
    const rest = onnx.ModelProto.decode(stamped.subarray(original.length));
    assert.equal(rest.graph, null, 'what follows is metadata only');
    assert.equal(rest.metadataProps.length, decoded.metadataProps.length);
    const meta = Object.fromEntries(decoded.metadataProps.map((e) => [e.key, e.value]));

    assert.deepEqual(JSON.parse(meta['edgeml.features']!), features);
    assert.deepEqual(JSON.parse(meta['edgeml.labels']!), ['bearing', 'cavitation', 'normal']);
    assert.equal(meta['edgeml.task'], 'classification');
    assert.equal(meta['edgeml.name'], 'pump');
    assert.equal(meta['edgeml.version'], '2.1.0');
    assert.deepEqual(JSON.parse(meta['edgeml.thresholds']!), { confidence: 0.6 });
    const stats = JSON.parse(meta['edgeml.training_stats']!) as Record<
      string,
      { mean: number; std: number; min: number; max: number; count: number; histogram: { edges: number[]; counts: number[] } }
    >;
    const ranges = JSON.parse(meta['edgeml.ranges']!) as Record<string, [number, number]>;
    const scaler = JSON.parse(meta['edgeml.scaler']!) as { mean: number[]; scale: number[] };
    features.forEach((f, i) => {
      const sorted = [...columns[f]!].sort((a, b) => a - b);
      const mean = sorted.reduce((a, b) => a + b, 0) / rows;
      const std = Math.sqrt(sorted.reduce((a, b) => a + b * b, 0) / rows - mean * mean);
      const s = stats[f]!;
      assert.ok(Math.abs(s.mean - mean) < 1e-9, `${f} mean`);
      assert.ok(Math.abs(s.std - std) < 1e-6, `${f} std ${s.std} vs ${std}`);
      assert.equal(s.min, sorted[0]);
      assert.equal(s.max, sorted[rows - 1]);
      assert.equal(s.count, rows);
      assert.equal(s.histogram.counts.length, 10);
      // counts by comparison with the edges the tool wrote
      const e = s.histogram.edges;
      const want = e.slice(0, -1).map((lo, b) => columns[f]!.filter((v) => v >= lo && (b === 9 ? v <= e[b + 1]! : v < e[b + 1]!)).length);
      assert.deepEqual(s.histogram.counts, want);
      // P0.5 / P99.5 by rank (numpy linear): position (n-1)*p
      const at = (p: number): number => {
        const pos = (rows - 1) * p;
        return sorted[Math.floor(pos)]! * (1 - (pos % 1)) + sorted[Math.ceil(pos)]! * (pos % 1);
      };
      const lo = at(0.005);
      const hi = at(0.995);
      assert.ok(Math.abs(ranges[f]![0] - (lo - 0.05 * (hi - lo))) < 1e-9, `${f} range low`);
      assert.ok(Math.abs(ranges[f]![1] - (hi + 0.05 * (hi - lo))) < 1e-9, `${f} range high`);
      assert.ok(ranges[f]![1] < sorted[rows - 1]!, 'the outlier row does not widen the range');
      assert.ok(Math.abs(scaler.mean[i]! - mean) < 1e-9 && Math.abs(scaler.scale[i]! - std) < 1e-6, `${f} scaler`);
    });
    const prov = JSON.parse(meta['edgeml.provenance']!) as { training_data: { sha256: string; rows: number }; created: string; source_commit: string };
    assert.equal(prov.training_data.sha256, createHash('sha256').update(readFileSync(csv)).digest('hex'));
    assert.equal(prov.training_data.rows, rows);
    assert.equal(prov.source_commit, 'abc123');
    assert.ok(Math.abs(Date.parse(prov.created) - Date.now()) < 60_000);

    const input = new ort.Tensor('float32', Float32Array.from([1, -2, 0.5, 3, 0.25, 0, -1, 2]), [2, 4]);
    const before = await ort.InferenceSession.create(original);
    const after = await ort.InferenceSession.create(stamped);
    const a = await before.run({ [before.inputNames[0]!]: input });
    const b = await after.run({ [after.inputNames[0]!]: input });
    for (const name of before.outputNames) assert.deepEqual(Array.from(b[name]!.data as Float32Array), Array.from(a[name]!.data as Float32Array));
  });

  it('show prints the card; check validates it with the nodes parser; stamping again in place keeps the other keys', () => {
    const out = path.join(dir, 'stamped.onnx');
    const shown = run('show', out);
    assert.equal(shown.status, 0, shown.stderr);
    const parsed = JSON.parse(shown.stdout) as { model: { name: string; version: string; sha256: string }; card: { features: string[]; provenance: { trainingData: { rows: number } } } };
    assert.equal(parsed.model.name, 'pump');
    assert.equal(parsed.model.sha256, createHash('sha256').update(readFileSync(out)).digest('hex'));
    assert.deepEqual(parsed.card.features, features);
    assert.equal(parsed.card.provenance.trainingData.rows, rows);
    const checked = run('check', out);
    assert.equal(checked.status, 0, checked.stderr);
    assert.match(checked.stdout, /model card OK/);

    const again = run('stamp', out, '--train', csv, '--features', 'flow,pressure,current,vibration', '--version', '2.2.0');
    assert.equal(again.status, 0, again.stderr);
    const meta = Object.fromEntries(onnx.ModelProto.decode(readFileSync(out)).metadataProps.map((e) => [e.key, e.value]));
    assert.equal(meta['edgeml.version'], '2.2.0');
    assert.equal(meta['edgeml.name'], 'pump', 'a key not stamped again stays');
  });

  it('a malformed value is refused with the card error code and nothing is written; check refuses a malformed card', () => {
    const out = path.join(dir, 'refused.onnx');
    for (const args of [
      ['--thresholds', '{bad json'],
      ['--thresholds', '{"anomaly":"high"}'],
      ['--task', 'clustering'],
    ]) {
      const r = run('stamp', model, '--train', csv, '--target', 'state', '--out', out, ...args);
      assert.equal(r.status, 1, `${args.join(' ')} is refused`);
      assert.match(r.stderr, /EDGEML_MODELCARD_INVALID/);
      assert.equal(existsSync(out), false, 'nothing written');
    }
    const badCsv = path.join(dir, 'bad.csv');
    writeFileSync(badCsv, 'a,b\n1,2\n3,x\n');
    const r = run('stamp', model, '--train', badCsv, '--out', out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /EDGEML_CARD_CSV_INVALID.*row 3/);

    const broken = path.join(dir, 'broken.onnx');
    const m = onnx.ModelProto.decode(original);
    m.metadataProps = [onnx.StringStringEntryProto.create({ key: 'edgeml.ranges', value: '{"flow":[5,1]}' })];
    writeFileSync(broken, onnx.ModelProto.encode(m).finish());
    const c = run('check', broken);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /EDGEML_MODELCARD_INVALID.*edgeml\.ranges\.flow/);
    const notModel = path.join(dir, 'not.onnx');
    writeFileSync(notModel, 'not a model');
    assert.match(run('check', notModel).stderr, /EDGEML_ONNX_MODEL_INVALID/);
  });
});
