/**
 * The extension in a real VS Code (code-server + Chromium), installed from the VSIX, in a trusted
 * workspace. One editor session for the whole file; the tests run in order and each saves a screenshot
 * in test-results/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EditorSession, makeWorkspace, missingPrerequisite, ROOT, waitFor } from './harness';
import { writeSyntheticRun } from './fixture-run';
import { FIXTURE_SCALING_SWEEP, FIXTURE_SLURM_SWEEP, FIXTURE_SWEEP, writeFixtureScalingSweep, writeFixtureSlurmSweep, writeFixtureSweep } from './fixture-sweep';

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
  backend: wasm
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
    await writeFixtureSweep(path.join(ws, 'runs'));
    await writeFixtureSlurmSweep(path.join(ws, 'runs'));
    await writeFixtureScalingSweep(path.join(ws, 'runs'));
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
    // the bbio-yaml grammar delegates to VS Code's YAML grammar: keys, values and comments get their own colours
    const classes = await waitFor('syntax colours', async () => {
      const set = new Set(await s.page.locator('.monaco-editor .view-line span[class^="mtk"]').evaluateAll((els) => els.map((e) => e.className)));
      return set.size >= 3 ? set : undefined;
    }, 20_000);
    assert.ok(classes.size >= 3, `expected several token colours, got ${[...classes].join(' ')}`);
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
    const created = (await readdir(path.join(ws, 'runs'))).filter((d) => !before.has(d) && d !== '.stage-cache'); // the stage cache sits beside the runs
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

  test('the inspector shows the training set with the trained tokens highlighted, and the health panel', async () => {
    await s.runCommand('BalancedBio: Inspect Run (Rollouts, Dataset, Health)');
    const frame = await s.webviewFrame('inspector');
    await frame.locator('.run-header h2', { hasText: runId }).waitFor({ timeout: 30_000 });
    // the smoke run has no GRPO stage: the rollouts tab says so instead of showing an empty table
    await frame.locator('#rollouts .empty-state').waitFor({ timeout: 10_000 });
    await frame.locator('#tab-dataset').click();
    await frame.locator('#dataset article.example').first().waitFor({ timeout: 30_000 });
    const trained = await frame.locator('#dataset .tokens .tok.trained').count();
    const context = await frame.locator('#dataset .tokens .tok:not(.trained)').count();
    assert.ok(trained > 0 && context > 0, `token view with trained and context tokens, got ${trained} trained, ${context} context`);
    assert.ok((await frame.locator('#dataset dl.provenance').count()) > 0, 'MKGSG examples show their ontology provenance');
    assert.match(await frame.locator('#dataset-count').innerText(), /of \d+ · page 1\//);
    await s.screenshot('05b-inspector-dataset-trained-tokens');
    await frame.locator('#tab-health').click();
    await frame.locator('#health-metrics', { hasText: 'sft/cosine_raw' }).waitFor({ timeout: 10_000 });
  });

  // The frame-rate target (≥ 20 fps) lives in bench/dashboard.ts: a frame rate measures the machine's load as
  // much as the code. This test checks that the dashboard draws every point and that its probe measures it.
  test(`the dashboard draws ${FPS_POINTS.toLocaleString('en')} points per series and measures its frame rate`, async () => {
    // measure at a realistic width: the dashboard alone in the editor area, the panel hidden
    await s.runCommand('View: Close All Editor Groups');
    await s.runCommand('View: Hide Panel');
    await s.runRowAction(FPS_RUN, 'Open Dashboard');
    const frame = await s.frameShowing('.run-header h2', FPS_RUN);
    await frame.locator(`section.chart[data-points="${FPS_POINTS}"]`).first().waitFor({ timeout: 60_000 });

    await frame.locator('#interference').waitFor({ timeout: 10_000 });
    await frame.locator('#measure-fps').click();
    const fps = Number(await waitFor('the frame-rate result', () => frame.locator('#fps-result').getAttribute('data-fps'), 30_000));
    const summary = await frame.locator('#fps-result').innerText();
    console.log(`DASHBOARD FRAME RATE at ${FPS_POINTS} points/series: ${summary}`);
    await s.screenshot('06-dashboard-50k-points');
    assert.equal(Number(await frame.locator('#fps-result').getAttribute('data-points')), FPS_POINTS);
    assert.ok(Number.isFinite(fps) && fps > 0, `the probe measured a frame rate (${summary})`);
  });

  test('the rollout inspector shows each completion with reward, advantage and extracted vs gold answer', async () => {
    const dashboard = await s.frameShowing('.run-header h2', FPS_RUN);
    await dashboard.locator('#inspect-run').click();
    const frame = await s.frameShowing('body[data-view="inspector"] .run-header h2', FPS_RUN);
    await frame.locator('#rollout-step option').nth(1).waitFor({ state: 'attached', timeout: 30_000 });
    assert.deepEqual(await frame.locator('#rollout-step option').allInnerTexts(), ['step 1 · 1 group', 'step 5 · 1 group']);
    const rows = frame.locator('table.rollouts tbody tr');
    assert.equal(await rows.count(), 4);
    assert.match(await rows.nth(3).innerText(), /1\.200\s+0\.900[\s\S]*Allopurinol[\s\S]*✓ same/);
    assert.match(await rows.nth(2).innerText(), /nothing extracted[\s\S]*truncated/);
    await s.screenshot('10-inspector-rollouts');
  });

  test('a reward-up, accuracy-down alert becomes a notification and shows in the health panel', async () => {
    const page = s.page;
    await s.dismissNotifications();
    const alert = { v: 1, t: Date.now(), runId: FPS_RUN, kind: 'record', type: 'alert', stage: 'grpo', step: 8, data: { title: 'reward up, task accuracy down', meaning: 'the mean reward rose while held-out accuracy fell', reward: { from: 0.2, to: 0.6 }, accuracy: { from: 0.5, to: 0.3 } } };
    await appendFile(path.join(ws, 'runs', FPS_RUN, 'events.jsonl'), JSON.stringify(alert) + '\n');
    const toast = page.locator('.notification-toast', { hasText: 'reward up, task accuracy down' });
    await toast.waitFor({ timeout: 30_000 });
    assert.match(await toast.innerText(), /Inspect Rollouts/);
    const dashboard = await s.frameShowing('.run-header h2', FPS_RUN);
    await dashboard.locator('#health-panel .alert', { hasText: 'reward up, task accuracy down' }).waitFor({ timeout: 10_000 });
    await s.screenshot('11-alert-notification');
  });

  test('a sweep opens as its report above every variant run, and the comparison exports a PNG', async () => {
    const page = s.page;
    await s.dismissNotifications();
    await s.showRunsView(FPS_RUN);
    await s.runRowAction(FIXTURE_SWEEP, 'Open Sweep Report');
    const frame = await s.webviewFrame('compare');
    const table = frame.locator('#sweep-table');
    await table.waitFor({ timeout: 30_000 });
    assert.equal(await table.locator('tbody tr').count(), 2);
    assert.match(await table.locator('tbody tr').nth(1).innerText(), /projection-pcgrad[\s\S]*31\.3 ± 0\.0\*/);
    await frame.locator('#compare-charts section.chart').first().waitFor({ timeout: 10_000 });
    assert.ok((await frame.locator('#compare-scores th', { hasText: 'projection-none_seed-1' }).count()) > 0, 'variant runs are compared below the table');
    await s.screenshot('12-sweep-comparison');
    await frame.locator('#export-png').click();
    // the save dialog (VS Code's simple file dialog in the browser) proposes <workspace>/<sweep>.png: accept it
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await page.keyboard.press('Enter');
    const png = path.join(ws, `${FIXTURE_SWEEP}.png`);
    const bytes = await waitFor('the exported PNG', async () => (existsSync(png) ? readFile(png) : undefined), 20_000);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(bytes.length > 10_000, `a real image, not an empty canvas (${bytes.length} bytes)`);
    await copyFile(png, path.join(ROOT, 'test-results', '12b-sweep-comparison-export.png'));
  });

  test('a sweep over SFT steps shows scaling curves: a chart per capability, a series per projection', async () => {
    await s.dismissNotifications();
    await s.showRunsView(FPS_RUN);
    await s.runRowAction(FIXTURE_SCALING_SWEEP, 'Open Sweep Report');
    const frame = await s.frameShowing('#scaling h3', 'Scaling curves');
    const charts = frame.locator('#scaling section.chart');
    await charts.first().waitFor({ timeout: 30_000 });
    assert.equal(await charts.count(), 4, 'domain, reasoning, balance, interference');
    assert.equal(await charts.first().getAttribute('data-chart'), 'domain vs sft.steps');
    await frame.locator('#scaling canvas').first().waitFor({ timeout: 10_000 });
    await s.screenshot('14-scaling-curves');
  });

  test('the Runs view shows a Slurm sweep\'s job states: completed, running on its node, pending with its reason', async () => {
    const page = s.page;
    await s.dismissNotifications();
    await s.showRunsView(FPS_RUN);
    const sweep = page.locator('.part.sidebar .monaco-list-row', { hasText: FIXTURE_SLURM_SWEEP }).first();
    await sweep.waitFor({ timeout: 20_000 });
    assert.match(await sweep.innerText(), /running · 1\/3 variants/);
    if ((await sweep.getAttribute('aria-expanded')) !== 'true') await sweep.click();
    const row = (text: string) => page.locator('.part.sidebar .monaco-list-row', { hasText: text }).first();
    await row('Slurm 4242_1 RUNNING on node02').waitFor({ timeout: 20_000 });
    assert.match(await row('Slurm 4242_1 RUNNING on node02').innerText(), /projection-pcgrad_seed-1[\s\S]*running/, 'a run written from a compute node shows as running, not as interrupted');
    assert.match(await row('Slurm 4242_0 COMPLETED on node01').innerText(), /projection-none_seed-1[\s\S]*completed/);
    await row('Slurm 4242_2 PENDING (Resources)').waitFor({ timeout: 10_000 });
    assert.match(await row('Slurm 4242_2 PENDING (Resources)').innerText(), /projection-subspace_seed-1: pending/);
    // the sidebar cuts the descriptions short: the screenshot shows the running task's tooltip
    await row('Slurm 4242_1 RUNNING on node02').hover();
    await page.locator('.monaco-hover', { hasText: 'Slurm 4242_1 RUNNING on node02' }).first().waitFor({ timeout: 10_000 });
    await s.screenshot('13-slurm-sweep-job-states');
  });
});
