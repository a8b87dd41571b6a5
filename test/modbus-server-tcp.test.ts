/**
 * The lib's ModbusTcpServer without Node-RED: ephemeral port 0, write events with the client's
 * address, atomic multi-register writes under concurrent reads, a client that never reads its
 * answers, and close() with clients still connected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { type WriteEvent, ModbusMemory, ModbusTcpServer, compileAllowList } from '../src/lib/modbus-server';

function server(overrides: Partial<ConstructorParameters<typeof ModbusTcpServer>[0]> = {}): ModbusTcpServer {
  return new ModbusTcpServer({
    host: '127.0.0.1',
    port: 0,
    unitId: 1,
    memory: new ModbusMemory({ holding: 64 }),
    allow: compileAllowList(''),
    maxConnections: 8,
    idleTimeoutMs: 0,
    ...overrides,
  });
}

async function master(port: number): Promise<ModbusRTU> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  client.setTimeout(5000);
  return client;
}
const closeClient = (c: ModbusRTU): Promise<void> => new Promise((r) => c.close(() => r()));

test('port 0 binds an ephemeral port and reports it; write events carry the client', async () => {
  const s = server();
  const port = await s.start();
  assert.ok(port > 0 && port === s.port);
  const client = await master(port);
  const event = new Promise<WriteEvent>((r) => s.once('write', r));
  await client.writeRegisters(3, [1, 2, 3]);
  const got = await event;
  assert.deepEqual({ ...got, client: undefined }, { fc: 16, area: 'holding', address: 3, quantity: 3, values: [1, 2, 3], unitId: 1, client: undefined });
  assert.equal(got.client.address, '127.0.0.1');
  await closeClient(client);
  await s.close();
});

test('multi-register writes are atomic: concurrent reads and write events never show a mixed block', async () => {
  const s = server();
  const port = await s.start();
  const writer = await master(port);
  const reader = await master(port);
  const blocks: number[][] = [];
  s.on('write', (e) => blocks.push(e.values as number[]));
  const uniform = (xs: number[]): boolean => xs.every((x) => x === xs[0]);
  let reads = 0;
  let stop = false;
  const readLoop = (async () => {
    while (!stop) {
      const { data } = await reader.readHoldingRegisters(0, 32);
      assert.ok(uniform(data), `mixed read: ${data.join(',')}`);
      reads++;
    }
  })();
  for (let i = 1; i <= 300; i++) await writer.writeRegisters(0, new Array(32).fill(i));
  stop = true;
  await readLoop;
  assert.equal(blocks.length, 300);
  assert.ok(blocks.every(uniform));
  assert.ok(reads > 0);
  await Promise.all([closeClient(writer), closeClient(reader)]);
  await s.close();
});

test('a client that never reads its answers is dropped once its backlog is too big', async () => {
  const s = server({ maxBacklogBytes: 4096 });
  const port = await s.start();
  const dropped = new Promise<string>((r) => s.once('dropped', (_c, reason) => r(reason)));
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.pause(); // never read: answers pile up in the kernel, then in the server
  const request = Buffer.from([0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 60]);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const batch = Buffer.concat(new Array(1000).fill(request));
  // write until the server gives up on us (each request asks for 60 registers)
  let sent = 0;
  while (!socket.destroyed && sent < 200) {
    const ok = socket.write(batch);
    sent++;
    if (!ok) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
  }
  assert.equal(await dropped, 'backlog');
  socket.destroy();
  await closed;
  await s.close();
  assert.equal(s.connectionCount, 0);
});

test('close() ends connected clients and frees the port; refusals are reported', async () => {
  const s = server({ maxConnections: 1 });
  const port = await s.start();
  const refused = new Promise<string>((r) => s.once('refused', (_c, reason) => r(reason)));
  const a = await master(port);
  const b = net.connect(port, '127.0.0.1');
  b.on('error', () => undefined);
  assert.equal(await refused, 'limit');
  const aClosed = new Promise<void>((r) => (a as unknown as { _port: { _client: net.Socket } })._port._client.once('close', () => r()));
  await s.close();
  await aClosed;
  b.destroy();
  const again = server({ port });
  assert.equal(await again.start(), port);
  await again.close();
});
