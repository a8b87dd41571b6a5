/**
 * modbus-encode: named values (or an array in field order) -> registers, shaped for the write
 * nodes users have. All encoding lives in src/lib/modbus; this file only wires messages to it.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { type FlexWritePayload, type ValueEncoder, compileEncoder, normalizeFields } from '../../lib/modbus';
import { EdgeMlError } from '../../lib/errors';
import { onInput, setStatus, statusKeyOf, toNodeError } from '../shared/runtime';
import { numericSettings } from '../../lib/config-ranges';
import { resolveConfig } from '../shared/config';
import { MODBUS_ENCODE_CONFIG, type ModbusEncodeConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type ModbusEncodeDef = NodeDef & ModbusEncodeConfig;

export = function (RED: NodeAPI): void {
  function ModbusEncodeNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: ModbusEncodeDef = resolveConfig(MODBUS_ENCODE_CONFIG, saved);
    const node = this;
    const absolute = config.addressing === 'absolute';
    const flexWritePayload = config.payload === 'flex-write';
    let encoder: ValueEncoder | undefined;
    let configError: EdgeMlError | undefined;
    let fieldCount = 0;
    let target = { address: 0, unitid: 1 };
    try {
      target = numericSettings('modbus-encode', config, target);
      const fields = normalizeFields(config.fields, config.order);
      fieldCount = fields.length;
      encoder = compileEncoder(fields);
    } catch (e) {
      configError = toNodeError(RED, e);
      node.error(configError.message);
    }
    let failed = false;
    if (configError) setStatus(RED, node, 'error', 'modbus-encode.status.config-error');
    else setStatus(RED, node, 'ready', 'modbus-encode.status.ready', { fields: fieldCount });

    onInput(
      RED,
      node,
      (msg, send) => {
        if (!encoder) throw configError;
        const m = msg as typeof msg & Record<string, unknown>;
        const { registers, first } = encoder(m.payload as Record<string, unknown>);
        const flexWrite: FlexWritePayload = {
          value: registers,
          fc: 16,
          unitid: target.unitid,
          address: absolute ? first : target.address + first,
          quantity: registers.length,
        };
        m.registers = registers;
        m.flexWrite = flexWrite;
        m.payload = flexWritePayload ? flexWrite : registers;
        if (failed) {
          failed = false;
          setStatus(RED, node, 'ready', 'modbus-encode.status.ready', { fields: fieldCount });
        }
        send(m);
      },
      (err) => {
        failed = true;
        setStatus(RED, node, 'error', statusKeyOf(RED, err.code));
      },
    );
  }
  RED.nodes.registerType('modbus-encode', ModbusEncodeNode);
};
