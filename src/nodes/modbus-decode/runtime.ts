/**
 * modbus-decode: registers from the Modbus nodes users already have -> named, typed, scaled values.
 * All decoding lives in src/lib/modbus; this file wires Node-RED messages to a compiled decoder.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import {
  type Int64Mode,
  type RegisterDecoder,
  type RegisterField,
  INT64_MODES,
  compileDecoder,
  normalizeFields,
  registersOf,
} from '../../lib/modbus';
import { EdgeMlError } from '../../lib/errors';
import type { ModbusDecodeOutput } from '../../lib/contracts';
import { onInput, setStatus, statusKeyOf, toNodeError } from '../shared/runtime';
import { resolveConfig } from '../shared/config';
import { MODBUS_DECODE_CONFIG, type ModbusDecodeConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type ModbusDecodeDef = NodeDef & ModbusDecodeConfig;

type StatusKind = 'ready' | 'warn' | 'error';

/** The first register's number as the Modbus nodes report it (node-red-contrib-modbus, modbus-server-in). */
function firstAddressOf(msg: Record<string, unknown>): number | undefined {
  for (const key of ['modbusRequest', 'modbus']) {
    const holder = msg[key];
    if (holder && typeof holder === 'object') {
      const address = (holder as Record<string, unknown>).address;
      if (typeof address === 'number') return address;
      if (typeof address === 'string' && address.trim() !== '') return Number(address);
    }
  }
  return undefined;
}

export = function (RED: NodeAPI): void {
  function ModbusDecodeNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: ModbusDecodeDef = resolveConfig(MODBUS_DECODE_CONFIG, saved);
    const node = this;
    const asArray = config.output === 'array';
    let decoder: RegisterDecoder | undefined;
    let fields: RegisterField[] = [];
    let configError: EdgeMlError | undefined;
    try {
      fields = normalizeFields(config.fields, config.order);
      const int64 = INT64_MODES.includes(config.int64 as Int64Mode) ? (config.int64 as Int64Mode) : 'auto';
      decoder = compileDecoder(fields, { output: asArray ? 'array' : 'object', int64, addressing: config.addressing === 'absolute' ? 'absolute' : 'relative' });
    } catch (e) {
      configError = toNodeError(RED, e);
      node.error(configError.message);
    }
    // units are the same for every message: build them once
    const units: Record<string, string> = {};
    for (const f of fields) if (f.unit) units[f.name] = f.unit;
    const names = fields.map((f) => f.name);

    let shown: StatusKind | undefined;
    const show = (kind: StatusKind, key: string, params?: Record<string, string | number>): void => {
      if (kind === shown && kind === 'ready') return; // one status call per change, not per message
      shown = kind;
      setStatus(RED, node, kind, key, params);
    };
    if (configError) show('error', 'modbus-decode.status.config-error');
    else show('ready', 'modbus-decode.status.ready', { fields: fields.length });

    onInput(
      RED,
      node,
      (msg, send) => {
        if (!decoder) throw configError;
        const m = msg as typeof msg & ModbusDecodeOutput;
        const registers = registersOf(m);
        const invalid: string[] = [];
        m.payload = decoder(registers, firstAddressOf(m), invalid);
        m.registers = Array.isArray(registers) ? registers : Array.from(registers);
        m.units = { ...units };
        if (asArray) m.fields = names;
        m.invalid = invalid;
        if (invalid.length) show('warn', 'modbus-decode.status.invalid', { count: invalid.length });
        else show('ready', 'modbus-decode.status.ready', { fields: fields.length });
        send(m);
      },
      (err) => {
        shown = 'error';
        setStatus(RED, node, 'error', statusKeyOf(RED, err.code));
      },
    );
  }
  RED.nodes.registerType('modbus-decode', ModbusDecodeNode);
};
