/**
 * The thin layer between Node-RED and the pure logic in src/lib: status dots with the house colour
 * table, translated errors with a stable code, and the input-handler wrapper that guarantees
 * exactly one done() per message and nothing thrown out of a handler.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { EdgeMlError, isEdgeMlError, toEdgeMlError } from '../../lib/errors';
import { DEFAULT_MAX_MESSAGE_DEPTH, findTooDeep } from '../../lib/msg-depth';
import { edgeMlSetting } from './settings';

export type StatusState = 'idle' | 'loading' | 'ready' | 'error' | 'warn';

const STATUS_LOOK: Record<StatusState, { fill: 'grey' | 'yellow' | 'green' | 'red'; shape: 'ring' | 'dot' }> = {
  idle: { fill: 'grey', shape: 'ring' },
  loading: { fill: 'yellow', shape: 'ring' },
  ready: { fill: 'green', shape: 'dot' },
  warn: { fill: 'yellow', shape: 'dot' },
  error: { fill: 'red', shape: 'ring' },
};

/**
 * Sets a node's status. Without params the i18n key itself is sent so the editor translates it into
 * the browser's language (as core nodes do); with params the runtime translates it.
 */
export function setStatus(
  RED: NodeAPI,
  node: Node,
  state: StatusState,
  key: string,
  params?: Record<string, string | number>,
): void {
  const look = STATUS_LOOK[state];
  const text = params ? RED._(key, params) : key;
  node.status({ fill: look.fill, shape: look.shape, text });
}

/** What a status shows: its state, an i18n key and the key's parameters. */
export type StatusSpec = [state: StatusState, key: string, params?: Record<string, string | number>];

/** How often a busy node's status may change: a few times a second is what an eye can follow. */
export const STATUS_INTERVAL_MS = 200;

/**
 * The status of a node that handles many messages. Translating and sending a status per message
 * costs more than some nodes' own work, so `update` shows the first change at once and folds later
 * ones within `intervalMs` into one update at the end of the interval, rendered then (the latest
 * state wins); `show` bypasses the interval (config errors, load states). A status equal to the one
 * shown is not sent again.
 */
export class NodeStatus {
  private timer: NodeJS.Timeout | undefined;
  private render: (() => StatusSpec | undefined) | undefined;
  private shown = '';

  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    private readonly intervalMs = STATUS_INTERVAL_MS,
  ) {}

  show(...spec: StatusSpec): void {
    this.render = undefined;
    this.put(spec);
  }

  update(render: () => StatusSpec | undefined): void {
    this.render = render;
    if (!this.timer && this.flush()) this.timer = setTimeout(this.tick, this.intervalMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.render = undefined;
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.flush()) this.timer = setTimeout(this.tick, this.intervalMs);
  };

  /** Shows the pending update, if any; true when a status was sent. */
  private flush(): boolean {
    const render = this.render;
    this.render = undefined;
    const spec = render?.();
    return spec ? this.put(spec) : false;
  }

  private put([state, key, params]: StatusSpec): boolean {
    const signature = `${state}|${key}|${params ? JSON.stringify(params) : ''}`;
    if (signature === this.shown) return false;
    this.shown = signature;
    setStatus(this.RED, this.node, state, key, params);
    return true;
  }
}

/**
 * The i18n key of the short status words for an error code (or an OS error code such as
 * EADDRINUSE): `status-of.<code>` in src/locales/<lang>/status.json, else the generic "error".
 * A status shows these words, never the code (the code stays in msg.error.code for Catch nodes).
 */
export function statusKeyOf(RED: NodeAPI, code: string | undefined): string {
  const generic = 'status-of.error';
  if (!code) return generic;
  const key = `status-of.${code}`;
  if (RED._(key) !== key) return key;
  // no catalogue at all (a runtime that does not translate): keep the specific key
  return RED._(generic) === generic ? key : generic;
}

/** The short status words of an error code, translated by the runtime (for statuses with params). */
export function statusWords(RED: NodeAPI, code: string | undefined): string {
  return RED._(statusKeyOf(RED, code));
}

export function clearStatus(node: Node): void {
  node.status({});
}

/** The translated text of an EdgeMlError (falls back to its English message). */
export function translateError(RED: NodeAPI, err: EdgeMlError): string {
  const key = `errors.${err.code}`;
  const translated = RED._(key, err.params);
  return translated && translated !== key ? translated : err.message;
}

/** An Error for done(err): translated message, stable `code` (copied to msg.error.code by Node-RED). */
export function toNodeError(RED: NodeAPI, value: unknown): EdgeMlError {
  const err = toEdgeMlError(value);
  const out = new EdgeMlError(err.code, translateError(RED, err), err.params);
  if (err.stack) out.stack = err.stack;
  return out;
}

interface FlowErrors {
  _flow?: { handleError?: (node: Node, logMessage: unknown, msg: unknown) => boolean };
}
const TEXT_ERRORS = Symbol('edgeml.textErrors');

/**
 * done(err) with an Error shows in Debug as an object to expand; Node-RED's own nodes call
 * node.error(text, msg), one readable line, but a string carries no code for Catch nodes. With this
 * the node keeps both: a Catch node receives the Error (msg.error.code is its code, as Node-RED
 * copies it), and where no Catch node takes it the log and Debug get the message as one line. It
 * does what Node.prototype.error does (the flow's handleError first, the log only when unhandled);
 * where a runtime has no handleError it leaves node.error as it is.
 */
export function logErrorsAsText(node: Node): void {
  const own = node as Node & FlowErrors & { [TEXT_ERRORS]?: true };
  if (own[TEXT_ERRORS]) return;
  own[TEXT_ERRORS] = true;
  const proto = Object.getPrototypeOf(node) as { error: (this: Node, logMessage?: unknown, msg?: unknown) => void };
  Object.defineProperty(node, 'error', {
    configurable: true,
    writable: true,
    value: function (this: Node, logMessage?: unknown, msg?: unknown): void {
      const flow = own._flow;
      if (isEdgeMlError(logMessage) && msg && typeof msg === 'object' && typeof flow?.handleError === 'function') {
        if (!flow.handleError(this, logMessage, msg)) proto.error.call(this, logMessage.message);
        return;
      }
      proto.error.call(this, logMessage, msg);
    },
  });
}

/**
 * Messages inside this package's nodes, process-wide (every node is bundled on its own, so the
 * count lives on globalThis): how many inputs are not done yet, and when the last one finished or
 * a message was sent. A closing node waits for this to be quiet, so what is already in the flow
 * (a write modbus-server-in has answered) passes the nodes after it before they stop.
 */
interface Activity {
  pending: number;
  last: number;
}
const ACTIVITY_KEY = Symbol.for('node-red-contrib-edge-ml.activity');
function activity(): Activity {
  const g = globalThis as unknown as Record<symbol, Activity | undefined>;
  return (g[ACTIVITY_KEY] ??= { pending: 0, last: 0 });
}

/** Marks a message sent outside an input handler (a Modbus write, a frame): the flow is busy. */
export function noteActivity(): void {
  activity().last = Date.now();
}

/** No input pending and none finished (or sent) for this long: what was in the flow has passed. */
export const QUIET_MS = 100;
/** The longest a closing node waits for the flow to drain (Node-RED's close timeout is 15 s). */
export const DRAIN_MS = 5000;

/** Resolves when no message is inside this package's nodes and none moved for QUIET_MS, or after `budgetMs`. */
export function whenQuiet(budgetMs = DRAIN_MS): Promise<void> {
  const until = Date.now() + budgetMs;
  return new Promise((resolve) => {
    const check = (): void => {
      const a = activity();
      const now = Date.now();
      const quietFor = now - a.last;
      if ((a.pending === 0 && quietFor >= QUIET_MS) || now >= until) resolve();
      else setTimeout(check, Math.max(5, Math.min(QUIET_MS - quietFor, until - now, QUIET_MS)));
    };
    check();
  });
}

export type SendFn = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/** The package's nodes with an input handler, by id, process-wide (until their close finishes). */
const NODES_KEY = Symbol.for('node-red-contrib-edge-ml.nodes');
function liveNodes(): Map<string, Node> {
  const g = globalThis as unknown as Record<symbol, Map<string, Node> | undefined>;
  return (g[NODES_KEY] ??= new Map());
}

/**
 * What a closing node sends: delivered to each wired node of this package that is still closing
 * (Node-RED's router has already dropped the stopping flow's nodes). Wires to other nodes (core
 * nodes close at once) cannot be served. Further targets of one message get a copy, as in Node-RED.
 */
function closingSend(RED: NodeAPI, node: Node, out: NodeMessage | Array<NodeMessage | NodeMessage[] | null>): void {
  const wires = ((node as unknown as { wires?: string[][] }).wires ?? []) as string[][];
  const outputs = Array.isArray(out) ? out : [out];
  const nodes = liveNodes();
  outputs.forEach((port, i) => {
    if (port === null || port === undefined) return;
    const msgs = Array.isArray(port) ? port : [port];
    let first = true;
    for (const target of wires[i] ?? []) {
      const to = nodes.get(target);
      if (!to) continue;
      for (const m of msgs) {
        const copy = first ? m : RED.util.cloneMessage(m);
        noteActivity();
        setImmediate(() => to.receive(copy));
      }
      first = false;
    }
  });
}
export type DoneFn = (err?: Error) => void;

/**
 * A message nested deeper than the limit loses the too-deep top-level properties (so the error's
 * message can be copied to Catch nodes without overflowing the stack) and yields EDGEML_MSG_TOO_DEEP.
 */
function refuseTooDeep(msg: NodeMessageInFlow, maxDepth: number): EdgeMlError | undefined {
  const m = msg as unknown as Record<string, unknown>;
  let first: { property: string } | undefined;
  for (let found = findTooDeep(m, maxDepth); found; found = findTooDeep(m, maxDepth)) {
    first ??= found;
    delete m[found.property];
  }
  if (!first) return undefined;
  return new EdgeMlError('EDGEML_MSG_TOO_DEEP', `msg.${first.property} is nested deeper than ${maxDepth} levels`, { limit: maxDepth, path: `msg.${first.property}` });
}

/**
 * Registers an input handler that may be async. Whatever it throws or rejects with ends in
 * done(err) with a coded, translated error; success ends in done(). Never throws into Node-RED.
 * A message nested deeper than settings edgeMl.maxMessageDepth (default 64) never reaches the
 * handler: it ends in EDGEML_MSG_TOO_DEEP (see refuseTooDeep).
 */
export function onInput(
  RED: NodeAPI,
  node: Node,
  handler: (msg: NodeMessageInFlow, send: SendFn) => void | Promise<void>,
  onError?: (err: EdgeMlError, msg: NodeMessageInFlow) => void,
  /** false for a sink whose done() waits on something else (ml-outbox: the broker's ack). */
  tracked = true,
): void {
  const maxDepth = edgeMlSetting(RED, 'maxMessageDepth', DEFAULT_MAX_MESSAGE_DEPTH);
  logErrorsAsText(node);
  // A closing node keeps taking messages until the flow is quiet (see whenQuiet). Node-RED no
  // longer routes what a stopping flow sends, so meanwhile this node hands its output straight
  // to the package's nodes it is wired to (closingSend).
  const nodes = liveNodes();
  nodes.set(node.id, node);
  let closing = false;
  node.on('close', (_removed: boolean, done: () => void) => {
    closing = true;
    void whenQuiet().then(() => {
      if (nodes.get(node.id) === node) nodes.delete(node.id);
      done();
    });
  });
  node.on('input', (msg: NodeMessageInFlow, nodeRedSend: SendFn, rawDone: DoneFn) => {
    const send: SendFn = (out) => (closing ? closingSend(RED, node, out) : nodeRedSend(out));
    const a = activity();
    if (tracked) a.pending++;
    else a.last = Date.now();
    let finished = false;
    const done: DoneFn = (err?: Error) => {
      if (!finished) {
        finished = true;
        if (tracked) a.pending--;
        a.last = Date.now();
      }
      rawDone(err);
    };
    const fail = (e: unknown): void => {
      const err = toNodeError(RED, e);
      try {
        onError?.(err, msg);
      } catch {
        // a status update must never turn one error into two
      }
      done(err);
    };
    try {
      const tooDeep = refuseTooDeep(msg, maxDepth);
      if (tooDeep) {
        fail(tooDeep);
        return;
      }
      const result = handler(msg, send);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(() => done(), fail);
      } else {
        done();
      }
    } catch (e) {
      fail(e);
    }
  });
}

/** How refuseConfig words a node's refusal (both optional). */
export interface RefuseOptions {
  /** The node's own code for unusable settings (e.g. EDGEML_SPARKPLUG_CONFIG): the problem's reason, under this code. */
  code?: string;
  /** The status key to show instead of configStatus.invalid ("invalid setting <field>"). */
  statusKey?: string;
}

/**
 * A node whose configuration is invalid (e.g. a numeric setting out of its range): red status
 * naming the setting, the reason logged once at deploy, and every message it receives fails with
 * the same coded error (so a Catch node sees why, and nothing is silently corrected). With
 * `options.code` the error carries that code and the problem's reason as `params.reason`.
 */
export function refuseConfig(RED: NodeAPI, node: Node, problem: unknown, options: RefuseOptions = {}): EdgeMlError {
  const reason = isEdgeMlError(problem) ? String(problem.params.reason ?? problem.message) : String(problem);
  const err = toNodeError(RED, options.code ? new EdgeMlError(options.code, reason, { reason }) : problem);
  if (options.statusKey) setStatus(RED, node, 'error', options.statusKey);
  else setStatus(RED, node, 'error', 'configStatus.invalid', { field: String(err.params.field ?? '-') });
  node.error(err.message);
  onInput(RED, node, () => {
    throw err;
  });
  return err;
}
