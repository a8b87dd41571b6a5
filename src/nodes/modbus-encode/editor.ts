/** Editor definition of modbus-encode (shares the field-table editor of modbus-decode). */
import type { EditorRED } from 'node-red';
import { BYTE_ORDERS } from '../../lib/modbus';
import { oneOf, inRangeOf } from '../../editor/validators';
import { type ModbusFieldsProps, fieldsValidator, resizeFieldTable, setupFieldTable } from '../modbus-decode/editor';

declare const RED: EditorRED;

interface ModbusEncodeProps extends ModbusFieldsProps {
  address: string;
  unitid: string;
  payload: string;
}


let table: ReturnType<typeof setupFieldTable> | undefined;

RED.nodes.registerType<ModbusEncodeProps>('modbus-encode', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-registers.svg',
  align: 'right',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    fields: { value: [{ name: 'value', register: 0, type: 'uint16' }], validate: fieldsValidator },
    order: { value: 'ABCD', validate: oneOf(BYTE_ORDERS) },
    addressing: { value: 'relative', validate: oneOf(['relative', 'absolute']) },
    address: { value: '0', validate: inRangeOf('modbus-encode', 'address') },
    unitid: { value: '1', validate: inRangeOf('modbus-encode', 'unitid') },
    payload: { value: 'registers', validate: oneOf(['registers', 'flex-write']) },
  },
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
