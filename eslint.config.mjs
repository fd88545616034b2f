// ESLint flat config. Besides typescript-eslint's recommended rules it enforces the layer boundaries of
// DESIGN.md: engine/ imports nothing from server/ or extension/; server/ never imports vscode or
// extension/; extension/ reaches the server only through server/protocol.ts.
import tseslint from 'typescript-eslint';

const noVscode = { name: 'vscode', message: 'only extension/ may import the vscode API' };
const engineNoImport = [noVscode, { name: 'vscode-languageserver', message: 'engine/ must not depend on the language server' }, { name: 'vscode-languageclient', message: 'engine/ must not depend on the editor client' }];
const enginePatterns = [{ group: ['**/server/**', '**/extension/**', '../server', '../extension'], message: 'engine/ imports nothing from server/ or extension/' }];
const noTensorflow = { group: ['@tensorflow/*'], message: 'only engine/compute/tfjs/ and engine/model/ may import TensorFlow.js: stages use the Compute interface (engine/compute/types.ts)' };
const extensionPaths = [{ name: 'vscode-languageserver', message: 'the extension talks to the server over LSP only' }];
const extensionPatterns = [
  { group: ['**/server/**', '../server/*', '!**/server/protocol', '!../server/protocol'], message: 'extension/ may import only server/protocol.ts from server/' },
  { group: ['**/engine/**', '../engine/*'], message: 'extension/ must not import the engine: runs go through the server' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', 'runs/**', 'test-results/**', '.cache/**', 'schemas/generated/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    // Type-aware rules need the type checker: the project service builds tsconfig.json's program once for every
    // file. That about doubles a full lint's CPU time (10 s → 21 s user on a 2-core machine, issue 15).
    // ignoreVoid: false holds STYLE.md's rule that `void p` is written only as `void p.catch(report)`.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits: those calls are safe to leave.
      '@typescript-eslint/no-floating-promises': ['error', {
        ignoreVoid: false,
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
      }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
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
        paths: extensionPaths,
        patterns: extensionPatterns,
      }],
    },
  },
  {
    // The webview bundle runs in the panel's browser sandbox, where the vscode module does not exist: it talks
    // to the host only through postMessage (webview/vscode-api.ts). A later block replaces the rule's options, so
    // extension/'s restrictions are repeated here.
    files: ['extension/views/webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...extensionPaths, { name: 'vscode', message: 'the webview runs in a browser sandbox: reach the host with postMessage (webview/vscode-api.ts)' }],
        patterns: extensionPatterns,
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
