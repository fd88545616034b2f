import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../../engine/cli/main';
import type { CliIo } from '../../../engine/cli/io';
import { balanceOf } from '../../../engine/eval/report';
import { buildSweepReport, collectVariantResults, grpoSignalOf, pairedTest, renderSweepMarkdown, type GrpoSignal, type SweepReport, type VariantResult } from '../../../engine/run/sweep-report';
import { itemDifferences, pooledPairedDifference } from '../../../engine/eval/stats';
import type { EngineEvent } from '../../../schemas/generated/events';
import type { SweepState, SweepVariantState } from '../../../engine/run/sweep-store';
import { tempDir } from '../../helpers/tmp';

test('paired test: exact sign-flip p with the number of pairs; equal seed differences are not p = 0 (issue 17)', () => {
  assert.equal(pairedTest([1], [2]), null, 'one pair: no test');
  assert.equal(pairedTest([1, 2], [1, 2])!.p, 1);
  // two seeds, both 1/32 better (sd = 0): the t-test said t = ∞, p = 0, '**'; all + and all − are as extreme
  const equal = pairedTest([0.5, 0.25], [0.53125, 0.28125])!;
  assert.deepEqual([equal.n, equal.pRaw, equal.mark], [2, 0.5, '']);
  // the Holm family of a report: one row with six seeds each 0.1 better (p = 2/64) on every capability
  const v = (name: string, seed: number, x: number): VariantResult => ({ name: `${name}_seed-${seed}`, group: name, groupKey: name, seed, status: 'completed', headline: { domain: x, reasoning: x, instruction: x, integration: x }, balance: null });
  const seeds = [1, 2, 3, 4, 5, 6];
  const report = buildSweepReport({ sweepId: 's', name: 's' }, [...seeds.map((s) => v('a', s, 0.2)), ...seeds.map((s) => v('b', s, 0.3))]);
  const tests = Object.values(report.rows[1]!.capabilities).map((c) => c.vsFirst!);
  // four tests at p = 1/32: Holm multiplies the smallest by 4, and the running max keeps all at 1/8
  for (const t of tests) assert.deepEqual([t.n, t.pRaw, t.p, t.mark], [6, 1 / 32, 1 / 8, '']);
  assert.match(renderSweepMarkdown(report), /\| b \| domain \| 6 \| 10\.0 \| 0\.031 \| 0\.125 \|/);
  assert.match(renderSweepMarkdown(report), /Holm-adjusted/);
});

type Headline = Record<'domain' | 'reasoning' | 'instruction' | 'integration', number>;

async function fakeRun(sweepDir: string, v: SweepVariantState, headline: Headline | undefined, interference: [string, string, number][] = []): Promise<void> {
  const runDir = path.join(sweepDir, v.runDir!);
  await mkdir(runDir, { recursive: true });
  const score = (value: number) => ({ value, stderr: 0.05, n: 20 });
  if (headline) {
    const h = Object.fromEntries(Object.entries(headline).map(([k, x]) => [k, score(x)]));
    const base = Object.fromEntries(Object.keys(headline).map((k) => [k, score(0.01)]));
    const report = {
      version: 1, runId: path.basename(runDir), createdAt: '2026-01-01T00:00:00Z', reproducibility: { hashes: {} },
      models: [{ name: 'base', scores: {}, headline: base, balance: 1 }, { name: 'sft', scores: {}, headline: h, balance: balanceOf(h) }],
    };
    await writeFile(path.join(runDir, 'report.json'), JSON.stringify(report));
  }
  const events = interference.map(([c, o, value], i) => JSON.stringify({ v: 1, t: i, runId: 'r', kind: 'metric', stage: 'sft', name: 'sft/interference', value, step: 5, labels: { capability: c, other: o } }));
  await writeFile(path.join(runDir, 'events.jsonl'), events.join('\n') + (events.length ? '\n' : ''));
}

test('sweep report from hand-made report.json files: mean ± sd over seeds, paired sign-flip tests, interference', async (t) => {
  const dir = await tempDir(t);
  const variant = (group: string, seed: number, status: SweepVariantState['status'] = 'completed'): SweepVariantState => ({
    name: `projection-${group}_seed-${seed}`, group: `projection-${group}`, groupKey: JSON.stringify({ 'sft.projection': group }), seed, set: { 'sft.projection': group, seed }, status, attempts: 1, runDir: `projection-${group}_seed-${seed}/run`,
  });
  const vs = [variant('none', 1), variant('none', 2), variant('none', 3), variant('pcgrad', 1), variant('pcgrad', 2), variant('pcgrad', 3), variant('subspace', 1), variant('subspace', 2), variant('subspace', 3, 'failed')];
  const state: SweepState = { version: 1, sweepId: 'x-sweep', name: 'x', experimentFile: '/x.bbio.yaml', experimentSha256: '0', status: 'failed', createdAt: '', updatedAt: '', parallel: 1, stepsScale: 1, variants: vs };
  await writeFile(path.join(dir, 'sweep.json'), JSON.stringify(state));
  const flat = { instruction: 0.5, integration: 0.5 };
  await fakeRun(dir, vs[0]!, { domain: 0.5, reasoning: 0.2, ...flat }, [['domain', 'reasoning', 0.02], ['reasoning', 'domain', 0.04], ['domain', 'domain', -0.5]]);
  await fakeRun(dir, vs[1]!, { domain: 0.6, reasoning: 0.3, ...flat });
  await fakeRun(dir, vs[2]!, { domain: 0.7, reasoning: 0.4, ...flat });
  await fakeRun(dir, vs[3]!, { domain: 0.55, reasoning: 0.3, ...flat });
  await fakeRun(dir, vs[4]!, { domain: 0.7, reasoning: 0.42, ...flat });
  await fakeRun(dir, vs[5]!, { domain: 0.75, reasoning: 0.48, ...flat });
  await fakeRun(dir, vs[6]!, { domain: 0.6, reasoning: 0.2, ...flat });
  await fakeRun(dir, vs[7]!, { domain: 0.8, reasoning: 0.3, ...flat });
  await fakeRun(dir, vs[8]!, undefined);

  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: () => {}, isTTY: false, cwd: dir };
  assert.equal(await main(['sweep', 'report', dir], io), 0);
  const md = await readFile(path.join(dir, 'sweep-report.md'), 'utf8');
  assert.equal(out.join('\n') + '\n', md, 'the printed table is the file');
  const report = JSON.parse(await readFile(path.join(dir, 'sweep-report.json'), 'utf8')) as SweepReport;
  const [none, pcgrad, subspace] = report.rows;
  assert.deepEqual(report.rows.map((r) => [r.label, r.scored, r.variants.length]), [['projection-none', 3, 3], ['projection-pcgrad', 3, 3], ['projection-subspace', 2, 3]]);

  // by hand: none/domain 0.5, 0.6, 0.7 → mean 0.6, sd 0.1; pcgrad/domain 0.55, 0.7, 0.75 → mean 0.6667, sd 0.10408
  const close = (a: number, b: number, eps = 1e-4): void => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);
  close(none!.capabilities.domain!.summary!.mean, 0.6);
  close(none!.capabilities.domain!.summary!.sd!, 0.1);
  close(pcgrad!.capabilities.domain!.summary!.sd!, Math.sqrt(0.021666667 / 2));
  // paired differences .05, .10, .05: of the 8 sign flips only +++ and −−− reach |Σ| = .20 → p = 2/8
  const d = pcgrad!.capabilities.domain!.vsFirst!;
  assert.equal(d.n, 3);
  close(d.pRaw, 0.25);
  close(d.meanDiff, 0.2 / 3);
  // reasoning: differences .10, .12, .08 → likewise 2/8 (the t-test called this p = 0.013, '*')
  const r = pcgrad!.capabilities.reasoning!.vsFirst!;
  close(r.pRaw, 0.25);
  assert.equal(r.mark, '');
  // subspace pairs seeds 1, 2 only (seed 3 failed): differences .1, .2 → 2/4
  const s = subspace!.capabilities.domain!.vsFirst!;
  assert.equal(s.n, 2);
  close(s.pRaw, 0.5);
  // Holm over every comparison of the report: the smallest raw p (.25) times the number of tests exceeds 1
  assert.equal(d.p, 1);
  // identical scores: p = 1; the first row is the reference and has no test
  assert.equal(pcgrad!.capabilities.instruction!.vsFirst!.p, 1);
  assert.equal(none!.capabilities.domain!.vsFirst, null);
  // interference: mean of the off-diagonal entries of the one run that measured it (0.02, 0.04; not the −0.5 diagonal)
  close(none!.interference.summary!.mean, 0.03);
  assert.equal(none!.interference.summary!.n, 1);
  assert.equal(pcgrad!.interference.summary, null);
  // balance per run (min/max of chance-corrected headlines; these reports give no chance levels, so 0), then mean: none 0.2/0.5, 0.3/0.6, 0.4/0.7
  close(none!.balance.summary!.mean, (0.4 + 0.5 + 0.4 / 0.7) / 3);
  assert.deepEqual(none!.models, ['sft'], 'scores come from the final model');

  assert.match(md, /\| projection-none \| 3 \| 60\.0 ± 10\.0 \| 30\.0 ± 10\.0 \| 50\.0 ± 0\.0 \| 50\.0 ± 0\.0 \| 0\.490 ± 0\.086 \| 0\.0300 \|/);
  assert.match(md, /\| projection-pcgrad \| 3 \| 66\.7 ± 10\.4 \| 40\.0 ± 9\.2 \|/);
  assert.match(md, /\| projection-subspace \| 2\/3 \| 70\.0 ± 14\.1 \|/);
  assert.match(md, /sign-flip permutation test of the mean difference against the first row, runs paired by seed/);
  assert.match(md, /\| projection-pcgrad \| reasoning \| 3 \| 10\.0 \| 0\.250 \| 1\.000 \|/);
  assert.match(md, /`projection-subspace_seed-3` \(failed\): the run failed/);
});

test('GRPO training signal: last-10 % reward, final KL and weights per run; a second table when runs trained with GRPO', () => {
  const m = (step: number, name: string, value: number, labels?: Record<string, string>): EngineEvent => ({ v: 1, t: 0, runId: 'r', kind: 'metric', stage: 'grpo', step, name: name as 'grpo/kl', value, ...(labels ? { labels } : {}) });
  // 20 steps: the last 10 % are steps 19 and 20 (rewards 0.3 and 0.5 → 0.4); step 20 is logged twice (resume), the later value wins
  const events = [
    ...Array.from({ length: 20 }, (_, i) => m(i + 1, 'grpo/reward_total', 0.1)),
    m(19, 'grpo/reward_total', 0.3),
    m(20, 'grpo/reward_total', 0.9),
    m(20, 'grpo/reward_total', 0.5),
    m(3, 'grpo/kl', 0.01),
    m(20, 'grpo/kl', 0.02),
    m(1, 'grpo/weight', 0.25, { capability: 'domain' }),
    m(20, 'grpo/weight', 0.7, { capability: 'domain' }),
    m(20, 'grpo/weight', 0.1, { capability: 'reasoning' }),
  ];
  const sig = grpoSignalOf(events)!;
  assert.ok(Math.abs(sig.rewardLast10pct - 0.4) < 1e-12, String(sig.rewardLast10pct));
  assert.equal(sig.kl, 0.02);
  assert.deepEqual(sig.weights, { domain: 0.7, reasoning: 0.1 });
  assert.equal(grpoSignalOf([m(1, 'grpo/kl', 0.1)]), undefined, 'no reward, no GRPO signal');

  const v = (name: string, seed: number, grpo?: GrpoSignal): VariantResult => ({ name: `${name}_seed-${seed}`, group: name, groupKey: name, seed, status: 'completed', headline: { domain: 0.3 }, balance: 0, ...(grpo ? { grpo } : {}) });
  const report = buildSweepReport({ sweepId: 's', name: 's' }, [
    v('fixed', 1, { rewardLast10pct: 0.1, kl: 0.01, weights: { domain: 0.25 } }),
    v('fixed', 2, { rewardLast10pct: 0.2, kl: 0.03, weights: { domain: 0.25 } }),
    v('gap', 1, { rewardLast10pct: 0.3, kl: 0.02, weights: { domain: 0.7 } }),
    v('gap', 2, { rewardLast10pct: 0.5, kl: 0.02, weights: { domain: 0.6 } }),
  ]);
  const gap = report.rows[1]!.grpo!;
  assert.ok(Math.abs(gap.reward.summary!.mean - 0.4) < 1e-12);
  // paired by seed: differences 0.2, 0.3 → mean 0.25, sign-flip p = 2/4
  assert.ok(Math.abs(gap.reward.vsFirst!.meanDiff - 0.25) < 1e-9);
  assert.equal(gap.reward.vsFirst!.pRaw, 0.5);
  const md = renderSweepMarkdown(report);
  assert.match(md, /## GRPO training signal/);
  assert.match(md, /\| gap \| 0\.4000 ± 0\.1414 \| 0\.0200 ± 0\.0000 \| 0\.650 ± 0\.071 \|/);
  // interference is tested against the first row like the scores: differences −0.001, −0.002 → p = 2/4;
  // Holm over its three tests (domain p 1, balance p 1, interference p .5): min(1, 3 × .5) = 1
  const withInterference = buildSweepReport({ sweepId: 's', name: 's' }, [
    { ...v('fixed', 1), interference: 0.003 },
    { ...v('fixed', 2), interference: 0.004 },
    { ...v('gap', 1), interference: 0.002 },
    { ...v('gap', 2), interference: 0.002 },
  ]);
  assert.equal(withInterference.rows[1]!.interference.vsFirst!.pRaw, 0.5);
  assert.match(renderSweepMarkdown(withInterference), /\| gap \| interference \| 2 \| -1\.5e-3 \| 0\.500 \| 1\.000 \|/);
  const noGrpo = renderSweepMarkdown(buildSweepReport({ sweepId: 's', name: 's' }, [v('a', 1), v('b', 1)]));
  assert.doesNotMatch(noGrpo, /GRPO training signal/);
});

test('item level: per-seed paired differences on shared items, pooled over seeds, with the items\' error and an exact p', () => {
  // seed 1: items x, y, z with b − a = 1, 0, 0 (w only in b: left out); seed 2: 1, 1, 0
  const d1 = itemDifferences({ x: 0, y: 1, z: 0 }, { x: 1, y: 1, z: 0, w: 1 });
  const d2 = itemDifferences({ x: 0, y: 0, z: 1 }, { x: 1, y: 1, z: 1 });
  assert.deepEqual(d1, [1, 0, 0]);
  const pooled = pooledPairedDifference([d1, d2, null])!;
  // by hand: means 1/3 and 2/3 → 1/2; se_s² = var/3 = (1/3)/3 = 1/9 each → √(2/9)/2 = 0.2357
  assert.equal(pooled.seeds, 2);
  assert.equal(pooled.n, 6);
  assert.equal(pooled.differ, 3);
  assert.ok(Math.abs(pooled.diff - 0.5) < 1e-12);
  assert.ok(Math.abs(pooled.stderr! - Math.sqrt(2 / 9) / 2) < 1e-12);
  assert.equal(pooled.p, 2 / 8, 'three discordant items, all one way: exact sign-flip p = 2/2³');
  // five discordant items in one direction: the normal approximation said p ≈ 0.012; exact is 2/32
  assert.equal(pooledPairedDifference([[1, 1, 1, 1, 1, ...Array(15).fill(0)]])!.p, 0.0625);
  assert.equal(pooledPairedDifference([[0, 0, 0]])!.p, null, 'no pair differs: no test');
  assert.equal(pooledPairedDifference([null]), null);

  // in the report: row b's final models beat row a's on 100 items per seed, 30 of them, over 3 seeds
  const ids = Array.from({ length: 100 }, (_, i) => `q${i}`);
  const items = (k: number): Record<string, number> => Object.fromEntries(ids.map((id, i) => [id, i < k ? 1 : 0]));
  const v = (name: string, seed: number, k: number): VariantResult => ({ name: `${name}_seed-${seed}`, group: name, groupKey: name, seed, status: 'completed', headline: { domain: k / 100 }, items: { domain: items(k) }, balance: null });
  const report = buildSweepReport({ sweepId: 's', name: 's' }, [1, 2, 3].flatMap((s) => [v('a', s, 40), v('b', s, 70), v('c', s, 41)]));
  const b = report.rows[1]!.items!.domain!;
  assert.ok(Math.abs(b.diff - 0.3) < 1e-12);
  assert.equal(b.n, 300);
  assert.equal(b.differ, 90);
  assert.ok(b.p! < 1e-4 && b.pHolm! < 1e-4, '90 of 90 discordant items one way (Monte Carlo floor 1/65537)');
  const c = report.rows[2]!.items!.domain!;
  assert.equal(c.p, 0.25, 'one discordant item per seed, three in all: 2/2³');
  assert.ok(c.pHolm! >= c.p!);
  const md = renderSweepMarkdown(report);
  assert.match(md, /## Item-level paired differences against the first row/);
  assert.match(md, /\| b \| domain \| 3 \| 300 \| 90 \| 30\.0 ± 2\.7 \| 1\.5e-5 \| 3\.1e-5 \*\* \|/, 'by hand: se = √(3 · 0.3 · 0.7 · 100/99 / 100) / 3 = 2.7 points');
  assert.ok(!report.rows[0]!.items, 'the first row is the reference');
});

test('item level: a sweep folder\'s report.json per-item headline scores reach the variant results', async (t) => {
  const dir = await tempDir(t);
  const runDir = path.join(dir, 'v1', 'r1');
  await mkdir(runDir, { recursive: true });
  const report = {
    version: 1, runId: 'r1', createdAt: '2026-01-01T00:00:00Z', reproducibility: { hashes: {} },
    models: [{ name: 'sft', scores: {}, headline: { domain: { value: 0.5, stderr: 0.1, n: 2 } }, balance: null, perItem: { 'domain/acc': { q1: 1, q2: 0 } } }],
  };
  await writeFile(path.join(runDir, 'report.json'), JSON.stringify(report));
  await writeFile(path.join(runDir, 'events.jsonl'), '');
  const state = { variants: [{ name: 'v1', group: 'v', groupKey: 'v', seed: 1, status: 'completed', runDir: 'v1/r1' }] } as unknown as SweepState;
  const [r] = await collectVariantResults(dir, state);
  assert.deepEqual(r!.items, { domain: { q1: 1, q2: 0 } });
});
