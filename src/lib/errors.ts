/**
 * One error class for the whole package. `code` is stable and machine-readable (Catch nodes and
 * users' flows switch on it); `params` fill the translated message of the same code.
 */
export type ErrorParams = Record<string, string | number>;

export class EdgeMlError extends Error {
  readonly code: string;
  readonly params: ErrorParams;

  constructor(code: string, message: string, params: ErrorParams = {}) {
    super(message);
    this.name = 'EdgeMlError';
    this.code = code;
    this.params = params;
  }
}

/**
 * Each node is bundled on its own, so an error made by another node's copy of this module is not an
 * `instanceof` this class: recognise it by its shape (name, code, params) instead.
 */
export function isEdgeMlError(value: unknown): value is EdgeMlError {
  if (value instanceof EdgeMlError) return true;
  if (!(value instanceof Error) || value.name !== 'EdgeMlError') return false;
  const v = value as Error & { code?: unknown; params?: unknown };
  return typeof v.code === 'string' && typeof v.params === 'object' && v.params !== null;
}

/** Wraps anything thrown into an EdgeMlError so every error leaving a node carries a code. */
export function toEdgeMlError(value: unknown, fallbackCode = 'EDGEML_INTERNAL'): EdgeMlError {
  if (isEdgeMlError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new EdgeMlError(fallbackCode, message, { reason: message });
}
