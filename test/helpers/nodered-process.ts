/**
 * A real Node-RED (node_modules/node-red/red.js) in its own process: temp user directory, free
 * port on 127.0.0.1, settings written for tests, readiness from its own log lines, the admin API
 * at hand. For tests that need what node-red-node-test-helper leaves out: the editor, the admin
 * API, packages installed into a user directory, another Node.js binary, a process to kill.
 * Waits resolve on log lines or process exit; timeouts only turn a hang into a readable failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net';

export const ROOT = path.resolve(__dirname, '..', '..');
export const RED_JS = path.join(ROOT, 'node_modules', 'node-red', 'red.js');

export type SettingsObject = Record<string, unknown>;

export interface NodeRedOptions {
  /** User directory; default a fresh temp folder, removed by stop(). */
  userDir?: string;
  /** Port for the editor and admin API; default a free one (retried if taken meanwhile). */
  port?: number;
  /** Node.js binary (e.g. the Node 18 launcher of scripts/node18.sh); default this process's. */
  node?: string;
  /** Node-RED's red.js; default the project's. */
  redJs?: string;
  /** Flows written to the user directory's flows.json before start. */
  flows?: unknown[];
  /** Credentials by node id, written unencrypted (the settings set credentialSecret false). */
  credentials?: Record<string, Record<string, unknown>>;
  /** Folders Node-RED scans for node files (settings.nodesDir), e.g. the project root. */
  nodesDir?: string | string[];
  /** Settings (JSON values) merged over the test defaults; plain objects merge deeply. */
  settings?: SettingsObject;
  /** JavaScript appended to the settings file, with `settings` (= module.exports) in scope, for values JSON cannot hold. */
  settingsSource?: string;
  /** Extra environment variables for the Node-RED process. */
  env?: NodeJS.ProcessEnv;
  /** A command to run Node.js under, e.g. ['taskset', '-c', '0'] to pin it to one core. */
  prefix?: string[];
  /** Extra command-line arguments for red.js. */
  args?: string[];
  /** Resolve start() only after "Started flows" (default true). */
  waitForFlows?: boolean;
  /** Safety net for start (default 60 s: a loaded 2-core machine starts Node-RED slowly). */
  startTimeoutMs?: number;
  /** Node-RED console log level (default 'info'; the readiness lines are info). */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

/** One node set as GET /nodes reports it. */
export interface NodeSetInfo {
  id: string;
  name: string;
  types: string[];
  enabled: boolean;
  local?: boolean;
  user?: boolean;
  module: string;
  version?: string;
  err?: string;
  loaded?: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: SettingsObject, extra: SettingsObject): SettingsObject {
  const result: SettingsObject = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = result[key];
    result[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return result;
}

function defaultSettings(port: number, userDir: string, level: string): SettingsObject {
  return {
    uiHost: '127.0.0.1',
    uiPort: port,
    userDir,
    flowFile: 'flows.json',
    flowFilePretty: true,
    // No encryption, so no "credentials key" prompt or warning, and tests can write flows_cred.json.
    credentialSecret: false,
    logging: { console: { level, metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: true, ui: false },
    editorTheme: {
      tours: false,
      projects: { enabled: false },
      // No catalogue: the palette manager would fetch it from the internet.
      palette: { catalogues: [] },
    },
  };
}

export class NodeRedProcess {
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitWaiters: Array<() => void> = [];
  private readonly logWaiters: Array<() => void> = [];

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly userDir: string,
    private readonly ownsUserDir: boolean,
  ) {
    const collect = (chunk: Buffer): void => {
      this.output += chunk.toString('utf8');
      for (const wake of this.logWaiters.splice(0)) wake();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code, signal) => {
      this.exited = { code, signal };
      for (const wake of [...this.exitWaiters.splice(0), ...this.logWaiters.splice(0)]) wake();
    });
  }

  /** Starts Node-RED and resolves once its HTTP server (and by default its flows) are up. */
  static async start(options: NodeRedOptions = {}): Promise<NodeRedProcess> {
    const attempts = options.port ? 1 : 3;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const port = options.port ?? (await freePort());
      const ownsUserDir = !options.userDir;
      const userDir = options.userDir ?? mkdtempSync(path.join(os.tmpdir(), 'edgeml-nodered-'));
      const red = NodeRedProcess.spawn(options, port, userDir, ownsUserDir);
      try {
        await red.waitUntilReady(options.waitForFlows ?? true, options.startTimeoutMs ?? 60000);
        return red;
      } catch (error) {
        lastError = error;
        await red.stop();
        // Another process took the free port between the probe and Node-RED's listen: try another.
        if (!/port in use|EADDRINUSE/i.test(red.log())) break;
      }
    }
    throw lastError;
  }

  private static spawn(options: NodeRedOptions, port: number, userDir: string, ownsUserDir: boolean): NodeRedProcess {
    mkdirSync(userDir, { recursive: true });
    if (options.flows) writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(options.flows, null, 2));
    if (options.credentials) writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(options.credentials, null, 2));
    let settings = defaultSettings(port, userDir, options.logLevel ?? 'info');
    if (options.nodesDir) settings.nodesDir = options.nodesDir;
    if (options.settings) settings = deepMerge(settings, options.settings);
    const settingsFile = path.join(userDir, 'test-settings.js');
    writeFileSync(settingsFile, `// Written by test/helpers/nodered-process.ts\nconst settings = module.exports = ${JSON.stringify(settings, null, 2)};\n${options.settingsSource ?? ''}\n`);
    const argv = [options.node ?? process.execPath, options.redJs ?? RED_JS, '-u', userDir, '-p', String(port), '-s', settingsFile, ...(options.args ?? [])];
    const [command, ...args] = [...(options.prefix ?? []), ...argv];
    const child = spawn(command!, args, {
      cwd: userDir,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new NodeRedProcess(child, port, userDir, ownsUserDir);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Everything Node-RED has printed so far (stdout and stderr). */
  log(): string {
    return this.output;
  }

  /** The lines Node-RED has logged at error level. */
  errorLines(): string[] {
    return this.output.split('\n').filter((l) => /\[error\]/.test(l));
  }

  /** Resolves with the first match of `pattern` in the output at or after character `from`. */
  waitForLog(pattern: RegExp, timeoutMs = 30000, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Node-RED printed no ${pattern} within ${timeoutMs} ms; its output:\n${this.tail()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        const i = this.logWaiters.indexOf(check);
        if (i >= 0) this.logWaiters.splice(i, 1);
      };
      const check = (): void => {
        const match = this.output.slice(from).match(pattern);
        if (match) {
          cleanup();
          resolve(match);
        } else if (this.exited) {
          cleanup();
          reject(new Error(`Node-RED exited (${this.exited.code ?? this.exited.signal}) before printing ${pattern}; its output:\n${this.tail()}`));
        } else {
          this.logWaiters.push(check);
        }
      };
      check();
    });
  }

  private async waitUntilReady(waitForFlows: boolean, timeoutMs: number): Promise<void> {
    await this.waitForLog(/\[info\] Server now running at/, timeoutMs);
    if (waitForFlows) await this.waitForLog(/\[info\] Started flows/, timeoutMs);
  }

  /** The last lines of the output, for failure messages. */
  tail(lines = 60): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** An admin API call; JSON in, JSON (or text) out; throws on a non-2xx status. */
  async request<T = unknown>(method: string, apiPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await fetch(`${this.url}${apiPath}`, {
      method,
      headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${apiPath}: HTTP ${response.status} ${text}`);
    const type = response.headers.get('content-type') ?? '';
    return (type.includes('json') ? JSON.parse(text) : text) as T;
  }

  /** GET /nodes: every node set the runtime knows, with its types and any load error. */
  nodes(): Promise<NodeSetInfo[]> {
    return this.request<NodeSetInfo[]>('GET', '/nodes');
  }

  /** GET /flows (v1 format: the flow array). */
  flows(): Promise<unknown[]> {
    return this.request<unknown[]>('GET', '/flows');
  }

  /** POST /flows and wait until the runtime logs that the new flows started. */
  async deploy(flows: unknown[], type: 'full' | 'nodes' | 'flows' = 'full', timeoutMs = 30000): Promise<void> {
    const from = this.output.length;
    await this.request('POST', '/flows', flows, { 'Node-RED-Deployment-Type': type });
    await this.waitForLog(/\[info\] Started (flows|modified (nodes|flows))/, timeoutMs, from);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Resolves when the process has exited. */
  whenExited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve) => {
      const done = (): void => resolve(this.exited ?? { code: null, signal: null });
      if (this.exited) done();
      else this.exitWaiters.push(done);
    });
  }

  /** Stops Node-RED (SIGINT lets it close its flows; SIGKILL after `graceMs`) and removes a temp user directory. */
  async stop(graceMs = 15000): Promise<void> {
    if (!this.exited) {
      const exited = this.whenExited();
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    if (this.ownsUserDir) rmSync(this.userDir, { recursive: true, force: true });
  }
}

/** Starts a real Node-RED; see NodeRedOptions. */
export function startNodeRed(options: NodeRedOptions = {}): Promise<NodeRedProcess> {
  return NodeRedProcess.start(options);
}

/** The node types package.json declares (`node-red.nodes`), name -> file. */
export function declaredNodes(packageDir = ROOT): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    'node-red'?: { nodes?: Record<string, string> };
  };
  return pkg['node-red']?.nodes ?? {};
}

/** Files and total bytes under a folder (symlinks not followed). */
export function folderSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = folderSize(full);
      files += sub.files;
      bytes += sub.bytes;
    } else if (entry.isFile()) {
      files += 1;
      bytes += statSync(full).size;
    }
  }
  return { files, bytes };
}

/**
 * Copies the project (without node_modules, the built nodes/ and git data) to a temp folder with
 * node_modules linked in, so a full build and `npm pack` run there without touching the nodes/
 * that other test files are loading at the same time.
 */
export function copyProject(dest = mkdtempSync(path.join(os.tmpdir(), 'edgeml-project-'))): string {
  const skip = new Set(['node_modules', 'nodes', '.git', '.scratch', 'test-output', '.cache', '.demo']);
  for (const entry of readdirSync(ROOT)) {
    if (skip.has(entry) || entry.endsWith('.tgz')) continue;
    cpSync(path.join(ROOT, entry), path.join(dest, entry), { recursive: true });
  }
  if (!existsSync(path.join(dest, 'node_modules'))) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
  return dest;
}

/**
 * A fresh Node-RED user directory with this package installed the way a palette install leaves it
 * (node_modules/node-red-contrib-edge-ml, here a link to the project), so Import > Examples and
 * the package's own paths work as on a device. The caller removes it.
 */
export function userDirWithPackage(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ROOT, path.join(dir, 'node_modules', 'node-red-contrib-edge-ml'), 'dir');
  return dir;
}
