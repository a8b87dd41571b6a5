/** A node whose settings are unusable: red status, one logged error, and every message refused with the code. */
import type { Node, NodeAPI } from 'node-red';
import { EdgeMlError, isEdgeMlError } from '../../lib/errors';
import { onInput, type NodeStatus } from './runtime';

export function refuseMisconfigured(RED: NodeAPI, node: Node, status: NodeStatus, statusKey: string, code: string, e: unknown): void {
  const reason = isEdgeMlError(e) ? String(e.params.reason ?? e.message) : String(e);
  status.show('error', statusKey);
  node.error(RED._(`errors.${code}`, { reason }));
  onInput(RED, node, () => {
    throw new EdgeMlError(code, reason, { reason });
  });
}
