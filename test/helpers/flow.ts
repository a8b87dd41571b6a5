/**
 * Flow-test support: a real Node-RED runtime through node-red-node-test-helper, with waits that
 * resolve on events (a helper node's input, a Catch/Complete node's message), never on sleeps.
 * The timeouts here only turn a hang into a readable failure.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import helper from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';

helper.init(require.resolve('node-red'));

export { helper };

export const ROOT = path.resolve(__dirname, '..', '..');
// EDGEML_SHARED points elsewhere (or nowhere, to check that tests skip without it)
export const SHARED = process.env.EDGEML_SHARED ?? path.resolve(ROOT, '..', 'shared');

/**
 * For `test(name, { skip: needsShared('conformance/modbus') }, ...)`: false when the shared data
 * (../shared beside the checkout) is there, else the reason the test is skipped.
 */
export function needsShared(sub: string): string | false {
  const dir = path.join(SHARED, sub);
  return existsSync(dir) ? false : `needs ${dir} (the conformance data beside the checkout), not found`;
}
/** The built nodes; EDGEML_NODES_DIR points at an installed package's (scripts/devices/ runs the conformance cases so). */
const NODES_DIR = process.env.EDGEML_NODES_DIR ?? path.join(ROOT, 'nodes');

/** Loads a built node module (nodes/<type>.js), as Node-RED would. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function nodeModule(type: string): any {
  return loadModule(path.join(NODES_DIR, `${type}.js`));
}

/** Node-RED's core nodes (@node-red/nodes/core). */
const CORE_DIR = path.join(path.dirname(require.resolve('@node-red/nodes/package.json')), 'core');

/** A CommonJS module by path or package name (node modules are CommonJS, loaded as Node-RED would). */
export function loadModule(id: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time
  return require(id);
}

/** A Node-RED core node's module, e.g. coreNode('network/10-mqtt.js'), for helper.load. */
export function coreNode(file: string): unknown {
  return loadModule(path.join(CORE_DIR, file));
}

export type FlowNode = Record<string, unknown> & { id: string; type: string };
export type Msg = NodeMessage & Record<string, unknown>;

export async function loadFlow(types: string[], flow: FlowNode[], credentials: Record<string, unknown> = {}): Promise<void> {
  await helper.load(types.map(nodeModule), flow, credentials);
}

export async function unloadFlow(): Promise<void> {
  await helper.unload();
}

export function getNode(id: string): Node {
  const node = helper.getNode(id) as Node | null;
  if (!node) throw new Error(`node ${id} is not in the flow`);
  return node;
}

/** Resolves with the next `count` messages that arrive at a helper/catch/complete node. */
export function nextMessages(id: string, count: number, timeoutMs = 10000): Promise<Msg[]> {
  const node = getNode(id);
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    const timer = setTimeout(() => {
      node.removeListener('input', onInput);
      reject(new Error(`${id}: ${got.length} of ${count} messages arrived within ${timeoutMs} ms`));
    }, timeoutMs);
    // a wait nobody awaits any more (a test that ended first) must not keep the test process alive
    timer.unref();
    const onInput = (msg: Msg): void => {
      got.push(msg);
      if (got.length === count) {
        clearTimeout(timer);
        node.removeListener('input', onInput);
        resolve(got);
      }
    };
    node.on('input', onInput);
  });
}

export async function nextMessage(id: string, timeoutMs = 10000): Promise<Msg> {
  const [msg] = await nextMessages(id, 1, timeoutMs);
  return msg as Msg;
}

/** Resolves when a node calls status() with a status matching `predicate`. */
export function nextStatus(
  id: string,
  predicate: (s: { fill?: string; shape?: string; text?: string }) => boolean = () => true,
  timeoutMs = 10000,
): Promise<{ fill?: string; shape?: string; text?: string }> {
  const node = getNode(id);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      (node as unknown as NodeJS.EventEmitter).removeListener('call:status', onStatus);
      reject(new Error(`${id}: no matching status within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    const onStatus = (call: { args: [{ fill?: string; shape?: string; text?: string }] }): void => {
      const status = call.args[0];
      if (predicate(status)) {
        clearTimeout(timer);
        (node as unknown as NodeJS.EventEmitter).removeListener('call:status', onStatus);
        resolve(status);
      }
    };
    (node as unknown as NodeJS.EventEmitter).on('call:status', onStatus);
  });
}

/** Sends a message into a node of the flow. */
export function inject(id: string, msg: Record<string, unknown>): void {
  getNode(id).receive(msg as NodeMessage);
}
