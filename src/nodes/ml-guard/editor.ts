/** Editor definition of ml-guard: per-feature rules in an editable list, one policy per check. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { accepts, blankOrNonNegative, blankOrNumber, explain, reason, verdict, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { DEFAULT_POLICY, DEFAULT_REPLACE, ML_GUARD_CONFIG, type MlGuardConfig } from './config';

declare const RED: EditorRED;

interface FeatureRule {
  feature: string;
  min: string;
  max: string;
  default: string;
  maxDelta: string;
}

type MlGuardProps = EditorNodeProperties & MlGuardConfig & { configVersion: number };

const CHECKS = ['missing', 'null', 'type', 'nan', 'range', 'spike', 'stuck', 'count', 'stale'];
const FEATURE_CHECKS = ['missing', 'null', 'type', 'nan', 'range', 'spike', 'stuck'];
const POLICIES = ['drop', 'flag', 'replace', 'route', 'off'];

/** The first problem of a rule table, translated; undefined when every rule is valid. */
function rulesProblem(rules: unknown, node: unknown): string | undefined {
  if (!Array.isArray(rules)) return reason(node, 'required');
  for (const [i, r] of (rules as FeatureRule[]).entries()) {
    const row = i + 1;
    if (!r.feature) return reason(node, 'rule-feature', { row });
    const bad = (['min', 'max', 'default'] as const).find((k) => !accepts(blankOrNumber, r[k], node));
    const why = bad
      ? `${reason(node, `ml-guard.rule.${bad}`)}: ${verdict(blankOrNumber, r[bad], node)}`
      : !accepts(blankOrNonNegative, r.maxDelta, node)
        ? `${reason(node, 'ml-guard.rule.maxDelta')}: ${verdict(blankOrNonNegative, r.maxDelta, node)}`
        : r.min !== '' && r.max !== '' && Number(r.min) > Number(r.max)
          ? reason(node, 'min-above-max', { min: r.min, max: r.max })
          : undefined;
    if (why) return reason(node, 'rule-row', { row, feature: r.feature, reason: why });
  }
  return undefined;
}

/** The first policy that is not one for its check. */
function policiesProblem(p: unknown, node: unknown): string | undefined {
  if (typeof p !== 'object' || p === null) return reason(node, 'required');
  for (const [check, policy] of Object.entries(p as Record<string, string>)) {
    if (!POLICIES.includes(policy) || ((check === 'count' || check === 'stale') && policy === 'replace')) return reason(node, 'policy', { check, policy });
  }
  return undefined;
}

const RULE_COLUMNS: Array<[keyof FeatureRule, string]> = [
  ['feature', '28%'],
  ['min', '16%'],
  ['max', '16%'],
  ['default', '16%'],
  ['maxDelta', '16%'],
];

interface CardInfo {
  card?: { features?: string[]; ranges?: Record<string, [number, number]>; units?: Record<string, string> };
}

/**
 * The ranges the selected model card makes the guard enforce (a rule of this node overrides a
 * feature's range), from the model file through the editor's model-info endpoint.
 */
function showCardRanges(t: (k: string) => string): void {
  const box = $('#ml-guard-card-ranges');
  const id = String($('#node-input-model').val() ?? '');
  const config = id && id !== '_ADD_' ? (RED.nodes.node(id) as unknown as { path?: string } | null) : null;
  if (!config?.path) {
    box.text(t('card.none'));
    return;
  }
  box.text(t('card.reading'));
  $.getJSON('edge-ml/model-info', { path: config.path })
    .done((info: CardInfo) => {
      const ranges = info.card?.ranges ?? {};
      const names = info.card?.features?.length ? info.card.features : Object.keys(ranges);
      if (names.length === 0) {
        box.text(t('card.noRanges'));
        return;
      }
      box.empty();
      const table = $('<table class="ml-guard-card-ranges">').css({ width: '100%', fontSize: '0.9em' }).appendTo(box);
      const head = $('<tr>').appendTo(table);
      for (const k of ['feature', 'min', 'max', 'unit']) $('<th>').css({ textAlign: 'left' }).text(t(`card.${k}`)).appendTo(head);
      for (const name of names) {
        const r = ranges[name];
        const tr = $('<tr>').appendTo(table);
        for (const cell of [name, r ? String(r[0]) : '–', r ? String(r[1]) : '–', info.card?.units?.[name] ?? '']) $('<td>').text(cell).appendTo(tr);
      }
    })
    .fail(() => box.text(t('card.failed')));
}

RED.nodes.registerType<MlGuardProps>('ml-guard', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-guard.svg',
  inputs: 1,
  outputs: 2,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(ML_GUARD_CONFIG, {
    model: { type: 'onnx-model', required: false },
    expectedCount: { validate: inRangeOf('ml-guard', 'expectedCount', true) },
    rules: { validate: explain(rulesProblem) },
    stuckSamples: { validate: inRangeOf('ml-guard', 'stuckSamples', true) },
    staleMs: { validate: inRangeOf('ml-guard', 'staleMs', true) },
    policies: { validate: explain(policiesProblem) },
  }),
  inputLabels: function () {
    return this._('ml-guard.label.input');
  },
  outputLabels: function (i: number) {
    return this._(i === 0 ? 'ml-guard.label.good' : 'ml-guard.label.routed');
  },
  label: function () {
    return this.name || this._('ml-guard.label.node');
  },
  paletteLabel: 'ml guard',
  oneditprepare: function () {
    $('#node-input-timestampProperty').typedInput({ default: 'msg', types: ['msg'] });
    const node = this;
    const t = (k: string): string => node._(`ml-guard.${k}`);
    // column headers over the rule rows (same widths as the inputs of a row)
    const header = $('#ml-guard-rule-header').empty();
    for (const [key, width] of RULE_COLUMNS) $('<span>').css({ display: 'inline-block', width, marginRight: '4px' }).text(t(`rule.${key}`)).appendTo(header);
    showCardRanges(t);
    $('#node-input-model').on('change', () => showCardRanges(t));
    const list = $('#node-input-rules-container');
    list.css('min-height', '150px').editableList({
      addItem: (row: JQuery, _i: number, rule: FeatureRule) => {
        const field = (key: keyof FeatureRule, width: string): void => {
          $('<input type="text" class="ml-guard-' + key + '">')
            .attr('placeholder', t(`rule.${key}`))
            .css({ width, marginRight: '4px' })
            .val(rule[key] ?? '')
            .appendTo(row);
        };
        for (const [key, width] of RULE_COLUMNS) field(key, width);
      },
      removable: true,
      sortable: true,
    });
    for (const rule of node.rules ?? []) list.editableList('addItem', rule);

    const table = $('#ml-guard-policies');
    for (const check of CHECKS) {
      const tr = $('<tr>').appendTo(table);
      $('<td>').text(t(`check.${check}`)).appendTo(tr);
      const policy = $('<select class="ml-guard-policy">').attr('data-check', check).appendTo($('<td>').appendTo(tr));
      for (const p of POLICIES) {
        if (p === 'replace' && !FEATURE_CHECKS.includes(check)) continue;
        $('<option>').val(p).text(t(`policy.${p}`)).appendTo(policy);
      }
      policy.val(node.policies?.[check] ?? DEFAULT_POLICY[check] ?? 'flag');
      const td = $('<td>').appendTo(tr);
      if (FEATURE_CHECKS.includes(check)) {
        const rep = $('<select class="ml-guard-replace">').attr('data-check', check).appendTo(td);
        for (const r of ['last', 'default', 'clamp']) $('<option>').val(r).text(t(`replace.${r}`)).appendTo(rep);
        rep.val(node.replaceWith?.[check] ?? DEFAULT_REPLACE[check] ?? 'last');
        const sync = (): void => {
          rep.toggle(policy.val() === 'replace');
        };
        policy.on('change', sync);
        sync();
      }
    }
  },
  oneditsave: function () {
    const rules: FeatureRule[] = [];
    $('#node-input-rules-container')
      .editableList('items')
      .each(function () {
        const row = $(this);
        const get = (k: string): string => String(row.find('.ml-guard-' + k).val() ?? '').trim();
        const feature = get('feature');
        if (feature) rules.push({ feature, min: get('min'), max: get('max'), default: get('default'), maxDelta: get('maxDelta') });
      });
    this.rules = rules;
    const policies: Record<string, string> = {};
    $('.ml-guard-policy').each(function () {
      policies[String($(this).attr('data-check'))] = String($(this).val());
    });
    this.policies = policies;
    const replaceWith: Record<string, string> = {};
    $('.ml-guard-replace').each(function () {
      replaceWith[String($(this).attr('data-check'))] = String($(this).val());
    });
    this.replaceWith = replaceWith;
  },
  oneditresize: function (size: { width: number; height: number }) {
    $('#node-input-rules-container').editableList('height', Math.max(150, size.height - 420));
  },
});
