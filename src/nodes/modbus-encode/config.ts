/** modbus-encode's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig } from '../shared/config';
import { MODBUS_FIELDS_DEFAULTS } from '../modbus-decode/config';

// 0 -> 1 (0.1.x -> 0.2): address and unit id saved as numbers become text.
export const MODBUS_ENCODE_CONFIG = defineTypedConfig({ ...MODBUS_FIELDS_DEFAULTS, address: '0', unitid: '1', payload: 'registers' });

export type ModbusEncodeConfig = ConfigOf<typeof MODBUS_ENCODE_CONFIG>;
