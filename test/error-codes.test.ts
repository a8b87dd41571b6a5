/** docs/error-codes.md's table is generated from the message catalogues and must not go stale. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/flow';
import { BEGIN, END, PAGE, collectCodes, renderBlock, renderPage } from '../scripts/error-codes.mjs';

const page = readFileSync(PAGE, 'utf8');

/** Every `errors` key of every JSON file under src/, found by walking the tree (not by the script's file list). */
function catalogueCodes(): Map<string, { en?: string; de?: string }> {
  const out = new Map<string, { en?: string; de?: string }>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json')) {
        const lang = path.basename(path.dirname(p));
        if (lang !== 'en-US' && lang !== 'de') continue;
        const errors = (JSON.parse(readFileSync(p, 'utf8')) as { errors?: Record<string, string> }).errors ?? {};
        for (const [code, text] of Object.entries(errors)) {
          const e = out.get(code) ?? {};
          if (lang === 'en-US') e.en ??= text;
          else e.de ??= text;
          out.set(code, e);
        }
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  return out;
}

/** Table rows of the page: code -> [en, de] cells, read back from the Markdown. */
function pageRows(): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  const block = page.slice(page.indexOf(BEGIN), page.indexOf(END));
  for (const line of block.split('\n')) {
    const m = /^\| `(EDGEML_[A-Z0-9_]+)` \| (.*) \|$/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1]!), `${m[1]} is listed twice`);
    rows.set(m[1]!, m[2]!.split(/ (?<!\\)\| /));
  }
  return rows;
}

test('docs/error-codes.md is up to date with the catalogues (run `node scripts/error-codes.mjs`)', () => {
  assert.equal(renderPage(page, collectCodes()), page);
});

test('every error code of every catalogue is in the table once, with its English and German text', () => {
  const codes = catalogueCodes();
  const rows = pageRows();
  assert.ok(codes.size > 0);
  assert.deepEqual([...rows.keys()].sort(), [...codes.keys()].sort());
  const shown = (t: string | undefined): string => (t ?? '').replace(/__(\w+?)__/g, '‹$1›').replace(/\|/g, '\\|');
  for (const [code, { en, de }] of codes) {
    const [enCell, deCell] = rows.get(code)!;
    assert.equal(enCell, shown(en), `${code} en-US`);
    assert.equal(deCell, shown(de), `${code} de`);
    assert.ok(de && de !== '', `${code} has a German message`);
  }
});

test('a new code in a catalogue makes the page stale; the count line follows', () => {
  const codes = collectCodes();
  const added = [...codes, { code: 'EDGEML_ZZZ_NEW', messages: { 'en-US': 'new', de: 'neu' }, sources: ['x'] }];
  const next = renderPage(page, added);
  assert.notEqual(next, page);
  assert.match(next, /\| `EDGEML_ZZZ_NEW` \| new \| neu \| `x` \|/);
  assert.match(renderBlock(added), new RegExp(`^${codes.length + 1} codes\\.$`, 'm'));
  assert.throws(() => renderPage('no markers here', codes), /no .* block/);
});
