/**
 * A node's configuration declared once: its defaults (the editor's `defaults` values and the
 * runtime's fallbacks come from the same object, so they cannot drift), its config version, and
 * the migration steps from each earlier version. Bundled into both the editor and the runtime
 * (plain data and functions, no Node-RED or Node.js API).
 *
 * Versions: a flow saved before configs had a version carries no `configVersion` and is version 0.
 * A node dragged from the palette gets the current version as its default; Node-RED does not apply
 * defaults to imported flows, so an old flow keeps "no version" until the runtime migrates it.
 * Step i takes a version-i config to version i+1; it sees the raw object, as saved.
 */

/** The value kinds a node config holds here: text fields are strings, checkboxes booleans. */
export type ConfigValue = string | boolean | number | Record<string, unknown> | unknown[];
export type RawConfig = Record<string, unknown>;
export type Migration = (config: RawConfig) => RawConfig;

export interface ConfigSpec<T extends Record<string, ConfigValue>> {
  /** The current config version (the number of migration steps). */
  readonly version: number;
  readonly defaults: Readonly<T>;
  /** migrations[i]: version i -> i + 1. */
  readonly migrations: readonly Migration[];
}

export const CONFIG_VERSION_PROPERTY = 'configVersion';

/** The type of a property a default stands for: `true` stands for boolean, 'auto' for string. */
export type Widen<T> = { [K in keyof T]: T[K] extends boolean ? boolean : T[K] extends string ? string : T[K] extends number ? number : T[K] };

export function defineConfig<T extends Record<string, ConfigValue>>(defaults: T, migrations: readonly Migration[]): ConfigSpec<Widen<T>> {
  return { version: migrations.length, defaults: defaults as Widen<T>, migrations };
}

/** The config a spec declares, as the runtime and the editor read it (writable, unlike spec.defaults). */
export type ConfigOf<S> = S extends ConfigSpec<infer T> ? T : never;

/** The version a saved config is at (0: saved before configs had one). */
export function versionOf(config: RawConfig): number {
  const v = Number(config[CONFIG_VERSION_PROPERTY] ?? 0);
  return Number.isInteger(v) && v >= 0 ? v : 0;
}

/**
 * A saved config brought to the current version, with every property the spec declares: missing
 * ones (null or undefined) take the default. Properties the spec does not know are kept. A config
 * from a newer version than this package knows is left as it is (no step goes backwards).
 */
export function resolveConfig<T extends Record<string, ConfigValue>, D extends object>(spec: ConfigSpec<T>, raw: D): Omit<D, keyof T> & T & { configVersion: number } {
  let config: RawConfig = { ...(raw as RawConfig) };
  const from = versionOf(config);
  for (let v = from; v < spec.version; v++) config = spec.migrations[v]!(config);
  for (const [key, value] of Object.entries(spec.defaults)) {
    if (config[key] === undefined || config[key] === null) config[key] = typeof value === 'object' ? JSON.parse(JSON.stringify(value)) : value;
  }
  config[CONFIG_VERSION_PROPERTY] = Math.max(from, spec.version);
  return config as Omit<D, keyof T> & T & { configVersion: number };
}

/** A numeric default the editor has always stored as a number (a text field saves it as text once edited). */
export const numberOrText = (n: number): number | string => n;

/**
 * Step 0 -> 1 for a node whose 0.1.x runtime accepted loosely typed values (hand-written flows,
 * older editors): where the spec's default is text, a number saved becomes its text; where it is a
 * checkbox, "true"/"false" become booleans. Derived from the defaults, so no second list of keys.
 */
export function typedLikeDefaults(defaults: Readonly<Record<string, ConfigValue>>): Migration {
  const text = Object.keys(defaults).filter((k) => typeof defaults[k] === 'string');
  const checkboxes = Object.keys(defaults).filter((k) => typeof defaults[k] === 'boolean');
  return (config) => stringsToBooleans(numbersToStrings(config, text), checkboxes);
}

/** Text fields saved as numbers (by flows written by hand or by older versions) become strings. */
export function numbersToStrings(config: RawConfig, keys: readonly string[]): RawConfig {
  const out = { ...config };
  for (const key of keys) if (typeof out[key] === 'number') out[key] = String(out[key]);
  return out;
}

/** Checkboxes saved as "true"/"false" strings become booleans. */
export function stringsToBooleans(config: RawConfig, keys: readonly string[]): RawConfig {
  const out = { ...config };
  for (const key of keys) if (out[key] === 'true' || out[key] === 'false') out[key] = out[key] === 'true';
  return out;
}

/** What the editor adds to a default besides its value. */
export interface EditorPropertyOptions {
  validate?: (this: unknown, value: string, opt?: { label?: string }) => boolean;
  required?: boolean;
  type?: string;
  label?: string;
}

/**
 * The editor's `defaults` for a spec: each property's value from the spec, with the editor's
 * validators and config-node types added, plus `configVersion` (the current version, for new nodes).
 */
export function editorDefaults<T extends Record<string, ConfigValue>>(
  spec: ConfigSpec<T>,
  options: { [K in keyof T]?: EditorPropertyOptions },
): { [K in keyof T]: EditorPropertyOptions & { value: T[K] } } & { configVersion: { value: number } } {
  const out: Record<string, EditorPropertyOptions & { value: unknown }> = {};
  for (const [key, value] of Object.entries(spec.defaults)) out[key] = { value, ...(options[key as keyof T] ?? {}) };
  out[CONFIG_VERSION_PROPERTY] = { value: spec.version };
  return out as { [K in keyof T]: EditorPropertyOptions & { value: T[K] } } & { configVersion: { value: number } };
}

/**
 * A spec whose step 0 -> 1 is typedLikeDefaults (the first version of most nodes' configs), then
 * the `later` steps (1 -> 2, ...).
 */
export function defineTypedConfig<T extends Record<string, ConfigValue>>(defaults: T, later: readonly Migration[] = []): ConfigSpec<Widen<T>> {
  return defineConfig(defaults, [typedLikeDefaults(defaults), ...later]);
}
