/**
 * The Node-RED flow library's scorecard (`node-red-dev validate`) on the package as published:
 * the tarball `npm pack` makes from the built project, unpacked, as the flow library unpacks it.
 *
 * node-red-dev downloads the flow library catalogue (https://catalogue.nodered.org/catalogue.json)
 * for its name checks (P08 similar package names, N01 node types used by other packages). That
 * host is not reachable here, so a preloaded hook redirects its axios requests for the catalogue
 * to a server on 127.0.0.1. The catalogue served is made from the Node-RED modules installed in
 * this project: Node-RED's own core nodes and node-red-contrib-modbus (the Modbus package users
 * pair with ours), plus our own entry as the library would list it once published. The other
 * checks ask the npm registry (node-red's versions, our dependencies' versions and trees).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { declaredNodes, ROOT } from './helpers/nodered-process';

interface CatalogueModule {
  id: string;
  version: string;
  description: string;
  updated_at: string;
  types: string[];
  keywords: string[];
  url: string;
}

type Scorecard = Record<string, { test?: boolean; [detail: string]: unknown }>;

const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  description: string;
  keywords: string[];
};
const CATALOGUE_URL = 'https://catalogue.nodered.org/';
// Every check node-red-dev 0.1.x makes (P02 is disabled in the tool itself).
const CHECKS = ['P01', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'N01', 'N02', 'D01', 'D02', 'D03'];

/** Node types an .html file registers (the same registerType scan the scorecard does). */
function typesInHtml(file: string): string[] {
  const html = readFileSync(file, 'utf8');
  return [...html.matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
}

function htmlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return htmlFilesUnder(full);
    return e.name.endsWith('.html') && !full.includes(`${path.sep}locales${path.sep}`) ? [full] : [];
  });
}

function catalogueModule(pkgDir: string, types: string[]): CatalogueModule {
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    description?: string;
    keywords?: string[];
  };
  return {
    id: pkg.name,
    version: pkg.version,
    description: pkg.description ?? '',
    updated_at: statSync(path.join(pkgDir, 'package.json')).mtime.toISOString(),
    types: [...new Set(types)].sort(),
    keywords: pkg.keywords ?? [],
    url: `https://flows.nodered.org/node/${pkg.name}`,
  };
}

function buildCatalogue(ownDir: string): { name: string; updated_at: string; modules: CatalogueModule[] } {
  const modules: CatalogueModule[] = [];
  // Node-RED's core nodes: a type clash with them would be worse than one with any contrib package.
  const core = path.join(ROOT, 'node_modules', '@node-red', 'nodes');
  modules.push({ ...catalogueModule(core, htmlFilesUnder(path.join(core, 'core')).flatMap(typesInHtml)), id: 'node-red' });
  // Every Node-RED module installed in the project (node-red-contrib-modbus and whatever joins it).
  const nm = path.join(ROOT, 'node_modules');
  const dirs = readdirSync(nm).flatMap((d) => (d.startsWith('@') ? readdirSync(path.join(nm, d)).map((s) => path.join(nm, d, s)) : [path.join(nm, d)]));
  for (const dir of dirs) {
    const file = path.join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } };
    const nodes = pkg['node-red']?.nodes;
    if (!nodes) continue;
    const types = Object.values(nodes).flatMap((js) => {
      const html = path.join(dir, js.replace(/\.js$/, '.html'));
      return existsSync(html) ? typesInHtml(html) : [];
    });
    modules.push(catalogueModule(dir, types));
  }
  modules.push(catalogueModule(ownDir, Object.keys(declaredNodes(ownDir))));
  return { name: 'Node-RED Community catalogue (local copy for tests)', updated_at: new Date().toISOString(), modules };
}

// Loaded with `node -r` into node-red-dev: sends its catalogue requests to EDGEML_CATALOGUE_URL.
const PRELOAD = `
const Module = require('module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (request === 'axios' && exported && exported.interceptors && !exported.__edgemlCatalogue) {
    exported.__edgemlCatalogue = true;
    exported.interceptors.request.use((config) => {
      if (typeof config.url === 'string' && config.url.startsWith(${JSON.stringify(CATALOGUE_URL)})) {
        config.url = process.env.EDGEML_CATALOGUE_URL + config.url.slice(${CATALOGUE_URL.length});
      }
      return config;
    });
  }
  return exported;
};
`;

let work: string;
let packageDir: string;
let server: http.Server;
let catalogueRequests = 0;
let scorecard: Scorecard;
let validateOutput = '';

describe('Node-RED scorecard (node-red-dev validate)', { timeout: 5 * 60_000 }, () => {
  before(async () => {
    const declared = declaredNodes();
    const missing = Object.values(declared).filter((f) => !existsSync(path.join(ROOT, f)));
    assert.deepEqual(missing, [], 'built node files missing: run `npm run build` first');

    work = mkdtempSync(path.join(os.tmpdir(), 'edgeml-scorecard-'));
    // The tarball of the built project (the build ran before the tests; --ignore-scripts keeps
    // this test from rebuilding nodes/ under the other test files' feet).
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [{ filename }] = JSON.parse(packed) as Array<{ filename: string }>;
    packageDir = path.join(work, 'package');
    mkdirSync(packageDir);
    execFileSync('tar', ['-xzf', path.join(work, filename), '-C', packageDir, '--strip-components=1']);

    const catalogue = JSON.stringify(buildCatalogue(packageDir));
    server = http.createServer((req, res) => {
      if (req.url === '/catalogue.json') {
        catalogueRequests++;
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(catalogue);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const preload = path.join(work, 'catalogue-preload.cjs');
    writeFileSync(preload, PRELOAD);
    const output = path.join(work, 'scorecard.json');
    const cli = path.join(ROOT, 'node_modules', 'node-red-dev', 'bin', 'run');
    validateOutput = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-r', preload, cli, 'validate', '-p', packageDir, '-o', output],
        {
          cwd: work,
          env: { ...process.env, EDGEML_CATALOGUE_URL: `http://127.0.0.1:${port}/` },
          timeout: 4 * 60_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const text = `${stdout}${stderr}`;
          if (error && !existsSync(output)) reject(new Error(`node-red-dev validate failed: ${error.message}\n${text}`));
          else resolve(text);
        },
      ).stdin?.end();
    });
    scorecard = JSON.parse(readFileSync(output, 'utf8')) as Scorecard;
    console.log(validateOutput.trim());
  });

  after(async () => {
    if (server) await new Promise((resolve) => server.close(resolve));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('used the local catalogue', () => {
    // P08 and N01 each fetch it once; no request left for the real host.
    assert.ok(catalogueRequests >= 2, `catalogue served ${catalogueRequests} times`);
    assert.doesNotMatch(validateOutput, /ENOTFOUND|EAI_AGAIN|ECONNREFUSED/);
  });

  it('validated our package', () => {
    assert.deepEqual(scorecard.package, { name: PKG.name, version: PKG.version });
  });

  for (const check of CHECKS) {
    it(`${check} passes`, () => {
      const result = scorecard[check];
      assert.ok(result, `no ${check} in the scorecard: ${JSON.stringify(scorecard)}`);
      assert.equal(result.test, true, `${check} fails: ${JSON.stringify(result)}\n${validateOutput}`);
    });
  }

  it('keywords include node-red (P05 in node-red-dev 0.1.6 passes either way)', () => {
    assert.ok(PKG.keywords.includes('node-red'));
  });

  it("parsed every node's editor definition (a parse failure silently skips N01/N02 for that node)", () => {
    assert.doesNotMatch(validateOutput, /Unable to parse|Unable to read example/);
  });

  it('every non-config node appears in an example flow (N02, listed by type)', () => {
    const nodes = scorecard.N02?.nodes as string[] | undefined;
    const editorTypes = Object.keys(declaredNodes(packageDir)).filter((type) => {
      const html = readFileSync(path.join(packageDir, 'nodes', `${type}.html`), 'utf8');
      return !/category:\s*['"]config['"]/.test(html);
    });
    assert.deepEqual([...(nodes ?? [])].sort(), editorTypes.sort());
  });
});
