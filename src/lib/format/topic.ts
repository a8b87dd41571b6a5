/**
 * Topic templates such as `plant/{device}/{model}/prediction`. Placeholders:
 *   {model} {version} {task} {label}   from the formatted result
 *   {env.NAME}                          an environment variable (through the caller's lookup)
 *   {anything.else}                     a msg property path, e.g. {device} -> msg.device, {meta.line} -> msg.meta.line
 * Substituted values must not change the topic's structure, so '/', '+', '#' in them become '_'.
 * A placeholder without a value is an error: a topic with a hole in it would go to the wrong place.
 */
import { EdgeMlError } from '../errors';

export interface TopicContext {
  builtins: Record<string, string | undefined>;
  msg: Record<string, unknown>;
  env: (name: string) => string | undefined;
}

const PLACEHOLDER = /\{([^{}]+)\}/g;

export function msgPath(msg: Record<string, unknown>, path: string): unknown {
  let cur: unknown = msg;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function sanitise(value: string): string {
  return value.replace(/[/+#]/g, '_');
}

export function renderTopic(template: string, ctx: TopicContext): string {
  return template.replace(PLACEHOLDER, (_m, raw: string) => {
    const name = raw.trim();
    let value: unknown;
    if (name.startsWith('env.')) value = ctx.env(name.slice(4));
    else if (Object.prototype.hasOwnProperty.call(ctx.builtins, name)) value = ctx.builtins[name];
    else value = msgPath(ctx.msg, name.startsWith('msg.') ? name.slice(4) : name);
    if (value === undefined || value === null || value === '' || typeof value === 'object') {
      throw new EdgeMlError('EDGEML_FORMAT_TOPIC', `topic placeholder {${name}} has no value`, { placeholder: name });
    }
    return sanitise(String(value));
  });
}

/** Placeholders a template uses (for editor validation and docs). */
export function topicPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => (m[1] as string).trim());
}
