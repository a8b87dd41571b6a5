/** Modbus register codec: field table, decoding, encoding (pure; no Node-RED). */
export * from './fields';
export * from './codec';
export * from './preview';
