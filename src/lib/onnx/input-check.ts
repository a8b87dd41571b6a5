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

/** A value still to look at, with where it sits (its parent chain names it in an error). */
interface Pending {
  value: unknown;
  key: string | number;
  parent: Pending | undefined;
  depth: number;
}

function pathOf(p: Pending): string {
  let out = '';
  for (let at: Pending | undefined = p; at; at = at.parent) {
    out = (typeof at.key === 'number' ? `[${at.key}]` : at.parent ? `.${at.key}` : at.key) + out;
  }
  return out;
}

function tooLarge(bytes: number, maxBytes: number): EdgeMlError {
  return new EdgeMlError('EDGEML_ONNX_INPUT_TOO_LARGE', `the input is more than ${maxBytes} bytes`, { size: bytes, max: maxBytes });
}

/**
 * The input's size in bytes (typed arrays by their byteLength, strings by their length, every
 * other element as 8 bytes). Throws EDGEML_ONNX_INPUT_FORM for what no tensor can hold (with where
 * it is, e.g. `payload.x[3]`) and EDGEML_ONNX_INPUT_TOO_LARGE beyond `maxBytes`.
 */
export function checkInput(value: unknown, maxBytes: number, name = 'payload'): number {
  let bytes = 0;
  // values that hold arrays or objects wait here; numbers are counted where they are found
  const stack: Pending[] = [{ value, key: name, parent: undefined, depth: 0 }];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const v = p.value;
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
        throw formError(`${pathOf(p)} is a function`);
      case 'symbol':
        throw formError(`${pathOf(p)} is a symbol`);
      case 'object': {
        if (v === null) {
          bytes += ELEMENT_BYTES;
          break;
        }
        if (ArrayBuffer.isView(v)) {
          if (v instanceof DataView) throw formError(`${pathOf(p)} is a DataView; give a typed array`);
          bytes += v.byteLength;
          break;
        }
        if (p.depth >= MAX_INPUT_DEPTH) throw formError(`${pathOf(p)} is nested deeper than ${MAX_INPUT_DEPTH} levels`);
        if (Array.isArray(v)) {
          // the common case, a long array of numbers, without a stack entry per element
          for (let i = v.length - 1; i >= 0; i--) {
            const x: unknown = v[i];
            const t = typeof x;
            if (t === 'number' || t === 'boolean' || x === null) bytes += ELEMENT_BYTES;
            else stack.push({ value: x, key: i, parent: p, depth: p.depth + 1 });
            if (bytes > maxBytes) throw tooLarge(bytes, maxBytes);
          }
          break;
        }
        if (!isPlain(v)) throw formError(`${pathOf(p)} is ${kindOf(v)}`);
        for (const key in v) {
          if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
          const x: unknown = (v as Record<string, unknown>)[key];
          const t = typeof x;
          // named features are numbers: counted here, without a stack entry each
          if (t === 'number' || t === 'boolean' || x === null) bytes += ELEMENT_BYTES;
          else if (t === 'string') bytes += (x as string).length;
          else stack.push({ value: x, key, parent: p, depth: p.depth + 1 });
        }
        break;
      }
    }
    if (bytes > maxBytes) throw tooLarge(bytes, maxBytes);
  }
  return bytes;
}
