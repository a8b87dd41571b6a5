/** Validators for editor `defaults`, shared by the node editors (form values arrive as strings). */

/** An integer of at least `min`. */
export const intAtLeast =
  (min: number) =>
  (v: string): boolean =>
    Number.isInteger(Number(v)) && Number(v) >= min;

/** Empty (use the default or the model card's value), or a number of at least 0. */
export const blankOrNonNegative = (v: string): boolean => v === '' || v === undefined || (Number.isFinite(Number(v)) && Number(v) >= 0);
