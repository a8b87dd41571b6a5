/**
 * The check a message's model input passes on the main thread before it joins a request to the
 * session worker: only what a tensor can be made of (numbers, strings, booleans, BigInts, null,
 * arrays, typed arrays, plain objects), nested no deeper than MAX_INPUT_DEPTH, and no more than a
 * byte limit. A function in one payload used to make postMessage throw for the whole request, and
 * every message travelling with it failed; now only that message fails, with a coded error.
 *
 * The walk is iterative (a stack of pending values, no recursion) and stops at the first problem or
 * as soon as the limit is passed, so a huge input costs at most `maxBytes / 8` type checks.
 */
import { EdgeMlError } from '../errors';

/** Levels below the input value (a batch of images [N][H][W][C] is 4; named features 2). */
export const MAX_INPUT_DEPTH = 32;
/** Largest input of one message unless settings.js edgeMl.maxInputBytes says otherwise: 64 MiB. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024;
/** What one number, boolean or null in a plain array is counted as (a float64 in a JS array). */
const ELEMENT_BYTES = 8;

function formError(reason: string): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_INPUT_FORM', `cannot use the input: ${reason}`, { reason });
}

function kindOf(value: object): string {
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name !== '' ? `a ${ctor.name}` : 'an object that is not plain';
}

function isPlain(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The input's size in bytes (typed arrays by their byteLength, strings by their length, every
 * other element as 8 bytes). Throws EDGEML_ONNX_INPUT_FORM for what no tensor can hold (with where
 * it is, e.g. `payload.x[3]`) and EDGEML_ONNX_INPUT_TOO_LARGE beyond `maxBytes`.
 */
export function checkInput(value: unknown, maxBytes: number, name = 'payload'): number {
  let bytes = 0;
  // [value, where, depth]; `where` is built only when a problem is reported
  const stack: Array<[unknown, () => string, number]> = [[value, () => name, 0]];
  const tooLarge = (): EdgeMlError =>
    new EdgeMlError('EDGEML_ONNX_INPUT_TOO_LARGE', `the input is more than ${maxBytes} bytes`, { size: bytes, max: maxBytes });
  while (stack.length > 0) {
    const [v, where, depth] = stack.pop()!;
    switch (typeof v) {
      case 'number':
      case 'boolean':
      case 'bigint':
      case 'undefined':
        bytes += ELEMENT_BYTES;
        break;
      case 'string':
        bytes += v.length;
        break;
      case 'function':
        throw formError(`${where()} is a function`);
      case 'symbol':
        throw formError(`${where()} is a symbol`);
      case 'object': {
        if (v === null) {
          bytes += ELEMENT_BYTES;
          break;
        }
        if (ArrayBuffer.isView(v)) {
          if (v instanceof DataView) throw formError(`${where()} is a DataView; give a typed array`);
          bytes += v.byteLength;
          break;
        }
        if (depth >= MAX_INPUT_DEPTH) throw formError(`${where()} is nested deeper than ${MAX_INPUT_DEPTH} levels`);
        if (Array.isArray(v)) {
          // the common case, a long array of numbers, without a stack entry per element
          for (let i = v.length - 1; i >= 0; i--) {
            const x: unknown = v[i];
            const t = typeof x;
            if (t === 'number' || t === 'boolean' || x === null) bytes += ELEMENT_BYTES;
            else {
              const at = i;
              stack.push([x, () => `${where()}[${at}]`, depth + 1]);
            }
            if (bytes > maxBytes) throw tooLarge();
          }
          break;
        }
        if (!isPlain(v)) throw formError(`${where()} is ${kindOf(v)}`);
        for (const key of Object.keys(v)) stack.push([(v as Record<string, unknown>)[key], () => `${where()}.${key}`, depth + 1]);
        break;
      }
    }
    if (bytes > maxBytes) throw tooLarge();
  }
  return bytes;
}
