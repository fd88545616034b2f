/**
 * Extension-host tests in desktop VS Code through @vscode/test-electron, for contributors with internet
 * access: test-electron downloads a VS Code build from Microsoft at run time, which cannot work on this
 * project's CI (see ../../../../shared/vscode-tests.md); CI runs the code-server route, scripts/test-e2e.sh.
 *   npx tsx test/e2e/electron/run.ts
 * Bundles suite/index.ts with esbuild (the extension host loads plain CommonJS), then runs it against the
 * built extension (run `npm run build` first).
 */
import path from 'node:path';
import * as esbuild from 'esbuild';
import { runTests } from '@vscode/test-electron';

const ROOT = path.resolve(__dirname, '../../..');

async function main(): Promise<void> {
  const out = path.join(ROOT, 'out', 'e2e-electron', 'index.js');
  await esbuild.build({ entryPoints: [path.join(__dirname, 'suite', 'index.ts')], outfile: out, bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'], logLevel: 'warning' });
  await runTests({
    version: '1.100.3',
    extensionDevelopmentPath: ROOT,
    extensionTestsPath: out,
    launchArgs: [path.join(ROOT, 'examples'), '--disable-extensions', '--disable-workspace-trust'],
  });
}

main().catch((e: unknown) => {
  console.error(`extension-host tests failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
