/**
 * A real MQTT broker for tests, the demo and benchmarks: mosquitto on an ephemeral (or given) port
 * with its own config file where it is installed, the embedded aedes broker otherwise. restart()
 * keeps the port (for reconnect tests); with `persistent`, sessions, subscriptions and queued QoS 1
 * messages of clean-session=false clients survive a restart, as on a production broker.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './net';

export interface TestBroker {
  readonly kind: 'mosquitto' | 'aedes';
  readonly port: number;
  readonly url: string;
  /** The broker's process id (mosquitto; undefined for the embedded broker or while down). */
  readonly pid?: number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the broker process/server but keeps its port and persistence for up(). */
  down(): Promise<void>;
  up(): Promise<void>;
  /** mosquitto only: SIGSTOP, so connections stay up and nothing is acknowledged; thaw() resumes. */
  freeze?(): void;
  thaw?(): void;
}

export function hasMosquitto(): boolean {
  return spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { stdio: 'ignore' }).status === 0;
}

function mosquittoBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v mosquitto || echo /usr/sbin/mosquitto'], { encoding: 'utf8' });
  return found.stdout.trim();
}

export interface BrokerOptions {
  /** Default: a free port. */
  port?: number;
  /** Keep sessions and queued messages across restart() (default false). */
  persistent?: boolean;
  /** Use the embedded broker even where mosquitto is installed. */
  embedded?: boolean;
  /** Extra mosquitto.conf lines (e.g. a bridge `connection`, `sys_interval 1`); mosquitto only. */
  config?: string;
}

export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const port = options.port ?? (await freePort());
  return hasMosquitto() && !options.embedded ? startMosquitto(port, options.persistent ?? false, options.config) : startAedes(port, options.persistent ?? false);
}

async function startMosquitto(port: number, persistent: boolean, extra = ''): Promise<TestBroker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeml-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  const persistence = persistent ? `persistence true\npersistence_location ${dir}/\n` : 'persistence false\n';
  // Started as root, mosquitto switches to its own user, which could not write the persistence
  // file into our private temp folder: stay the user we are.
  const user = `user ${os.userInfo().username}\n`;
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n${user}${persistence}${extra ? `${extra.replace(/\n?$/, '\n')}` : ''}`);
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(mosquittoBinary(), ['-c', conf], { stdio: 'ignore' });
    await waitForPort(port);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGCONT'); // a frozen broker cannot handle SIGTERM
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    kind: 'mosquitto',
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stop();
      await start();
    },
    down: stop,
    up: start,
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
  };
}

async function startAedes(port: number, persistent: boolean): Promise<TestBroker> {
  // loaded only where a test asks for aedes (mosquitto is the default broker)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const aedesFactory = require('aedes') as (options?: { persistence?: unknown }) => { handle: (s: net.Socket) => void; close: (cb: () => void) => void };
  // One persistence store for every incarnation: sessions survive restart() like mosquitto's file.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const persistence: unknown = persistent ? (require('aedes-persistence') as () => unknown)() : undefined;
  let server: net.Server | undefined;
  let broker: ReturnType<typeof aedesFactory> | undefined;
  const sockets = new Set<net.Socket>();
  const start = async (): Promise<void> => {
    const b = aedesFactory(persistence ? { persistence } : {});
    broker = b;
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      b.handle(socket);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  };
  const stop = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
    server = undefined;
    broker = undefined;
  };
  await start();
  return {
    kind: 'aedes',
    port,
    url: `mqtt://127.0.0.1:${port}`,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    down: stop,
    up: start,
  };
}
