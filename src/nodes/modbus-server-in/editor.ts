/** Editor definition of modbus-server-in. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { inRangeOf } from '../../editor/validators';

declare const RED: EditorRED;

interface ModbusServerInProps extends EditorNodeProperties {
  host: string;
  port: string;
  unitId: string;
  holdingSize: string;
  inputSize: string;
  coilsSize: string;
  discreteSize: string;
  allowList: string;
  maxConnections: string;
  idleTimeout: string;
  mode: string;
  frameStart: string;
  frameLength: string;
  frameTrigger: string;
  frameAllWritten: boolean;
  frameQuiet: string;
  writeArea: string;
  writeAddress: string;
  topic: string;
}

const blank = (v: unknown): boolean => v === undefined || v === null || String(v).trim() === '';
const integerIn =
  (min: number, max: number, optional = false) =>
  (v: string): boolean =>
    (optional && blank(v)) || (!blank(v) && Number.isInteger(Number(v)) && Number(v) >= min && Number(v) <= max);
// ${ENV} substitution happens in the runtime: accept it wherever a number is expected
const integerOrEnv = (min: number, max: number) => (v: string): boolean => /^\$\{\w+\}$/.test(String(v).trim()) || integerIn(min, max)(v);

/** Same rule as the runtime: IPv4/IPv6 addresses or CIDR ranges, separated by commas or spaces. */
function allowListIsValid(text: string): boolean {
  const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  return String(text ?? '')
    .split(/[\s,;]+/)
    .filter(Boolean)
    .every((entry) => {
      const [ip, bits, ...rest] = entry.split('/');
      if (rest.length || !ip) return false;
      const v4 = ipv4.test(ip);
      const v6 = !v4 && ip.includes(':') && /^[0-9a-f:.]+$/i.test(ip);
      if (!v4 && !v6) return false;
      return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (v4 ? 32 : 128));
    });
}

RED.nodes.registerType<ModbusServerInProps>('modbus-server-in', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-server.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    host: { value: '127.0.0.1', required: true },
    port: { value: '10502', validate: integerOrEnv(1, 65535) },
    unitId: { value: '1', validate: inRangeOf('modbus-server-in', 'unitId') },
    holdingSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'holdingSize') },
    inputSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'inputSize') },
    coilsSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'coilsSize') },
    discreteSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'discreteSize') },
    allowList: { value: '', validate: allowListIsValid },
    maxConnections: { value: '8', validate: inRangeOf('modbus-server-in', 'maxConnections') },
    idleTimeout: { value: '0', validate: inRangeOf('modbus-server-in', 'idleTimeout') },
    mode: { value: 'write', validate: (v: string) => v === 'write' || v === 'frame' },
    frameStart: { value: '0', validate: inRangeOf('modbus-server-in', 'frameStart') },
    frameLength: { value: '10', validate: inRangeOf('modbus-server-in', 'frameLength') },
    frameTrigger: { value: '', validate: inRangeOf('modbus-server-in', 'frameTrigger', true) },
    frameAllWritten: { value: true },
    frameQuiet: { value: '0', validate: inRangeOf('modbus-server-in', 'frameQuiet') },
    writeArea: { value: 'holding', validate: (v: string) => ['holding', 'input', 'coils', 'discrete'].includes(v) },
    writeAddress: { value: '', validate: inRangeOf('modbus-server-in', 'writeAddress', true) },
    topic: { value: '' },
  },
  label: function () {
    return this.name || `modbus server ${this.host || '127.0.0.1'}:${this.port}`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  paletteLabel: 'modbus server in',
  oneditprepare: function () {
    const toggleFrame = (): void => {
      $('.edgeml-mbs-frame').toggle($('#node-input-mode').val() === 'frame');
    };
    $('#node-input-mode').on('change', toggleFrame);
    toggleFrame();
  },
});
