/**
 * ml-image: an encoded image (JPEG, PNG), raw pixels or an array of them -> one input tensor for
 * onnx-infer, with each image's geometry on msg.imageGeometry so ml-format can map boxes and masks
 * back to the original image. Steps from the node, else the model card's edgeml.image.
 */
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { EdgeMlError } from '../../lib/errors';
import { ImagePreprocessor, type BackendChoice } from '../../lib/image/preprocess';
import { checkImageSpec, configError, DEFAULT_MAX_PIXELS, parseImageCard, resolveImageOptions, type ImageOptions, type ImageSpec } from '../../lib/image/options';
import { ModelCardSource, PerCard } from '../shared/model-card-source';
import { NodeStatus, onInput } from '../shared/runtime';
import { resolveConfig } from '../shared/config';
import { ML_IMAGE_CONFIG, type MlImageConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type MlImageDef = NodeDef & MlImageConfig;

const blank = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

/** A number where one is given; a fraction such as 1/255 is accepted for the scale. */
function parseNumber(v: string | number, field: string): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(-?[\d.eE+-]+)\s*\/\s*([\d.eE+-]+)\s*$/.exec(v);
  const n = m ? Number(m[1]) / Number(m[2]) : Number(v);
  if (!Number.isFinite(n)) throw configError(field, `not a number: ${v}`);
  return n;
}

/** The node's settings as an ImageSpec ('' = from the card), checked like a card. */
function specFromDef(def: MlImageDef): ImageSpec {
  const raw: Record<string, unknown> = {};
  for (const k of ['width', 'height', 'channels', 'pad', 'scale'] as const) if (!blank(def[k])) raw[k] = parseNumber(def[k], k);
  for (const k of ['layout', 'order', 'dtype'] as const) if (!blank(def[k])) raw[k] = def[k];
  if (!blank(def.resizeMode)) raw.resize = def.resizeMode;
  for (const k of ['mean', 'std'] as const) {
    if (blank(def[k])) continue;
    raw[k] = String(def[k])
      .split(',')
      .map((s) => parseNumber(s.trim(), k));
  }
  return checkImageSpec(raw, (field, reason) => configError(field || 'image', reason));
}

export = function (RED: NodeAPI): void {
  function MlImageNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const def: MlImageDef = resolveConfig(ML_IMAGE_CONFIG, saved);
    const node = this;
    const status = new NodeStatus(RED, node);
    let spec: ImageSpec = {};
    let maxPixels = DEFAULT_MAX_PIXELS;
    let configErr: EdgeMlError | undefined;
    const backendChoice = (['auto', 'sharp', 'js'].includes(def.backend) ? def.backend : 'auto') as BackendChoice;
    try {
      spec = specFromDef(def);
      if (!blank(def.maxPixels)) maxPixels = parseNumber(def.maxPixels, 'maxPixels');
      if (!Number.isInteger(maxPixels) || maxPixels < 1) throw configError('maxPixels', 'expected a positive integer');
    } catch (e) {
      configErr = e as EdgeMlError;
    }
    const pre = new ImagePreprocessor(backendChoice, path.join(__dirname, 'ml-image.decode.worker.js'), def.priority === 'normal' ? 'normal' : 'background');
    let priorityLogged = false;
    const backendWord = pre.backend === 'sharp' ? 'sharp' : 'JS';
    if (configErr) status.show('error', 'ml-image.status.config');
    else if (pre.fallbackReason !== undefined) {
      node.warn(RED._('ml-image.warn.fallback', { reason: pre.fallbackReason }));
      status.show('warn', 'ml-image.status.fallback');
    } else status.show('idle', pre.backend === 'sharp' ? 'ml-image.status.sharp' : 'ml-image.status.js');
    node.log(RED._('ml-image.log.backend', { backend: pre.backendVersion }));

    const cards = new ModelCardSource(RED, node, def.model || undefined);
    const optionsPerCard = new PerCard<ImageOptions | EdgeMlError>(
      (card) => card?.image,
      (card) => {
        try {
          // A card from msg.modelCard has not been through the ONNX metadata reader: check its image part here.
          return resolveImageOptions(spec, card?.image !== undefined ? parseImageCard(card.image) : undefined, maxPixels);
        } catch (e) {
          return e as EdgeMlError;
        }
      },
    );
    const keepOriginal = def.keepOriginal === true;
    const inputName = (def.inputName ?? '').trim();

    onInput(
      RED,
      node,
      async (msg, send) => {
        if (configErr) throw configErr;
        const m = msg as NodeMessage & Record<string, unknown>;
        const options = optionsPerCard.get(await cards.cardFor(m));
        if (options instanceof EdgeMlError) throw options;
        const started = performance.now();
        const result = await pre.prepare(m.payload, options);
        if (keepOriginal) m.image = m.payload;
        m.payload = inputName ? { [inputName]: result.tensor } : result.tensor;
        m.imageGeometry = result.batch ? result.geometry : result.geometry[0];
        const ms = performance.now() - started;
        send(m);
        if (!priorityLogged && result.priority) {
          priorityLogged = true;
          node.log(RED._(`ml-image.log.priority.${result.priority}`));
        }
        status.update(() => ['ready', 'ml-image.status.ready', { size: `${options.width}x${options.height}`, n: result.geometry.length, ms: ms.toFixed(1), backend: backendWord }]);
      },
      () => status.show('error', 'ml-image.status.error'),
    );
    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      Promise.all([pre.close(), cards.close()]).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('ml-image', MlImageNode);
};
