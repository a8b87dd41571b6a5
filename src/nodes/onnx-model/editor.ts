/** Editor definition of onnx-model: the model file, and a live listing of what the file contains. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { rule, inRangeOf, oneOf } from '../../editor/validators';
import { EXECUTION_PROVIDERS, GRAPH_OPTIMIZATION_LEVELS } from '../../lib/onnx/session-settings';

declare const RED: EditorRED;

interface OnnxModelProps extends EditorNodeProperties {
  path: string;
  watch: boolean;
  threads: string;
  providers: string;
  interOpThreads: string;
  graphOptimization: string;
  memoryArena: boolean;
}

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
  table(t('info.inputs'), info.inputs.map(io));
  table(t('info.outputs'), info.outputs.map(io));
  const meta = Object.entries(info.metadata);
  if (meta.length > 0) table(t('info.metadata'), meta.map(([k, v]) => [k, v.length > 120 ? v.slice(0, 120) + '…' : v]));
}

RED.nodes.registerType<OnnxModelProps>('onnx-model', {
  category: 'config',
  defaults: {
    name: { value: '' },
    path: { value: '', required: true, validate: rule((v) => v.length > 0, 'path') },
    watch: { value: true },
    threads: { value: '1', validate: inRangeOf('onnx-model', 'threads', true) },
    providers: { value: 'cpu', validate: providerList },
    interOpThreads: { value: '1', validate: inRangeOf('onnx-model', 'interOpThreads', true) },
    // blank: a flow saved before this setting existed (the runtime then uses 'all')
    graphOptimization: { value: 'all', validate: oneOf(GRAPH_OPTIMIZATION_LEVELS, { blank: true }) },
    memoryArena: { value: true },
  },
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
    $('#onnx-model-info-refresh').on('click', (e) => {
      e.preventDefault();
      show();
    });
    show();
  },
});
