/**
 * Editor definition of modbus-decode, and the field-table editor that modbus-encode shares
 * (imported by its editor bundle; the registration below is guarded so it happens once).
 */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import {
  BYTE_ORDERS,
  FIELD_TYPES,
  type ByteOrder,
  type RegisterFieldConfig,
  normalizeFields,
  parseRegisterMapCsv,
  previewField,
} from '../../lib/modbus';
import { errorReason, explain, oneOf, type Validator } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { MODBUS_DECODE_CONFIG, type ModbusDecodeConfig } from './config';

declare const RED: EditorRED;

/** What the field-table editor shared with modbus-encode reads. */
export type ModbusFieldsProps = EditorNodeProperties & Pick<ModbusDecodeConfig, 'fields' | 'order' | 'addressing'>;

type ModbusDecodeProps = EditorNodeProperties & ModbusDecodeConfig & { configVersion: number };

/**
 * Config validation shared by both nodes: the whole table must pass the runtime's own check; the
 * reason is the runtime's coded error, translated in the node's catalogue.
 */
export const fieldsValidator: Validator = explain((fields, node) => {
  try {
    normalizeFields(fields, (node as { order?: string } | null)?.order || 'ABCD');
    return undefined;
  } catch (e) {
    return errorReason(node, e);
  }
});

/** Translates within the node's own catalogue (RED._ alone does not know the namespace). */
export type Translate = (key: string, params?: Record<string, string | number>) => string;
let t: Translate = (key) => key;
const KEYS = ['name', 'register', 'type', 'order', 'scale', 'offset', 'unit', 'decimals', 'length', 'bit'] as const;

function optionList(select: JQuery, values: readonly string[], labels?: Record<string, string>): void {
  for (const v of values) $('<option/>').val(v).text(labels?.[v] ?? v).appendTo(select);
}

/** Reads a row of the list back into a config object (numbers as numbers, blanks left out). */
function rowValue(row: JQuery): RegisterFieldConfig {
  const out: Record<string, string | number> = {};
  for (const key of KEYS) {
    const raw = String(row.find(`.edgeml-mb-${key}`).val() ?? '').trim();
    if (raw === '') continue;
    out[key] = key === 'name' || key === 'type' || key === 'order' || key === 'unit' ? raw : Number(raw);
  }
  const type = out.type;
  if (type !== 'string') delete out.length;
  if (type !== 'bit') delete out.bit;
  return out as unknown as RegisterFieldConfig;
}

/** Sets up the editableList of fields, live preview, validation and CSV import inside the dialog. */
export function setupFieldTable(
  fields: RegisterFieldConfig[],
  currentOrder: () => string,
  translate: Translate,
): { read: () => RegisterFieldConfig[]; refresh: () => void } {
  t = (key, params) => translate(`modbus-fields.${key}`, params);
  const list = $('#node-input-fields-container');
  const refreshRow = (row: JQuery): void => {
    const value = rowValue(row);
    row.find('.edgeml-mb-length').toggle(value.type === 'string');
    row.find('.edgeml-mb-bit').toggle(value.type === 'bit');
    const preview = previewField(value, (currentOrder() || 'ABCD') as ByteOrder);
    const line = row.find('.edgeml-mb-preview');
    row.find('input, select').removeClass('input-error');
    if (preview.ok) {
      const reads = preview.from === preview.to ? t('preview.read', { from: preview.from }) : t('preview.reads', { from: preview.from, to: preview.to });
      const sample = value.type === 'bit'
        ? t('preview.bitSample', { bit: Number(value.bit), from: preview.from }) + ` → [${preview.registers.join(', ')}]`
        : t('preview.sample', { value: preview.sample, registers: preview.registers.join(', ') });
      // decimal too: an inject node or a master's write takes decimal register values
      const decimal = t('preview.decimal', { registers: preview.decimal.join(', ') });
      line.css('color', '').text(`${reads} · ${sample} · ${decimal}`);
    } else {
      line.css('color', 'var(--red-ui-text-color-error, #d6615f)').text(preview.reason);
      const bad = KEYS.find((k) => preview.reason.toLowerCase().includes(k === 'length' ? 'length' : k));
      if (bad) row.find(`.edgeml-mb-${bad}`).addClass('input-error');
    }
  };
  const refresh = (): void => {
    list.editableList('items').each(function () {
      refreshRow($(this));
    });
  };
  list.css({ 'min-height': '200px', 'min-width': '560px' }).editableList<RegisterFieldConfig>({
    addButton: true,
    removable: true,
    sortable: true,
    header: $('<div/>').css({ 'padding-left': '28px', 'font-size': 'smaller' }).text(
      [t('label.fieldName'), t('label.register'), t('label.type'), t('label.order'), t('label.scale'), t('label.offset'), t('label.unit'), t('label.decimals')].join(' · '),
    ),
    addItem: (row, _index, data) => {
      const d = (data ?? {}) as Partial<RegisterFieldConfig>;
      const line = $('<div/>', { style: 'display:flex; gap:4px; align-items:center; flex-wrap:wrap' }).appendTo(row);
      const input = (key: string, width: string, type = 'text', placeholder = ''): JQuery =>
        $('<input/>', { type, class: `edgeml-mb-${key}`, placeholder: placeholder || t(`label.${key === 'name' ? 'fieldName' : key}`) })
          .css('width', width)
          .appendTo(line);
      input('name', '110px').val(d.name ?? '');
      input('register', '75px', 'number').attr('min', 0).val(d.register ?? 0);
      const type = $('<select/>', { class: 'edgeml-mb-type' }).css('width', '80px').appendTo(line);
      optionList(type, FIELD_TYPES);
      type.val(d.type ?? 'uint16');
      const order = $('<select/>', { class: 'edgeml-mb-order' }).css('width', '90px').appendTo(line);
      optionList(order, ['', ...BYTE_ORDERS], { '': t('label.nodeOrder') });
      order.val(d.order ?? '');
      input('scale', '55px', 'text', '1').val(d.scale ?? '');
      input('offset', '55px', 'text', '0').val(d.offset ?? '');
      input('unit', '45px').val(d.unit ?? '');
      input('decimals', '90px', 'number').attr('min', 0).val(d.decimals ?? '');
      input('length', '45px', 'number').attr('min', 1).val(d.length ?? 1);
      input('bit', '40px', 'number').attr({ min: 0, max: 15 }).val(d.bit ?? 0);
      $('<div/>', { class: 'edgeml-mb-preview' }).css({ 'font-size': 'smaller', 'padding-top': '2px', 'font-family': 'monospace' }).appendTo(row);
      // validation and preview as the user types
      row.on('input change', 'input, select', () => refreshRow(row));
      refreshRow(row);
    },
  });
  for (const f of fields ?? []) list.editableList('addItem', f);

  $('#node-input-csv-apply').on('click', () => {
    const text = String($('#node-input-csv').val() ?? '');
    const message = $('#node-input-csv-message');
    try {
      const parsed = parseRegisterMapCsv(text, (currentOrder() || 'ABCD') as ByteOrder);
      list.editableList('empty');
      for (const f of parsed) {
        const row: RegisterFieldConfig = { name: f.name, register: f.register, type: f.type, order: f.order, unit: f.unit };
        if (f.scale !== 1) row.scale = f.scale;
        if (f.offset !== 0) row.offset = f.offset;
        if (f.decimals !== undefined) row.decimals = f.decimals;
        if (f.type === 'string') row.length = f.length;
        if (f.type === 'bit') row.bit = f.bit;
        list.editableList('addItem', row);
      }
      message.css('color', '').text(t('csv.imported', { count: parsed.length }));
    } catch (e) {
      const err = e as { params?: { reason?: string }; message: string };
      message.css('color', 'var(--red-ui-text-color-error, #d6615f)').text(err.params?.reason ?? err.message);
    }
  });

  const read = (): RegisterFieldConfig[] => {
    const out: RegisterFieldConfig[] = [];
    list.editableList('items').each(function () {
      out.push(rowValue($(this)));
    });
    return out;
  };
  return { read, refresh };
}

export function resizeFieldTable(size: { height: number }): void {
  const list = $('#node-input-fields-container');
  const others = $('#dialog-form>div:not(.node-input-fields-row)');
  let height = size.height;
  others.each(function () {
    height -= $(this).outerHeight(true) ?? 0;
  });
  list.editableList('height', Math.max(200, height - 40));
}

let table: { read: () => RegisterFieldConfig[]; refresh: () => void } | undefined;

if (!RED.nodes.getType('modbus-decode')) {
  RED.nodes.registerType<ModbusDecodeProps>('modbus-decode', {
    category: 'edge ML',
    color: '#8fc9a8',
    icon: 'edgeml-registers.svg',
    inputs: 1,
    outputs: 1,
    // values from ./config.ts, shared with the runtime; validators here
    defaults: editorDefaults(MODBUS_DECODE_CONFIG, {
      fields: { validate: fieldsValidator },
      order: { validate: oneOf(BYTE_ORDERS) },
      addressing: { validate: oneOf(['relative', 'absolute']) },
      output: { validate: oneOf(['object', 'array']) },
      int64: { validate: oneOf(['auto', 'number', 'string', 'bigint']) },
    }),
    label: function () {
      return this.name || `modbus-decode (${this.fields?.length ?? 0})`;
    },
    labelStyle: function () {
      return this.name ? 'node_label_italic' : '';
    },
    paletteLabel: 'modbus decode',
    oneditprepare: function () {
      const node = this;
      table = setupFieldTable(this.fields, () => String($('#node-input-order').val() ?? 'ABCD'), (key, params) => node._(key, params));
      $('#node-input-order').on('change', () => table?.refresh());
    },
    oneditsave: function () {
      if (table) this.fields = table.read();
    },
    oneditresize: function (size) {
      resizeFieldTable(size);
    },
  });
}
