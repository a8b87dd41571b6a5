/**
 * Validators for editor `defaults`, shared by the node editors. Each returns `true` or a translated
 * reason (Node-RED 3.1+ shows it on the field and in the node's triangle popup; older editors treat
 * any string as "invalid"). They declare two parameters on purpose: the editor uses a validator's
 * returned string only when `validate.length === 2` (see red.js validateNodeProperty).
 *
 * Reasons live in src/locales/<lang>/validator.json under `validator.*`, which the build merges into
 * every node's catalogue, so `this._('validator.…')` of any node finds them. Form values arrive as
 * strings (numbers saved by older versions as numbers): every helper reads `String(v)`.
 */

import { NUMERIC_SETTINGS, type NodeType, type NumericSetting, type SettingOf } from '../lib/config-ranges';
import type { EditorRED } from 'node-red';

declare const RED: EditorRED;

export type Params = Record<string, string | number>;
/** What the editor passes as the second argument (a label when the property declares one). */
export interface ValidateOptions {
  label?: string;
}
/** What a validator answers at run time: `true` when valid, else the reason to show. */
export type Verdict = true | string;
/**
 * A Node-RED 3.1+ validator. It answers a `Verdict`; its declared return type is `boolean` only
 * because @types/node-red__editor-client predates 3.1 (`validate` returns boolean there). Read an
 * answer with `verdict()` (or `accepts()`), never as a boolean.
 */
export type Validator = (this: unknown, value: string, opt?: ValidateOptions) => boolean;

const asValidator = (fn: (this: unknown, value: unknown, opt?: ValidateOptions) => Verdict): Validator => fn as unknown as Validator;

/** A validator's answer for `value`: true, or the reason. */
export const verdict = (validator: Validator, value: unknown, node?: unknown): Verdict => (validator as unknown as (this: unknown, v: unknown) => Verdict).call(node, value);

interface Translating {
  _?: (key: string, params?: Params) => string;
}

/** The node's own translation of `validator.<key>` (the key itself where no catalogue is loaded). */
export function reason(node: unknown, key: string, params?: Params): string {
  const full = key.includes('.') ? key : `validator.${key}`;
  const t = (node as Translating | null | undefined)?._;
  const text = typeof t === 'function' ? t.call(node, full, params) : '';
  return text && text !== full ? text : full;
}

/** The translated message of a coded error (errors.<code>), else its own message. */
export function errorReason(node: unknown, err: unknown): string {
  const e = err as { code?: unknown; params?: Params; message?: unknown };
  if (typeof e?.code === 'string') {
    const text = reason(node, `errors.${e.code}`, e.params);
    if (text !== `errors.${e.code}`) return text;
  }
  return typeof e?.message === 'string' ? e.message : String(err);
}

const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v).trim());

/** A validator from a test, with the reason (a `validator.*` key and its params) when it fails. */
export function rule(test: (v: string, node: unknown) => boolean, key: string, params?: Params): Validator {
  return asValidator(function (this: unknown, value: unknown, _opt?: ValidateOptions) {
    return test(text(value), this) ? true : reason(this, key, params);
  });
}

/** A validator computing its own reason: `check` returns undefined when valid, else a reason. */
export function explain(check: (v: unknown, node: unknown) => string | undefined): Validator {
  return asValidator(function (this: unknown, value: unknown, _opt?: ValidateOptions) {
    return check(value, this) ?? true;
  });
}

interface RangeOptions {
  /** Empty is valid (the runtime then uses its default or the model card's value). */
  blank?: boolean;
}

const integerIn = (v: string, min: number, max: number): boolean => v !== '' && Number.isInteger(Number(v)) && Number(v) >= min && Number(v) <= max;
const numberIn = (v: string, min: number, max: number): boolean => v !== '' && Number.isFinite(Number(v)) && Number(v) >= min && Number(v) <= max;

/** A whole number from `min` to `max` (either may be unbounded: ±Infinity). */
export function integer(min: number, max = Infinity, options: RangeOptions = {}): Validator {
  const key = max === Infinity ? (min === -Infinity ? 'integer' : 'integer-min') : min === -Infinity ? 'integer-max' : 'integer-range';
  return rule((v) => (options.blank === true && v === '') || integerIn(v, min, max), key, { min, max });
}

/** A number from `min` to `max` (either may be unbounded: ±Infinity). */
export function number(min = -Infinity, max = Infinity, options: RangeOptions = {}): Validator {
  const key = max === Infinity ? (min === -Infinity ? 'number' : 'number-min') : min === -Infinity ? 'number-max' : 'number-range';
  return rule((v) => (options.blank === true && v === '') || numberIn(v, min, max), key, { min, max });
}

/** One of a fixed list of values (a select's options); `blank`: empty is valid too (the runtime's default). */
export function oneOf(values: readonly string[], options: RangeOptions = {}): Validator {
  return rule((v) => (options.blank === true && v === '') || values.includes(v), 'one-of', { values: values.join(', ') });
}

/** Text that matches `re` (blank allowed when `blank`), with a specific reason key. */
export function matches(re: RegExp, key: string, options: RangeOptions = {}): Validator {
  return rule((v) => (options.blank === true && v === '') || re.test(v), key);
}

/** Not empty. */
export const required: Validator = rule((v) => v !== '', 'required');

/**
 * A validator whose reason is a message of a node's own catalogue, named with its namespace (e.g.
 * "node-red-contrib-edge-ml/ml-image:ml-image.validate.side"), for reasons that only that node has.
 */
export function withReason(check: (v: string) => boolean, messageKey: string): Validator {
  return asValidator(function (this: unknown, value: unknown, _opt?: ValidateOptions) {
    return check(text(value)) ? true : typeof RED === 'undefined' ? messageKey : RED._(messageKey);
  });
}

/** An integer of at least `min`. */
export const intAtLeast = (min: number): Validator => integer(min);

/** Empty (use the default or the model card's value), or a number of at least 0. */
export const blankOrNonNegative: Validator = number(0, Infinity, { blank: true });

/** Empty, or any finite number. */
export const blankOrNumber: Validator = number(-Infinity, Infinity, { blank: true });

/** True when a validator accepts the value (for checks that combine several, e.g. rows of a table). */
export const accepts = (validator: Validator, value: unknown, node?: unknown): boolean => verdict(validator, value, node) === true;

/** `${NAME}` is substituted by the runtime (Node-RED accepts it before calling the validator too). */
export const isEnvReference = (v: unknown): boolean => /^\$\{\w+\}$/.test(text(v));

/** IPv4 address, IPv6 address or CIDR range: the same rule as the runtime's allow-list. */
export function isIpOrCidr(entry: string): boolean {
  const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  const [ip, bits, ...rest] = entry.split('/');
  if (rest.length || !ip) return false;
  const v4 = ipv4.test(ip);
  const v6 = !v4 && ip.includes(':') && /^[0-9a-f:.]+$/i.test(ip) && ip.split('::').length <= 2 && ip.split(':').length <= 8;
  if (!v4 && !v6) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (v4 ? 32 : 128));
}

/** Addresses or CIDR ranges separated by commas or spaces; the reason names the first bad entry. */
export const allowList: Validator = explain((v, node) => {
  const bad = text(v)
    .split(/[\s,;]+/)
    .filter(Boolean)
    .find((entry) => !isIpOrCidr(entry));
  return bad === undefined ? undefined : reason(node, 'allow-list', { entry: bad });
});

/**
 * A PEM public key (SPKI, "-----BEGIN PUBLIC KEY-----"), or empty. The body must be base64 that
 * decodes to a DER SEQUENCE: a pasted key with a lost line or a stray character says so here,
 * not at the first update.
 */
export const publicKeyPem: Validator = explain((v, node) => {
  const pem = text(v);
  if (pem === '') return undefined;
  const m = /^-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----$/.exec(pem);
  if (!m) return reason(node, 'pem-markers');
  const body = (m[1] ?? '').replace(/\s+/g, '');
  if (body === '' || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return reason(node, 'pem-base64');
  let der = '';
  try {
    der = atob(body);
  } catch {
    return reason(node, 'pem-base64');
  }
  // SEQUENCE tag, a length, and at least an algorithm identifier and a key
  return der.charCodeAt(0) === 0x30 && der.length >= 32 ? undefined : reason(node, 'pem-der');
});

/** Only in the open dialog: the current value of another field (else the saved property). */
export function fieldValue(node: unknown, prop: string, prefix = 'node-input'): string {
  const input = typeof $ === 'function' ? $(`#${prefix}-${prop}`) : undefined;
  if (input && input.length) return text(input.val());
  return text((node as Record<string, unknown> | null | undefined)?.[prop]);
}

/**
 * The validator of a numeric setting, from the range table the runtime enforces too
 * (src/lib/config-ranges.ts): true, or the translated range. `blank`: an empty field is valid
 * (the default or the model card applies).
 */
export function inRangeOf<T extends NodeType>(type: T, field: SettingOf<T>, blank = false): Validator {
  const spec = (NUMERIC_SETTINGS[type] as Record<string, NumericSetting>)[field]!;
  return (spec.integer ? integer : number)(spec.min, spec.max, { blank });
}
