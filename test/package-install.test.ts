/**
 * The package as the palette manager installs it: `npm pack` (its prepack runs the full build),
 * the tarball installed into a fresh Node-RED user directory with production dependencies only
 * and engine-strict, then the real node-red started on it under Node 20 and Node 18 (the device
 * images' version, from scripts/node18.sh), and GET /nodes must list every declared type,
 * enabled, without a load error.
 *
 * One install serves both Node versions. It runs under Node 18 with npm 10 when scripts/node18.sh
 * has been run (install scripts then run under Node 18 and engine-strict checks against 18, the
 * stricter of the two); the dependencies ship N-API binaries, which load under either version.
 *
 * Environment: EDGEML_NODE18 = Node 18 binary (default /tmp/edgeml-node18/node when present);
 * EDGEML_TARBALL = test this tarball instead of packing the project.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyProject, declaredNodes, folderSize, ROOT, startNodeRed, type NodeSetInfo } from './helpers/nodered-process';

const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const NODE18 = process.env.EDGEML_NODE18 || '/tmp/edgeml-node18/node';
const hasNode18 = existsSync(NODE18);
// scripts/node18.sh puts npm 10 beside its node launcher.
const NPM18 = path.join(path.dirname(NODE18), 'npm');
const INSTALL_TIMEOUT_MS = 5 * 60_000;

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} kB`;

let work: string;
let tarball: string;
let userDir: string;
let tarFiles: string[];

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(command, args, {
      cwd,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: INSTALL_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const installedDir = (): string => path.join(userDir, 'node_modules', PKG.name);

function packProject(dest: string): string {
  if (process.env.EDGEML_TARBALL) return path.resolve(process.env.EDGEML_TARBALL);
  const copy = copyProject(path.join(dest, 'project'));
  // The full build (clean, every node, cross-checks), as prepack runs it for `npm publish`, minus
  // the type check that `npm test`'s own build has just done: it changes no output.
  run(process.execPath, ['scripts/build.mjs', '--no-typecheck'], copy);
  const out = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dest, '--json'], copy);
  // The build's own output comes first on stdout; npm's JSON report is the last thing printed.
  const report = out.slice(Math.max(0, out.search(/^\[\s*$(?![\s\S]*^\[\s*$)/m)));
  const [{ filename }] = JSON.parse(report) as Array<{ filename: string }>;
  return path.join(dest, filename);
}

describe('package install from the palette', { timeout: 10 * 60_000 }, () => {
  before(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'edgeml-install-'));
    tarball = packProject(work);
    tarFiles = run('tar', ['-tzf', tarball], work)
      .split('\n')
      .filter((f) => f && !f.endsWith('/'));

    // A user directory as Node-RED creates it, plus the project's .npmrc (the README tells
    // offline x64 users to put the same line there).
    userDir = path.join(work, 'userDir');
    mkdirSync(userDir);
    writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 2));
    copyFileSync(path.join(ROOT, '.npmrc'), path.join(userDir, '.npmrc'));

    // What the palette manager runs (@node-red/registry installer), with the offline skip.
    const npm = hasNode18 && existsSync(NPM18) ? NPM18 : 'npm';
    const started = Date.now();
    run(npm, ['install', '--no-audit', '--no-update-notifier', '--no-fund', '--save', '--save-prefix=~', '--omit=dev', '--engine-strict', tarball], userDir, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
    const installSeconds = (Date.now() - started) / 1000;
    const npmVersion = run(npm, ['--version'], userDir).trim();

    const installed = folderSize(path.join(userDir, 'node_modules', PKG.name));
    const all = folderSize(path.join(userDir, 'node_modules'));
    const packages = run(npm, ['ls', '--all', '--parseable', '--omit=dev'], userDir).split('\n').filter(Boolean).length - 1;
    console.log(
      [
        `tarball ${path.basename(tarball)}: ${kb(statSync(tarball).size)}, ${tarFiles.length} files`,
        `installed with npm ${npmVersion}${npm === NPM18 ? ' under Node 18' : ''} in ${installSeconds.toFixed(1)} s`,
        `installed package: ${kb(installed.bytes)} in ${installed.files} files`,
        `installed with dependencies: ${mb(all.bytes)} in ${all.files} files, ${packages} packages`,
        `  of which onnxruntime-node: ${mb(folderSize(path.join(userDir, 'node_modules', 'onnxruntime-node')).bytes)}`,
      ].join('\n'),
    );
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('tarball holds only what runs', () => {
    const forbidden = tarFiles.filter(
      (f) =>
        /^package\/(src|test|bench|scripts|\.scratch|\.ci|\.git|node_modules|test-output|docs)\//.test(f) ||
        (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) ||
        /^package\/tsconfig[^/]*\.json$/.test(f) ||
        /\.(map|tgz)$/.test(f),
    );
    assert.deepEqual(forbidden, [], 'files that do not run on the device');
    const declared = declaredNodes(installedDir());
    assert.ok(Object.keys(declared).length > 0, 'package.json node-red.nodes lists no node');
    for (const [type, file] of Object.entries(declared)) {
      assert.ok(tarFiles.includes(`package/${file}`), `${file} (${type}) is not in the tarball`);
      assert.ok(tarFiles.includes(`package/${file.replace(/\.js$/, '.html')}`), `${type}: editor .html is not in the tarball`);
      for (const lang of ['en-US', 'de']) {
        for (const ext of ['json', 'html']) {
          const locale = `package/${path.dirname(file)}/locales/${lang}/${type}.${ext}`;
          assert.ok(tarFiles.includes(locale), `${locale} is not in the tarball`);
        }
      }
    }
    for (const f of ['package/package.json', 'package/README.md', 'package/LICENSE']) assert.ok(tarFiles.includes(f), `${f} missing`);
    // Node-RED lists a module's icons only from icons/ beside its node files; elsewhere the
    // editor silently shows its default icon.
    for (const [type, file] of Object.entries(declared)) {
      const html = readFileSync(path.join(installedDir(), file.replace(/\.js$/, '.html')), 'utf8');
      const icon = html.match(/\bicon:\s*['"]([^'"]+)['"]/)?.[1];
      if (icon && !icon.includes('/')) {
        const iconFile = `package/${path.dirname(file)}/icons/${icon}`;
        assert.ok(tarFiles.includes(iconFile), `${type}: icon ${icon} is not at ${iconFile}`);
      }
    }
  });

  async function checkRegistered(node: string | undefined, expectMajor: number): Promise<void> {
    const red = await startNodeRed({ userDir, ...(node ? { node } : {}), startTimeoutMs: 90_000 });
    try {
      const version = red.log().match(/Node\.js\s+version:\s*v(\d+)\./);
      assert.equal(Number(version?.[1]), expectMajor, `Node-RED runs on Node.js ${version?.[1]}`);
      const sets = (await red.nodes()).filter((s: NodeSetInfo) => s.module === PKG.name);
      const declared = declaredNodes(installedDir());
      const registered = new Set(sets.flatMap((s) => s.types));
      for (const type of Object.keys(declared)) {
        const set = sets.find((s) => s.name === type);
        assert.ok(set, `GET /nodes has no node set ${PKG.name}/${type}; log:\n${red.tail()}`);
        assert.equal(set.err, undefined, `${type}: load error ${set.err}`);
        assert.equal(set.enabled, true, `${type} is not enabled`);
        assert.equal(set.version, PKG.version);
        assert.ok(registered.has(type), `type ${type} not registered (sets: ${JSON.stringify(sets)})`);
      }
      const problems = red
        .log()
        .split('\n')
        .filter((line) => /\[(warn|error)\]/.test(line) && line.includes(PKG.name));
      assert.deepEqual(problems, [], 'warnings or errors about the package in the Node-RED log');
      console.log(`Node ${expectMajor}: ${registered.size} types registered: ${[...registered].sort().join(', ')}`);
    } finally {
      await red.stop();
    }
  }

  it('registers every declared node type under Node.js 20', async () => {
    await checkRegistered(undefined, Number(process.versions.node.split('.')[0]));
  });

  it('registers every declared node type under Node.js 18', async (t) => {
    if (!hasNode18) {
      t.skip(`no Node 18 at ${NODE18}: run scripts/node18.sh (or set EDGEML_NODE18) to test the device's Node version`);
      return;
    }
    await checkRegistered(NODE18, 18);
  });
});
