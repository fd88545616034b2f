/**
 * Restricted Mode: workspace trust enabled and the folder not trusted. Editing features keep working
 * (the extension declares limited support), but Run Experiment refuses with an explanation and no run
 * folder appears.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EditorSession, makeWorkspace, missingPrerequisite, waitFor } from './harness';

const skip = missingPrerequisite();

describe('BalancedBio in an untrusted workspace', { skip }, () => {
  let s: EditorSession;
  let ws: string;

  before(async () => {
    ws = await makeWorkspace();
    s = await EditorSession.start({ workspace: ws, untrusted: true });
  });

  after(async () => {
    await s?.stop();
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  test('editing works, running refuses with a message', async () => {
    const page = s.page;
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    await s.openFile('experiments/quickstart.bbio.yaml');
    // validation still runs in Restricted Mode
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.type('pretrian: {}\n');
    await page.locator('.monaco-editor .squiggly-error').first().waitFor({ timeout: 60_000 });
    await s.runCommand('File: Revert File');

    await s.runCommand('BalancedBio: Run Experiment');
    const message = await waitFor('the refusal notification', async () => (await s.notifications()).find((n) => /Restricted Mode/.test(n)), 20_000);
    await s.screenshot('07-untrusted-refuses-run');
    assert.match(message, /runs are disabled in Restricted Mode/);
    const runsDir = path.join(ws, 'runs');
    assert.ok(!existsSync(runsDir) || (await readdir(runsDir)).length === 0, 'no run folder was created');
  });
});
