/**
 * The device truth: the packed package installed and run inside emulated Debian 12 device images
 * (arm64 and armhf, qemu-user-static), the way a user installs it on a Revolution Pi or a
 * Raspberry Pi: Debian's Node.js 18, Node-RED 4.1 installed globally as its install script does,
 * the tarball installed into a fresh user directory with the palette manager's npm flags
 * (--engine-strict, production only), Node-RED started as an unprivileged user with the classic
 * example flow. A Modbus master on the host writes pump readings into the flow's Modbus server;
 * every prediction that arrives on MQTT (mosquitto on the host) is compared with onnxruntime-node
 * run on the host. With --conformance, the ONNX backend cases of ../shared/conformance run through
 * onnx-infer inside each image too (arm64: onnxruntime-node, armhf: onnxruntime-web).
 *
 *   npm run test:devices [-- --arch arm64,armhf] [--vectors 100] [--conformance] [--host-install] [--quick]
 *
 * The full run installs inside the image with the image's own npm, as a user does. --quick (what
 * CI runs): arm64 only, 20 vectors, no conformance, and Node-RED 4.1 and the tarball installed
 * into the image's user directory by the host's npm under Node 18 (same flags, the same files:
 * the package's dependencies ship prebuilt binaries for every platform), since installing Debian's
 * npm into a new image (372 packages) and the emulated npm installs add 10-15 minutes per
 * architecture on two shared cores (measured: docs/hardware.md). The images stay cached in
 * .cache/devices/ (EDGEML_DEVICES_CACHE). Needs root; the host's CA certificates are copied in.
 * Emulation is 10-50x slower than a device: the timings printed are those of emulation, they
 * show that it works, not how fast a device is. Writes test-output/devices/<arch>.json.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import * as ort from 'onnxruntime-node';
import { classicFlow, PREDICTION_FILTER, ROOT } from '../demo-setup';
import { floatsToRegisters, ModbusMaster } from '../plant-simulator';
import { pumpDataset } from '../demo/pump';
import { startBroker, type TestBroker } from '../../test/helpers/broker';
import { freePort, waitForPort } from '../../test/helpers/net';
import { pumpCard, pumpReference } from '../../test/helpers/pump-reference';

type Arch = 'arm64' | 'armhf';

interface Options {
  archs: Arch[];
  vectors: number;
  conformance: boolean;
  /** Install with the host's npm (quick) instead of the image's own (full). */
  hostInstall: boolean;
}

interface ArchReport {
  arch: Arch;
  node: string;
  npm: string;
  nodeRed: string;
  /** Node-RED installed globally: seconds (0 when the cached image already had it) and size. */
  nodeRedInstall: { seconds: number; cached: boolean; globalMB: number; output: string[] };
  install: { seconds: number; userDirMB: number; onnxruntimeNodeMB: number; output: string[] };
  runtime: string;
  warning?: string;
  start: { seconds: number };
  predictions: { sent: number; received: number; matching: number; maxScoreDiff: number; seconds: number };
  conformance?: { cases: number; passed: number; failed: string[]; runtime: string; seconds: number };
  ok: boolean;
  problems: string[];
  imageUnavailable?: boolean;
}

const OUT_DIR = path.join(ROOT, 'test-output', 'devices');
const ROOTFS = path.join(ROOT, 'scripts', 'devices', 'rootfs.sh');
const PATH_INSIDE = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const USER = 'edgeml';
/** Safety nets only: every wait below ends on an event (a log line, a port, a message). */
const INSTALL_TIMEOUT_MS = 40 * 60_000;
const START_TIMEOUT_MS = 10 * 60_000;

function parseArgs(argv: string[]): Options {
  const options: Options = { archs: ['arm64', 'armhf'], vectors: 100, conformance: false, hostInstall: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--arch') {
      options.archs = value()
        .split(',')
        .map((s) => s.trim()) as Arch[];
      for (const x of options.archs) if (x !== 'arm64' && x !== 'armhf') throw new Error(`--arch: ${x} is not arm64 or armhf`);
    } else if (a === '--vectors') {
      options.vectors = Number(value());
      if (!Number.isInteger(options.vectors) || options.vectors < 1 || options.vectors > 10_000) throw new Error('--vectors: 1..10000');
    } else if (a === '--conformance') options.conformance = true;
    else if (a === '--host-install') options.hostInstall = true;
    else if (a === '--quick') {
      options.archs = ['arm64'];
      options.vectors = 20;
      options.conformance = false;
      options.hostInstall = true;
    } else throw new Error(`unknown option ${a}`);
  }
  return options;
}

const log = (arch: string, text: string): void => console.log(`devices[${arch}] ${text}`);
const seconds = (since: number): number => Math.round((performance.now() - since) / 100) / 10;

/** Builds or reuses the image (scripts/devices/rootfs.sh); returns its root folder. */
function rootfs(arch: Arch, withNpm: boolean): string {
  try {
    const out = execFileSync('bash', [ROOTFS, ...(withNpm ? ['--npm'] : []), arch], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: INSTALL_TIMEOUT_MS });
    return out.trim().split('\n').pop()!;
  } catch (error) {
    throw new ImageUnavailable(`${arch} image could not be built (Debian mirror, debootstrap or qemu): ${(error as Error).message.split('\n')[0]}`);
  }
}

/** The image could not be built (no mirror, no emulation): nothing about the package is known. */
class ImageUnavailable extends Error {}
/** Exit code when no image could be built at all, so a test can tell "not checked" from "failed". */
const EXIT_NO_IMAGE = 3;

/** Runs a shell command inside the image (as root unless `user`), returns its output. */
function inside(root: string, script: string, options: { user?: string; env?: Record<string, string> } = {}): string {
  const env = Object.entries({ PATH: PATH_INSIDE, HOME: options.user ? `/home/${options.user}` : '/root', ...options.env }).map(([k, v]) => `${k}=${v}`);
  const args = [...(options.user ? [`--userspec=${options.user}:${options.user}`] : []), root, 'env', '-i', ...env, 'sh', '-c', script];
  const result = spawnSync('chroot', args, { encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`inside ${path.basename(root)}: ${script}\nexit ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  return `${result.stdout}${result.stderr}`;
}

function du(dir: string): number {
  const out = execFileSync('du', ['-sk', dir], { encoding: 'utf8' });
  return Math.round(Number(out.split(/\s/)[0]) / 102.4) / 10;
}

/** The package as npm publish would ship it (prepack builds it), packed once per run. */
function pack(): string {
  const dir = path.join(ROOT, '.cache', 'devices', 'pack');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const report = out.slice(Math.max(0, out.search(/^\[\s*$(?![\s\S]*^\[\s*$)/m)));
  const [{ filename }] = JSON.parse(report) as Array<{ filename: string }>;
  return path.join(dir, filename);
}

/** Node-RED 4.1 installed globally inside the image as its install script does, once (it stays in the cached image). */
function ensureNodeRed(root: string, arch: Arch): ArchReport['nodeRedInstall'] {
  if (existsSync(path.join(root, GLOBAL_RED, 'package.json'))) return { seconds: 0, cached: true, globalMB: du(path.join(root, GLOBAL_RED)), output: [] };
  log(arch, 'npm install -g node-red@4.1 (emulated npm: several minutes)');
  const t = performance.now();
  const out = inside(root, 'npm install -g --no-audit --no-fund --no-update-notifier node-red@4.1 2>&1');
  const result = { seconds: seconds(t), cached: false, globalMB: du(path.join(root, GLOBAL_RED)), output: npmLines(out) };
  log(arch, `Node-RED installed globally in ${result.seconds} s, ${result.globalMB} MB`);
  return result;
}

/** What npm printed that a user would read: warnings, errors, install scripts, the summary. */
function npmLines(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => /warn|error|onnxruntime|added|install/i.test(l))
    .slice(0, 40);
}

const GLOBAL_RED = 'usr/local/lib/node_modules/node-red';
/** The palette manager's npm flags (Node-RED 4.1's @node-red/registry installer). */
const PALETTE_FLAGS = ['--no-audit', '--no-update-notifier', '--no-fund', '--save', '--save-prefix=~', '--omit=dev', '--engine-strict'];

/** The host's npm under Node 18 where scripts/node18.sh has unpacked it (the device's Node version), else this one's. */
function hostNpm(): { command: string; env: NodeJS.ProcessEnv } {
  const node18 = process.env.EDGEML_NODE18 || '/tmp/edgeml-node18/node';
  const npm18 = path.join(path.dirname(node18), 'npm');
  return existsSync(npm18) ? { command: npm18, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } } : { command: 'npm', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } };
}

/** Pump readings the master writes: a labelled mix of the three conditions. */
function vectors(count: number): number[][] {
  return pumpDataset(count, 17).map((s) => s.features);
}

async function checkArch(arch: Arch, tarball: string, options: Options, broker: TestBroker, reference: ort.InferenceSession): Promise<ArchReport> {
  const problems: string[] = [];
  let t = performance.now();
  const root = rootfs(arch, !options.hostInstall);
  log(arch, `image ready (${seconds(t)} s)`);
  inside(root, `id ${USER} >/dev/null 2>&1 || useradd -m ${USER}`);
  const node = inside(root, 'node --version').trim();
  const npm = options.hostInstall ? `host ${execFileSync(hostNpm().command, ['--version'], { encoding: 'utf8' }).trim()}` : inside(root, 'npm --version').trim();
  let nodeRedInstall: ArchReport['nodeRedInstall'] | undefined = options.hostInstall ? undefined : ensureNodeRed(root, arch);

  // A fresh user directory owned by the unprivileged user, as on a device's data partition.
  const userDirInside = `/data/node-red-${arch}`;
  const userDir = path.join(root, userDirInside);
  rmSync(userDir, { recursive: true, force: true });
  mkdirSync(userDir, { recursive: true });
  cpSync(tarball, path.join(userDir, 'package.tgz'));
  inside(root, `chown -R ${USER}:${USER} /data`);

  log(arch, `npm install --engine-strict of the package (Node ${node}, npm ${npm})`);
  t = performance.now();
  // No onnxruntime-node binary for 32-bit ARM: the README's fix, the WebAssembly runtime beside it.
  const webVersion = (JSON.parse(readFileSync(path.join(ROOT, 'node_modules/onnxruntime-web/package.json'), 'utf8')) as { version: string }).version;
  let installOut: string;
  let webOut = '';
  if (options.hostInstall) {
    const { command, env } = hostNpm();
    writeFileSync(path.join(userDir, 'package.json'), '{"name":"node-red-project","private":true}\n');
    const target = ['--omit=optional', `--cpu=${arch === 'arm64' ? 'arm64' : 'arm'}`, '--os=linux'];
    // Node-RED globally (its install script's way: not engine-strict, whose check some of Node-RED
    // 4.1's own dependencies fail under Node 18), then the package as the palette manager does.
    if (!existsSync(path.join(root, GLOBAL_RED, 'package.json'))) {
      const since = performance.now();
      execFileSync(command, ['install', '-g', '--prefix', path.join(root, 'usr/local'), '--no-audit', '--no-fund', ...target, 'node-red@4.1'], {
        env,
        encoding: 'utf8',
        timeout: INSTALL_TIMEOUT_MS,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      nodeRedInstall = { seconds: seconds(since), cached: false, globalMB: du(path.join(root, GLOBAL_RED)), output: [] };
    } else nodeRedInstall = { seconds: 0, cached: true, globalMB: du(path.join(root, GLOBAL_RED)), output: [] };
    const packages = ['./package.tgz', ...(arch === 'armhf' ? [`onnxruntime-web@${webVersion}`] : [])];
    installOut = execFileSync(command, ['install', ...PALETTE_FLAGS, ...target, ...packages], { cwd: userDir, env, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    inside(root, `chown -R ${USER}:${USER} /data`);
  } else {
    const flags = PALETTE_FLAGS.join(' ');
    installOut = inside(root, `cd ${userDirInside} && npm init -y >/dev/null && npm install ${flags} ./package.tgz 2>&1`, { user: USER });
    if (arch === 'armhf') webOut = inside(root, `cd ${userDirInside} && npm install ${flags} onnxruntime-web@${webVersion} 2>&1`, { user: USER });
  }
  const install = {
    seconds: seconds(t),
    userDirMB: du(userDir),
    onnxruntimeNodeMB: existsSync(path.join(userDir, 'node_modules/onnxruntime-node')) ? du(path.join(userDir, 'node_modules/onnxruntime-node')) : 0,
    output: npmLines(`${installOut}\n${webOut}`),
  };
  log(arch, `installed in ${install.seconds} s, user dir ${install.userDirMB} MB (onnxruntime-node ${install.onnxruntimeNodeMB} MB)`);

  const modbusPort = await freePort();
  const uiPort = await freePort();
  writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(classicFlow({ modbusPort, mqttHost: '127.0.0.1', mqttPort: broker.port }), null, 2));
  writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1',
      uiPort,
      flowFile: 'flows.json',
      credentialSecret: false,
      logging: { console: { level: 'info', metrics: false, audit: false } },
      telemetry: { enabled: false, updateNotification: false },
      editorTheme: { tours: false, palette: { catalogues: [] } },
    })};\n`,
  );
  inside(root, `chown -R ${USER}:${USER} ${userDirInside}`);
  const nodeRed = (JSON.parse(readFileSync(path.join(root, GLOBAL_RED, 'package.json'), 'utf8')) as { version: string }).version;

  // Everything from here on must run; Node-RED is stopped in `finally`.
  let red: ChildProcess | undefined;
  let output = '';
  const predictions = { sent: 0, received: 0, matching: 0, maxScoreDiff: 0, seconds: 0 };
  let runtime = 'unknown';
  let warning: string | undefined;
  const start = { seconds: 0 };
  try {
    t = performance.now();
    red = spawn(
      'chroot',
      [`--userspec=${USER}:${USER}`, root, 'env', '-i', `PATH=${PATH_INSIDE}`, `HOME=/home/${USER}`, 'node', `/${GLOBAL_RED}/red.js`, '-u', userDirInside, '-s', `${userDirInside}/settings.js`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Array<() => void> = [];
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      for (const wake of lines.splice(0)) wake();
    };
    red.stdout!.on('data', collect);
    red.stderr!.on('data', collect);
    let exited = false;
    red.once('exit', () => {
      exited = true;
      for (const wake of lines.splice(0)) wake();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Node-RED did not start within ${START_TIMEOUT_MS / 1000} s:\n${output}`)), START_TIMEOUT_MS);
      const check = (): void => {
        if (/Started flows/.test(output)) {
          clearTimeout(timer);
          resolve();
        } else if (exited) {
          clearTimeout(timer);
          reject(new Error(`Node-RED exited:\n${output}`));
        } else lines.push(check);
      };
      check();
    });
    await waitForPort(modbusPort, '127.0.0.1', START_TIMEOUT_MS);
    start.seconds = seconds(t);
    log(arch, `Node-RED ${nodeRed} started in ${start.seconds} s`);

    // The predictions, one vector at a time (emulated inference is slow: no queue builds up).
    const rows = vectors(options.vectors);
    const want = await pumpReference(
      rows.map((r) => r.map((x) => Math.fround(x))),
      reference,
    );
    const subscriber = await mqtt.connectAsync(broker.url, { clientId: `devices-${arch}-${process.pid}` });
    const arrived: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    subscriber.on('message', (_topic, payload) => {
      arrived.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
      for (const wake of waiters.splice(0)) wake();
    });
    await subscriber.subscribeAsync(PREDICTION_FILTER, { qos: 1 });
    const master = new ModbusMaster('127.0.0.1', modbusPort, 1, 30_000);
    await master.connect();
    t = performance.now();
    try {
      for (let i = 0; i < rows.length; i++) {
        await master.write(0, floatsToRegisters(rows[i]!, 'CDAB'));
        predictions.sent++;
        await new Promise<void>((resolve, reject) => {
          // the first answer waits for the model to load (WebAssembly under emulation: minutes)
          const limit = i === 0 ? START_TIMEOUT_MS : 120_000;
          const timer = setTimeout(() => reject(new Error(`no prediction for vector ${i} within ${limit / 1000} s`)), limit);
          const check = (): void => {
            if (arrived.length > i) {
              clearTimeout(timer);
              resolve();
            } else waiters.push(check);
          };
          check();
        });
        const got = arrived[i] as { topk: Array<{ label: string; score: number }> };
        predictions.received++;
        const top = pumpCard.labels![want.labels[i]!]!;
        let diff = 0;
        for (const { label, score } of got.topk) diff = Math.max(diff, Math.abs(score - want.probabilities[i]![pumpCard.labels!.indexOf(label)]!));
        predictions.maxScoreDiff = Math.max(predictions.maxScoreDiff, diff);
        if (got.topk[0]?.label === top && diff <= 1e-5) predictions.matching++;
        else problems.push(`vector ${i}: top ${got.topk[0]?.label} vs ${top}, score diff ${diff}`);
      }
    } finally {
      await master.close();
      await subscriber.endAsync();
    }
    predictions.seconds = seconds(t);
    if (predictions.matching !== rows.length) problems.push(`${predictions.matching} of ${rows.length} predictions match onnxruntime-node on the host`);
    runtime = /onnxruntime-web/.test(output) ? 'onnxruntime-web' : 'onnxruntime-node';
    warning = output
      .split('\n')
      .find((l) => /\[warn\].*onnxruntime-web/.test(l))
      ?.trim();
    log(arch, `${predictions.matching}/${rows.length} predictions match the host's onnxruntime-node (max score diff ${predictions.maxScoreDiff.toExponential(2)}), runtime ${runtime}`);
  } catch (error) {
    problems.push((error as Error).message);
    problems.push(`Node-RED's log, last lines:\n${output.split('\n').slice(-30).join('\n')}`);
  } finally {
    if (red && red.exitCode === null) {
      const gone = new Promise((resolve) => red!.once('exit', resolve));
      red.kill('SIGTERM');
      await gone;
    }
  }
  if (arch === 'armhf' && runtime !== 'onnxruntime-web') problems.push('armhf should fall back to onnxruntime-web');
  if (arch === 'armhf' && !warning) problems.push('armhf: no warning naming the onnxruntime-web fallback in the log');
  if (arch === 'arm64' && runtime !== 'onnxruntime-node') problems.push('arm64 should run onnxruntime-node');

  const report: ArchReport = { arch, node, npm, nodeRed, nodeRedInstall: nodeRedInstall!, install, runtime, warning, start, predictions, ok: false, problems };
  if (options.conformance) report.conformance = conformance(root, arch, userDirInside, problems, options.hostInstall);
  report.ok = problems.length === 0;
  return report;
}

/**
 * The ONNX conformance cases through onnx-infer inside the image: the runner (bundled on the host
 * with esbuild) loads the installed package's nodes into node-red-node-test-helper, with the
 * image's Node.js and Node-RED.
 */
function conformance(root: string, arch: Arch, userDirInside: string, problems: string[], hostInstall: boolean): ArchReport['conformance'] {
  const t = performance.now();
  const dir = '/opt/edgeml-conformance';
  const host = path.join(root, dir);
  mkdirSync(host, { recursive: true });
  cpSync(path.join(ROOT, '..', 'shared', 'conformance', 'onnx-node'), path.join(host, 'onnx-node'), { recursive: true });
  execFileSync(
    path.join(ROOT, 'node_modules', '.bin', 'esbuild'),
    [
      path.join(ROOT, 'scripts', 'devices', 'conformance-runner.ts'),
      '--bundle',
      '--platform=node',
      '--format=cjs',
      '--target=node18',
      `--outfile=${path.join(host, 'runner.js')}`,
      '--external:node-red',
      '--external:node-red-node-test-helper',
      '--external:onnxruntime-node',
      '--external:onnxruntime-web',
      '--log-level=warning',
    ],
    { stdio: 'inherit' },
  );
  if (!existsSync(path.join(host, 'node_modules', 'node-red-node-test-helper'))) {
    log(arch, 'npm install node-red-node-test-helper into the image (for the conformance runner)');
    if (hostInstall) {
      const { command, env } = hostNpm();
      writeFileSync(path.join(host, 'package.json'), '{"name":"edgeml-conformance","private":true}\n');
      execFileSync(command, ['install', '--no-audit', '--no-fund', '--omit=dev', '--omit=optional', `--cpu=${arch === 'arm64' ? 'arm64' : 'arm'}`, '--os=linux', 'node-red-node-test-helper@0.3'], {
        cwd: host,
        env,
        encoding: 'utf8',
        timeout: INSTALL_TIMEOUT_MS,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } else {
      inside(root, `cd ${dir} && (test -f package.json || npm init -y >/dev/null) && npm install --no-audit --no-fund --omit=dev node-red-node-test-helper@0.3 2>&1`);
    }
  }
  log(arch, 'ONNX conformance cases through onnx-infer (emulated: tens of minutes)');
  const out = inside(root, `cd ${dir} && node runner.js`, {
    env: {
      // a global install keeps Node-RED's own packages (@node-red/nodes: the core nodes) under node-red/
      NODE_PATH: `${dir}/node_modules:/${path.dirname(GLOBAL_RED)}:/${GLOBAL_RED}/node_modules`,
      EDGEML_NODES_DIR: `${userDirInside}/node_modules/node-red-contrib-edge-ml/nodes`,
      EDGEML_CONFORMANCE_DIR: `${dir}/onnx-node`,
    },
  });
  const line = out.split('\n').find((l) => l.startsWith('EDGEML-CONFORMANCE '));
  if (!line) throw new Error(`the conformance runner printed no summary:\n${out.split('\n').slice(-20).join('\n')}`);
  const summary = JSON.parse(line.slice('EDGEML-CONFORMANCE '.length)) as { cases: number; passed: number; failed: string[]; runtime: string };
  const expected = arch === 'armhf' ? summary.cases - 5 : summary.cases;
  if (summary.passed < expected) problems.push(`conformance: ${summary.passed} of ${summary.cases} pass (expected ${expected})`);
  log(arch, `conformance: ${summary.passed} of ${summary.cases} cases pass through onnx-infer (${summary.runtime})`);
  return { ...summary, seconds: seconds(t) };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('test:devices needs root (debootstrap, chroot, mount)');
  mkdirSync(OUT_DIR, { recursive: true });
  const tarball = pack();
  console.log(`devices: packed ${path.basename(tarball)}`);
  const broker = await startBroker();
  const reference = await ort.InferenceSession.create(path.join(ROOT, 'models', 'pump-classifier.onnx'));
  const reports: ArchReport[] = [];
  try {
    for (const arch of options.archs) {
      let report: ArchReport;
      try {
        report = await checkArch(arch, tarball, options, broker, reference);
      } catch (error) {
        report = { arch, ok: false, problems: [(error as Error).message], ...(error instanceof ImageUnavailable ? { imageUnavailable: true } : {}) } as ArchReport;
      } finally {
        spawnSync('bash', [ROOTFS, '--umount', arch], { stdio: 'inherit' });
      }
      writeFileSync(path.join(OUT_DIR, `${arch}.json`), `${JSON.stringify(report, null, 2)}\n`);
      reports.push(report);
    }
  } finally {
    await reference.release();
    await broker.stop();
  }
  for (const r of reports) {
    console.log(`devices[${r.arch}] ${r.ok ? 'ok' : 'FAILED'}${r.problems.length ? `:\n  ${r.problems.join('\n  ')}` : ''}`);
  }
  const failed = reports.filter((r) => !r.ok).length;
  console.log(`devices: ${reports.length - failed} of ${reports.length} images ok`);
  process.exitCode = failed === 0 ? 0 : reports.every((r) => r.imageUnavailable) ? EXIT_NO_IMAGE : 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
