/**
 * onnx-model (config node): one model file, one ONNX Runtime session in a worker thread, shared by
 * every onnx-infer node that uses it. Created on the first user, released when the last user leaves
 * or on redeploy. Watches the file and reloads it (checked, then swapped) when it changes.
 */
import { DEFAULT_SESSION_SETTINGS, parseGraphOptimization, parseProviders, type SessionSettings } from '../../lib/onnx/session-settings';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { modelIdentity, readModelInfo } from '../../lib/onnx/model-file';
import { registerMetricsEndpoint } from '../shared/admin';
import { edgeMlSetting } from '../shared/settings';
import { confineModelPath, DEFAULT_MODEL_INFO_MAX_BYTES, MODEL_LOAD_MAX_BYTES, ModelFileRefused, modelDirs, readRegularFile, readRegularFileSync } from '../../lib/onnx/model-paths';
import type { EdgeMlSettings } from '../../lib/onnx/model-paths';
import { inspectModelFile, liveModelSessions, liveSessionWorkers, ModelSession } from '../../lib/onnx/model-session';
import type { ReloadOutcome } from '../../lib/onnx/model-session';
import type { ModelIdentity } from '../../lib/metrics';
import type { OnnxModelDef, OnnxModelNode } from './types';
import { resolveModelPath } from './types';
import { logErrorsAsText, toNodeError, whenQuiet } from '../shared/runtime';
import { numericSetting } from '../../lib/config-ranges';
import { metricsRegistry } from '../../lib/metrics';
import { registerModelFileEndpoints } from './model-files';
import { resolveConfig } from '../shared/config';
import { ONNX_MODEL_CONFIG } from './config';

const WORKER_FILE = path.join(__dirname, 'onnx-model.session.worker.js');
/** The package folder (this bundle lives in its nodes/ folder): its example models may be read by the editor. */
const PACKAGE_ROOT = path.resolve(__dirname, '..');
/** One reason for a path outside the allowed folders, a missing file and one that is not a regular file. */
const NOT_FOUND_REASON = 'no such model file in the user directory or the example models';
/** File events come in bursts (write, chmod, rename); one reload after they settle. */
const WATCH_SETTLE_MS = 250;
/** The fallback to onnxruntime-web is said once per process, not once per model or deploy. */
let fallbackAnnounced = false;

function onnxModel(RED: NodeAPI): void {
  function OnnxModelNodeCtor(this: OnnxModelNode, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: OnnxModelDef = resolveConfig(ONNX_MODEL_CONFIG, saved);
    logErrorsAsText(this);
    const node = this;
    const settings = RED.settings as unknown as { userDir?: string };
    node.modelPath = resolveModelPath(config.path ?? '', settings.userDir);
    node.configuredPath = node.modelPath;
    node.users = {};
    node.session = undefined;
    // blank: 0, ONNX Runtime's own choice (an old flow without the setting has the spec's '1')
    const sessionSettings: SessionSettings = { ...DEFAULT_SESSION_SETTINGS, threads: 0 };
    try {
      sessionSettings.threads = numericSetting('onnx-model', 'threads', config.threads, sessionSettings.threads);
      sessionSettings.interOpThreads = numericSetting('onnx-model', 'interOpThreads', config.interOpThreads, DEFAULT_SESSION_SETTINGS.interOpThreads);
      sessionSettings.providers = parseProviders(config.providers);
      sessionSettings.graphOptimization = parseGraphOptimization(config.graphOptimization);
      sessionSettings.memoryArena = config.memoryArena !== false;
    } catch (e) {
      node.configError = toNodeError(RED, e);
      node.error(node.configError.message);
    }
    let announcedProvider: string | undefined;
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
      if (session.state === 'ready' && session.description?.providerSkipped && session.description.provider !== announcedProvider) {
        // a preferred execution provider could not start here: once per provider that serves instead
        announcedProvider = session.description.provider;
        node.warn(RED._('onnx-model.log.providerSkipped', { provider: session.description.provider ?? 'cpu', skipped: session.description.providerSkipped }));
      }
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
        const session = new ModelSession(WORKER_FILE, node.modelPath, sessionSettings);
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
        const bytes = readRegularFileSync(file, MODEL_LOAD_MAX_BYTES);
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
      // the session serves what is still in the flow (a write already answered) before it goes
      whenQuiet()
        .then(release)
        .then(done, done);
    });
  }

  registerMetricsEndpoint(RED);
  RED.nodes.registerType('onnx-model', OnnxModelNodeCtor as unknown as (this: Node, def: NodeDef) => void);
  // the model picker and upload (nodes/ is one folder below the package root)
  registerModelFileEndpoints(RED, path.resolve(__dirname, '..'));

  // The editor lists a model's inputs, outputs and metadata before it is deployed. A user with read
  // permission may read model files only inside the user directory, the package's example models
  // and edgeMl.modelDirs; outside, missing and not-a-regular-file get the same 404, so the answer
  // tells nothing about files elsewhere.
  RED.httpAdmin.get('/edge-ml/model-info', RED.auth.needsPermission('onnx-model.read'), (req, res) => {
    const requested = typeof req.query.path === 'string' ? req.query.path : '';
    if (!requested.trim()) {
      res.status(400).json({ code: 'EDGEML_ONNX_LOAD_FAILED', message: 'no path given' });
      return;
    }
    const settings = RED.settings as unknown as EdgeMlSettings;
    const refuse = (status: number, e: unknown): void => {
      const err = toNodeError(RED, e);
      res.status(status).json({ code: err.code, message: err.message, params: err.params });
    };
    const notFound = (): void =>
      refuse(404, new EdgeMlError('EDGEML_ONNX_LOAD_FAILED', `no model file ${requested}`, { path: requested, reason: NOT_FOUND_REASON }));
    const describe = async (): Promise<void> => {
      const file = await confineModelPath(requested, modelDirs(settings, PACKAGE_ROOT));
      if (!file) return notFound();
      let bytes: Uint8Array;
      try {
        bytes = await readRegularFile(file, edgeMlSetting(RED, 'modelInfoMaxBytes', DEFAULT_MODEL_INFO_MAX_BYTES), { noFollow: true });
      } catch (e) {
        if (e instanceof ModelFileRefused && e.refusal === 'too-large') return refuse(413, e);
        return notFound();
      }
      try {
        res.json(await inspectModelFile(WORKER_FILE, file, bytes));
      } catch (e) {
        refuse(422, e);
      }
    };
    describe().catch((e: unknown) => refuse(500, e));
  });
}

/** Exposed for tests: how many session worker threads are alive. */
export = Object.assign(onnxModel, { liveSessionWorkers, liveModelSessions });
