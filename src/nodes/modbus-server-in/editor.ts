/** Editor definition of modbus-server-in. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { allowList, isEnvReference, oneOf, required, rule, type Validator, inRangeOf } from '../../editor/validators';

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

// ${ENV} substitution happens in the runtime: accept it wherever a number is expected
// (0: the system picks a free port, which the status then shows)
const portOrEnv: Validator = rule((v) => isEnvReference(v) || (v !== '' && Number.isInteger(Number(v)) && Number(v) >= 0 && Number(v) <= 65535), 'port', { min: 1, max: 65535 });

RED.nodes.registerType<ModbusServerInProps>('modbus-server-in', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-server.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    host: { value: '127.0.0.1', required: true, validate: required },
    port: { value: '10502', validate: portOrEnv },
    unitId: { value: '1', validate: inRangeOf('modbus-server-in', 'unitId') },
    holdingSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'holdingSize') },
    inputSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'inputSize') },
    coilsSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'coilsSize') },
    discreteSize: { value: '1024', validate: inRangeOf('modbus-server-in', 'discreteSize') },
    allowList: { value: '', validate: allowList },
    maxConnections: { value: '8', validate: inRangeOf('modbus-server-in', 'maxConnections') },
    idleTimeout: { value: '0', validate: inRangeOf('modbus-server-in', 'idleTimeout') },
    mode: { value: 'write', validate: oneOf(['write', 'frame']) },
    frameStart: { value: '0', validate: inRangeOf('modbus-server-in', 'frameStart') },
    frameLength: { value: '10', validate: inRangeOf('modbus-server-in', 'frameLength') },
    frameTrigger: { value: '', validate: inRangeOf('modbus-server-in', 'frameTrigger', true) },
    frameAllWritten: { value: true },
    frameQuiet: { value: '0', validate: inRangeOf('modbus-server-in', 'frameQuiet') },
    writeArea: { value: 'holding', validate: oneOf(['holding', 'input', 'coils', 'discrete']) },
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
