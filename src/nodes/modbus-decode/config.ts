/** modbus-decode's configuration, declared once for the editor and the runtime (see ../shared/config). */
import type { RegisterFieldConfig } from '../../lib/modbus/fields';
import { type ConfigOf, defineTypedConfig } from '../shared/config';

/** The field table and its byte order and addressing: modbus-encode has the same three. */
export const MODBUS_FIELDS_DEFAULTS = {
  name: '',
  fields: [{ name: 'value', register: 0, type: 'uint16' }] as RegisterFieldConfig[],
  order: 'ABCD',
  addressing: 'relative',
};

// 0 -> 1 (0.1.x -> 0.2): nothing to convert (every setting is a choice), the version starts.
export const MODBUS_DECODE_CONFIG = defineTypedConfig({ ...MODBUS_FIELDS_DEFAULTS, output: 'object', int64: 'auto' });

export type ModbusDecodeConfig = ConfigOf<typeof MODBUS_DECODE_CONFIG>;
