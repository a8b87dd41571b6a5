/**
 * onnx-model (config node): one model file, one ONNX Runtime session in a worker thread, shared by
 * every onnx-infer node that uses it. Created on the first user, released when the last user leaves
 * or on redeploy. Watches the file and reloads it (checked, then swapped) when it changes.
 */
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { modelIdentity, readModelInfo } from '../../lib/onnx/model-file';
import { registerMetricsEndpoint } from '../shared/admin';
import { inspectModelFile, liveModelSessions, liveSessionWorkers, ModelSession } from '../../lib/onnx/model-session';
import type { ReloadOutcome } from '../../lib/onnx/model-session';
import type { ModelIdentity } from '../../lib/metrics';
import type { OnnxModelDef, OnnxModelNode } from './types';
import { resolveModelPath } from './types';
import { logErrorsAsText, toNodeError } from '../shared/runtime';
import { metricsRegistry } from '../../lib/metrics';
import { registerModelFileEndpoints } from './model-files';

const WORKER_FILE = path.join(__dirname, 'onnx-model.session.worker.js');
/** File events come in bursts (write, chmod, rename); one reload after they settle. */
const WATCH_SETTLE_MS = 250;
/** The fallback to onnxruntime-web is said once per process, not once per model or deploy. */
let fallbackAnnounced = false;

function onnxModel(RED: NodeAPI): void {
  function OnnxModelNodeCtor(this: OnnxModelNode, config: OnnxModelDef): void {
    RED.nodes.createNode(this, config);
    logErrorsAsText(this);
    const node = this;
    const settings = RED.settings as unknown as { userDir?: string };
    node.modelPath = resolveModelPath(config.path ?? '', settings.userDir);
    node.configuredPath = node.modelPath;
    node.users = {};
    node.session = undefined;
    const threads = Math.max(0, Math.floor(Number(config.threads ?? 1)) || 0);
    let watcher: FSWatcher | undefined;
    let settleTimer: NodeJS.Timeout | undefined;

    const reportReloadFailure = (err: EdgeMlError): void => {
      // A config node's error with a message reaches the Catch nodes of its users' flows.
      const msg = { _msgid: RED.util.generateId(), topic: 'reload', payload: { path: node.modelPath } } as NodeMessage;
      node.error(toNodeError(RED, err), msg);
    };

    const startWatching = (): void => {
      if (config.watch === false || watcher) return;
      try {
        // The directory, not the file: editors and deploy tools replace files by rename.
        watcher = watch(path.dirname(node.modelPath), (_event, filename) => {
          if (filename && filename.toString() !== path.basename(node.modelPath)) return;
          if (settleTimer) clearTimeout(settleTimer);
          settleTimer = setTimeout(() => {
            settleTimer = undefined;
            node.session?.reload().catch((e: EdgeMlError) => reportReloadFailure(e));
          }, WATCH_SETTLE_MS);
        });
        watcher.on('error', () => stopWatching());
      } catch {
        watcher = undefined; // no directory to watch: reload by message still works
      }
    };

    const stopWatching = (): void => {
      if (settleTimer) clearTimeout(settleTimer);
      settleTimer = undefined;
      watcher?.close();
      watcher = undefined;
    };

    const release = async (): Promise<void> => {
      stopWatching();
      const session = node.session;
      node.session = undefined;
      await session?.close();
    };

    // Which ONNX Runtime serves goes to the log: once when onnxruntime-web stands in for the native
    // one, and as an error with the fix when neither can load.
    const reportRuntime = (session: ModelSession): void => {
      if (session.state === 'ready' && session.description?.runtimeFallback && !fallbackAnnounced) {
        fallbackAnnounced = true;
        node.warn(RED._('onnx-model.log.fallback', { reason: session.description.runtimeFallback }));
      } else if (session.state === 'failed' && session.loadError?.code === 'EDGEML_ONNX_RUNTIME_UNAVAILABLE') {
        node.error(toNodeError(RED, session.loadError).message);
      }
    };

    node.register = (user: Node): ModelSession => {
      node.users[user.id] = user;
      if (!node.session) {
        const session = new ModelSession(WORKER_FILE, node.modelPath, threads);
        node.session = session;
        session.on('state', () => reportRuntime(session));
        startWatching();
      }
      return node.session;
    };

    node.deregister = async (user: Node): Promise<void> => {
      delete node.users[user.id];
      if (Object.keys(node.users).length === 0) await release();
    };

    node.reload = (): Promise<ReloadOutcome> => {
      if (!node.session) return Promise.reject(new EdgeMlError('EDGEML_ONNX_MODEL_NOT_LOADED', 'no session', { reason: 'no session' }));
      return node.session.reload();
    };

    // Read on demand, not cached: a hot reload may replace the bytes behind the same path.
    node.identify = (file: string): ModelIdentity | undefined => {
      try {
        const bytes = readFileSync(file);
        return modelIdentity(file, bytes, readModelInfo(bytes));
      } catch {
        return undefined; // unreadable: the session reports why
      }
    };
    node.modelName = (): string | undefined => node.identify(node.modelPath)?.name;

    node.swapModel = async (file: string): Promise<void> => {
      if (node.session) {
        // a reload racing the first load could be overwritten by it: let the load settle first
        await node.session.ready().catch(() => undefined);
        await node.session.reload(file);
      } else {
        await inspectModelFile(WORKER_FILE, file); // nobody runs it yet: at least it must load
      }
      const watching = watcher !== undefined;
      stopWatching();
      node.modelPath = file;
      if (watching) startWatching();
    };

    node.on('close', (removed: boolean, done: () => void) => {
      // A deleted model's counters would otherwise stay in the process-wide registry for good.
      if (removed) metricsRegistry().removeModel(node.id);
      release().then(done, done);
    });
  }

  registerMetricsEndpoint(RED);
  RED.nodes.registerType('onnx-model', OnnxModelNodeCtor as unknown as (this: Node, def: NodeDef) => void);
  // the model picker and upload (nodes/ is one folder below the package root)
  registerModelFileEndpoints(RED, path.resolve(__dirname, '..'));

  // The editor lists a model's inputs, outputs and metadata before it is deployed.
  RED.httpAdmin.get('/edge-ml/model-info', RED.auth.needsPermission('onnx-model.read'), (req, res) => {
    const requested = typeof req.query.path === 'string' ? req.query.path : '';
    if (!requested.trim()) {
      res.status(400).json({ code: 'EDGEML_ONNX_LOAD_FAILED', message: 'no path given' });
      return;
    }
    const settings = RED.settings as unknown as { userDir?: string };
    const file = resolveModelPath(requested, settings.userDir);
    inspectModelFile(WORKER_FILE, file).then(
      (description) => res.json(description),
      (e: unknown) => {
        const err = toNodeError(RED, e);
        res.status(err.code === 'EDGEML_ONNX_LOAD_FAILED' ? 404 : 422).json({ code: err.code, message: err.message, params: err.params });
      },
    );
  });
}

/** Exposed for tests: how many session worker threads are alive. */
export = Object.assign(onnxModel, { liveSessionWorkers, liveModelSessions });
