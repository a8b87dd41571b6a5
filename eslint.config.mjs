// Lint for the TypeScript sources, tests, scripts and benchmarks (`npm run lint`, part of `npm test`).
// typescript-eslint's recommended rules; zero warnings allowed (--max-warnings 0).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['nodes/**', 'node_modules/**', 'bench/results/**', 'examples/**', 'schemas/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.mts'],
    languageOptions: { globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // tsc (noUnusedLocals/noUnusedParameters) checks these already; an `_`-prefixed name is deliberate
      // Node-RED's convention in node constructors and editor callbacks: `const node = this`
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // editor code runs in the browser, with Node-RED's RED and jQuery globals
    files: ['src/nodes/*/editor.ts', 'src/editor/**/*.ts'],
    languageOptions: { globals: { ...globals.browser, $: 'readonly', RED: 'readonly' } },
  },
  {
    // code that playwright evaluates inside the page
    files: ['test/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
