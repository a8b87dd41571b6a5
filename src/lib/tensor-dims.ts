/**
 * The one check for a tensor's dims wherever a tensor enters the package from a message (ml-format's
 * input, onnx-infer's tensor objects): every dimension a non-negative safe integer and their product
 * the number of values. Anything else is EDGEML_TENSOR_DIMS_INVALID with the reason; a dims value of
 * 1e-300, 0.5, -1, "NaN" or a product that does not match the data must never reach a loop that
 * steps by a dimension.
 */
import { EdgeMlError } from './errors';

/** Largest rank accepted (ONNX Runtime itself stops at a few dozen). */
export const MAX_TENSOR_RANK = 64;

function describe(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}...` : v);
  return v === null ? 'null' : typeof v;
}

function invalid(tensor: string, reason: string, dims: string): EdgeMlError {
  return new EdgeMlError('EDGEML_TENSOR_DIMS_INVALID', `tensor "${tensor}": dims ${dims} ${reason}`, { tensor, reason, dims });
}

/** A short, bounded rendering of whatever was given as dims (for error texts). */
export function describeDimsValue(dims: unknown): string {
  if (!Array.isArray(dims)) return describe(dims);
  const shown = dims.slice(0, 8).map(describe).join(', ');
  return `[${shown}${dims.length > 8 ? ', ...' : ''}]`;
}

/**
 * Returns `dims` as numbers when they describe exactly `length` values; throws
 * EDGEML_TENSOR_DIMS_INVALID otherwise. `length` undefined checks the dims alone (no product check).
 */
export function checkDims(dims: unknown, length: number | undefined, tensor = 'tensor'): number[] {
  if (!Array.isArray(dims)) throw invalid(tensor, 'are not an array', describeDimsValue(dims));
  if (dims.length > MAX_TENSOR_RANK) throw invalid(tensor, `have more than ${MAX_TENSOR_RANK} dimensions`, describeDimsValue(dims));
  let product = 1;
  for (let i = 0; i < dims.length; i++) {
    const d: unknown = dims[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalid(tensor, `hold ${describe(d)} at position ${i} (each must be a non-negative integer)`, describeDimsValue(dims));
    }
    product *= d;
    if (!Number.isSafeInteger(product)) throw invalid(tensor, 'describe more values than can be counted', describeDimsValue(dims));
  }
  if (length !== undefined && product !== length) {
    throw invalid(tensor, `describe ${product} values but the data holds ${length}`, describeDimsValue(dims));
  }
  return dims as number[];
}
