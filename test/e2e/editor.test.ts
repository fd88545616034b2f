/**
 * The extension in a real VS Code (code-server + Chromium), installed from the VSIX, in a trusted
 * workspace. One editor session for the whole file; the tests run in order and each saves a screenshot
 * in test-results/.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EditorSession, makeWorkspace, missingPrerequisite, ROOT, waitFor } from './harness';
import { writeSyntheticRun } from './fixture-run';

const skip = missingPrerequisite();
const FPS_POINTS = 50_000;
const FPS_RUN = '20200101-000000-synthetic-50k';
const SMOKE = `name: smoke
seed: 1
stages: [synthesize, pretrain, sft]
ontology:
  builtin: true
synthesis:
  examples: { domain: 60, reasoning: 40, instruction: 40, integration: 20 }
model:
  preset: bio-tiny
sft:
  steps: 120
  batch_per_capability: 4
  projection: pcgrad
output:
  runs_dir: ../runs
`;

describe('BalancedBio in a real VS Code (trusted workspace)', { skip }, () => {
  let s: EditorSession;
  let ws: string;

  before(async () => {
    ws = await makeWorkspace({
      'experiments/terms.bbio.yaml': 'name: terms\nsynthesis:\n  focus_terms:\n    - ',
    });
    // the run test: synthesize → pretrain → sft on the built-in graph, small enough to finish in about a minute
    await writeFile(path.join(ws, 'experiments/smoke.bbio.yaml'), SMOKE);
    await writeSyntheticRun(path.join(ws, 'runs'), { runId: FPS_RUN, points: FPS_POINTS });
    s = await EditorSession.start({
      workspace: ws,
      // stepsScale: the CLI's --steps-scale, so the run takes seconds, not the quickstart's minutes
      settings: { 'balancedbio.ontology.sources': [path.join(ROOT, 'test/e2e/fixtures/e2e-terms.obo')], 'balancedbio.runs.stepsScale': 0.05 },
    });
  });

  after(async () => {
    await s?.screenshot('zz-final-state').catch((e: unknown) => console.error(String(e)));
    await s?.stop();
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  test('opening the quickstart activates the extension and its language server', async () => {
    await s.openFile('experiments/quickstart.bbio.yaml');
    // the language mode proves the contribution; a code lens from the server proves activation + client start
    await s.page.locator('.statusbar-item', { hasText: 'BalancedBio Experiment' }).first().waitFor({ timeout: 20_000 });
    const lens = s.page.locator('.monaco-editor .codelens-decoration a', { hasText: /Run/ }).first();
    await lens.waitFor({ timeout: 60_000 });
    await s.screenshot('01-activation-quickstart');
    assert.match(await lens.innerText(), /Run/);
  });

  test('a misspelt key shows a squiggle and a Problems entry', async () => {
    const page = s.page;
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.type('pretrian: {}\n');
    await page.locator('.monaco-editor .squiggly-error').first().waitFor({ timeout: 30_000 });
    await page.locator('#status\\.problems, .statusbar-item[id="status.problems"]').first().click();
    const row = page.locator('.markers-panel .monaco-list-row', { hasText: 'pretrian' }).first();
    await row.waitFor({ timeout: 20_000 });
    await s.screenshot('02-misspelt-key-problems');
    assert.match(await row.innerText(), /pretrian/);
    // back to the file as shipped, so the run below uses a valid experiment
    await s.runCommand('File: Revert File');
    await waitFor('the squiggle to clear', async () => (await page.locator('.monaco-editor .squiggly-error').count()) === 0, 20_000);
  });

  test('completion offers an ontology term by its synonym', async () => {
    const page = s.page;
    await s.openFile('experiments/terms.bbio.yaml');
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('heart att');
    const item = page.locator('.suggest-widget .monaco-list-row', { hasText: 'myocardial infarction' }).first();
    // the ontology index builds in a worker after start-up: ask again until it answers with terms
    await waitFor(
      'the term completion',
      async () => {
        await page.keyboard.press('Escape');
        await page.keyboard.press('Control+Space');
        await page.locator('.suggest-widget .monaco-list-row').first().waitFor({ timeout: 5_000 });
        return (await item.count()) > 0;
      },
      60_000,
      1000,
    );
    await s.screenshot('03-completion-by-synonym');
    assert.match(await item.innerText(), /myocardial infarction/);
    await page.keyboard.press('Escape');
    await s.runCommand('File: Revert File');
  });

  let runId = '';

  test('Run Experiment starts a run; the status bar advances; the dashboard opens with the run', async () => {
    const page = s.page;
    await s.openFile('experiments/smoke.bbio.yaml');
    const before = new Set(await readdir(path.join(ws, 'runs')));
    await s.runCommand('BalancedBio: Run Experiment');
    const item = page.locator('.statusbar-item', { hasText: 'BalancedBio:' }).first();
    const seen: string[] = [];
    const final = await waitFor(
      'the run to finish in the status bar',
      async () => {
        if ((await item.count()) === 0) return undefined;
        const text = (await item.innerText()).trim();
        if (seen[seen.length - 1] !== text) seen.push(text);
        return /completed|failed|cancelled/.test(text) ? text : undefined;
      },
      240_000,
      100,
    );
    console.log(`status bar texts: ${JSON.stringify(seen)}`);
    const created = (await readdir(path.join(ws, 'runs'))).filter((d) => !before.has(d));
    assert.equal(created.length, 1, `one new run folder, got ${JSON.stringify(created)}`);
    runId = created[0]!;
    assert.ok(seen.length >= 3, `the status bar should advance (starting → stage/step → outcome), saw ${JSON.stringify(seen)}`);
    if (!/completed/.test(final)) {
      const log = await readFile(path.join(ws, 'runs', runId, 'events.jsonl'), 'utf8');
      const errors = log.split('\n').filter((l) => l.includes('"kind":"error"'));
      assert.fail(`the run ended "${final}"; engine errors: ${errors.join('\n') || '(none)'}`);
    }

    const frame = await s.webviewFrame('dashboard');
    await frame.locator('#run-status', { hasText: 'completed' }).waitFor({ timeout: 30_000 });
    assert.match(await frame.locator('.run-header h2').innerText(), new RegExp(runId));
    const events = (await readFile(path.join(ws, 'runs', runId, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string });
    const metrics = events.filter((e) => e.kind === 'metric').length;
    if (metrics > 0) {
      const chart = frame.locator('section.chart[data-points]').first();
      await chart.waitFor({ timeout: 30_000 });
      const points = Number(await chart.getAttribute('data-points'));
      assert.ok(points > 0, 'the first chart has points');
    } else {
      // this build's engine has no trainable stage yet: the run skips them all and reports no metric
      console.log('NOTE: the engine reported no metrics (its stages are "not in this build"); chart points are checked on the 50,000-point run below');
      await frame.locator('#no-metrics').waitFor({ timeout: 10_000 });
    }
    await s.screenshot('04-run-status-bar-dashboard');
  });

  test('the Runs view lists the run with its stages', async () => {
    const page = s.page;
    await page.locator('.activitybar .action-item a[aria-label^="BalancedBio"]').first().click();
    const row = page.locator('.monaco-list-row', { hasText: runId }).first();
    await row.waitFor({ timeout: 20_000 });
    await row.click();
    await page.locator('.monaco-list-row', { hasText: 'synthesize' }).first().waitFor({ timeout: 20_000 });
    await s.screenshot('05-runs-view');
    assert.ok((await page.locator('.monaco-list-row', { hasText: FPS_RUN }).count()) > 0, 'the synthetic run is listed too');
  });

  test(`the dashboard stays smooth at ${FPS_POINTS.toLocaleString('en')} points per series`, async () => {
    const page = s.page;
    // measure at a realistic width: the dashboard alone in the editor area, the panel hidden
    await s.runCommand('View: Close All Editor Groups');
    await s.runCommand('View: Hide Panel');
    const row = page.locator('.monaco-list-row', { hasText: FPS_RUN }).first();
    await row.click();
    await row.hover();
    await row.locator('.action-label[aria-label*="Open Dashboard"]').first().click();
    const frame = await waitFor('the 50k dashboard', async () => {
      for (const f of page.frames()) {
        try {
          if ((await f.locator('.run-header h2', { hasText: FPS_RUN }).count()) > 0) return f;
        } catch {
          continue; // a frame went away mid-probe; look again
        }
      }
      return undefined;
    }, 60_000);
    await frame.locator(`section.chart[data-points="${FPS_POINTS}"]`).first().waitFor({ timeout: 60_000 });

    await frame.locator('#interference').waitFor({ timeout: 10_000 });
    await frame.locator('#measure-fps').click();
    const fps = Number(await waitFor('the frame-rate result', () => frame.locator('#fps-result').getAttribute('data-fps'), 30_000));
    const summary = await frame.locator('#fps-result').innerText();
    console.log(`DASHBOARD FRAME RATE at ${FPS_POINTS} points/series: ${summary}`);
    await s.screenshot('06-dashboard-50k-points');
    assert.equal(Number(await frame.locator('#fps-result').getAttribute('data-points')), FPS_POINTS);
    assert.ok(fps >= 20, `the dashboard should redraw at >= 20 fps with ${FPS_POINTS} points per series, measured ${fps}`);
  });
});
