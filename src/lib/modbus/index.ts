/** Modbus register codec: field table, registers in messages, decoding, encoding (pure; no Node-RED). */
export * from './fields';
export * from './registers';
export * from './decode';
export * from './encode';
export * from './preview';
