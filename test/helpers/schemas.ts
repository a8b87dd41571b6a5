/**
 * The published JSON Schemas (schemas/) compiled with ajv, a real JSON Schema validator (draft
 * 2020-12, formats such as date-time from ajv-formats): an oracle independent of the package's own
 * small validator (src/lib/format/json-schema.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ROOT } from './flow';

export const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const load = (file: string): object => JSON.parse(readFileSync(path.join(ROOT, 'schemas', file), 'utf8')) as object;
export const validatePayload = ajv.compile(load('ml-format-payload.schema.json'));
export const validateEvent = ajv.compile(load('ml-format-event.schema.json'));

/** The ajv errors of `value` against the payload schema, as text ('' when valid). */
export function payloadProblems(value: unknown): string {
  return validatePayload(value) ? '' : ajv.errorsText(validatePayload.errors);
}
