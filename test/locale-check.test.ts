/** The build's catalogue check: key parity in both directions and matching placeholders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/flow';
import { compareCatalogues as check, placeholders as names } from '../scripts/locale-check.mjs';

test('a key missing in either language is reported, with the language that lacks it', () => {
  const en = { errors: { A: 'a', B: 'b' } };
  const de = { errors: { A: 'a', C: 'c' } };
  const problems = check('x', en, de);
  assert.equal(problems.length, 2);
  assert.ok(problems.some((p) => p.includes('de lacks') && p.includes('errors.B')));
  assert.ok(problems.some((p) => p.includes('en-US lacks') && p.includes('errors.C')));
});

test('a placeholder spelled out in one language is reported', () => {
  const problems = check('x', { e: { X: 'Fix: __fix__ on __platform__' } }, { e: { X: 'Abhilfe: npm install auf __platform__' } });
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /e\.X/);
  assert.deepEqual(names('Fix: __fix__ on __platform__ (__fix__)'), ['fix', 'platform']);
});

test('agreeing catalogues have no problems; placeholder order does not matter', () => {
  assert.deepEqual(check('x', { a: { b: '__p__ then __q__' } }, { a: { b: '__q__ und __p__' } }), []);
});

test('every catalogue of the package agrees between en-US and de', () => {
  const read = (...p: string[]): unknown => JSON.parse(readFileSync(path.join(ROOT, 'src', ...p), 'utf8'));
  const problems: string[] = [];
  const common = new Set([...readdirSync(path.join(ROOT, 'src/locales/en-US')), ...readdirSync(path.join(ROOT, 'src/locales/de'))]);
  for (const f of common) problems.push(...check(f, read('locales', 'en-US', f), read('locales', 'de', f)));
  for (const type of readdirSync(path.join(ROOT, 'src/nodes')).filter((t) => t !== 'shared')) {
    problems.push(...check(type, read('nodes', type, 'locales', 'en-US', 'messages.json'), read('nodes', type, 'locales', 'de', 'messages.json')));
  }
  assert.deepEqual(problems, []);
});
