/**
 * End to end over real Modbus TCP on 127.0.0.1: an external master (mbpoll) writes float32 values in
 * CDAB order to a modbus-serial server; node-red-contrib-modbus 5.23.3 (Modbus-Client + Modbus-Getter)
 * reads them in a flow into modbus-decode. The way back: modbus-encode -> Flex-Write -> the server,
 * read back by mbpoll.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ServerTCP } from 'modbus-serial';
import { type FlowNode, getNode, helper, inject, loadModule, nextMessage, nodeModule, unloadFlow } from './helpers/flow';
import { freePort, waitForPort } from './helpers/net';

const run = promisify(execFile);
const holding = new Array<number>(16).fill(0);
let server: ServerTCP | undefined;
let port = 0;

before(async () => {
  port = await freePort(); // ServerTCP cannot bind port 0 itself
  server = new ServerTCP(
    {
      getHoldingRegister: (addr: number) => holding[addr] ?? 0,
      getInputRegister: (addr: number) => holding[addr] ?? 0,
      setRegister: (addr: number, value: number) => {
        holding[addr] = value;
      },
    },
    { host: '127.0.0.1', port, unitID: 1 },
  );
  await waitForPort(port);
});

after(async () => {
  await unloadFlow();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** Resolves when the Modbus-Client config node is connected: it drops commands before that. */
function clientActive(id: string): Promise<void> {
  const client = getNode(id) as unknown as NodeJS.EventEmitter & { actualServiceState?: { matches?: (s: string) => boolean } };
  if (client.actualServiceState?.matches?.('connected') || client.actualServiceState?.matches?.('activated')) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Modbus client did not connect within 20 s')), 20000);
    client.once('mbconnected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function mbpoll(args: string[]): Promise<{ stdout: string }> {
  // -0: PDU (0-based) addresses, -1: one poll only, -o: timeout in seconds (safety net)
  return run('mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '1', '-0', '-o', '5', ...args], { timeout: 20000 });
}

/** node-red-contrib-modbus's TCP client config node for a server on 127.0.0.1:port. */
function modbusClient(port: number): FlowNode {
  return {
    id: 'client',
    type: 'modbus-client',
    name: '',
    clienttype: 'tcp',
    bufferCommands: true,
    stateLogEnabled: false,
    queueLogEnabled: false,
    failureLogEnabled: true,
    tcpHost: '127.0.0.1',
    tcpPort: port,
    tcpType: 'DEFAULT',
    unit_id: 1,
    commandDelay: 1,
    clientTimeout: 2000,
    reconnectOnTimeout: true,
    reconnectTimeout: 2000,
    parallelUnitIdsAllowed: true,
  };
}

test('float32 CDAB values written by mbpoll come out of node-red-contrib-modbus Getter -> modbus-decode', async (t) => {
  t.after(unloadFlow);
  const written = [123.456, -1.5, 6.02e23];
  await mbpoll(['-r', '0', '-t', '4:float', '127.0.0.1', '--', ...written.map(String)]); // mbpoll's float default is CDAB

  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    modbusClient(port),
    {
      id: 'getter',
      z: 'tab',
      type: 'modbus-getter',
      name: '',
      showStatusActivities: false,
      showErrors: true,
      unitid: '1',
      dataType: 'HoldingRegister',
      adr: '0',
      quantity: '6',
      server: 'client',
      useIOFile: false,
      useIOForPayload: false,
      emptyMsgOnFail: false,
      keepMsgProperties: false,
      wires: [['decode'], ['buffered']],
    },
    {
      id: 'decode',
      z: 'tab',
      type: 'modbus-decode',
      order: 'CDAB',
      addressing: 'absolute',
      fields: [
        { name: 'a', register: 0, type: 'float32', unit: 'kW' },
        { name: 'b', register: 2, type: 'float32' },
        { name: 'c', register: 4, type: 'float32' },
      ],
      wires: [['out']],
    },
    // the getter's second output carries the raw response ({ data, buffer }) as msg.payload
    { id: 'buffered', z: 'tab', type: 'modbus-decode', order: 'CDAB', fields: [{ name: 'a', register: 0, type: 'float32' }], wires: [['outBuffer']] },
    { id: 'out', z: 'tab', type: 'helper' },
    { id: 'outBuffer', z: 'tab', type: 'helper' },
    { id: 'catcher', z: 'tab', type: 'catch', scope: ['decode', 'buffered'], uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper' },
  ];
  const contrib = (name: string): unknown => loadModule(`node-red-contrib-modbus/modbus/${name}.js`);
  await helper.load([contrib('modbus-client'), contrib('modbus-getter'), nodeModule('modbus-decode')] as never, flow);

  await clientActive('client');
  const decoded = nextMessage('out', 20000);
  const viaBuffer = nextMessage('outBuffer', 20000);
  inject('getter', { payload: 'read', topic: 'poll' });
  const msg = await decoded;
  assert.deepEqual(msg.payload, { a: Math.fround(written[0]!), b: Math.fround(written[1]!), c: Math.fround(written[2]!) });
  assert.deepEqual(msg.units, { a: 'kW' });
  assert.equal(Number((msg.modbusRequest as { address: unknown }).address), 0); // the Getter passes its config string on
  assert.deepEqual(msg.registers, holding.slice(0, 6));
  assert.deepEqual((await viaBuffer).payload, { a: Math.fround(written[0]!) });
});

test('modbus-encode -> node-red-contrib-modbus Flex-Write -> server; mbpoll reads the values back', async (t) => {
  t.after(unloadFlow);
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    modbusClient(port),
    {
      id: 'encode',
      z: 'tab',
      type: 'modbus-encode',
      order: 'CDAB',
      addressing: 'relative',
      address: '8',
      unitid: '1',
      payload: 'flex-write',
      fields: [
        { name: 'setpoint', register: 0, type: 'float32' },
        { name: 'limit', register: 2, type: 'float32', scale: 0.5 },
      ],
      wires: [['write']],
    },
    {
      id: 'write',
      z: 'tab',
      type: 'modbus-flex-write',
      name: '',
      showStatusActivities: false,
      showErrors: true,
      server: 'client',
      emptyMsgOnFail: false,
      keepMsgProperties: false,
      wires: [['written'], []],
    },
    { id: 'written', z: 'tab', type: 'helper' },
  ];
  const contrib = (name: string): unknown => loadModule(`node-red-contrib-modbus/modbus/${name}.js`);
  await helper.load([contrib('modbus-client'), contrib('modbus-flex-write'), nodeModule('modbus-encode')] as never, flow);
  await clientActive('client');
  const written = nextMessage('written', 20000);
  inject('encode', { payload: { setpoint: 42.25, limit: -7 } });
  await written;
  const { stdout } = await mbpoll(['-r', '8', '-c', '2', '-t', '4:float', '-1', '127.0.0.1']);
  // mbpoll prints one "[address]: value" line per float
  const values = [...stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => Number(m[2]));
  assert.deepEqual(values, [42.25, -7 / 0.5]);
});
