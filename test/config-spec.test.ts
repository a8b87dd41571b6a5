/**
 * Every node's config is declared once (src/nodes/<type>/config.ts): the editor's defaults, as the
 * built editor bundle registers them, are the spec's, and the runtime reads no config property the
 * spec does not declare. The node types come from src/nodes, the specs from their config.ts and
 * the reads from the TypeScript checker: nothing here is a list kept by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import ts from 'typescript';
import { CONFIG_VERSION_PROPERTY, type ConfigSpec, type ConfigValue } from '../src/nodes/shared/config';
import { ROOT, loadModule } from './helpers/flow';

const NODES_SRC = path.join(ROOT, 'src', 'nodes');
const TYPES = readdirSync(NODES_SRC).filter((d) => d !== 'shared' && statSync(path.join(NODES_SRC, d)).isDirectory());
/** What Node-RED itself puts on every saved node (NodeDef), beside the spec's properties. */
const NODE_DEF_KEYS = ['id', 'type', 'name', 'z', CONFIG_VERSION_PROPERTY];

type Spec = ConfigSpec<Record<string, ConfigValue>>;

function isSpec(v: unknown): v is Spec {
  const s = v as Partial<Spec> | null;
  return typeof s === 'object' && s !== null && typeof s.version === 'number' && typeof s.defaults === 'object' && Array.isArray(s.migrations);
}

/** The one spec a node's config.ts exports. */
function specOf(type: string): Spec {
  const mod = loadModule(path.join(NODES_SRC, type, 'config.ts')) as Record<string, unknown>;
  const specs = Object.values(mod).filter(isSpec);
  assert.equal(specs.length, 1, `src/nodes/${type}/config.ts exports one config spec`);
  return specs[0]!;
}

interface EditorProperty {
  value: unknown;
}

/** Runs the editor script of nodes/<type>.html as the editor would, and returns what it registered. */
function editorDefinitions(type: string): Map<string, { defaults: Record<string, EditorProperty> }> {
  const html = readFileSync(path.join(ROOT, 'nodes', `${type}.html`), 'utf8');
  const script = /<script type="text\/javascript">\n([\s\S]*?)<\/script>/.exec(html)?.[1];
  assert.ok(script, `nodes/${type}.html has an editor script`);
  // Anything the script touches at definition time besides registerType (validators, jQuery): a
  // function that returns itself, so the script runs; the forms themselves are the browser tests'.
  const anything: () => unknown = () => new Proxy(function () {}, { get: (_t, key) => (key === Symbol.toPrimitive ? () => '' : anything()), apply: () => anything() });
  const registered = new Map<string, { defaults: Record<string, EditorProperty> }>();
  const nodes = { registerType: (t: string, def: { defaults: Record<string, EditorProperty> }) => registered.set(t, def), getType: (t: string) => registered.get(t) };
  const RED = new Proxy({}, { get: (_t, key) => (key === 'nodes' ? nodes : anything()) });
  vm.runInNewContext(script, { RED, $: anything(), jQuery: anything(), window: {}, document: anything() });
  return registered;
}

/** A value from another realm (the editor script's) as plain data. */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

test('every node has a spec, and its editor bundle registers exactly the spec defaults and version', () => {
  assert.ok(TYPES.length >= 13, `node types found in src/nodes: ${TYPES.join(', ')}`);
  for (const type of TYPES) {
    const spec = specOf(type);
    assert.ok(spec.version >= 1, `${type}: has a config version`);
    const def = editorDefinitions(type).get(type);
    assert.ok(def, `nodes/${type}.html registers ${type}`);
    const editorKeys = Object.keys(def.defaults).sort();
    assert.deepEqual(editorKeys, [...Object.keys(spec.defaults), CONFIG_VERSION_PROPERTY].sort(), `${type}: the editor declares the spec's properties, no more, no fewer`);
    for (const [key, value] of Object.entries(spec.defaults)) assert.deepEqual(plain(def.defaults[key]!.value), plain(value), `${type}.${key}: the editor's default is the spec's`);
    assert.equal(def.defaults[CONFIG_VERSION_PROPERTY]!.value, spec.version, `${type}: new nodes get the current version`);
  }
});

test('every spec default is already what its own migration keeps (a new node needs no step)', () => {
  for (const type of TYPES) {
    const spec = specOf(type);
    let config: Record<string, unknown> = { ...(plain(spec.defaults) as Record<string, unknown>) };
    for (const step of spec.migrations) config = step(config);
    for (const [key, value] of Object.entries(spec.defaults)) assert.deepEqual(config[key], plain(value), `${type}.${key}`);
  }
});

/** `a.b`, `a['b']` and `const { b } = a` where `a` is a saved node config (see isConfigType). */
function configReads(program: ts.Program, file: ts.SourceFile): Array<{ property: string; line: number }> {
  const checker = program.getTypeChecker();
  // A node config: NodeDef's id, type and z, and none of a Node's methods (a Node has an id and a z too).
  const isConfigType = (t: ts.Type): boolean => ['id', 'type', 'z'].every((p) => t.getProperty(p)) && !t.getProperty('send') && !t.getProperty('on');
  const inner = (e: ts.Expression): ts.Expression => (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isSatisfiesExpression(e) ? inner(e.expression) : e);
  const isConfig = (e: ts.Expression): boolean => isConfigType(checker.getTypeAtLocation(inner(e)));
  const reads: Array<{ property: string; line: number }> = [];
  const add = (property: string, node: ts.Node): void => {
    reads.push({ property, line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && isConfig(node.expression)) add(node.name.text, node);
    if (ts.isElementAccessExpression(node) && isConfig(node.expression)) {
      // a key whose type is a set of literals (`for (const k of ['a', 'b'] as const)`) reads each of them
      const key = checker.getTypeAtLocation(node.argumentExpression);
      const literals = (key.isUnion() ? key.types : [key]).map((t) => (t.isStringLiteral() ? t.value : undefined));
      if (literals.every((l) => l !== undefined)) for (const l of literals) add(l, node);
      else add(`[${node.argumentExpression.getText(file)}]`, node);
    }
    if (ts.isVariableDeclaration(node) && node.initializer && ts.isObjectBindingPattern(node.name) && isConfig(node.initializer)) {
      for (const el of node.name.elements) add((el.propertyName ?? el.name).getText(file), el);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return reads;
}

function programOf(files: string[], host?: ts.CompilerHost): ts.Program {
  const configFile = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), (f) => ts.sys.readFile(f));
  const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, ROOT);
  return ts.createProgram(files, { ...options, noEmit: true }, host);
}

/** The nodes' runtime files (not their editors or specs). */
const RUNTIME_FILES = TYPES.flatMap((type) =>
  readdirSync(path.join(NODES_SRC, type))
    .filter((f) => f.endsWith('.ts') && f !== 'editor.ts' && f !== 'config.ts')
    .map((f) => path.join(NODES_SRC, type, f)),
);

/** A file that exists only in the program: undeclared reads written every way the analysis must see. */
const FAKE = path.join(NODES_SRC, 'onnx-infer', 'undeclared-read.ts');
const FAKE_SOURCE = [
  "import type { NodeDef } from 'node-red';",
  "import { resolveConfig } from '../shared/config';",
  "import { ONNX_INFER_CONFIG, type OnnxInferConfig } from './config';",
  'export function f(saved: NodeDef): unknown[] {',
  '  const config: NodeDef & OnnxInferConfig = resolveConfig(ONNX_INFER_CONFIG, saved);',
  '  const { queueSize, sneaky } = config as NodeDef & OnnxInferConfig & { sneaky: string };',
  "  const keys = ['maxBatch', 'unknownKey'] as const;",
  '  const any = String(Date.now());',
  "  return [config.property, (config as unknown as Record<string, string>).notInSpec, config['batch'], saved.id, queueSize, sneaky, ...keys.map((k) => (config as unknown as Record<string, unknown>)[k]), (config as unknown as Record<string, unknown>)[any]];",
  '}',
].join('\n');

/** One program for both tests below (building it is most of their time): the runtime files and FAKE. */
let program: ts.Program | undefined;
function sharedProgram(): ts.Program {
  if (program) return program;
  const host = ts.createCompilerHost({});
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === FAKE ? ts.createSourceFile(name, FAKE_SOURCE, lang) : getSourceFile(name, lang, ...rest));
  program = programOf([...RUNTIME_FILES, FAKE], host);
  return program;
}

test('the analysis sees an undeclared read, however it is written (the oracle of the next test)', () => {
  const p = sharedProgram();
  const reads = configReads(p, p.getSourceFile(FAKE)!).map((r) => r.property);
  assert.deepEqual(reads.sort(), ['batch', 'id', 'notInSpec', 'property', 'queueSize', 'sneaky', 'maxBatch', 'unknownKey', '[any]'].sort());
});

test("no node's runtime reads a config property its spec does not declare", () => {
  const files = RUNTIME_FILES;
  const program = sharedProgram();
  const problems: string[] = [];
  let counted = 0;
  for (const type of TYPES) {
    const declared = new Set([...Object.keys(specOf(type).defaults), ...NODE_DEF_KEYS]);
    for (const file of files.filter((f) => path.dirname(f) === path.join(NODES_SRC, type))) {
      for (const read of configReads(program, program.getSourceFile(file)!)) {
        counted++;
        if (!declared.has(read.property)) problems.push(`${path.relative(ROOT, file)}:${read.line} reads ${read.property}, which ${type}'s spec does not declare`);
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(counted > 100, `config reads found: ${counted}`);
});
