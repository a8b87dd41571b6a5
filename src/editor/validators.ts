/** Validators for editor `defaults`, shared by the node editors (form values arrive as strings). */
import type { EditorRED } from 'node-red';

declare const RED: EditorRED;

/**
 * A validator that says why a value is refused (messageKey with its catalogue namespace, e.g.
 * "node-red-contrib-edge-ml/ml-image:ml-image.validate.side"): Node-RED >= 3.1 passes `opt` and shows the returned
 * text beside the field; older editors get a plain false.
 */
export const withReason = (check: (v: string) => boolean, messageKey: string) =>
  function (v: string, opt?: unknown): boolean | string {
    return check(v) ? true : opt ? RED._(messageKey) : false;
  } as unknown as (v: string) => boolean;

/** An integer of at least `min`. */
export const intAtLeast =
  (min: number) =>
  (v: string): boolean =>
    Number.isInteger(Number(v)) && Number(v) >= min;

/** Empty (use the default or the model card's value), or a number of at least 0. */
export const blankOrNonNegative = (v: string): boolean => v === '' || v === undefined || (Number.isFinite(Number(v)) && Number(v) >= 0);
