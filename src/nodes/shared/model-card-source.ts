/**
 * Where ml-format, ml-guard and ml-drift find the model card: msg.modelCard (set by onnx-infer) or,
 * for nodes that sit before the model (ml-guard), an optional onnx-model config node whose session
 * already holds the parsed card. Nodes still work with neither: every card value has a node setting.
 */
import type { Node, NodeAPI } from 'node-red';
import { checkModelCard, type ModelCard } from '../../lib/model-card';
import { isEdgeMlError, type EdgeMlError } from '../../lib/errors';
import type { OnnxModelNode } from '../onnx-model/types';

type CardSession = { ready(): Promise<{ card: ModelCard }>; description?: { card: ModelCard } | undefined };

export class ModelCardSource {
  private readonly modelNode: OnnxModelNode | undefined;
  private readonly session: CardSession | undefined;

  constructor(
    RED: NodeAPI,
    private readonly node: Node,
    modelId: string | undefined,
  ) {
    this.modelNode = modelId ? ((RED.nodes.getNode(modelId) as OnnxModelNode | null) ?? undefined) : undefined;
    this.session = this.modelNode ? (this.modelNode.register(node) as unknown as CardSession) : undefined;
  }

  get hasModel(): boolean {
    return this.session !== undefined;
  }

  /**
   * msg.modelCard when it is an object (checked: EDGEML_MODELCARD_INVALID when malformed), else the
   * configured model's card (waiting for its load), else undefined.
   */
  async cardFor(msg: Record<string, unknown>): Promise<ModelCard | undefined> {
    const own = msg.modelCard;
    if (typeof own === 'object' && own !== null && !Array.isArray(own)) return checkedCard(own);
    if (!this.session) return undefined;
    const loaded = await this.session.ready();
    // After a reload the session's description is the new one; the same object until the next reload.
    return this.session.description?.card ?? loaded.card;
  }

  close(): Promise<void> {
    return this.modelNode ? this.modelNode.deregister(this.node) : Promise.resolve();
  }
}

/**
 * Cards checked so far, by object: onnx-infer hands on the same card object with every message, so
 * it is checked once; a copy (Node-RED clones at every fan-out) is checked again.
 */
const checked = new WeakMap<object, ModelCard | EdgeMlError>();

function checkedCard(card: object): ModelCard {
  let result = checked.get(card);
  if (result === undefined) {
    try {
      result = checkModelCard(card);
    } catch (e) {
      if (!isEdgeMlError(e)) throw e;
      result = e;
    }
    checked.set(card, result);
  }
  if (result instanceof Error) throw result;
  return result;
}

/**
 * One value per model card, built again only when the part of the card it depends on changes.
 * Identity is checked first (onnx-infer hands on the same card object with every message), content
 * second: Node-RED clones msg.modelCard whenever a wire fans out, so a clone must not start afresh.
 */
export class PerCard<T> {
  private value: T | undefined;
  private card: unknown = null;
  private key: string | undefined;

  constructor(
    /** The part of the card the value depends on (compared as JSON). */
    private readonly part: (card: ModelCard | undefined) => unknown,
    private readonly build: (card: ModelCard | undefined) => T,
    /** A message without a card keeps the value built for the last card. */
    private readonly keepWhenAbsent = false,
  ) {}

  get(card: ModelCard | undefined): T {
    if (this.value !== undefined && (card === this.card || (card === undefined && this.keepWhenAbsent))) return this.value;
    const key = JSON.stringify(this.part(card)) ?? '';
    if (this.value === undefined || key !== this.key) {
      this.value = this.build(card);
      this.key = key;
    }
    this.card = card;
    return this.value;
  }
}
