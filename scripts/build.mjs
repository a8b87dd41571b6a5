#!/usr/bin/env node
// Builds what Node-RED loads (nodes/) from src/. Any error, type error or missing piece stops the
// build with a non-zero exit: a package that half-builds must never be packed.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { compareCatalogues } from './locale-check.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const out = path.join(root, 'nodes');
const LANGS = ['en-US', 'de'];
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const problems = [];
// --only a,b builds just those node types (no clean, no cross-checks): for working on a few nodes
// while others are mid-edit. --no-typecheck skips tsc. The full build (no flags) is what ships.
const args = process.argv.slice(2);
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1]).split(',') : undefined;
const skipTypecheck = args.includes('--no-typecheck');

// Long code lines in the help (flows, mbpoll command lines, JSON) wrap instead of running out of
// the sidebar; scoped to code blocks, added to every node's help in every language.
const HELP_STYLE = '<style>.red-ui-help pre, .red-ui-help pre code { white-space: pre-wrap; overflow-wrap: anywhere; }</style>';

function fail(message) {
  problems.push(message);
}

function typecheck(project) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`build: type errors in ${project}`);
    process.exit(1);
  }
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`${path.relative(root, file)}: ${e.message}`);
    return {};
  }
}

function merge(base, extra) {
  const result = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    result[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof result[k] === 'object' ? merge(result[k], v) : v;
  }
  return result;
}

function keysOf(obj, prefix = '') {
  return Object.entries(obj).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? keysOf(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

const allTypes = readdirSync(path.join(src, 'nodes')).filter((d) => d !== 'shared' && statSync(path.join(src, 'nodes', d)).isDirectory());
const nodeTypes = only ? allTypes.filter((t) => only.includes(t)) : allTypes;

if (!skipTypecheck) {
  typecheck('tsconfig.json');
  if (nodeTypes.some((t) => existsSync(path.join(src, 'nodes', t, 'editor.ts')))) typecheck('tsconfig.editor.json');
}

if (!only) rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const lang of LANGS) mkdirSync(path.join(out, 'locales', lang), { recursive: true });

const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), 'node-red', 'onnxruntime-web'];
// Messages shared by several nodes (error texts, mostly) live in src/locales/<lang>/*.json and are
// merged into every node's catalogue, so any node can translate any package error code.
const common = Object.fromEntries(
  LANGS.map((lang) => {
    const dir = path.join(src, 'locales', lang);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    return [lang, files.reduce((acc, f) => merge(acc, readJson(path.join(dir, f))), {})];
  }),
);

// Every catalogue exists in both languages with the same keys (both directions) and the same
// placeholders per message: a German text that spells out what __fix__ would fill in drifts.
{
  const [en, de] = LANGS;
  const files = new Set(LANGS.flatMap((lang) => readdirSync(path.join(src, 'locales', lang)).filter((f) => f.endsWith('.json'))));
  for (const f of [...files].sort()) {
    const read = (lang) => {
      const p = path.join(src, 'locales', lang, f);
      if (existsSync(p)) return readJson(p);
      fail(`src/locales/${lang}/${f} is missing`);
      return {};
    };
    for (const p of compareCatalogues(`src/locales/{${LANGS.join(',')}}/${f}`, read(en), read(de))) fail(p);
  }
  for (const type of nodeTypes) {
    const file = (lang) => path.join(src, 'nodes', type, 'locales', lang, 'messages.json');
    if (!existsSync(file(en)) || !existsSync(file(de))) continue; // reported as missing below
    for (const p of compareCatalogues(`src/nodes/${type}/locales/{${LANGS.join(',')}}/messages.json`, readJson(file(en)), readJson(file(de)))) fail(p);
  }
}

async function bundleRuntime(entry, outfile, banner) {
  await esbuild.build({
    ...(banner ? { banner: { js: banner } } : {}),
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external,
    logLevel: 'error',
    sourcemap: false,
    legalComments: 'none',
  });
}

for (const type of nodeTypes) {
  const dir = path.join(src, 'nodes', type);
  const need = (f) => {
    const p = path.join(dir, f);
    if (!existsSync(p)) fail(`src/nodes/${type}/${f} is missing`);
    return p;
  };
  await bundleRuntime(need('runtime.ts'), path.join(out, `${type}.js`));
  // Extra runtime entries, e.g. worker threads: src/nodes/<type>/<name>.worker.ts -> nodes/<type>.<name>.worker.js
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.worker.ts'))) {
    await bundleRuntime(path.join(dir, f), path.join(out, `${type}.${f.replace(/\.ts$/, '.js')}`));
  }

  const template = readFileSync(need('template.html'), 'utf8');
  const editor = await esbuild.build({
    entryPoints: [need('editor.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2018',
    platform: 'browser',
    logLevel: 'error',
    legalComments: 'none',
  });
  const editorJs = editor.outputFiles[0].text;
  writeFileSync(path.join(out, `${type}.html`), `<script type="text/javascript">\n${editorJs}</script>\n\n<script type="text/html" data-template-name="${type}">\n${template.trim()}\n</script>\n`);

  let reference;
  for (const lang of LANGS) {
    const messages = merge(common[lang], readJson(need(`locales/${lang}/messages.json`)));
    const keys = keysOf(messages).sort();
    if (!reference) reference = keys;
    else {
      const missing = reference.filter((k) => !keys.includes(k));
      if (missing.length) fail(`src/nodes/${type}/locales/${lang}/messages.json lacks ${missing.join(', ')}`);
    }
    writeFileSync(path.join(out, 'locales', lang, `${type}.json`), JSON.stringify(messages, null, 2) + '\n');
    const help = readFileSync(need(`locales/${lang}/help.html`), 'utf8');
    // Config nodes have no wires, so their help needs only Details; every other node needs all three.
    const isConfig = /category:\s*['"]config['"]/.test(readFileSync(path.join(dir, 'editor.ts'), 'utf8'));
    const sections = lang === 'de' ? ['Eingaben', 'Ausgaben', 'Details'] : ['Inputs', 'Outputs', 'Details'];
    for (const section of isConfig ? sections.slice(2) : sections) {
      if (!help.includes(`<h3>${section}</h3>`)) fail(`src/nodes/${type}/locales/${lang}/help.html has no <h3>${section}</h3>`);
    }
    writeFileSync(path.join(out, 'locales', lang, `${type}.html`), `<script type="text/html" data-help-name="${type}">\n${HELP_STYLE}\n${help.trim()}\n</script>\n`);
  }
}

// Node-RED looks for a package's icons in an icons/ folder beside the node files, not at the root.
if (!only || only.includes('icons')) {
  mkdirSync(path.join(out, 'icons'), { recursive: true });
  for (const f of readdirSync(path.join(root, 'icons')).filter((f) => /\.(svg|png)$/.test(f))) {
    copyFileSync(path.join(root, 'icons', f), path.join(out, 'icons', f));
  }
}

// Command-line tools: src/bin/<name>.ts -> nodes/bin/<name>.js, listed in package.json "bin".
if (!only || only.includes('bin')) {
  const binDir = path.join(src, 'bin');
  const bins = existsSync(binDir) ? readdirSync(binDir).filter((f) => f.endsWith('.ts')) : [];
  for (const f of bins) {
    const name = f.replace(/\.ts$/, '');
    const outfile = path.join(out, 'bin', `${name}.js`);
    await bundleRuntime(path.join(binDir, f), outfile, '#!/usr/bin/env node');
    chmodSync(outfile, 0o755);
    if (pkg.bin?.[name] !== `nodes/bin/${name}.js`) fail(`package.json bin lacks "${name}": "nodes/bin/${name}.js"`);
  }
}

// package.json must list exactly the built node types.
const listed = only ? {} : (pkg['node-red']?.nodes ?? {});
for (const type of only ? [] : nodeTypes) {
  if (listed[type] !== `nodes/${type}.js`) fail(`package.json node-red.nodes lacks "${type}": "nodes/${type}.js"`);
}
for (const [name, file] of Object.entries(listed)) {
  if (!existsSync(path.join(root, file))) fail(`package.json node-red.nodes.${name} points at missing ${file}`);
}

if (problems.length) {
  console.error(`build failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`build: ${nodeTypes.length} node types -> nodes/ (${nodeTypes.join(', ')})`);
