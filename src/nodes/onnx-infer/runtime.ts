/**
 * onnx-infer: runs the model of an onnx-model config node on msg.payload (or a configured
 * property). Messages wait in a bounded queue and run in the model's worker thread; each answer
 * goes out on its own message with msg.payload = { output: { dtype, dims, data } }.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { DEFAULT_MAX_QUEUED_BYTES, InferQueue, OVERFLOW_POLICIES } from '../../lib/onnx/infer-queue';
import { fromWire } from '../../lib/onnx/model-session';
import type { ModelSession } from '../../lib/onnx/model-session';
import type { RunOptions } from '../../lib/onnx/protocol';
import { NodeStatus, onInput, setStatus, statusWords, refuseConfig, whenQuiet } from '../shared/runtime';
import { numericSettings } from '../../lib/config-ranges';
import type { OnnxInferOutput } from '../../lib/contracts';
import type { SendFn, StatusSpec } from '../shared/runtime';
import type { OnnxModelNode } from '../onnx-model/types';
import { metricsRegistry } from '../../lib/metrics';
import { checkInput, DEFAULT_MAX_INPUT_BYTES } from '../../lib/onnx/input-check';
import { edgeMlSetting } from '../shared/settings';
import { resolveConfig } from '../shared/config';
import { ONNX_INFER_CONFIG, type OnnxInferConfig } from './config';

/** Input bytes one request to the worker carries at most (a bigger input travels alone). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type OnnxInferDef = NodeDef & OnnxInferConfig;

interface Job {
  msg: NodeMessageInFlow;
  send: SendFn;
  resolve: () => void;
  reject: (err: Error) => void;
}

function isNamedFeatures(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  return Object.values(value).every((v) => typeof v === 'number' || typeof v === 'string' || v === null);
}

const list = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export = function (RED: NodeAPI): void {
  function OnnxInferNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: OnnxInferDef = resolveConfig(ONNX_INFER_CONFIG, saved);
    const node = this;
    const property = (config.property || 'payload').trim();
    const modelNode = RED.nodes.getNode(config.model) as OnnxModelNode | null;
    let settings: { queueSize: number; maxBatch: number; batchWindow: number };
    try {
      settings = numericSettings('onnx-infer', config, { queueSize: 100, maxBatch: 32, batchWindow: 0 });
    } catch (e) {
      refuseConfig(RED, node, e);
      return;
    }
    const { queueSize, maxBatch, batchWindow: batchWindowMs } = settings;
    const maxInputBytes = edgeMlSetting(RED, 'maxInputBytes', DEFAULT_MAX_INPUT_BYTES);
    const runOptions: RunOptions = {
      outputs: list(config.outputNames),
      featureOrder: list(config.features),
      batch: Boolean(config.batch),
    };
    let lastMs: number | undefined;
    let reloadProblem: string | undefined;

    if (!modelNode) {
      setStatus(RED, node, 'error', 'onnx-infer.status.noModel');
      onInput(RED, node, () => {
        throw new EdgeMlError('EDGEML_ONNX_NO_MODEL', 'no onnx-model configured', {});
      });
      return;
    }
    if (modelNode.configError) {
      refuseConfig(RED, node, modelNode.configError);
      return;
    }
    const session: ModelSession = modelNode.register(node);

    const status = new NodeStatus(RED, node);
    const render = (): StatusSpec | undefined => {
      if (session.state === 'loading') return ['loading', 'onnx-infer.status.loading'];
      if (session.state === 'failed' && session.loadError?.code === 'EDGEML_ONNX_RUNTIME_UNAVAILABLE') {
        return ['error', 'onnx-infer.status.runtimeUnavailable', { platform: `${process.platform}/${process.arch}` }];
      }
      if (session.state === 'failed') {
        return ['error', 'onnx-infer.status.failed', { reason: statusWords(RED, session.loadError?.code) }];
      }
      if (session.state !== 'ready') return undefined;
      const provider = session.description?.provider;
      // a model on an accelerator says so; CPU is the default and goes unsaid
      const name = `${session.description?.name ?? ''}${provider && provider !== 'cpu' ? ` · ${provider}` : ''}`;
      const waiting = queue.length;
      if (reloadProblem) return ['warn', 'onnx-infer.status.reloadFailed', { reason: reloadProblem }];
      if (waiting > 0 || queue.droppedCount > 0) {
        return [waiting >= queueSize ? 'warn' : 'ready', 'onnx-infer.status.queue', { waiting, size: queueSize, dropped: queue.droppedCount }];
      }
      if (lastMs !== undefined) return ['ready', 'onnx-infer.status.ready', { name, ms: lastMs.toFixed(1) }];
      return ['ready', 'onnx-infer.status.loaded', { name }];
    };
    const showStatus = (): void => {
      const spec = render();
      if (spec) status.show(...spec);
    };
    const statusSoon = (): void => status.update(render);

    const metrics = metricsRegistry();
    let servedSha: string | undefined;
    const queue = new InferQueue<Job>(
      {
        size: queueSize,
        overflow: OVERFLOW_POLICIES.find((p) => p === config.overflow) ?? 'drop-oldest',
        batch: runOptions.batch,
        maxBatch,
        batchWindowMs,
        inFlight: 2,
        maxPerRequest: 16,
        maxRequestBytes: MAX_REQUEST_BYTES,
        maxWaitingBytes: edgeMlSetting(RED, 'maxQueuedBytes', DEFAULT_MAX_QUEUED_BYTES),
      },
      async (payloads) => {
        // errors made by the onnx-model bundle keep their code: onInput recognises them by shape
        await session.ready();
        return session.run(payloads, runOptions);
      },
      {
        answer(job, result, model) {
          if (!result.ok) {
            metrics.recordInference(modelNode.id, 0, false);
            job.reject(fromWire(result.error));
            return;
          }
          if (model.sha256 !== servedSha) {
            servedSha = model.sha256;
            metrics.setModel(modelNode.id, model);
          }
          metrics.recordInference(modelNode.id, result.inferenceMs, true);
          const msg = job.msg as NodeMessageInFlow & OnnxInferOutput;
          // Named features stay on the message (ml-format's "include features", ml-drift, logging).
          const input: unknown = RED.util.getMessageProperty(msg, property);
          if (msg.features === undefined && isNamedFeatures(input)) msg.features = input;
          msg.payload = result.payload;
          msg.model = model;
          // ml-guard, ml-format and ml-drift take their defaults from the card that answered
          if (session.description?.hasCard && session.description.sha256 === model.sha256) msg.modelCard = session.description.card;
          msg.inferenceMs = result.inferenceMs;
          if (result.batchSize > 1) msg.batchSize = result.batchSize;
          lastMs = result.inferenceMs;
          job.send(msg);
          job.resolve();
        },
        fail(job, err) {
          job.reject(err);
        },
        dropped(job) {
          job.resolve(); // dropped by the overflow policy: done, no output; the status counts it
        },
        changed: statusSoon,
      },
    );

    const onState = (): void => showStatus();
    const onReloaded = (): void => {
      reloadProblem = undefined;
      showStatus();
    };
    const onReloadFailed = (err: EdgeMlError): void => {
      reloadProblem = statusWords(RED, err.code);
      showStatus();
    };
    session.on('state', onState);
    session.on('reloaded', onReloaded);
    session.on('reload-failed', onReloadFailed);
    showStatus();

    onInput(RED, node, async (msg: NodeMessageInFlow, send: SendFn) => {
      const m = msg as NodeMessageInFlow & Record<string, unknown>;
      if (m.reload === true) {
        const outcome = await modelNode.reload();
        const d = outcome.description;
        m.payload = { reloaded: outcome.changed, path: d.path, name: d.name, version: d.version, sha256: d.sha256 };
        m.model = { name: d.name, version: d.version, sha256: d.sha256 };
        send(m);
        return;
      }
      const payload = RED.util.getMessageProperty(m, property);
      // checked here, alone: a message the worker cannot take fails by itself, never its batch
      const bytes = checkInput(payload, maxInputBytes, property);
      await new Promise<void>((resolve, reject) => queue.push({ msg, send, resolve, reject }, payload, bytes));
    });

    node.on('close', async (_removed: boolean, done: () => void) => {
      // what is already in the flow (queued here or on its way) is inferred before the queue closes
      await whenQuiet();
      status.close();
      queue.close();
      session.off('state', onState);
      session.off('reloaded', onReloaded);
      session.off('reload-failed', onReloadFailed);
      modelNode.deregister(node).then(done, done);
    });
  }

  RED.nodes.registerType('onnx-infer', OnnxInferNode as unknown as (this: Node, def: NodeDef) => void);
};
