/** Editor definition of modbus-server-in. */
import type { EditorNodeProperties, EditorRED } from 'node-red';
import { allowList, isEnvReference, oneOf, required, rule, type Validator, inRangeOf } from '../../editor/validators';
import { editorDefaults } from '../shared/config';
import { MODBUS_SERVER_IN_CONFIG, type ModbusServerInConfig } from './config';

declare const RED: EditorRED;

type ModbusServerInProps = EditorNodeProperties & ModbusServerInConfig & { configVersion: number };

// ${ENV} substitution happens in the runtime: accept it wherever a number is expected
// (0: the system picks a free port, which the status then shows)
const portOrEnv: Validator = rule((v) => isEnvReference(v) || (v !== '' && Number.isInteger(Number(v)) && Number(v) >= 0 && Number(v) <= 65535), 'port', { min: 1, max: 65535 });

RED.nodes.registerType<ModbusServerInProps>('modbus-server-in', {
  category: 'edge ML',
  color: '#8fc9a8',
  icon: 'edgeml-server.svg',
  inputs: 1,
  outputs: 1,
  // values from ./config.ts, shared with the runtime; validators here
  defaults: editorDefaults(MODBUS_SERVER_IN_CONFIG, {
    host: { required: true, validate: required },
    port: { validate: portOrEnv },
    unitId: { validate: inRangeOf('modbus-server-in', 'unitId') },
    holdingSize: { validate: inRangeOf('modbus-server-in', 'holdingSize') },
    inputSize: { validate: inRangeOf('modbus-server-in', 'inputSize') },
    coilsSize: { validate: inRangeOf('modbus-server-in', 'coilsSize') },
    discreteSize: { validate: inRangeOf('modbus-server-in', 'discreteSize') },
    allowList: { validate: allowList },
    maxConnections: { validate: inRangeOf('modbus-server-in', 'maxConnections') },
    idleTimeout: { validate: inRangeOf('modbus-server-in', 'idleTimeout') },
    mode: { validate: oneOf(['write', 'frame']) },
    frameStart: { validate: inRangeOf('modbus-server-in', 'frameStart') },
    frameLength: { validate: inRangeOf('modbus-server-in', 'frameLength') },
    frameTrigger: { validate: inRangeOf('modbus-server-in', 'frameTrigger', true) },
    frameQuiet: { validate: inRangeOf('modbus-server-in', 'frameQuiet') },
    writeArea: { validate: oneOf(['holding', 'input', 'coils', 'discrete']) },
    writeAddress: { validate: inRangeOf('modbus-server-in', 'writeAddress', true) },
  }),
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
