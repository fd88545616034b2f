/**
 * Our extension next to a YAML language server: the `yamlValidation` contribution in package.json is what
 * Red Hat's YAML extension (redhat.vscode-yaml) reads. That extension cannot be installed here (no
 * marketplace, not on npm), so the session installs a stand-in built by test/e2e/redhat-yaml/build.sh: our
 * own thin client that runs Red Hat's yaml-language-server from npm and sends it every extension's
 * `yamlValidation`, selecting documents by language id as Red Hat's client does. The case without any
 * YAML extension is editor.test.ts.
 *
 * What "no conflict" means here, from what the two servers actually do: a `*.bbio.yaml` file keeps our
 * language id (`bbio-yaml`) although the YAML extension claims `.yaml`, so only our server sees it: one
 * diagnostic per problem, one completion list, our code lens. yaml-language-server validates the file with
 * our schema (via `yamlValidation`) when the user switches it to YAML; then only that server sees it, and
 * switching back leaves no stale diagnostic. Neither extension logs an error.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EditorSession, makeWorkspace, missingPrerequisite, ROOT, waitFor } from './harness';

const STANDIN_VSIX = process.env['BBIO_YAML_STANDIN_VSIX'] ?? path.join(ROOT, '.cache/yaml-standin/yaml-standin.vsix');
const skip = missingPrerequisite() ?? (existsSync(STANDIN_VSIX) ? undefined : `no YAML stand-in at ${STANDIN_VSIX} (run bash scripts/test-e2e.sh)`);
const QUICKSTART = 'quickstart.bbio.yaml';
/** yaml-language-server's source for a schema problem: `yaml-schema: ` + the schema's title. */
const YAML_SCHEMA_SOURCE = 'yaml-schema: BalancedBio experiment';

interface Problem {
  file: string;
  text: string;
}

/** Every marker in the Problems panel with the file it belongs to (file rows are the tree's first level). */
async function problems(s: EditorSession): Promise<Problem[]> {
  // one pass in the page: the panel re-renders its rows while diagnostics arrive
  return s.page.evaluate(() => {
    const out: { file: string; text: string }[] = [];
    let file = '';
    for (const row of document.querySelectorAll<HTMLElement>('.markers-panel .monaco-list-row')) {
      if (row.getAttribute('aria-level') === '1') file = row.innerText.split('\n')[0] ?? '';
      else out.push({ file, text: row.innerText });
    }
    return out;
  });
}

const inFile = (ps: Problem[], name: string): Problem[] => ps.filter((p) => p.file.startsWith(name));

/** The language shown in the status bar for the active editor. */
async function languageMode(s: EditorSession): Promise<string> {
  return (await s.page.locator('.statusbar-item[id="status.editor.mode"]').innerText()).trim();
}

async function changeLanguageMode(s: EditorSession, languageId: string): Promise<void> {
  await s.runCommand('Change Language Mode');
  await s.page.locator('.quick-input-widget input.input').fill(languageId);
  await s.pickQuickItem(`(${languageId})`);
}

/** Focus the file's editor through its tab (Quick Open does not move focus out of the Problems panel). */
async function focusEditor(s: EditorSession, name: string): Promise<void> {
  await s.page.locator('.tabs-container .tab', { hasText: name }).first().click();
  await s.page.locator('.tabs-container .tab.active', { hasText: name }).first().waitFor({ timeout: 10_000 });
}

describe('BalancedBio next to a YAML language server (stand-in for Red Hat YAML)', { skip }, () => {
  let s: EditorSession;
  let ws: string;

  before(async () => {
    ws = await makeWorkspace({
      // plain YAML files: the stand-in activates on them, and their syntax errors show its server is validating
      'notes.yaml': 'a: [1, 2\n',
      'later.yaml': 'b: {c: 1\n',
      'experiments/blank.bbio.yaml': 'name: blank\n',
    });
    s = await EditorSession.start({
      workspace: ws,
      otherExtensions: [STANDIN_VSIX],
      // the schema catalog is on schemastore.org, unreachable here: the server would wait for it to fail
      settings: { 'yaml.schemaStore.enable': false },
    });
  });

  after(async () => {
    await s?.screenshot('zz-yaml-standin-final-state').catch((e: unknown) => console.error(String(e)));
    await s?.stop();
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  test('yaml-language-server runs and is told our schema for *.bbio.yaml', async () => {
    await s.openFile('notes.yaml');
    assert.equal(await languageMode(s), 'YAML');
    await s.page.locator('#status\\.problems, .statusbar-item[id="status.problems"]').first().click();
    await waitFor('a YAML syntax diagnostic on notes.yaml', async () => inFile(await problems(s), 'notes.yaml').some((p) => /\nYAML\n/.test(p.text)), 60_000);
    const line = await waitFor('the schema associations in the stand-in log', async () => {
      const [l] = await s.readLogs(/YAML Support \(stand-in\)\.log$/);
      return l?.text.split('\n').find((t) => t.startsWith('json/schemaAssociations '));
    }, 20_000);
    const sent = JSON.parse(line.slice('json/schemaAssociations '.length)) as { fileMatch: string[]; uri: string }[];
    const ours = sent.find((a) => /\/balancedbio\.balancedbio-studio-[^/]+\/schemas\/experiment\.schema\.json$/.test(a.uri));
    assert.ok(ours, `an association for our schema among ${line}`);
    assert.deepEqual(ours.fileMatch, ['/*.bbio.yaml', '/*.bbio.yml']);
  });

  test('a *.bbio.yaml keeps its language; a misspelt key gets one diagnostic, from our server', async () => {
    const page = s.page;
    await s.openFile(`experiments/${QUICKSTART}`);
    await focusEditor(s, QUICKSTART);
    // the stand-in claims .yaml for "yaml"; our filenamePatterns must still win
    assert.equal(await languageMode(s), 'BalancedBio Experiment');
    await page.locator('.monaco-editor .codelens-decoration a', { hasText: /Run/ }).first().waitFor({ timeout: 60_000 });
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.type('pretrian: {}\n');
    await page.locator('.monaco-editor .squiggly-error').first().waitFor({ timeout: 30_000 });
    await waitFor('our diagnostic in the Problems panel', async () => inFile(await problems(s), QUICKSTART).some((p) => /pretrian/.test(p.text)), 30_000);
    // a later document's diagnostic from yaml-language-server: had it been sent the edited experiment,
    // it would have validated that first
    await s.openFile('later.yaml');
    await waitFor('a YAML syntax diagnostic on later.yaml', async () => inFile(await problems(s), 'later.yaml').length > 0, 60_000);
    await s.screenshot('20-yaml-standin-bbio-mode-one-diagnostic');
    const mine = inFile(await problems(s), QUICKSTART);
    assert.equal(mine.length, 1, `one problem on the experiment, got ${JSON.stringify(mine)}`);
    assert.match(mine[0]!.text, /unknown key `pretrian`[\s\S]*\nbalancedbio\n/);
    assert.ok(!(await problems(s)).some((p) => p.text.includes('yaml-schema')), 'yaml-language-server did not validate a bbio-yaml document');
  });

  test('switched to YAML, the file is validated by yaml-language-server against our schema; switched back, by ours alone', async () => {
    await focusEditor(s, QUICKSTART);
    await changeLanguageMode(s, 'yaml');
    await waitFor('the YAML language mode', async () => (await languageMode(s)) === 'YAML', 20_000);
    const schemaProblem = await waitFor('the yaml-schema diagnostic', async () => inFile(await problems(s), QUICKSTART).find((p) => p.text.includes(YAML_SCHEMA_SOURCE)), 60_000);
    assert.match(schemaProblem.text, /Property pretrian is not allowed/);
    // our client lets go of a document that is no longer bbio-yaml: its diagnostic goes, nothing doubles
    const yamlMode = await waitFor('our diagnostic to clear', async () => {
      const ps = inFile(await problems(s), QUICKSTART);
      return ps.every((p) => !/\nbalancedbio\n/.test(p.text)) && ps;
    }, 20_000);
    await s.screenshot('21-yaml-standin-yaml-mode-schema-diagnostic');
    assert.equal(yamlMode.length, 1, `one problem in YAML mode, got ${JSON.stringify(yamlMode)}`);

    await focusEditor(s, QUICKSTART);
    await changeLanguageMode(s, 'bbio-yaml');
    await waitFor('the BalancedBio language mode', async () => (await languageMode(s)) === 'BalancedBio Experiment', 20_000);
    const back = await waitFor('our diagnostic alone again', async () => {
      const ps = inFile(await problems(s), QUICKSTART);
      return ps.some((p) => /\nbalancedbio\n/.test(p.text)) && ps.every((p) => !p.text.includes('yaml-schema')) && ps;
    }, 30_000);
    await s.screenshot('22-yaml-standin-back-to-bbio-mode');
    assert.equal(back.length, 1, `one problem after switching back, got ${JSON.stringify(back)}`);
    await focusEditor(s, QUICKSTART);
    await s.runCommand('File: Revert File');
  });

  test('completion comes from our server, each key once', async () => {
    const page = s.page;
    await s.openFile('experiments/blank.bbio.yaml');
    await focusEditor(s, 'blank.bbio.yaml');
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('pretr');
    await page.keyboard.press('Control+Space');
    const rows = page.locator('.suggest-widget .monaco-list-row');
    await rows.first().waitFor({ timeout: 30_000 });
    const labels = await rows.allInnerTexts();
    await s.screenshot('23-yaml-standin-completion');
    await page.keyboard.press('Escape');
    await s.runCommand('File: Revert File');
    const pretrain = labels.filter((l) => /^pretrain\b/.test(l));
    assert.equal(pretrain.length, 1, `"pretrain" offered once, got ${JSON.stringify(labels)}`);
  });

  test('neither extension logs an error', async () => {
    const host = (await s.readLogs(/exthost\d*\/remoteexthost\.log$/)).map((l) => l.text).join('\n');
    assert.match(host, /_doActivateExtension balancedbio\.balancedbio-studio/, 'our extension activated');
    assert.match(host, /_doActivateExtension bbio-test\.yaml-standin/, 'the stand-in activated');
    const hostErrors = host.split('\n').filter((l) => /\[error\]/.test(l) || (/\[warning\]/.test(l) && /balancedbio/i.test(l)));
    assert.deepEqual(hostErrors, [], 'extension host errors');
    const ours = (await s.readLogs(/BalancedBio\.log$/)).map((l) => l.text).join('\n');
    assert.match(ours, /language server started/);
    assert.deepEqual(ours.split('\n').filter((l) => /\[(error|warning)\]/.test(l)), [], 'BalancedBio log errors');
    const standin = (await s.readLogs(/YAML Support \(stand-in\)\.log$/)).map((l) => l.text).join('\n');
    assert.deepEqual(standin.split('\n').filter((l) => /\[error|\[Error/.test(l)), [], 'stand-in / yaml-language-server errors');
    const consoleErrors = s.logs.filter((l) => l.startsWith('[error]') && /balancedbio|yaml-standin|yaml-language-server/i.test(l));
    assert.deepEqual(consoleErrors, [], 'workbench console errors about either extension');
  });
});
