/**
 * The package in the real Node-RED editor, driven in headless Chromium (Debian's chromium through
 * playwright-core) the way a person uses it: the palette shows the `edge ML` category with every
 * node; each node is dragged from the palette onto the workspace, opened with a double-click,
 * filled in (FIELD_VALUES, and a generic value wherever the dialog marks a field invalid; config
 * nodes are added through the dialog's add button), closed with Done and deployed; each example
 * flow is imported through Import > Examples and deployed. German help and messages are checked
 * as the runtime serves them. Any browser console error, page error, failed request, deploy
 * error or crash in the Node-RED log fails the test. Screenshots of every dialog go to
 * test-output/screenshots/<type>.png.
 *
 * Generic over package.json `node-red.nodes`: a new node type needs nothing here unless a
 * required field has no sensible generic value (then add it to FIELD_VALUES).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CHROMIUM, LAUNCH_ARGS, SCREENSHOTS } from './helpers/browser';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { startBroker, type TestBroker } from './helpers/broker';
import { freePort } from './helpers/net';
import { declaredNodes, ROOT, startNodeRed, type NodeRedProcess } from './helpers/nodered-process';
import { readModelInfo } from '../src/lib/onnx/model-file';
import { NUMERIC_SETTINGS, type NumericSetting } from '../src/lib/config-ranges';

const bounds = (spec: NumericSetting): { min: number; max: number } => ({ min: spec.min, max: spec.max });

const CATEGORY = 'edge ML';
const SHARED = path.resolve(ROOT, '..', 'shared');
const PKG_NAME = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;

const DECLARED = Object.keys(declaredNodes());
const isConfigType = (type: string): boolean => {
  const html = path.join(ROOT, 'nodes', `${type}.html`);
  return existsSync(html) && /category:\s*['"]config['"]/.test(readFileSync(html, 'utf8'));
};
const NODE_TYPES = DECLARED.filter((t) => !isConfigType(t));
const CONFIG_TYPES = DECLARED.filter(isConfigType);
const EXAMPLES = existsSync(path.join(ROOT, 'examples'))
  ? readdirSync(path.join(ROOT, 'examples'))
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

interface FieldContext {
  brokerPort: number;
  freePort: () => Promise<number>;
}

/**
 * Values typed into a dialog whenever it has the field, by `<type>.<property>`: fields with no
 * usable default here (a model file, a port that must be free, the test's broker). Any other field
 * the dialog marks invalid gets a generic value by input kind.
 */
const FIELD_VALUES: Record<string, (ctx: FieldContext) => string | Promise<string>> = {
  // The demo model the examples use (it has a model card to show), else one from ONNX's own tests.
  'onnx-model.path': () =>
    [path.join(ROOT, 'models', 'pump-classifier.onnx'), path.join(SHARED, 'conformance', 'onnx-node', 'test_sigmoid_example', 'model.onnx')].find((f) => existsSync(f)) as string,
  // Core mqtt-broker config, pointed at a real broker started for this test.
  'mqtt-broker.broker': () => '127.0.0.1',
  'mqtt-broker.port': (ctx) => String(ctx.brokerPort),
  'modbus-server-in.port': () => '0', // an ephemeral port: nothing to race for
};

// Screenshots leave out the "Successfully deployed" notices of the step before.
const HIDE_NOTIFICATIONS = '.red-ui-notification { display: none !important; }';

// A crash or a programming error in the runtime log (as opposed to a node reporting, say, that a
// Modbus device of an example flow is not there).
const RUNTIME_CRASH = /Uncaught Exception|TypeError|ReferenceError|SyntaxError|RangeError|is not a function|Cannot read prop/;

let red: NodeRedProcess;
let broker: TestBroker;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const visitedConfigTypes = new Set<string>();

/** Browser-side problems recorded since `from`. */
function problemsSince(from: number): string[] {
  return problems.slice(from);
}

async function waitForEditor(): Promise<void> {
  await page.waitForFunction(
    () => {
      const RED = (window as unknown as { RED?: { workspaces?: { active?: () => string } } }).RED;
      return Boolean(RED?.workspaces?.active?.()) && document.querySelector('.red-ui-palette-node') !== null;
    },
    null,
    { timeout: 90_000 },
  );
  // Trays and notifications slide and fade through jQuery: instant here, so that steps do not
  // wait on eye candy (what they show does not change).
  await page.evaluate(() => {
    (window as unknown as { $: { fx: { off: boolean } } }).$.fx.off = true;
  });
}

/** Waits until no tray or dialog is animating (screenshots and clicks then land where meant). */
async function settle(): Promise<void> {
  await page.waitForFunction(() => {
    const $ = (window as unknown as { $: (s: string) => { is: (s: string) => boolean } }).$;
    return !$('.red-ui-tray, .ui-dialog, .red-ui-notification').is(':animated');
  });
}

/** Text a person sees in an element, with placeholders and titles: must hold no i18n keys. */
async function unresolvedI18n(selector: string, type: string): Promise<string[]> {
  return page.evaluate(
    ({ selector, type }) => {
      const root = document.querySelector(selector);
      if (!root) return [`${selector} not found`];
      const texts = [(root as HTMLElement).innerText];
      root.querySelectorAll('[placeholder],[title]').forEach((el) => {
        texts.push(el.getAttribute('placeholder') ?? '', el.getAttribute('title') ?? '');
      });
      const key = new RegExp(`(^|[\\s"'(])(${type.replace(/[-]/g, '\\-')}|errors|common)\\.[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*`, 'g');
      return texts.flatMap((t) => [...t.matchAll(key)].map((m) => m[0].trim()));
    },
    { selector, type },
  );
}

/** The properties the open edit form marks invalid (`prefix` node-input or node-config-input). */
async function invalidFields(prefix: string): Promise<string[]> {
  return page.evaluate((prefix) => {
    const props = new Set<string>();
    document.querySelectorAll('.input-error').forEach((el) => {
      const candidates = [el, ...Array.from(el.querySelectorAll(`[id^="${prefix}-"]`))];
      const ownInput = el.parentElement?.querySelector(`[id^="${prefix}-"]`);
      if (ownInput) candidates.push(ownInput);
      for (const c of candidates) {
        const id = c.id ?? '';
        if (id.startsWith(`${prefix}-`)) {
          props.add(id.slice(prefix.length + 1));
          break;
        }
      }
    });
    return [...props];
  }, prefix);
}

/** Sets a form field the way its widget takes input (typedInput, select, checkbox or text). */
async function setField(prefix: string, prop: string, value: string): Promise<void> {
  const selector = `#${prefix}-${prop}`;
  const kind = await page.evaluate((selector) => {
    const $ = (window as unknown as { $: (s: string) => { data: (k: string) => unknown; is: (s: string) => boolean } }).$;
    const el = $(selector);
    if (el.data('noderedTypedInput')) return 'typed';
    if (el.is('select')) return 'select';
    if (el.is('[type=checkbox]')) return 'checkbox';
    return 'text';
  }, selector);
  const field = page.locator(selector);
  if (kind === 'typed') {
    await page.evaluate(
      ({ selector, value }) => {
        const $ = (window as unknown as { $: (s: string) => { typedInput: (m: string, v: string) => void } }).$;
        $(selector).typedInput('value', value);
      },
      { selector, value },
    );
  } else if (kind === 'select') {
    await field.selectOption(value);
  } else if (kind === 'checkbox') {
    await field.setChecked(value === 'true');
  } else {
    await field.fill(value);
    await field.press('Tab'); // change + keyup: the editor re-validates on both
  }
}

async function valueFor(type: string, prop: string, prefix: string): Promise<string> {
  const hint = FIELD_VALUES[`${type}.${prop}`];
  if (hint) return hint({ brokerPort: broker.port, freePort });
  const inputType = await page.locator(`#${prefix}-${prop}`).getAttribute('type');
  return inputType === 'number' ? '1' : 'edge-ml-test';
}

/**
 * Fills whatever the open form (node or config node) marks invalid; a config node reference with
 * no config node yet is filled by adding one through the pencil button, as a person would.
 */
async function fillInvalid(type: string, prefix: string): Promise<void> {
  const filled = new Set<string>();
  for (const [key, value] of Object.entries(FIELD_VALUES)) {
    const prop = key.slice(type.length + 1);
    if (!key.startsWith(`${type}.`) || (await page.locator(`#${prefix}-${prop}`).count()) === 0) continue;
    await setField(prefix, prop, await value({ brokerPort: broker.port, freePort }));
    filled.add(prop);
  }
  for (let round = 0; round < 3; round++) {
    const invalid = (await invalidFields(prefix)).filter((p) => !filled.has(p));
    if (invalid.length === 0) break;
    for (const prop of invalid) {
      filled.add(prop);
      const configType = await page.evaluate(
        ({ type, prop }) => {
          const RED = (window as unknown as { RED: { nodes: { getType: (t: string) => { defaults?: Record<string, { type?: string }> } | undefined } } }).RED;
          return RED.nodes.getType(type)?.defaults?.[prop]?.type ?? null;
        },
        { type, prop },
      );
      if (configType) await addConfigNode(configType, prefix, prop);
      else await setField(prefix, prop, await valueFor(type, prop, prefix));
    }
  }
  // The editor re-validates on change; give it the event before reading the marks again.
  await page.evaluate((prefix) => {
    const $ = (window as unknown as { $: (s: string) => { trigger: (e: string) => void } }).$;
    $(`[id^="${prefix}-"]`).trigger('change');
  }, prefix);
  assert.deepEqual(await invalidFields(prefix), [], `${type}: fields still invalid after filling; add values to FIELD_VALUES`);
}

/**
 * Placeholders of the open dialog that do not fit their field, in English (as shown) and in German
 * (the de catalogue's text for the same key, measured in the same field and font).
 */
async function cutPlaceholders(type: string): Promise<string[]> {
  const de = await red.request<Record<string, unknown>>('GET', `/locales/${PKG_NAME}/${type}?lng=de`);
  // plain JavaScript: tsx would wrap named functions written here in a helper the page lacks
  return page.evaluate(`(${MEASURE_PLACEHOLDERS})(${JSON.stringify(de)})`) as Promise<string[]>;
}

const MEASURE_PLACEHOLDERS = `function (de) {
  function lookup(key) {
    var v = de;
    key.split('.').forEach(function (part) { v = v && typeof v === 'object' ? v[part] : undefined; });
    return typeof v === 'string' ? v : undefined;
  }
  var canvas = document.createElement('canvas').getContext('2d');
  var cut = [];
  document.querySelectorAll('#dialog-form input[placeholder], #node-config-dialog-edit-form input[placeholder]').forEach(function (el) {
    if (el.offsetParent === null) return; // hidden rows
    var style = getComputedStyle(el);
    canvas.font = style.fontStyle + ' ' + style.fontWeight + ' ' + style.fontSize + ' ' + style.fontFamily;
    var room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    var m = /\\[placeholder\\]([^;]+)/.exec(el.getAttribute('data-i18n') || '');
    var texts = [['en-US', el.placeholder]];
    var german = m ? lookup(m[1].replace(/^[^:]*:/, '')) : undefined; // the editor prefixes the namespace
    if (german) texts.push(['de', german]);
    texts.forEach(function (t) {
      var width = canvas.measureText(t[1]).width;
      if (width > room + 1) cut.push(el.id + ' (' + t[0] + '): "' + t[1] + '" needs ' + Math.ceil(width) + ' px, has ' + Math.floor(room));
    });
  });
  return cut;
}`;

async function screenshotTray(name: string): Promise<void> {
  await settle();
  const tray = page.locator('#red-ui-editor-stack > .red-ui-tray').last();
  await tray.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), style: HIDE_NOTIFICATIONS });
}

/** Opens the config node dialog from a node dialog's add (+) button, fills it and presses Add. */
async function addConfigNode(configType: string, prefix: string, prop: string): Promise<void> {
  const before = problems.length;
  // Node-RED 4.1 has a separate add button; before that the pencil added when nothing was selected.
  const add = page.locator(`#${prefix}-btn-${prop}-add, #${prefix}-lookup-${prop}`).first();
  await add.click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
  await page.locator('#node-config-dialog-edit-form .form-row').first().waitFor({ state: 'attached' });
  await settle();
  assert.deepEqual(await unresolvedI18n('#node-config-dialog-edit-form', configType), [], `${configType}: untranslated text in the dialog`);
  await fillInvalid(configType, 'node-config-input');
  if (!visitedConfigTypes.has(configType) && DECLARED.includes(configType)) await screenshotTray(configType);
  visitedConfigTypes.add(configType);
  await page.locator('#node-config-dialog-ok').click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
  assert.deepEqual(problemsSince(before), [], `${configType}: browser errors in the config dialog`);
}

/** Drags a node from the palette onto the workspace; resolves with the new node's id. */
async function dragFromPalette(type: string, x: number, y: number): Promise<string> {
  const existing = await page.evaluate((type) => {
    const RED = (window as unknown as { RED: { nodes: { filterNodes: (f: object) => Array<{ id: string }> } } }).RED;
    return RED.nodes.filterNodes({ type }).map((n) => n.id);
  }, type);
  const paletteNode = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await paletteNode.scrollIntoViewIfNeeded();
  await paletteNode.hover();
  await page.mouse.down();
  const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
  assert.ok(chart, 'workspace not visible');
  await page.mouse.move(chart.x + x, chart.y + y, { steps: 12 });
  await page.mouse.up();
  const handle = await page.waitForFunction(
    ({ type, existing }) => {
      const RED = (window as unknown as { RED: { nodes: { filterNodes: (f: object) => Array<{ id: string }> } } }).RED;
      const added = RED.nodes.filterNodes({ type }).find((n) => !existing.includes(n.id));
      return added?.id ?? false;
    },
    { type, existing },
  );
  return (await handle.jsonValue()) as string;
}

/** Clicks Deploy and waits for the runtime to start the new flows; fails on a deploy error or prompt. */
async function deploy(): Promise<string> {
  const from = red.log().length;
  await page.locator('#red-ui-header-button-deploy').click();
  const handle = await page.waitForFunction(() => {
    const w = window as unknown as { RED: { nodes: { dirty: () => boolean } } };
    // The "not properly configured / unknown nodes" prompt holds the deploy back; an error
    // notification reports a failed one.
    const confirm = document.getElementById('red-ui-deploy-dialog-confirm-deploy-deploy');
    const prompt = confirm?.closest('.red-ui-notification') as HTMLElement | null | undefined;
    if (prompt) return `deploy blocked: ${prompt.innerText}`;
    const error = document.querySelector('.red-ui-notification-error') as HTMLElement | null;
    if (error) return `deploy failed: ${error.innerText}`;
    return w.RED.nodes.dirty() ? false : 'ok';
  });
  const outcome = (await handle.jsonValue()) as string;
  assert.equal(outcome, 'ok', outcome);
  await red.waitForLog(/\[info\] Started (flows|modified (nodes|flows))/, 30_000, from);
  return red.log().slice(from);
}

/**
 * After a failed step: cancels the dialogs and prompts it left open and removes the nodes it left
 * invalid, so that one failure does not block the deploys of every following step.
 */
async function recoverWorkspace(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Escape'); // search box, menus
    const cancel = page
      .locator('#node-config-dialog-cancel:visible, #node-dialog-cancel:visible, #red-ui-clipboard-dialog-cancel:visible')
      .or(page.locator('.red-ui-notification:visible button').filter({ hasText: /^(Cancel|Close)$/ }))
      .first();
    if ((await cancel.count()) === 0) break;
    await cancel.click();
    await settle();
  }
  await page.evaluate(() => {
    const RED = (
      window as unknown as {
        RED: {
          nodes: { eachNode: (cb: (n: { id: string; valid?: boolean }) => void) => void; remove: (id: string) => unknown; dirty: (d: boolean) => void };
          editor: { validateNode: (n: unknown) => void };
          view: { redraw: (full: boolean) => void };
        };
      }
    ).RED;
    const invalid: string[] = [];
    RED.nodes.eachNode((n) => {
      RED.editor.validateNode(n);
      if (n.valid === false) invalid.push(n.id);
    });
    invalid.forEach((id) => RED.nodes.remove(id));
    if (invalid.length) {
      RED.nodes.dirty(true);
      RED.view.redraw(true);
    }
  });
}

/** Clicks away the "Imported ..." / "Deployed" notices that would cover the tab bar. */
async function dismissNotifications(): Promise<void> {
  const notices = page.locator('.red-ui-notification:visible');
  for (let i = await notices.count(); i > 0; i--) {
    await notices.first().click();
  }
  await page.locator('.red-ui-notification:visible').first().waitFor({ state: 'hidden' });
}

/** Flow nodes (with a z) and flow tab ids in the editor now. */
async function nodeCounts(): Promise<{ flowNodes: number; tabs: string[] }> {
  return page.evaluate(() => {
    const RED = (
      window as unknown as {
        RED: { nodes: { eachNode: (cb: (n: { z?: string }) => void) => void; eachWorkspace: (cb: (w: { id: string }) => void) => void } };
      }
    ).RED;
    let flowNodes = 0;
    const tabs: string[] = [];
    RED.nodes.eachNode((n) => {
      if (n.z) flowNodes++;
    });
    RED.nodes.eachWorkspace((w) => {
      tabs.push(w.id);
    });
    return { flowNodes, tabs };
  });
}

function assertNoCrash(log: string, what: string): void {
  const crashes = log.split('\n').filter((line) => RUNTIME_CRASH.test(line));
  assert.deepEqual(crashes, [], `${what}: crash in the Node-RED log`);
}

describe('editor in headless Chromium', { timeout: 5 * 60_000 }, () => {
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install -y chromium`);
    const missing = Object.values(declaredNodes()).filter((f) => !existsSync(path.join(ROOT, f)));
    assert.deepEqual(missing, [], 'built node files missing: run `npm run build` first');
    mkdirSync(SCREENSHOTS, { recursive: true });
    broker = await startBroker();
    // nodesDir = the project: Node-RED loads it as the module it is (nodes, icons, locales, examples).
    red = await startNodeRed({ nodesDir: ROOT });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (msg: ConsoleMessage) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()} (${msg.location().url})`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
    });
    await page.goto(red.url);
    await waitForEditor();
  });

  afterEach(async () => {
    await recoverWorkspace();
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
    await broker?.stop();
  });

  it(`palette shows the "${CATEGORY}" category with every node`, async () => {
    const palette = await page.evaluate((category) => {
      const containers = Array.from(document.querySelectorAll('.red-ui-palette-category'));
      const ours = containers.find((c) => c.querySelector('.red-ui-palette-header span')?.textContent === category);
      return {
        found: Boolean(ours),
        types: ours ? Array.from(ours.querySelectorAll('.red-ui-palette-node')).map((n) => n.getAttribute('data-palette-type')) : [],
        labels: ours ? Array.from(ours.querySelectorAll('.red-ui-palette-label')).map((n) => (n as HTMLElement).innerText.trim()) : [],
      };
    }, CATEGORY);
    assert.ok(palette.found, `no palette category "${CATEGORY}"`);
    assert.deepEqual([...palette.types].sort(), [...NODE_TYPES].sort());
    assert.ok(
      palette.labels.every((l) => l.length > 0 && !/\.label\./.test(l)),
      `palette labels: ${palette.labels.join(', ')}`,
    );
    const icons = await page.evaluate(
      (types) =>
        types.map((t) => {
          const img = document.querySelector(`.red-ui-palette-node[data-palette-type="${t}"] .red-ui-palette-icon`) as HTMLElement | null;
          return `${t}: ${img?.style.backgroundImage ?? 'none'}`;
        }),
      NODE_TYPES,
    );
    for (const icon of icons) assert.match(icon, /icons\/.*edgeml-[a-z-]+\.svg/, `palette icon ${icon}`);
    await page
      .locator('.red-ui-palette-category', { hasText: CATEGORY })
      .first()
      .screenshot({ path: path.join(SCREENSHOTS, 'palette.png') });
    assert.deepEqual(problems, [], 'browser errors while loading the editor');
  });

  it('no node property uses a name Node-RED reserves', async () => {
    // Property names the editor and runtime use for themselves: a node default with one of these
    // names is overwritten (e.g. `outputs` becomes the port count).
    const reserved = await page.evaluate((types) => {
      const RED = (window as unknown as { RED: { nodes: { getType: (t: string) => { defaults?: Record<string, unknown> } | undefined } } }).RED;
      const names = ['id', 'type', 'x', 'y', 'z', 'g', 'd', 'l', 'w', 'h', 'wires', 'inputs', 'outputs', 'info', 'credentials', 'resize'];
      return types.flatMap((t) =>
        Object.keys(RED.nodes.getType(t)?.defaults ?? {})
          .filter((p) => names.includes(p))
          .map((p) => `${t}.${p}`),
      );
    }, DECLARED);
    assert.deepEqual(reserved, [], 'node properties with names Node-RED reserves');
  });

  NODE_TYPES.forEach((type, index) => {
    it(`${type}: drag, edit, Done, Deploy`, async () => {
      const before = problems.length;
      const id = await dragFromPalette(type, 140 + (index % 3) * 220, 80 + Math.floor(index / 3) * 90);
      await page.locator(`[id="${id}"] .red-ui-flow-node`).dblclick();
      await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
      await page
        .locator('#dialog-form .form-row')
        .first()
        .waitFor({ state: 'attached' })
        .catch(() => undefined); // asserted just below
      await settle();
      const rows = await page.locator('#dialog-form .form-row').count();
      assert.ok(rows > 0, `${type}: the edit dialog shows no form rows (template not rendered)`);
      assert.deepEqual(await unresolvedI18n('#dialog-form', type), [], `${type}: untranslated text in the dialog`);
      const help = await page.evaluate((type) => document.querySelector(`script[data-help-name="${type}"]`)?.innerHTML ?? '', type);
      for (const section of ['Inputs', 'Outputs', 'Details']) assert.ok(help.includes(`<h3>${section}</h3>`), `${type}: help has no <h3>${section}</h3>`);
      assert.deepEqual(await cutPlaceholders(type), [], `${type}: placeholders cut off`);
      await fillInvalid(type, 'node-input');
      await screenshotTray(type);
      await page.locator('#node-dialog-ok').click();
      await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
      const state = await page.evaluate((id) => {
        const RED = (window as unknown as { RED: { nodes: { node: (id: string) => { valid?: boolean; validationErrors?: string[] } | null } } }).RED;
        const node = RED.nodes.node(id);
        return { valid: node?.valid, errors: node?.validationErrors ?? [], node: JSON.stringify(node, (k, v) => (k.startsWith('_') || k === 'z' ? undefined : v)) };
      }, id);
      assert.notEqual(state.valid, false, `${type} is invalid after Done: ${state.errors.join(', ')} (${state.node})`);
      const log = await deploy();
      assertNoCrash(log, type);
      const errors = log.split('\n').filter((l) => l.includes('[error]'));
      assert.deepEqual(errors, [], `${type}: errors in the Node-RED log after deploy`);
      assert.deepEqual(problemsSince(before), [], `${type}: browser errors`);
    });
  });

  // A bad value typed into a field must say why, in the field's tooltip and in the node's triangle
  // popup after Done. The expected reason is the served catalogue's text for the rule, filled with
  // the rule's bounds (not the validator's own output).
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const lines = pem.trim().split('\n');
  lines[1] = `${lines[1]!.slice(0, 10)}!${lines[1]!.slice(11)}`; // one character changed
  const BAD_VALUES: Array<{ type: string; prop: string; value: string; key: string; params: Record<string, string | number> }> = [
    { type: 'modbus-server-in', prop: 'port', value: '99999', key: 'validator.port', params: { min: 1, max: 65535 } },
    { type: 'modbus-server-in', prop: 'unitId', value: '300', key: 'validator.integer-range', params: { min: 0, max: 255 } },
    { type: 'modbus-server-in', prop: 'holdingSize', value: '-5', key: 'validator.integer-range', params: { min: 0, max: 65536 } },
    { type: 'modbus-server-in', prop: 'allowList', value: '10.0.0.1, not-an-ip', key: 'validator.allow-list', params: { entry: 'not-an-ip' } },
    // bounds from the range table the runtime enforces too (harden16b gave these a maximum)
    { type: 'onnx-infer', prop: 'queueSize', value: '-3', key: 'validator.integer-range', params: bounds(NUMERIC_SETTINGS['onnx-infer'].queueSize) },
    { type: 'ml-outbox', prop: 'capacity', value: '-3', key: 'validator.integer-range', params: bounds(NUMERIC_SETTINGS['ml-outbox'].capacity) },
    { type: 'ml-model-update', prop: 'publicKey', value: lines.join('\n'), key: 'validator.pem-base64', params: {} },
    { type: 'ml-model-update', prop: 'publicKey', value: 'ssh-ed25519 AAAAC3Nza', key: 'validator.pem-markers', params: {} },
  ];
  for (const bad of BAD_VALUES) {
    it(`${bad.type}: ${bad.prop} = ${JSON.stringify(bad.value.slice(0, 24))} shows why it is invalid`, async () => {
      const catalogue = await red.request<Record<string, Record<string, string>>>('GET', `/locales/${PKG_NAME}/${bad.type}?lng=en-US`);
      const [group, name] = bad.key.split('.') as [string, string];
      const template = catalogue[group]?.[name];
      assert.ok(template, `${bad.key} is not in the ${bad.type} catalogue`);
      const expected = Object.entries(bad.params).reduce((t, [k, v]) => t.split(`__${k}__`).join(String(v)), template);
      const id = await dragFromPalette(bad.type, 200, 500);
      await page.locator(`[id="${id}"] .red-ui-flow-node`).dblclick();
      await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
      await settle();
      const field = page.locator(`#node-input-${bad.prop}`);
      if (await field.evaluate((el) => el.tagName === 'TEXTAREA')) {
        await field.fill(bad.value);
        await field.press('Tab');
      } else await setField('node-input', bad.prop, bad.value);
      await page.waitForFunction((sel) => document.querySelector(sel)?.classList.contains('input-error') === true, `#node-input-${bad.prop}`);
      // what a person sees when pointing at the red field: the tooltip opens on the pointer
      // entering it, so the pointer starts outside (the tray may have opened under it); once more if
      // the first entry was missed (one CI run in many)
      const tooltip = page.locator('.red-ui-popover:visible').last();
      for (let attempt = 0; ; attempt++) {
        await page.mouse.move(5, 5);
        await field.hover();
        try {
          await tooltip.waitFor({ state: 'visible', timeout: attempt === 0 ? 5000 : 20000 });
          break;
        } catch (e) {
          if (attempt > 0) throw e;
        }
      }
      assert.equal((await tooltip.innerText()).trim(), expected);
      await page.mouse.move(5, 5);
      await page.locator('#node-dialog-ok').click();
      await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
      const errors = await page.evaluate((id) => {
        const RED = (window as unknown as { RED: { nodes: { node: (id: string) => { validationErrors?: string[] } | null } } }).RED;
        return RED.nodes.node(id)?.validationErrors ?? [];
      }, id);
      assert.ok(errors.includes(expected), `triangle popup lists ${JSON.stringify(errors)}`);
      await page.evaluate((id) => {
        const RED = (window as unknown as { RED: { nodes: { remove: (id: string) => unknown; dirty: (d: boolean) => void }; view: { redraw: (f: boolean) => void } } }).RED;
        RED.nodes.remove(id);
        RED.view.redraw(true);
      }, id);
    });
  }

  async function closeDialog(): Promise<void> {
    await page.locator('#node-dialog-cancel').click();
    await page.locator('#node-dialog-cancel').waitFor({ state: 'detached' });
    await settle();
  }

  /** Imports nodes into the current flow and opens the edit dialog of the one with `openId`. */
  async function importAndOpen(nodes: Array<Record<string, unknown>>, openId: string): Promise<string> {
    const ids = await page.evaluate((nodes) => {
      const RED = (window as unknown as { RED: { view: { importNodes: (n: unknown, o: object) => void }; nodes: { filterNodes: (f: object) => Array<{ id: string }> } } }).RED;
      RED.view.importNodes(nodes, { generateIds: false, addFlow: false, touchImport: true });
      return nodes.map((n) => (n as { id: string }).id);
    }, nodes);
    // an import sticks to the mouse until a click drops it
    await page.locator('#red-ui-workspace-chart').click({ position: { x: 300, y: 560 } });
    assert.ok(ids.includes(openId));
    await page.locator(`[id="${openId}"] .red-ui-flow-node`).dblclick();
    await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
    await settle();
    return openId;
  }

  it('ml-guard shows the ranges its model card enforces, under column headers', async () => {
    const model = path.join(ROOT, 'models', 'pump-classifier.onnx');
    // the oracle: the card's raw edgeml.ranges / edgeml.features metadata, parsed here
    const meta = readModelInfo(readFileSync(model)).metadata;
    const ranges = JSON.parse(meta['edgeml.ranges'] ?? '{}') as Record<string, [number, number]>;
    const features = JSON.parse(meta['edgeml.features'] ?? '[]') as string[];
    assert.ok(features.length > 0 && Object.keys(ranges).length > 0, 'the demo card declares features and ranges');
    await importAndOpen(
      [
        { id: 'gm1', type: 'onnx-model', path: model, watch: false, threads: '1' },
        { id: 'gg1', type: 'ml-guard', model: 'gm1', rules: [{ feature: features[0], min: '0', max: '1', default: '', maxDelta: '' }], x: 300, y: 560, wires: [[], []] },
      ],
      'gg1',
    );
    const table = page.locator('#ml-guard-card-ranges table');
    await table.waitFor({ state: 'visible' });
    const rows = await table.locator('tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.children).map((c) => (c as HTMLElement).innerText.trim())));
    const catalogue = await red.request<Record<string, Record<string, Record<string, string>>>>('GET', `/locales/${PKG_NAME}/ml-guard?lng=en-US`);
    const card = catalogue['ml-guard']!['card']!;
    assert.deepEqual(rows[0], [card.feature, card.min, card.max, card.unit]);
    assert.deepEqual(
      rows.slice(1).map((r) => r.slice(0, 3)),
      features.map((f) => [f, ranges[f] ? String(ranges[f]![0]) : '–', ranges[f] ? String(ranges[f]![1]) : '–']),
    );
    const rule = catalogue['ml-guard']!['rule']!;
    const headers = await page.locator('#ml-guard-rule-header span').allInnerTexts();
    assert.deepEqual(headers, [rule.feature, rule.min, rule.max, rule.default, rule.maxDelta]);
    await screenshotTray('ml-guard-card');
    await closeDialog();
  });

  it('onnx-model: the picker lists the package model, the card shows as tables', async () => {
    const model = path.join(ROOT, 'models', 'pump-classifier.onnx');
    const meta = readModelInfo(readFileSync(model)).metadata;
    const features = JSON.parse(meta['edgeml.features'] ?? '[]') as string[];
    const labels = JSON.parse(meta['edgeml.labels'] ?? '[]') as string[];
    await page.evaluate((model) => {
      const RED = (window as unknown as { RED: { view: { importNodes: (n: unknown, o: object) => void }; editor: { editConfig: (n: string, t: string, id: string, p: string) => void } } }).RED;
      RED.view.importNodes([{ id: 'om1', type: 'onnx-model', path: model, watch: false, threads: '1' }], { generateIds: false, addFlow: false });
      RED.editor.editConfig('', 'onnx-model', 'om1', 'node-config-input');
    }, model);
    await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
    await page.locator('#onnx-model-info table.onnx-model-card').first().waitFor({ state: 'visible' });
    const options = await page.locator('#onnx-model-pick option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(
      options.some((v) => v.endsWith(path.join('models', 'pump-classifier.onnx'))),
      `picker options: ${options.join(', ')}`,
    );
    const cells = await page.locator('#onnx-model-info table.onnx-model-card td').allInnerTexts();
    for (const f of features) assert.ok(cells.includes(f), `feature ${f} in the card table`);
    for (const [i, l] of labels.entries()) assert.ok(cells.includes(`${i}: ${l}`), `label ${l} in the card table`);
    await screenshotTray('onnx-model-card');
    await page.locator('#node-config-dialog-cancel').click();
    await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
    await settle();
  });

  it('modbus-decode previews a field in hex and in decimal', async () => {
    await importAndOpen([{ id: 'md1', type: 'modbus-decode', fields: [{ name: 'speed', register: 4, type: 'uint16' }], order: 'ABCD', x: 500, y: 560, wires: [[]] }], 'md1');
    const preview = (await page.locator('.edgeml-mb-preview').first().innerText()).trim();
    // the preview's sample for 16-bit fields is 0x1234
    assert.match(preview, /0x1234/);
    assert.ok(preview.includes(`[${0x1234}]`), `no decimal register value in "${preview}"`);
    await closeDialog();
  });

  it('every config node was added through a dialog', () => {
    assert.deepEqual(
      CONFIG_TYPES.filter((t) => !visitedConfigTypes.has(t)),
      [],
      'config node types no node uses',
    );
  });

  for (const file of EXAMPLES) {
    it(`example ${file}: Import > Examples, Deploy`, async () => {
      const before = problems.length;
      const name = file.replace(/\.json$/, '');
      const flow = JSON.parse(readFileSync(path.join(ROOT, 'examples', file), 'utf8')) as Array<{ type: string; z?: string }>;
      const countsBefore = await nodeCounts();
      await page.locator('#red-ui-header-button-sidemenu').click();
      await page.locator('#menu-item-import').click();
      await page.locator('#red-ui-clipboard-dialog-ok').waitFor({ state: 'visible' });
      await page.locator('#red-ui-clipboard-dialog-import-tabs li', { hasText: 'Examples' }).click();
      const library = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
      // Node-RED lists the package's examples/ under its name: the listing itself is under test.
      await library.locator('.red-ui-treeList-label', { hasText: PKG_NAME }).first().click();
      await library
        .locator('.red-ui-treeList-label', { hasText: new RegExp(`^\\s*${name}\\s*$`) })
        .first()
        .click();
      await page.locator('#red-ui-clipboard-dialog-import-opt-new').click();
      await page.locator('#red-ui-clipboard-dialog-ok').click();
      await page.locator('#red-ui-clipboard-dialog-ok').waitFor({ state: 'hidden' });
      // The editor fetches the example from the runtime after the dialog closes: wait for its tab.
      const configTypes = await page.evaluate(
        (types) => {
          const RED = (window as unknown as { RED: { nodes: { getType: (t: string) => { category?: string } | undefined } } }).RED;
          return types.filter((t) => RED.nodes.getType(t)?.category === 'config');
        },
        [...new Set(flow.map((n) => n.type))],
      );
      const expectedFlowNodes = flow.filter((n) => n.type !== 'tab' && !configTypes.includes(n.type)).length;
      await page
        .waitForFunction(
          ({ tabs, nodes }) => {
            const RED = (
              window as unknown as {
                RED: { nodes: { eachNode: (cb: (n: { z?: string }) => void) => void; eachWorkspace: (cb: () => void) => void } };
              }
            ).RED;
            let flowNodes = 0;
            let workspaces = 0;
            RED.nodes.eachNode((n) => {
              if (n.z) flowNodes++;
            });
            RED.nodes.eachWorkspace(() => {
              workspaces++;
            });
            return workspaces > tabs && flowNodes >= nodes;
          },
          { tabs: countsBefore.tabs.length, nodes: countsBefore.flowNodes + expectedFlowNodes },
        )
        .catch(() => undefined); // the assertions below say what is missing
      await settle();
      // An import into the current flow sticks to the mouse until a click drops it.
      if (await page.evaluate(() => (window as unknown as { RED: { view: { state: () => number } } }).RED.view.state() !== 0)) {
        await page.locator('#red-ui-workspace-chart').click({ position: { x: 60, y: 60 } });
      }
      const countsAfter = await nodeCounts();
      assert.equal(countsAfter.flowNodes - countsBefore.flowNodes, expectedFlowNodes, `${file}: nodes imported`);
      assert.ok(countsAfter.tabs.length > countsBefore.tabs.length, `${file}: no new flow tab`);
      const tab = countsAfter.tabs.find((t) => !countsBefore.tabs.includes(t)) as string;
      await dismissNotifications();
      await page.locator(`[id="red-ui-tab-${tab}"]`).click();
      const invalid = await page.evaluate((tab) => {
        type Shown = { id: string; type: string; valid?: boolean; validationErrors?: string[]; users?: Array<{ z?: string }> };
        const RED = (window as unknown as { RED: { nodes: { filterNodes: (f: object) => Shown[]; eachConfig: (cb: (n: Shown) => void) => void } } }).RED;
        const bad = RED.nodes.filterNodes({ z: tab }).filter((n) => n.valid === false);
        RED.nodes.eachConfig((n) => {
          if (n.valid === false && (n.users ?? []).some((u) => u.z === tab)) bad.push(n);
        });
        return bad.map((n) => `${n.type} ${n.id}${n.validationErrors?.length ? ` (${n.validationErrors.join(', ')})` : ''}`);
      }, tab);
      assert.deepEqual(invalid, [], `${file}: nodes the editor marks invalid`);
      const log = await deploy();
      assertNoCrash(log, file);
      await settle();
      await page.screenshot({ path: path.join(SCREENSHOTS, `example-${name}.png`), style: HIDE_NOTIFICATIONS });
      assert.deepEqual(problemsSince(before), [], `${file}: browser errors`);
    });
  }

  it('German help and messages are served for every node', async () => {
    // The editor asks for node definitions in the browser's language; the build checks that the
    // German catalogues have every English key, this checks that the runtime serves them.
    const response = await fetch(`${red.url}/nodes`, { headers: { Accept: 'text/html', 'Accept-Language': 'de' } });
    const html = await response.text();
    const failures: string[] = [];
    for (const type of DECLARED) {
      const help = html.match(new RegExp(`data-help-name="${type}">([\\s\\S]*?)</script>`))?.[1] ?? '';
      const sections = isConfigType(type) ? ['Details'] : ['Eingaben', 'Ausgaben', 'Details'];
      for (const section of sections) if (!help.includes(`<h3>${section}</h3>`)) failures.push(`${type}: German help has no <h3>${section}</h3>`);
      const messages = await red.request<Record<string, unknown>>('GET', `/locales/${PKG_NAME}/${type}?lng=de`);
      const english = await red.request<Record<string, unknown>>('GET', `/locales/${PKG_NAME}/${type}?lng=en-US`);
      if (JSON.stringify(messages) === JSON.stringify(english)) failures.push(`${type}: German messages are the English ones`);
    }
    assert.deepEqual(failures, []);
  });

  it('Node-RED is still running with no crash in its log', () => {
    assert.ok(red.running, `Node-RED exited:\n${red.tail()}`);
    assertNoCrash(red.log(), 'whole run');
  });
});
