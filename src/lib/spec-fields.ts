/** Field checks shared by the structured model-card keys (edgeml.image, edgeml.detection). */
import type { EdgeMlError } from './errors';

export type FieldError = (field: string, reason: string) => EdgeMlError;

/** raw[k] when it is one of `allowed`, undefined when absent; anything else fails. */
export function oneOfField<T extends string>(raw: Record<string, unknown>, k: string, allowed: readonly T[], fail: FieldError): T | undefined {
  const v = raw[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw fail(k, `expected one of ${allowed.join(', ')}`);
  return v as T;
}

/** Copies each choice field of `choices` (key -> allowed values) that is present in raw into spec. */
export function copyChoices<S extends object>(raw: Record<string, unknown>, spec: S, choices: Partial<Record<keyof S, readonly string[]>>, fail: FieldError): void {
  for (const [k, allowed] of Object.entries(choices) as Array<[string, readonly string[]]>) {
    const v = oneOfField(raw, k, allowed, fail);
    if (v !== undefined) (spec as Record<string, unknown>)[k] = v;
  }
}
