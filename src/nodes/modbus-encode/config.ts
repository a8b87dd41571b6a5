/** modbus-encode's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineConfig, typedLikeDefaults } from '../shared/config';
import { MODBUS_FIELDS_DEFAULTS } from '../modbus-decode/config';

const DEFAULTS = { ...MODBUS_FIELDS_DEFAULTS, address: '0', unitid: '1', payload: 'registers' };

export const MODBUS_ENCODE_CONFIG = defineConfig(DEFAULTS, [
  // 0 -> 1 (0.1.x -> 0.2): address and unit id saved as numbers become text.
  typedLikeDefaults(DEFAULTS),
]);

export type ModbusEncodeConfig = ConfigOf<typeof MODBUS_ENCODE_CONFIG>;
