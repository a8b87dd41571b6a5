/**
 * Field checks shared by the model card's sections (edgeml.image, edgeml.detection) and the node
 * settings that override them: `fail(field, reason)` makes the caller's coded error.
 */
import type { EdgeMlError } from './errors';

export type SpecFail = (field: string, reason: string) => EdgeMlError;

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A reader of string fields of `raw` that must be one of a list: undefined when absent, else the value or `fail`. */
export function choiceOf(raw: Record<string, unknown>, fail: SpecFail): <T extends string>(k: string, allowed: readonly T[]) => T | undefined {
  return <T extends string>(k: string, allowed: readonly T[]): T | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !allowed.includes(v as T)) throw fail(k, `expected one of ${allowed.join(', ')}`);
    return v as T;
  };
}

/** Copies the choice fields of `raw` named in `choices` onto `spec`, each checked against its list. */
export function assignChoices<S extends object>(spec: S, raw: Record<string, unknown>, fail: SpecFail, choices: { [K in keyof S]?: readonly NonNullable<S[K]>[] }): void {
  const oneOf = choiceOf(raw, fail);
  for (const [k, allowed] of Object.entries(choices) as Array<[string, readonly string[]]>) {
    const v = oneOf(k, allowed);
    if (v !== undefined) (spec as Record<string, unknown>)[k] = v;
  }
}
