/** Editor definition of onnx-model: the model file, and a live listing of what the file contains. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { rule, inRangeOf, oneOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { ONNX_MODEL_CONFIG, type OnnxModelConfig } from './config';
import { EXECUTION_PROVIDERS, GRAPH_OPTIMIZATION_LEVELS } from '../../lib/onnx/session-settings';

declare const RED: EditorRED;

type OnnxModelProps = EditorNodeProperties & OnnxModelConfig & { configVersion: number };

const PROVIDER_NAMES = [...EXECUTION_PROVIDERS, 'directml', 'gpu', 'trt'];
/** Execution providers, comma-separated; the reason names the first unknown one. */
const providerList = rule(
  (v) => v.split(/[\s,;]+/).filter(Boolean).every((p) => PROVIDER_NAMES.includes(p.toLowerCase())),
  'providers',
  { values: EXECUTION_PROVIDERS.join(', ') },
);

interface IoSpec {
  name: string;
  isTensor: boolean;
  dtype: string;
  dims: Array<number | string | null>;
}

interface ModelInfo {
  name: string;
  version: string;
  sha256: string;
  producer: string;
  description: string;
  inputs: IoSpec[];
  outputs: IoSpec[];
  metadata: Record<string, string>;
  /** The ONNX Runtime build that serves it, or why none can on this device. */
  runtime?: string;
  runtimeProblem?: string;
  card?: ModelCardInfo;
}

/** The parts of the model card the dialog shows (the runtime parses it: src/lib/model-card.ts). */
interface ModelCardInfo {
  task?: string;
  features?: string[];
  units?: Record<string, string>;
  ranges?: Record<string, [number, number]>;
  labels?: string[];
  thresholds?: Record<string, number>;
  trainingStats?: Record<string, { mean: number; std: number }>;
}

interface ModelFileEntry {
  path: string;
  name: string;
  sizeBytes: number;
  source: 'user' | 'package' | 'settings';
}

const short = (n: number): string => (Number.isInteger(n) ? String(n) : n.toPrecision(4));

/** The model card as tables a person reads: features with ranges and units, labels, thresholds. */
function renderCard(target: JQuery, card: ModelCardInfo | undefined, t: (k: string) => string): void {
  if (!card) return;
  const features = card.features ?? [];
  const hasAny = features.length > 0 || (card.labels?.length ?? 0) > 0 || Object.keys(card.thresholds ?? {}).length > 0;
  if (!hasAny) return;
  $('<div>').css({ fontWeight: 'bold', marginTop: '8px' }).text(t('info.card') + (card.task ? ` · ${card.task}` : '')).appendTo(target);
  const tbl = (headers: string[], rows: string[][]): void => {
    const table = $('<table class="onnx-model-card">').css({ width: '100%', fontSize: '0.9em' }).appendTo(target);
    const head = $('<tr>').appendTo(table);
    for (const h of headers) $('<th>').css({ textAlign: 'left', paddingRight: '8px' }).text(h).appendTo(head);
    for (const row of rows) {
      const tr = $('<tr>').appendTo(table);
      for (const cell of row) $('<td>').css({ paddingRight: '8px' }).text(cell).appendTo(tr);
    }
  };
  if (features.length > 0) {
    tbl(
      [t('info.feature'), t('info.range'), t('info.unit'), t('info.mean')],
      features.map((f) => {
        const r = card.ranges?.[f];
        const s = card.trainingStats?.[f];
        return [f, r ? `${short(r[0])} … ${short(r[1])}` : '', card.units?.[f] ?? '', s ? `${short(s.mean)} ± ${short(s.std)}` : ''];
      }),
    );
  }
  if (card.labels?.length) tbl([t('info.labels')], card.labels.map((l, i) => [`${i}: ${l}`]));
  const thresholds = Object.entries(card.thresholds ?? {});
  if (thresholds.length) tbl([t('info.thresholds'), ''], thresholds.map(([k, v]) => [k, short(v)]));
}

/** Fills the picker with the models the runtime finds (user directory, package models). */
function fillPicker(select: JQuery, current: string, t: (k: string, p?: Record<string, string>) => string): void {
  select.empty();
  $('<option>').val('').text(t('info.choose')).appendTo(select);
  $.getJSON('edge-ml/models')
    .done((body: { files: ModelFileEntry[] }) => {
      for (const f of body.files) {
        const where = f.source === 'user' ? t('info.fromUser') : t('info.fromPackage');
        $('<option>').val(f.path).text(`${f.path} (${where}, ${Math.max(1, Math.round(f.sizeBytes / 1024))} KiB)`).appendTo(select);
      }
      select.val(body.files.some((f) => f.path === current) ? current : '');
    })
    .fail(() => $('<option>').val('').text(t('info.listFailed')).appendTo(select.empty()));
}

const dimsText = (dims: Array<number | string | null>): string =>
  `[${dims.map((d) => (d === null || (typeof d === 'number' && d < 0) ? '?' : String(d))).join(', ')}]`;

function renderInfo(target: JQuery, info: ModelInfo, t: (k: string) => string): void {
  target.empty();
  const table = (title: string, rows: string[][]): void => {
    $('<div>').css({ fontWeight: 'bold', marginTop: '8px' }).text(title).appendTo(target);
    const tbl = $('<table>').css({ width: '100%', fontSize: '0.9em' }).appendTo(target);
    for (const row of rows) {
      const tr = $('<tr>').appendTo(tbl);
      row.forEach((cell, i) => $('<td>').css({ fontFamily: i === 0 ? 'inherit' : 'monospace', paddingRight: '8px', wordBreak: 'break-all' }).text(cell).appendTo(tr));
    }
  };
  table(t('info.model'), [
    [t('info.name'), info.name],
    [t('info.version'), info.version],
    [t('info.producer'), info.producer],
    ['sha256', info.sha256.slice(0, 16) + '…'],
    [t('info.runtime'), info.runtime ?? info.runtimeProblem ?? ''],
  ]);
  const io = (v: IoSpec): string[] => [v.name, v.isTensor ? v.dtype : t('info.notTensor'), v.isTensor ? dimsText(v.dims) : ''];
  renderCard(target, info.card, t);
  table(t('info.inputs'), info.inputs.map(io));
  table(t('info.outputs'), info.outputs.map(io));
  const meta = Object.entries(info.metadata);
  if (meta.length > 0) table(t('info.metadata'), meta.map(([k, v]) => [k, v.length > 120 ? v.slice(0, 120) + '…' : v]));
}

RED.nodes.registerType<OnnxModelProps>('onnx-model', {
  category: 'config',
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ONNX_MODEL_CONFIG, {
    path: { required: true, validate: rule((v) => v.length > 0, 'path') },
    threads: { validate: inRangeOf('onnx-model', 'threads', true) },
    providers: { validate: providerList },
    interOpThreads: { validate: inRangeOf('onnx-model', 'interOpThreads', true) },
    graphOptimization: { validate: oneOf(GRAPH_OPTIMIZATION_LEVELS, { blank: true }) },
  }),
  label: function () {
    return this.name || (this.path ? this.path.split(/[\\/]/).pop() ?? this.path : this._('onnx-model.label.node'));
  },
  oneditprepare: function () {
    const node = this;
    const t = (k: string): string => node._(`onnx-model.${k}`);
    const target = $('#onnx-model-info');
    const show = (): void => {
      const file = String($('#node-config-input-path').val() ?? '').trim();
      if (!file) {
        target.text(t('info.noPath'));
        return;
      }
      target.text(t('info.reading'));
      $.getJSON('edge-ml/model-info', { path: file })
        .done((info: ModelInfo) => renderInfo(target, info, t))
        .fail((xhr: JQuery.jqXHR) => {
          const body = xhr.responseJSON as { code?: string; message?: string } | undefined;
          target.text(`${t('info.failed')}: ${body?.message ?? xhr.statusText}${body?.code ? ` (${body.code})` : ''}`);
        });
    };
    $('#node-config-input-path').on('change', show);
    const tp = (k: string, p?: Record<string, string>): string => node._(`onnx-model.${k}`, p);
    const pick = $('#onnx-model-pick');
    fillPicker(pick, String($('#node-config-input-path').val() ?? ''), tp);
    pick.on('change', () => {
      const chosen = String(pick.val() ?? '');
      if (chosen) $('#node-config-input-path').val(chosen).trigger('change');
    });
    $('#onnx-model-upload').on('change', function () {
      const file = (this as HTMLInputElement).files?.[0];
      const message = $('#onnx-model-upload-message');
      if (!file) return;
      message.css('color', '').text(tp('info.uploading'));
      $.ajax({ url: `edge-ml/models?name=${encodeURIComponent(file.name)}`, method: 'POST', data: file, processData: false, contentType: 'application/octet-stream' })
        .done((body: { file: ModelFileEntry }) => {
          message.text(tp('info.uploaded', { path: body.file.path }));
          $('#node-config-input-path').val(body.file.path).trigger('change');
          fillPicker(pick, body.file.path, tp);
        })
        .fail((xhr: JQuery.jqXHR) => {
          const body = xhr.responseJSON as { message?: string } | undefined;
          message.css('color', 'var(--red-ui-text-color-error, #d6615f)').text(body?.message ?? xhr.statusText);
        });
    });
    $('#onnx-model-info-refresh').on('click', (e) => {
      e.preventDefault();
      show();
    });
    show();
  },
});
