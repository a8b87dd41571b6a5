/** Editor definition of modbus-encode (shares the field-table editor of modbus-decode). */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { BYTE_ORDERS } from '../../lib/modbus';
import { oneOf, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { MODBUS_ENCODE_CONFIG, type ModbusEncodeConfig } from './config';
import { fieldsValidator, resizeFieldTable, setupFieldTable } from '../modbus-decode/editor';

declare const RED: EditorRED;

type ModbusEncodeProps = EditorNodeProperties & ModbusEncodeConfig & { configVersion: number };


let table: ReturnType<typeof setupFieldTable> | undefined;

RED.nodes.registerType<ModbusEncodeProps>('modbus-encode', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-registers.svg',
  align: 'right',
  inputs: 1,
  outputs: 1,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(MODBUS_ENCODE_CONFIG, {
    fields: { validate: fieldsValidator },
    order: { validate: oneOf(BYTE_ORDERS) },
    addressing: { validate: oneOf(['relative', 'absolute']) },
    address: { validate: inRangeOf('modbus-encode', 'address') },
    unitid: { validate: inRangeOf('modbus-encode', 'unitid') },
    payload: { validate: oneOf(['registers', 'flex-write']) },
  }),
  label: function () {
    return this.name || `modbus-encode (${this.fields?.length ?? 0})`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  paletteLabel: 'modbus encode',
  oneditprepare: function () {
    const node = this;
    table = setupFieldTable(this.fields, () => String($('#node-input-order').val() ?? 'ABCD'), (key, params) => node._(key, params));
    $('#node-input-order').on('change', () => table?.refresh());
    const toggleAddress = (): void => {
      $('.node-input-address-row').toggle($('#node-input-addressing').val() !== 'absolute');
    };
    $('#node-input-addressing').on('change', toggleAddress);
    toggleAddress();
  },
  oneditsave: function () {
    if (table) this.fields = table.read();
  },
  oneditresize: function (size) {
    resizeFieldTable(size);
  },
});
