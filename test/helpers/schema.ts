/**
 * JSON Schema validation for tests with Ajv (draft 2020-12, formats such as date-time), against
 * the schemas the package publishes in schemas/. Errors come back as readable lines, [] when valid.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

export type JsonSchema = Record<string, unknown>;

const ROOT = path.resolve(__dirname, '..', '..');
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/** A schema of schemas/ by file name without ".schema.json", e.g. "onnx-infer-output". */
export function loadSchema(name: string): JsonSchema {
  return JSON.parse(readFileSync(path.join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as JsonSchema;
}

function validatorOf(schema: JsonSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    const id = typeof schema.$id === 'string' ? schema.$id : undefined;
    validate = (id && ajv.getSchema(id)) || ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** Why `value` does not match `schema`, one line per problem ("$.path: message"); [] when it does. */
export function validateJsonSchema(schema: JsonSchema, value: unknown): string[] {
  const validate = validatorOf(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => {
    const where = `$${e.instancePath.replace(/\//g, '.')}`;
    const extra = e.keyword === 'required' || e.keyword === 'additionalProperties' ? ` "${String(Object.values(e.params)[0])}"` : '';
    return `${where}: ${e.message ?? e.keyword}${extra}`;
  });
}
