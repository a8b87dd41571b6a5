/**
 * A Modbus TCP server on node:net that knows who writes: every applied write is reported with the
 * client's address, in one piece (an FC 15/16 block is one event), before the next request is read.
 *
 * Why not modbus-serial's ServerTCP (8.0.25, servers/servertcp.js + servertcp_handler.js): its
 * vector callbacks get no client address; port 0 becomes 502 (`options.port || 502`); it has no
 * hook for refusing clients or limiting connections (only its private `_server`); with
 * setCoilArray it answers FC 15 before the write is applied; FC 16 with quantity 0 answers twice;
 * wrong lengths, quantities and byte counts get no answer instead of exception 03; the receive
 * buffer trusts the MBAP length; and every request waits for a setTimeout(0). FC 16 does reach
 * setRegisterArray in one call, but the rest cannot be fixed from outside, and the protocol is
 * small enough to own. modbus-serial remains the master in tests and the benchmark.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { EdgeMlError } from '../errors';
import type { AllowList } from './allow-list';
import type { ModbusMemory } from './memory';
import { type AppliedWrite, MbapFramer, encodeAdu, isWriteRequest, processPdu } from './protocol';

export interface ClientInfo {
  address: string;
  port: number;
}

export interface WriteEvent extends AppliedWrite {
  unitId: number;
  client: ClientInfo;
}

export type RefusalReason = 'allow-list' | 'limit';
export type DropReason = 'protocol' | 'length' | 'backlog' | 'idle' | 'partial' | 'evicted';

export interface ModbusTcpServerOptions {
  host: string;
  /** 0 binds an ephemeral port; `port` after start() tells which. */
  port: number;
  /**
   * The unit id this server answers, and 0xFF (the Modbus TCP guide's id for a device addressed
   * directly over TCP); 0 answers every unit id. A request for unit 0 is a broadcast: a write is
   * applied (and reported) but not answered, a read is ignored.
   */
  unitId: number;
  memory: ModbusMemory;
  allow: AllowList;
  maxConnections: number;
  /** Close connections silent for this long; 0 keeps them open. */
  idleTimeoutMs: number;
  /** Close a client that stops reading once this many response bytes queue up. */
  maxBacklogBytes?: number;
  /** Close a connection whose started request is not complete within this time (default 3000 ms). */
  frameTimeoutMs?: number;
  /**
   * At the connection limit, a new client takes the slot of the connection that has gone longest
   * without a complete request, if that is at least this long (default 1000 ms); else it is refused.
   */
  evictIdleMs?: number;
}

/** Unit id of a device addressed directly over TCP (Modbus Messaging on TCP/IP Implementation Guide). */
export const UNIT_ID_TCP = 0xff;
/** Unit id 0: a broadcast. */
export const UNIT_ID_BROADCAST = 0;
export const DEFAULT_FRAME_TIMEOUT_MS = 3000;
export const DEFAULT_EVICT_IDLE_MS = 1000;

export interface ModbusTcpServerEvents {
  write: [WriteEvent];
  connections: [number];
  refused: [ClientInfo, RefusalReason];
  dropped: [ClientInfo, DropReason];
}

export class ModbusTcpServer extends EventEmitter<ModbusTcpServerEvents> {
  private readonly server: net.Server;
  /** Open connections, each with a promise of its (already handled) close event. */
  private readonly sockets = new Map<net.Socket, Promise<void>>();
  /** When each connection last completed a request (its connect time before the first). */
  private readonly lastRequest = new Map<net.Socket, number>();
  private boundPort = 0;
  private closing: Promise<void> | undefined;
  /** Requests answered (reads and writes), for status figures. */
  requests = 0;

  constructor(private readonly options: ModbusTcpServerOptions) {
    super();
    this.server = net.createServer((socket) => this.accept(socket));
    // a runaway accept loop must not throw; errors after start surface as 'error' only if listened to
    this.server.on('error', () => undefined);
  }

  get port(): number {
    return this.boundPort;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  start(): Promise<number> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new EdgeMlError('EDGEML_MODBUS_SERVER_LISTEN', `Cannot listen on ${host}:${port}: ${err.code ?? err.message}`, {
            host,
            port,
            reason: err.code ?? err.message,
          }),
        );
      };
      this.server.once('error', onError);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.removeListener('error', onError);
        const address = this.server.address();
        this.boundPort = typeof address === 'object' && address ? address.port : port;
        resolve(this.boundPort);
      });
    });
  }

  /** Stops listening and ends every connection; resolves once the port is free again. */
  close(): Promise<void> {
    if (!this.closing) {
      const socketsClosed = [...this.sockets.values()];
      for (const socket of this.sockets.keys()) socket.destroy();
      const serverClosed = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
      // resolved only when the port is free and every connection's close has been seen
      this.closing = Promise.all([serverClosed, ...socketsClosed]).then(() => undefined);
    }
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    const client: ClientInfo = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    socket.on('error', () => undefined); // resets by peers are normal; close follows
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (!this.options.allow(client.address)) {
      socket.destroy();
      this.emit('refused', client, 'allow-list');
      return;
    }
    if (this.sockets.size >= this.options.maxConnections && !this.evictIdlest()) {
      socket.destroy();
      this.emit('refused', client, 'limit');
      return;
    }
    this.sockets.set(
      socket,
      new Promise<void>((resolve) =>
        socket.once('close', () => {
          this.sockets.delete(socket);
          this.lastRequest.delete(socket);
          if (partialTimer) clearTimeout(partialTimer);
          this.emit('connections', this.sockets.size);
          resolve();
        }),
      ),
    );
    socket.setNoDelay(true);
    if (this.options.idleTimeoutMs > 0) {
      socket.setTimeout(this.options.idleTimeoutMs, () => this.drop(socket, client, 'idle'));
    }
    this.emit('connections', this.sockets.size);

    const framer = new MbapFramer();
    const maxBacklog = this.options.maxBacklogBytes ?? 64 * 1024;
    const frameTimeoutMs = this.options.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS;
    // A request that has started must be complete within frameTimeoutMs: a client dripping bytes
    // (one a second) is closed instead of holding its slot. Counted from the request's first byte.
    let partialTimer: NodeJS.Timeout | undefined;
    this.lastRequest.set(socket, Date.now());
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = framer.push(chunk);
      if (frames.length) this.lastRequest.set(socket, Date.now());
      for (const frame of frames) {
        if (socket.destroyed) return;
        const { unitId } = this.options;
        const broadcast = frame.unitId === UNIT_ID_BROADCAST && unitId !== 0;
        // another device's request: not ours to answer
        if (!broadcast && unitId !== 0 && frame.unitId !== unitId && frame.unitId !== UNIT_ID_TCP) continue;
        if (broadcast && !isWriteRequest(frame.pdu)) continue; // a broadcast read has no one to answer
        const result = processPdu(frame.pdu, this.options.memory);
        this.requests++;
        if (!broadcast) socket.write(encodeAdu(frame.transactionId, frame.unitId, result.response));
        if (socket.writableLength > maxBacklog) return this.drop(socket, client, 'backlog');
        if (result.write) this.emit('write', { ...result.write, unitId: frame.unitId, client });
      }
      if (error) return this.drop(socket, client, error);
      if (!framer.hasPartial) {
        if (partialTimer) clearTimeout(partialTimer);
        partialTimer = undefined;
      } else if (!partialTimer || frames.length) {
        if (partialTimer) clearTimeout(partialTimer);
        partialTimer = setTimeout(() => this.drop(socket, client, 'partial'), frameTimeoutMs);
      }
    });
  }

  /** Closes the connection longest without a complete request, if idle long enough; true when a slot was freed. */
  private evictIdlest(): boolean {
    let idlest: net.Socket | undefined;
    let since = Infinity;
    for (const [socket, t] of this.lastRequest) {
      if (t < since && !socket.destroyed) {
        since = t;
        idlest = socket;
      }
    }
    if (!idlest || Date.now() - since < (this.options.evictIdleMs ?? DEFAULT_EVICT_IDLE_MS)) return false;
    // the slot is free now: the close event that frees it in `sockets` comes later
    this.sockets.delete(idlest);
    this.lastRequest.delete(idlest);
    this.drop(idlest, { address: idlest.remoteAddress ?? '', port: idlest.remotePort ?? 0 }, 'evicted');
    return true;
  }

  private drop(socket: net.Socket, client: ClientInfo, reason: DropReason): void {
    socket.destroy();
    this.emit('dropped', client, reason);
  }
}
