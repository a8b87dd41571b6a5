/** Validators for editor `defaults`, shared by the node editors (form values arrive as strings). */
import { inRange, isBlankSetting, NUMERIC_SETTINGS, showBound, type NodeType, type NumericSetting, type SettingOf } from '../lib/config-ranges';

/** An integer of at least `min`. */
export const intAtLeast =
  (min: number) =>
  (v: string): boolean =>
    Number.isInteger(Number(v)) && Number(v) >= min;

/** Empty (use the default or the model card's value), or a number of at least 0. */
export const blankOrNonNegative = (v: string): boolean => v === '' || v === undefined || (Number.isFinite(Number(v)) && Number(v) >= 0);

type Translate = { _?: (key: string, params?: Record<string, string>) => string };

/**
 * The validator of a numeric setting, from the range table the runtime enforces too
 * (src/lib/config-ranges.ts). Answers true, or (Node-RED 3.1+, which passes a second argument and
 * shows a returned string on the field and in the triangle popup) the translated reason; older
 * editors get false. `blank`: an empty field is valid (the default or the model card applies).
 * `${NAME}` environment references are left to the runtime.
 */
export function inRangeOf<T extends NodeType>(type: T, field: SettingOf<T>, blank = false): (v: string) => boolean {
  const spec = (NUMERIC_SETTINGS[type] as Record<string, NumericSetting>)[field]!;
  const validate = function (this: Translate | undefined, v: string, opt?: unknown): boolean | string {
    if (isBlankSetting(v) ? blank : inRange(spec, v)) return true;
    if (opt === undefined) return false;
    const params = { min: showBound(spec.min), max: showBound(spec.max) };
    const key = spec.integer ? 'configRange.integer' : 'configRange.number';
    const text = typeof this?._ === 'function' ? this._(key, params) : '';
    return text && text !== key ? text : `${params.min} … ${params.max}`;
  };
  return validate as unknown as (v: string) => boolean;
}
