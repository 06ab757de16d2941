// Lint: typed rules, above all no floating or misused promises (an unawaited promise in a
// daemon is a lost error; in a test it is an assertion that runs after the test has passed).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // .lectern-sim holds the simulated kit's recordings: MPEG-TS segments named *.ts.
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.lectern-sim/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
    },
  },
  {
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
