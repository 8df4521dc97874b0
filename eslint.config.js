import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The CLI takes commander's classes from its bundle (src/cli/commander.ts): one copy of each. */
const COMMANDER_VALUES = {
  group: ['commander'],
  allowTypeImports: true,
  message: 'take values from src/cli/commander.ts (the bundle); only types from the package',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'catalog/', 'signing/', 'packages/', 'bench/.work/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // upcat verify loads tuf-js from its bundle (src/verify/tuf.ts): a class imported from the
    // package is a different class at run time (tuf-js's instanceof checks would fail).
    files: ['src/verify/**/*.ts'],
    ignores: ['src/verify/tuf-vendor.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['tuf-js', 'tuf-js/*', '@tufjs/*'],
              allowTypeImports: true,
              message: 'take values from ./tuf.js (the bundle); only types from the packages',
            },
            COMMANDER_VALUES,
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    // src/verify has a rule of its own above, which names this one too.
    ignores: ['src/cli/commander.ts', 'src/verify/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [COMMANDER_VALUES],
        },
      ],
    },
  },
  {
    files: ['bin/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { process: 'readonly', require: 'readonly' },
    },
    // CommonJS (bin/package.json), so that the CLI starts without the ES module loader.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['scripts/*.mjs'],
    languageOptions: { globals: { process: 'readonly' } },
  },
);
