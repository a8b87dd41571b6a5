/**
 * 10,000 random frames at a running modbus-server-in over real sockets: random function codes,
 * lengths, addresses and quantities, truncated and oversized MBAP headers, wrong protocol ids,
 * foreign unit ids, many frames pipelined per connection. Afterwards the runtime must still
 * answer, every answer on the wire must have been a well-formed ADU, and the kernel must show no
 * server-side socket left open (ss, independent of the node's own bookkeeping).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { type FlowNode, getNode, loadFlow, nextMessage, nextStatus, unloadFlow } from './helpers/flow';

after(() => unloadFlow());

/** xorshift32: the same frames on every run, so a failure can be replayed. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

type Kind = 'structured' | 'random-pdu' | 'truncated' | 'oversized' | 'protocol' | 'foreign-unit';

function randomFrame(r: (n: number) => number, tid: number): { bytes: Buffer; kind: Kind; endsStream: boolean } {
  const roll = r(100);
  const header = (length: number, unit: number, protocol = 0): Buffer => {
    const b = Buffer.alloc(7);
    b.writeUInt16BE(tid & 0xffff, 0);
    b.writeUInt16BE(protocol, 2);
    b.writeUInt16BE(length & 0xffff, 4);
    b[6] = unit;
    return b;
  };
  if (roll < 55) {
    // a known function code with random address, quantity, byte count and data
    const fc = [1, 2, 3, 4, 5, 6, 15, 16][r(8)]!;
    const body = Buffer.alloc(4);
    body.writeUInt16BE(r(4) === 0 ? r(65536) : r(120), 0);
    body.writeUInt16BE(r(4) === 0 ? r(65536) : r(130), 2);
    let data = Buffer.alloc(0);
    if (fc === 15 || fc === 16) {
      const n = r(40);
      data = Buffer.concat([Buffer.from([r(3) === 0 ? r(256) : n]), Buffer.from(Array.from({ length: n }, () => r(256)))]);
    }
    const pdu = Buffer.concat([Buffer.from([fc]), body, data]).subarray(0, r(10) === 0 ? r(6) + 1 : undefined);
    return { bytes: Buffer.concat([header(pdu.length + 1, 1), pdu]), kind: 'structured', endsStream: false };
  }
  if (roll < 75) {
    const len = r(253) + 1;
    const pdu = Buffer.from(Array.from({ length: len }, () => r(256)));
    return { bytes: Buffer.concat([header(len + 1, 1), pdu]), kind: 'random-pdu', endsStream: false };
  }
  if (roll < 82) {
    const pdu = Buffer.from([3, 0, 0, 0, 1]);
    return { bytes: Buffer.concat([header(pdu.length + 1, r(256)), pdu]), kind: 'foreign-unit', endsStream: false };
  }
  if (roll < 90) {
    // header promises more than is ever sent: the connection ends mid-frame
    const promised = r(250) + 8;
    return { bytes: Buffer.concat([header(promised, 1), Buffer.from(Array.from({ length: r(promised - 1) }, () => r(256)))]), kind: 'truncated', endsStream: true };
  }
  if (roll < 96) {
    const length = [0, 1, 255, 256, 1000, 0xffff][r(6)]!;
    return { bytes: Buffer.concat([header(length, 1), Buffer.from(Array.from({ length: r(300) }, () => r(256)))]), kind: 'oversized', endsStream: true };
  }
  return { bytes: Buffer.concat([header(6, 1, 1 + r(65535)), Buffer.from([3, 0, 0, 0, 1])]), kind: 'protocol', endsStream: true };
}

/** Checks that what the server sent is a sequence of whole, well-formed Modbus TCP ADUs. */
function checkResponses(stream: Buffer): number {
  let at = 0;
  let count = 0;
  while (at < stream.length) {
    assert.ok(stream.length - at >= 9, `trailing ${stream.length - at} bytes`);
    assert.equal(stream.readUInt16BE(at + 2), 0, 'protocol id');
    const length = stream.readUInt16BE(at + 4);
    assert.ok(length >= 3 && length <= 254, `length ${length}`);
    const fc = stream[at + 7]!;
    if (fc & 0x80) assert.ok([1, 2, 3].includes(stream[at + 8]!), `exception code ${stream[at + 8]}`);
    at += 6 + length;
    count++;
  }
  assert.equal(at, stream.length);
  return count;
}

/** Server-side TCP sockets on the port that are not closed (everything but LISTEN and TIME-WAIT). */
function openServerSockets(port: number): string[] {
  const out = execFileSync('ss', ['-Htan', `sport = :${port}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() && !/^(LISTEN|TIME-WAIT)/.test(l.trim()));
}

async function sendBatch(port: number, frames: Buffer[]): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined); // the server may reset a connection it ended
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.once('connect', () => {
    socket.end(Buffer.concat(frames));
  });
  await closed;
  return Buffer.concat(chunks);
}

test('10,000 fuzzed frames: no crash, only well-formed answers, no leaked socket', async () => {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    {
      id: 's',
      z: 'tab',
      type: 'modbus-server-in',
      host: '127.0.0.1',
      port: '0',
      unitId: '1',
      holdingSize: '100',
      inputSize: '100',
      coilsSize: '100',
      discreteSize: '100',
      maxConnections: '64',
      wires: [['out']],
    },
    { id: 'out', z: 'tab', type: 'helper' },
  ];
  await loadFlow(['modbus-server-in'], flow);
  const node = getNode('s');
  const spy = node.status as unknown as { getCalls: () => Array<{ thisValue: unknown; args: [{ fill?: string }] }> };
  if (!spy.getCalls().some((c) => c.thisValue === node && c.args[0].fill === 'green')) await nextStatus('s', (s) => s.fill === 'green');
  const port = (node as unknown as { boundPort?: number }).boundPort!; // port 0: the one it got

  const r = rng(0x5eed);
  const TOTAL = 10000;
  const kinds: Record<string, number> = {};
  const batches: Buffer[][] = [];
  let current: Buffer[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const frame = randomFrame(r, i);
    kinds[frame.kind] = (kinds[frame.kind] ?? 0) + 1;
    // a frame that ends the stream must be the last one on its connection
    current.push(frame.bytes);
    if (frame.endsStream || current.length >= 100) {
      batches.push(current);
      current = [];
    }
  }
  if (current.length) batches.push(current);

  let answers = 0;
  const CONCURRENCY = 8;
  for (let i = 0; i < batches.length; i += CONCURRENCY) {
    const replies = await Promise.all(batches.slice(i, i + CONCURRENCY).map((b) => sendBatch(port, b)));
    for (const reply of replies) answers += checkResponses(reply);
  }
  assert.ok(answers > 1000, `only ${answers} answers`);
  for (const k of ['structured', 'random-pdu', 'truncated', 'oversized', 'protocol', 'foreign-unit']) assert.ok((kinds[k] ?? 0) > 50, `${k}: ${kinds[k]}`);

  // still alive: a real master writes and the flow gets the message
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  client.setTimeout(5000);
  const out = nextMessage('out');
  await client.writeRegisters(50, [1, 2, 3]);
  const msg = await out;
  assert.deepEqual(msg.payload, [1, 2, 3]);
  await new Promise<void>((res) => client.close(() => res()));

  // every server-side socket closes; the kernel's view, polled until it settles
  const deadline = Date.now() + 10000;
  let open = openServerSockets(port);
  while (open.length && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 50)); // retry interval of a condition poll
    open = openServerSockets(port);
  }
  assert.deepEqual(open, [], `server sockets still open after ${batches.length} connections`);
});
