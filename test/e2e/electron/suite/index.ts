/**
 * Extension-host checks against the real `vscode` API (loaded by run.ts through @vscode/test-electron, or
 * by code-server's `payload` URL parameter): activation on the quickstart, the commands, the language.
 * Plain node:assert, no test framework in the extension host; `run()` rejects on the first failure.
 */
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXPECTED_COMMANDS = [
  'balancedbio.newExperiment',
  'balancedbio.runExperiment',
  'balancedbio.runStage',
  'balancedbio.cancelRun',
  'balancedbio.resumeRun',
  'balancedbio.openDashboard',
  'balancedbio.compareRuns',
  'balancedbio.validateExperiment',
  'balancedbio.reloadOntology',
  'balancedbio.showLogs',
];

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function run(): Promise<void> {
  const ext = vscode.extensions.getExtension('balancedbio.balancedbio-studio');
  assert.ok(ext, 'the extension is installed');
  const [file] = await vscode.workspace.findFiles('**/quickstart.bbio.yaml', undefined, 1);
  assert.ok(file, 'the workspace holds the quickstart');
  const doc = await vscode.workspace.openTextDocument(file);
  await vscode.window.showTextDocument(doc);
  assert.equal(doc.languageId, 'bbio-yaml');
  await waitFor('activation on opening the quickstart', () => (ext.isActive ? true : undefined));
  const commands = new Set(await vscode.commands.getCommands(true));
  for (const c of EXPECTED_COMMANDS) assert.ok(commands.has(c), `command ${c} is registered`);
  // the language server publishes code lenses for the stages once it runs
  let lenses: vscode.CodeLens[] = [];
  const deadline = Date.now() + 60_000;
  while (lenses.length === 0 && Date.now() < deadline) {
    lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri)) ?? [];
    if (lenses.length === 0) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(lenses.length > 0, 'the server provides code lenses');
}
