// ESLint flat config. Besides typescript-eslint's recommended rules it enforces the layer boundaries of
// DESIGN.md: engine/ imports nothing from server/ or extension/; server/ never imports vscode or
// extension/; extension/ reaches the server only through server/protocol.ts.
import tseslint from 'typescript-eslint';

const noVscode = { name: 'vscode', message: 'only extension/ may import the vscode API' };
const engineNoImport = [noVscode, { name: 'vscode-languageserver', message: 'engine/ must not depend on the language server' }, { name: 'vscode-languageclient', message: 'engine/ must not depend on the editor client' }];
const enginePatterns = [{ group: ['**/server/**', '**/extension/**', '../server', '../extension'], message: 'engine/ imports nothing from server/ or extension/' }];
const noTensorflow = { group: ['@tensorflow/*'], message: 'only engine/compute/tfjs/ and engine/model/ may import TensorFlow.js: stages use the Compute interface (engine/compute/types.ts)' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', 'runs/**', 'test-results/**', '.cache/**', 'schemas/generated/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-empty': ['error', { allowEmptyCatch: false }],
      'no-console': 'error',
    },
  },
  {
    files: ['engine/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: engineNoImport, patterns: [...enginePatterns, noTensorflow] }] },
  },
  {
    // the tensor library stays behind the compute interface (engine/compute/types.ts)
    files: ['engine/compute/tfjs/**/*.ts', 'engine/model/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: engineNoImport, patterns: enginePatterns }] },
  },
  {
    files: ['server/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noVscode, { name: 'vscode-languageclient', message: 'the server is the other end of the protocol' }],
        patterns: [{ group: ['**/extension/**', '../extension'], message: 'server/ must not import extension/' }],
      }],
    },
  },
  {
    files: ['extension/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode-languageserver', message: 'the extension talks to the server over LSP only' }],
        patterns: [
          { group: ['**/server/**', '../server/*', '!**/server/protocol', '!../server/protocol'], message: 'extension/ may import only server/protocol.ts from server/' },
          { group: ['**/engine/**', '../engine/*'], message: 'extension/ must not import the engine: runs go through the server' },
        ],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
