import assert from 'node:assert/strict';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import reportSchema from '../../../schemas/report.schema.json';
import type { EvalReport } from '../../../schemas/generated/report';
import { compareReports, renderComparison, renderReportMarkdown } from '../../../engine/eval/report';
import { buildSweepReport, renderSweepMarkdown, type VariantResult } from '../../../engine/run/sweep-report';
import { scoresFromReport } from '../../../extension/compare/compare-model';

function report(runId: string, medqa: number, se: number): EvalReport {
  const headline = { domain: { value: 0.5, stderr: 0.02, n: 100 }, reasoning: { value: 0.4, stderr: 0.02, n: 100 } };
  const tasks = { 'medqa/acc': { value: medqa, stderr: se, n: 400 }, 'ifeval/prompt_strict': { value: 0.25, stderr: 0.03, n: 200 } };
  // per-item scores as the evaluate stage writes them: the first round(medqa · 400) items right
  const items = (n: number, right: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`medqa:${i}`, Number(i < right)]));
  const perItem = { 'medqa/acc': items(400, Math.round(medqa * 400)), 'ifeval/prompt_strict': Object.fromEntries(Array.from({ length: 200 }, (_, i) => [String(i), Number(i < 50)])) };
  return { version: 1, runId, createdAt: '2026-12-03T00:00:00Z', models: [{ name: 'base', scores: {}, headline, balance: 0.8 }, { name: 'sft', scores: {}, headline, balance: 0.8, tasks, perItem }], reproducibility: { hashes: {} } };
}

test('report.json carries benchmark scores per model, and report.md shows them beside the suites', () => {
  const r = report('r1', 0.615, 0.024);
  const ajv = new Ajv2020({ strict: false });
  assert.ok(ajv.validate(reportSchema, r), ajv.errorsText());
  const md = renderReportMarkdown(r);
  assert.match(md, /## Benchmarks \(published formats, scored as lm-evaluation-harness does\)/);
  assert.match(md, /\| task\/metric \| sft \| n \|/);
  assert.match(md, /\| medqa\/acc \| 61\.5 ± 2\.4 \| 400 \|/);
  assert.match(md, /\| ifeval\/prompt_strict \| 25\.0 ± 3\.0 \| 200 \|/);
});

test('the run comparison lists benchmark scores after the capability metrics, with deltas and significance', () => {
  const runs = [{ runId: 'a', report: report('a', 0.6, 0.01) }, { runId: 'b', report: report('b', 0.65, 0.01) }];
  const row = compareReports(runs).find((x) => x.metric === 'medqa/acc')!;
  assert.ok(Math.abs(row.deltas[1]! - 5) < 1e-9);
  // significance is a paired bootstrap over the items both runs scored (issue 17): 20 of 400 more right
  assert.equal(row.pairs[1], 400);
  assert.equal(row.significant[1], true);
  const same = compareReports(runs).find((x) => x.metric === 'ifeval/prompt_strict')!;
  assert.equal(same.pairs[1], 200);
  assert.equal(same.significant[1], false);
  assert.match(renderComparison(runs, 'md').join('\n'), /\| medqa\/acc \| 60\.0 ± 1\.0 \| 65\.0 ± 1\.0 \(\+5\.0\) \|/);
});

test('the editor comparison view reads the final model\'s benchmark scores beside its headlines', () => {
  const s = scoresFromReport(report('a', 0.6, 0.01));
  assert.deepEqual(s['medqa/acc'], { value: 0.6, stderr: 0.01 });
  assert.deepEqual(s.domain, { value: 0.5, stderr: 0.02 });
});

test('the sweep report has a benchmarks table: mean ± sd over seeds and the bootstrap error of that mean', () => {
  const v = (group: string, seed: number, medqa: number, se: number): VariantResult => ({ name: `${group}-${seed}`, group, groupKey: group, seed, status: 'completed', model: 'sft', headline: { domain: 0.5, reasoning: 0.4, instruction: 0.5, integration: 0.5 }, balance: 0.8, tasks: { 'medqa/acc': { value: medqa, stderr: se } } });
  const rep = buildSweepReport({ sweepId: 's', name: 's' }, [v('none', 1, 0.5, 0.03), v('none', 2, 0.6, 0.04), v('pcgrad', 1, 0.7, 0.03), v('pcgrad', 2, 0.8, 0.04)]);
  const cell = rep.rows[0]!.tasks!['medqa/acc']!;
  assert.ok(Math.abs(cell.summary!.mean - 0.55) < 1e-12);
  assert.ok(Math.abs(cell.bootstrapSe! - 0.025) < 1e-12, '√(0.03² + 0.04²) / 2');
  assert.equal(rep.rows[1]!.tasks!['medqa/acc']!.vsFirst!.n, 2);
  const md = renderSweepMarkdown(rep);
  assert.match(md, /## Benchmarks/);
  assert.match(md, /\| variant \| medqa\/acc \|/);
  assert.match(md, /\| none \| 55\.0 ± 7\.1 \(se 2\.5\) \|/);
});
