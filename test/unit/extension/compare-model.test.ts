import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareToMarkdown, decodePngDataUrl, diffConfigs, flattenConfig, formatSweepCell, overlayCurves, scalingCurves, scoresFromEvents, scoresFromReport, sweepCellTitle, sweepFromReport } from '../../../extension/compare/compare-model';
import type { CompareRunView } from '../../../extension/views/messages';
import type { EngineEvent } from '../../../schemas/generated/events';

test('flattenConfig: nested keys as dotted paths, arrays as leaves', () => {
  assert.deepEqual([...flattenConfig({ a: { b: 1, c: [1, 2] }, d: 'x' })], [['a.b', '1'], ['a.c', '[1,2]'], ['d', '"x"']]);
});

test('diffConfigs shows only keys that differ, with absent keys as undefined', () => {
  const rows = diffConfigs([
    { name: 'a', sft: { projection: 'pcgrad', steps: 120 }, seed: 1 },
    { name: 'b', sft: { projection: 'none', steps: 120 }, seed: 1 },
    { name: 'c', sft: { projection: 'none', steps: 120 }, seed: 1, extra: true },
  ]);
  assert.deepEqual(rows, [
    { path: 'extra', values: [undefined, undefined, 'true'] },
    { path: 'name', values: ['"a"', '"b"', '"c"'] },
    { path: 'sft.projection', values: ['"pcgrad"', '"none"', '"none"'] },
  ]);
  assert.deepEqual(diffConfigs([{ a: 1 }, { a: 1 }]), []);
});

test('scoresFromReport accepts the documented shapes', () => {
  assert.deepEqual(scoresFromReport({ scores: { domain: 0.5, reasoning: { value: 0.4, stderr: 0.02 } } }), { domain: { value: 0.5, stderr: undefined }, reasoning: { value: 0.4, stderr: 0.02 } });
  assert.deepEqual(scoresFromReport({ suites: [{ suite: 'instruction', score: 0.7 }, { name: 'x', metric: 'loose', value: 0.1 }] }), { instruction: { value: 0.7, stderr: undefined }, 'x/loose': { value: 0.1, stderr: undefined } });
  assert.deepEqual(scoresFromReport(null), {});
  // the evaluate stage's report: the final model's headline per capability, not the base model's
  const report = { models: [{ name: 'base', headline: { domain: { value: 0.25, stderr: 0.07, n: 32 } } }, { name: 'sft', scores: { 'domain/acc': { value: 0.3 } }, headline: { domain: { value: 0.3125, stderr: 0.08, n: 32 }, reasoning: { value: 0, stderr: 0, n: 32 } } }] };
  assert.deepEqual(scoresFromReport(report), { domain: { value: 0.3125, stderr: 0.08 }, reasoning: { value: 0, stderr: 0 } });
});

test('scoresFromEvents: the last eval/score with its stderr', () => {
  const s = scoresFromEvents([
    { v: 1, t: 0, runId: 'r', kind: 'metric', name: 'eval/score', value: 0.3, labels: { suite: 'domain', metric: 'accuracy' } },
    { v: 1, t: 1, runId: 'r', kind: 'metric', name: 'eval/score', value: 0.6, labels: { suite: 'domain', metric: 'accuracy' } },
    { v: 1, t: 1, runId: 'r', kind: 'metric', name: 'eval/stderr', value: 0.01, labels: { suite: 'domain', metric: 'accuracy' } },
    { v: 1, t: 1, runId: 'r', kind: 'metric', name: 'eval/stderr', value: 0.01, labels: { suite: 'orphan' } },
  ]);
  assert.deepEqual(s, { domain: { value: 0.6, stderr: 0.01 } });
});

test('compareToMarkdown: scores with ± and deltas against the first run, then the diff', () => {
  const run = (runId: string, v: number): CompareRunView => ({ runId, status: 'completed', createdAt: undefined, scores: { domain: { value: v, stderr: 0.01 } }, summaries: {}, curves: {} });
  const md = compareToMarkdown([run('base', 0.5), run('ablation', 0.45)], [{ path: 'sft.projection', values: ['"pcgrad"', '"none"'] }]);
  assert.match(md, /\| domain \| 0\.500 ± 0\.010 \| 0\.450 ± 0\.010 \(−0\.050\) \|/);
  assert.match(md, /\| `sft\.projection` \| `"pcgrad"` \| `"none"` \|/);
  assert.match(compareToMarkdown([run('a', 1), run('b', 1)], []), /identical/);
});

test('overlayCurves: one entry per metric and label (stage, capability, component); resumes replace; long series thinned', () => {
  const m = (stage: 'sft' | 'grpo', step: number, name: string, value: number, labels?: Record<string, string>): EngineEvent => ({ v: 1, t: 0, runId: 'r', kind: 'metric', stage, step, name: name as 'sft/loss', value, ...(labels ? { labels } : {}) });
  const curves = overlayCurves([
    m('sft', 1, 'sft/loss', 3, { capability: 'domain' }),
    m('sft', 2, 'sft/loss', 2, { capability: 'domain' }),
    m('sft', 2, 'sft/loss', 2.5, { capability: 'domain' }), // resumed at step 2
    m('sft', 3, 'sft/loss', 1, { capability: 'domain' }),
    m('sft', 1, 'probe/accuracy', 0.1, { capability: 'domain', stage: 'sft' }),
    m('grpo', 1, 'probe/accuracy', 0.2, { capability: 'domain', stage: 'grpo' }),
    m('grpo', 1, 'grpo/reward_total', 0.3),
    m('grpo', 1, 'grpo/entropy', 5), // not overlaid
    m('sft', 4, 'sft/loss', Number.NaN, { capability: 'domain' }),
  ]);
  assert.deepEqual(Object.keys(curves).sort(), ['grpo/reward_total', 'probe/accuracy', 'sft/loss']);
  assert.deepEqual(curves['sft/loss'], { domain: { xs: [1, 2, 3], ys: [3, 2.5, 1] } });
  assert.deepEqual(Object.keys(curves['probe/accuracy']!).sort(), ['grpo domain', 'sft domain']);
  assert.deepEqual(curves['grpo/reward_total'], { all: { xs: [1], ys: [0.3] } });
  const long = overlayCurves(Array.from({ length: 1001 }, (_, i) => m('sft', i + 1, 'sft/loss', i, { capability: 'd' })), 100);
  const c = long['sft/loss']!['d']!;
  assert.ok(c.xs.length <= 101, String(c.xs.length));
  assert.deepEqual([c.xs[0], c.xs[c.xs.length - 1]], [1, 1001]); // first and last kept
});

test('sweepFromReport reads the engine report; formatSweepCell prints it as the Markdown does', () => {
  const cell = (mean: number, sd: number, vs: unknown = null) => ({ summary: { mean, sd, n: 2, values: [] }, vsFirst: vs });
  const report = {
    version: 1, sweepId: 's1', name: 'ablation', test: 'exact two-sided sign-flip permutation test; Holm-adjusted',
    rows: [
      { label: 'none', seeds: [1, 2], capabilities: { domain: cell(0.296875, 0.0663), reasoning: cell(0, 0) }, balance: cell(0, 0), interference: cell(-2.98e-7, 2.4e-6) },
      { label: 'pcgrad', seeds: [1, 2], capabilities: { domain: cell(0.34375, 0, { n: 6, pRaw: 0.03125, p: 0.03125, mark: '*' }), integration: { summary: null } }, balance: cell(0.5, 0.1, { p: 0.2, mark: '' }), interference: null, grpo: { reward: cell(0.0885, 0.001), kl: cell(0.02, 0), weights: { domain: cell(0.7, 0.05) } } },
      { nolabel: true },
    ],
  };
  const v = sweepFromReport(report);
  assert.deepEqual(v.capabilities, ['domain', 'reasoning', 'integration']);
  assert.deepEqual(v.rows.map((r) => r.label), ['none', 'pcgrad']);
  assert.equal(formatSweepCell(v.rows[0]!.capabilities['domain'], true), '29.7 ± 6.6');
  assert.equal(formatSweepCell(v.rows[1]!.capabilities['domain'], true), '34.4 ± 0.0*');
  assert.equal(v.rows[1]!.capabilities['domain']!.p, 0.03125);
  assert.equal(v.rows[1]!.capabilities['domain']!.pairs, 6);
  assert.equal(sweepCellTitle(v.rows[1]!.capabilities['domain'], 'none'), 'vs none: Holm-adjusted p = 0.031 (6 seed pairs; the smallest p 6 pairs can give is 0.031)');
  assert.equal(sweepCellTitle(v.rows[0]!.capabilities['domain'], 'none'), undefined, 'the reference row has no test');
  assert.equal(formatSweepCell(v.rows[1]!.capabilities['integration'], true), '–');
  assert.equal(formatSweepCell(v.rows[0]!.interference, false), '-3.0e-7 ± 2.4e-6');
  assert.equal(formatSweepCell(v.rows[1]!.balance, false), '0.500 ± 0.100');
  assert.equal(v.rows[0]!.grpo, undefined);
  assert.equal(formatSweepCell(v.rows[1]!.grpo!.weights['domain'], false), '0.700 ± 0.050');
  assert.equal(formatSweepCell(v.rows[1]!.grpo!.reward, false, 4), '0.0885 ± 0.0010');
  assert.throws(() => sweepFromReport({ rows: 'x' }), /no rows/);
});

test('decodePngDataUrl accepts a PNG and refuses anything else', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
  assert.deepEqual([...decodePngDataUrl(`data:image/png;base64,${png.toString('base64')}`)], [...png]);
  assert.throws(() => decodePngDataUrl(`data:image/jpeg;base64,${png.toString('base64')}`), /not a PNG data URL/);
  assert.throws(() => decodePngDataUrl(`data:image/png;base64,${Buffer.from('<svg/>').toString('base64')}`), /PNG signature/);
});

test('scalingCurves: each capability against the numeric sweep key with the most values, one series per other setting', () => {
  const cell = (mean: number, sd = 0.01) => ({ summary: { mean, sd, n: 3 }, vsFirst: null });
  const rows = [];
  for (const projection of ['none', 'pcgrad']) {
    for (const steps of [80, 20, 40]) {
      for (const hidden of [64, 128]) {
        const gain = (projection === 'pcgrad' ? 0.05 : 0) + steps / 1000 + hidden / 10_000;
        rows.push({ label: `${projection}-${steps}-${hidden}`, groupKey: JSON.stringify({ 'sft.projection': projection, 'sft.steps': steps, 'model.dims.hidden_size': hidden }), seeds: [1, 2, 3], capabilities: { domain: cell(0.3 + gain), reasoning: cell(0.1 + gain) }, balance: cell(0.5), interference: cell(0.001) });
      }
    }
  }
  const sweep = sweepFromReport({ sweepId: 's', name: 'scaling', test: 't', rows });
  const v = scalingCurves(sweep)!;
  assert.equal(v.axis, 'sft.steps', 'three step counts beat two sizes');
  assert.deepEqual(v.axes, ['model.dims.hidden_size', 'sft.steps']);
  assert.deepEqual(v.charts.map((c) => c.metric), ['domain', 'reasoning', 'balance', 'interference']);
  const domain = v.charts[0]!;
  assert.deepEqual(domain.series.map((s) => s.label), [
    'model.dims.hidden_size=128 · sft.projection=none',
    'model.dims.hidden_size=128 · sft.projection=pcgrad',
    'model.dims.hidden_size=64 · sft.projection=none',
    'model.dims.hidden_size=64 · sft.projection=pcgrad',
  ]);
  const pc64 = domain.series[3]!;
  assert.deepEqual(pc64.xs, [20, 40, 80], 'points sorted by x');
  assert.deepEqual(pc64.ys.map((y) => Number(y.toFixed(4))), [0.3 + 0.05 + 0.02 + 0.0064, 0.3 + 0.05 + 0.04 + 0.0064, 0.3 + 0.05 + 0.08 + 0.0064].map((y) => Number(y.toFixed(4))));
  assert.deepEqual(pc64.sds, [0.01, 0.01, 0.01]);

  const bySize = scalingCurves(sweep, 'model.dims.hidden_size')!;
  assert.equal(bySize.axis, 'model.dims.hidden_size');
  assert.equal(bySize.charts[0]!.series.length, 6, 'projection × steps');
  assert.deepEqual(bySize.charts[0]!.series[0]!.xs, [64, 128]);

  // nothing numeric to scale along: no curves (the ablation sweeps)
  assert.equal(scalingCurves(sweepFromReport({ rows: [{ label: 'a', groupKey: '{"sft.projection":"none"}', capabilities: { domain: cell(0.3) } }, { label: 'b', groupKey: '{"sft.projection":"pcgrad"}', capabilities: { domain: cell(0.4) } }] })), undefined);
  // one value only, or a hand-written report without groupKey: no axis either
  assert.equal(scalingCurves(sweepFromReport({ rows: [{ label: 'a', groupKey: '{"sft.steps":20}', capabilities: { domain: cell(0.3) } }, { label: 'b', capabilities: { domain: cell(0.4) } }] })), undefined);
});
