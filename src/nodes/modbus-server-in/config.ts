/** modbus-server-in's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineConfig, typedLikeDefaults } from '../shared/config';

const DEFAULTS = {
  name: '',
  host: '127.0.0.1',
  port: '10502',
  unitId: '1',
  holdingSize: '1024',
  inputSize: '1024',
  coilsSize: '1024',
  discreteSize: '1024',
  allowList: '',
  maxConnections: '8',
  idleTimeout: '0',
  mode: 'write',
  frameStart: '0',
  frameLength: '10',
  frameTrigger: '',
  frameAllWritten: true,
  frameQuiet: '0',
  writeArea: 'holding',
  writeAddress: '',
  topic: '',
};

const typed = typedLikeDefaults(DEFAULTS);

export const MODBUS_SERVER_IN_CONFIG = defineConfig(DEFAULTS, [
  // 0 -> 1 (0.1.x -> 0.2): port, sizes and addresses saved as numbers become text. A flow without
  // frameAllWritten ran as false in 0.1 (the runtime read only `true`): it keeps false, while new
  // nodes get the editor's true.
  (c) => typed({ ...c, frameAllWritten: c.frameAllWritten ?? false }),
]);

export type ModbusServerInConfig = ConfigOf<typeof MODBUS_SERVER_IN_CONFIG>;
