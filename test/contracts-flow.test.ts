/**
 * The message contract, hop by hop: the classic flow (a Modbus master writes a pump reading ->
 * modbus-server-in -> modbus-decode -> ml-guard -> onnx-infer -> ml-format) in a real Node-RED
 * runtime, each hop tapped by a helper node and validated with Ajv against the schema the package
 * publishes for it (schemas/*.schema.json; src/lib/contracts.ts declares the same shapes for the
 * runtimes). The reading is the model card's training means, written as float32 CDAB registers
 * built with Buffer; the server listens on port 0 and reports the port it got.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import ModbusRTU from 'modbus-serial';
import { type FlowNode, type Msg, getNode, loadFlow, nextMessage, unloadFlow } from './helpers/flow';
import { PUMP_MODEL, pumpCard } from './helpers/pump-reference';
import { loadSchema, validateJsonSchema } from './helpers/schema';

let client: ModbusRTU | undefined;
afterEach(async () => {
  if (client?.isOpen) await new Promise<void>((r) => client!.close(() => r()));
  client = undefined;
  await unloadFlow();
});

const float32Cdab = (v: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [b.readUInt16BE(2), b.readUInt16BE(0)];
};

/** Resolves with the port the node bound, once it listens (it may have already). */
function boundPort(id: string): Promise<number> {
  const node = getNode(id) as unknown as NodeJS.EventEmitter & { boundPort?: number };
  if (node.boundPort) return Promise.resolve(node.boundPort);
  return new Promise((resolve) => node.once('listening', resolve));
}

test('each hop of the classic flow matches its published schema', async () => {
  const features = pumpCard.features ?? [];
  assert.ok(features.length > 0, 'the demo model card names its features');
  const reading = features.map((f) => pumpCard.trainingStats?.[f]?.mean ?? 0);
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    { id: 'model', type: 'onnx-model', path: PUMP_MODEL, watch: false, threads: '1' },
    {
      id: 'server',
      z: 'tab',
      type: 'modbus-server-in',
      host: '127.0.0.1',
      port: '0',
      unitId: '1',
      mode: 'frame',
      frameStart: '0',
      frameLength: String(features.length * 2),
      frameAllWritten: true,
      wires: [['decode', 'at-server']],
    },
    {
      id: 'decode',
      z: 'tab',
      type: 'modbus-decode',
      order: 'CDAB',
      output: 'object',
      fields: features.map((name, i) => ({ name, register: i * 2, type: 'float32', ...(pumpCard.units?.[name] ? { unit: pumpCard.units[name] } : {}) })),
      wires: [['guard', 'at-decode']],
    },
    { id: 'guard', z: 'tab', type: 'ml-guard', model: 'model', rules: [], wires: [['infer', 'at-guard'], ['at-routed']] },
    { id: 'infer', z: 'tab', type: 'onnx-infer', model: 'model', property: 'payload', queueSize: '10', overflow: 'error', wires: [['format', 'at-infer']] },
    { id: 'format', z: 'tab', type: 'ml-format', model: 'model', task: 'auto', topK: '3', wires: [['at-format'], []] },
    ...['at-server', 'at-decode', 'at-guard', 'at-routed', 'at-infer', 'at-format'].map((id) => ({ id, z: 'tab', type: 'helper' })),
    { id: 'catcher', z: 'tab', type: 'catch', uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ];
  await loadFlow(['onnx-model', 'modbus-server-in', 'modbus-decode', 'ml-guard', 'onnx-infer', 'ml-format'], flow);
  const port = await boundPort('server');
  assert.ok(port > 0, `bound port ${port}`);

  const hops: Record<string, Promise<Msg>> = Object.fromEntries(['at-server', 'at-decode', 'at-guard', 'at-infer', 'at-format'].map((id) => [id, nextMessage(id, 30_000)]));
  const failure = nextMessage('caught', 30_000).then((m) => Promise.reject(new Error(`error in the flow: ${JSON.stringify(m.error)}`)));
  failure.catch(() => undefined);
  client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  await client.writeRegisters(0, reading.flatMap(float32Cdab));

  const schemaOf: Record<string, string> = {
    'at-server': 'modbus-server-in-output',
    'at-decode': 'modbus-decode-output',
    'at-guard': 'ml-guard-output',
    'at-infer': 'onnx-infer-output',
  };
  for (const [hop, promise] of Object.entries(hops)) {
    const msg = await Promise.race([promise, failure]);
    // what crosses a wire may also cross MQTT or a file: validate the JSON form
    const json = JSON.parse(JSON.stringify(msg)) as Msg;
    if (hop === 'at-format') {
      assert.deepEqual(validateJsonSchema(loadSchema('ml-format-payload'), json.payload), [], `${hop}: ${JSON.stringify(json.payload)}`);
    } else {
      assert.deepEqual(validateJsonSchema(loadSchema(schemaOf[hop]!), json), [], `${hop}: ${JSON.stringify(json).slice(0, 600)}`);
    }
  }
  // the decoded values are the reading (float32 rounding), by name
  const decoded = (await hops['at-decode']!).payload as Record<string, number>;
  for (const [i, name] of features.entries()) assert.equal(decoded[name], Math.fround(reading[i]!));
});

test('a schema rejects a hop that breaks the contract', async () => {
  const infer = loadSchema('onnx-infer-output');
  const good = { payload: { y: { dtype: 'float32', dims: [1, 2], data: [0.5, 'NaN'] } }, model: { name: 'm', version: '1', sha256: 'a'.repeat(64) }, inferenceMs: 0.2 };
  assert.deepEqual(validateJsonSchema(infer, good), []);
  const bad: Array<[string, unknown]> = [
    ['no model', { ...good, model: undefined }],
    ['tensor without dims', { ...good, payload: { y: { dtype: 'float32', data: [1] } } }],
    ['unknown dtype', { ...good, payload: { y: { dtype: 'complex64', dims: [1], data: [1] } } }],
    ['negative dim', { ...good, payload: { y: { dtype: 'float32', dims: [-1], data: [1] } } }],
    ['empty payload', { ...good, payload: {} }],
    ['batchSize 1', { ...good, batchSize: 1 }],
  ];
  for (const [why, value] of bad) assert.ok(validateJsonSchema(infer, value).length > 0, why);
  const guard = loadSchema('ml-guard-output');
  assert.ok(validateJsonSchema(guard, { payload: { a: 1 }, guard: { ok: true, action: 'keep', issues: [] } }).length > 0, 'unknown guard action');
  const decode = loadSchema('modbus-decode-output');
  assert.ok(validateJsonSchema(decode, { payload: { a: 1 }, registers: [70000], units: {}, invalid: [] }).length > 0, 'register above 65535');
});
