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

/** An MBAP request: transaction id, unit id, PDU bytes. */
const adu = (tid: number, unit: number, pdu: number[]): Buffer => Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, pdu.length + 1, unit, ...pdu]);
const connectRaw = (port: number): Promise<net.Socket> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', () => undefined);
  });
const closed = (socket: net.Socket): Promise<void> => new Promise((r) => (socket.destroyed ? r() : socket.once('close', () => r())));

test('a connection that drips a request byte by byte is closed after the partial-frame timeout; a request in two quick parts is answered', async () => {
  const s = server({ frameTimeoutMs: 300 });
  const port = await s.start();
  // the slow client: 3 bytes of a 12-byte request, then nothing more
  const slow = await connectRaw(port);
  const dropped = new Promise<string>((r) => s.once('dropped', (_c, reason) => r(reason)));
  slow.write(adu(1, 1, [3, 0, 0, 0, 1]).subarray(0, 3));
  assert.equal(await dropped, 'partial');
  await closed(slow);
  // a request split in two writes that arrive within the timeout is served
  const quick = await connectRaw(port);
  const answer = new Promise<Buffer>((r) => quick.once('data', r));
  const request = adu(7, 1, [3, 0, 0, 0, 2]);
  quick.write(request.subarray(0, 5));
  setImmediate(() => quick.write(request.subarray(5)));
  const got = await answer;
  assert.equal(got.readUInt16BE(0), 7, 'answered: transaction 7');
  quick.destroy();
  await s.close();
});

test('at the connection limit a real master gets the slot of the connection idle the longest; busy connections are not evicted', async () => {
  const s = server({ maxConnections: 2, evictIdleMs: 0 });
  const port = await s.start();
  const idle = [await connectRaw(port), await connectRaw(port)];
  const evicted = new Promise<string>((r) => s.once('dropped', (_c, reason) => r(reason)));
  const client = await master(port);
  assert.equal(await evicted, 'evicted');
  assert.deepEqual((await client.readHoldingRegisters(0, 2)).data, [0, 0], 'the master is served');
  await Promise.race(idle.map(closed)); // one of the idle connections made room
  await closeClient(client);
  for (const i of idle) i.destroy();
  await s.close();

  // connections with requests within evictIdleMs keep their slots: the newcomer is refused
  const busy = server({ maxConnections: 1, evictIdleMs: 60_000 });
  const busyPort = await busy.start();
  const first = await master(busyPort);
  await first.readHoldingRegisters(0, 1);
  const refused = new Promise<string>((r) => busy.once('refused', (_c, reason) => r(reason)));
  const second = net.connect(busyPort, '127.0.0.1');
  second.on('error', () => undefined);
  assert.equal(await refused, 'limit');
  assert.deepEqual((await first.readHoldingRegisters(0, 1)).data, [0], 'the busy master keeps its connection');
  second.destroy();
  await closeClient(first);
  await busy.close();
});

test('unit id 0xFF (Modbus TCP guide) is answered by a server with unit id 1, from modbus-serial and mbpoll; other units are not', async (t) => {
  const s = server();
  const port = await s.start();
  const client = await master(port);
  client.setID(255);
  await client.writeRegisters(4, [11, 12]);
  assert.deepEqual((await client.readHoldingRegisters(4, 2)).data, [11, 12]);
  client.setID(2);
  client.setTimeout(300);
  await assert.rejects(client.readHoldingRegisters(4, 2), 'unit 2 is another device: no answer');
  await closeClient(client);
  const { spawnSync, execFile } = await import('node:child_process');
  // mbpoll runs asynchronously: the server answering it lives in this process
  const mbpoll = (args: string[]): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      execFile('mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '255', '-t', '4', '-r', '1', ...args], { timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  if (spawnSync('sh', ['-c', 'command -v mbpoll'], { stdio: 'ignore' }).status !== 0) {
    t.diagnostic('mbpoll not installed: modbus-serial only');
  } else {
    // mbpoll writes 300 to holding register 1 (reference 1 = address 0) of unit 255, then reads it back
    const write = await mbpoll(['-1', '127.0.0.1', '--', '300']);
    assert.equal(write.code, 0, write.out);
    const read = await mbpoll(['-c', '1', '-1', '127.0.0.1']);
    assert.equal(read.code, 0, read.out);
    assert.match(read.out, /\[1\]:\s+300/);
  }
  await s.close();
});

test('unit id 0 is a broadcast: a write is applied and reported but not answered, a read is ignored', async () => {
  const s = server();
  const port = await s.start();
  const socket = await connectRaw(port);
  const write = new Promise<WriteEvent>((r) => s.once('write', r));
  const first = new Promise<Buffer>((r) => socket.once('data', r));
  // broadcast FC 6 (register 9 = 77), broadcast FC 3, then a unit-1 read of register 9, in one segment
  socket.write(Buffer.concat([adu(1, 0, [6, 0, 9, 0, 77]), adu(2, 0, [3, 0, 9, 0, 1]), adu(3, 1, [3, 0, 9, 0, 1])]));
  const event = await write;
  assert.deepEqual([event.unitId, event.address, event.values], [0, 9, [77]]);
  const answer = await first;
  assert.equal(answer.readUInt16BE(0), 3, 'the first answer is the unit-1 read: none for the broadcasts');
  assert.equal(answer.readUInt16BE(answer.length - 2), 77, 'and the broadcast write was applied');
  socket.destroy();
  await s.close();
});
