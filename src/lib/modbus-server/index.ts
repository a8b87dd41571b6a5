/** Modbus TCP server: memory areas, request processing, framing, allow-list, frame mode (pure; no Node-RED). */
export * from './memory';
export * from './protocol';
export * from './allow-list';
export * from './frame-assembler';
export * from './server';
export * from './flow-write';
