// Checks that two message catalogues (en-US and de) hold the same keys in both directions and that
// every message uses the same placeholders (__name__) in both languages. Used by the build; a
// catalogue pair that fails stops the build.

/** Flattened `a.b.c` keys of a catalogue mapped to their message text. */
export function flatten(obj, prefix = '') {
  const out = {};
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

/** The placeholder names of one message (Node-RED's i18next uses __name__). */
export function placeholders(text) {
  if (typeof text !== 'string') return [];
  return [...new Set([...text.matchAll(/__([A-Za-z0-9_]+?)__/g)].map((m) => m[1]))].sort();
}

/**
 * Problems of one catalogue pair, as readable lines (empty when they agree).
 * `label` names the pair in the messages, e.g. "src/locales/*\/onnx.json".
 */
export function compareCatalogues(label, en, de) {
  const a = flatten(en);
  const b = flatten(de);
  const problems = [];
  const onlyIn = (x, y) =>
    Object.keys(x)
      .filter((k) => !(k in y))
      .sort();
  const missingDe = onlyIn(a, b);
  const missingEn = onlyIn(b, a);
  if (missingDe.length) problems.push(`${label}: de lacks ${missingDe.join(', ')}`);
  if (missingEn.length) problems.push(`${label}: en-US lacks ${missingEn.join(', ')}`);
  for (const key of Object.keys(a)
    .filter((k) => k in b)
    .sort()) {
    const pa = placeholders(a[key]).join(', ');
    const pb = placeholders(b[key]).join(', ');
    if (pa !== pb) problems.push(`${label}: ${key} has placeholders [${pa}] in en-US but [${pb}] in de`);
  }
  return problems;
}
