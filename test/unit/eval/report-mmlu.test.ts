import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import reportSchema from '../../../schemas/report.schema.json';
import type { EvalReport } from '../../../schemas/generated/report';
import { loadMmlu, mmluPrompt, parseMmluCsv } from '../../../engine/eval/mmlu';
import { balanceOf, compareReports, renderComparison, renderReportMarkdown } from '../../../engine/eval/report';
import { bootstrapStderr, score } from '../../../engine/eval/stats';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';

test('MMLU CSV: quoted commas, quotes and newlines; no header; answer letters', () => {
  const csv = 'What is 2+2?,3,4,5,6,B\n"Which drug, among these, is an ""ACE inhibitor""?",lisinopril,"metoprolol, a beta blocker","line one\nline two",aspirin,A\n';
  const items = parseMmluCsv(csv, 'x_test.csv');
  assert.equal(items.length, 2);
  assert.equal(items[1]!.question, 'Which drug, among these, is an "ACE inhibitor"?');
  assert.equal(items[1]!.options[1], 'metoprolol, a beta blocker');
  assert.equal(items[1]!.options[2], 'line one\nline two');
  assert.equal(items[1]!.answer, 'A');
});

test('MMLU CSV: a bad row names the file and row', () => {
  assert.throws(() => parseMmluCsv('q,a,b,c,d,A\nq2,a,b,c,d,E\n', 'bad_test.csv'), (e: BbioError) => e.code === 'E_IO' && /row 2 has answer "E"/.test(e.message) && e.location.line === 2);
  assert.throws(() => parseMmluCsv('q,a,b,c,A\n', 'short_test.csv'), (e: BbioError) => /5 fields, expected 6/.test(e.message) || /not a valid CSV/.test(e.message));
});

test('MMLU folder: subjects, dev few-shot pool, subject filter, and the original prompt format', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'mmlu'));
  await writeFile(path.join(dir, 'mmlu/anatomy_test.csv'), 'Q1,a,b,c,d,C\n');
  await writeFile(path.join(dir, 'mmlu/anatomy_dev.csv'), 'D1,w,x,y,z,D\n');
  await writeFile(path.join(dir, 'mmlu/medical_genetics_test.csv'), 'Q2,a,b,c,d,A\n');
  const all = await loadMmlu(path.join(dir, 'mmlu'));
  assert.deepEqual(all.map((s) => s.subject), ['anatomy', 'medical_genetics']);
  assert.equal(all[0]!.dev.length, 1);
  assert.equal(all[1]!.dev.length, 0);
  const only = await loadMmlu(path.join(dir, 'mmlu'), { subjects: ['medical_genetics'] });
  assert.equal(only.length, 1);
  const prompt = mmluPrompt('anatomy', all[0]!.items[0]!, all[0]!.dev);
  assert.equal(prompt, 'The following are multiple choice questions (with answers) about anatomy.\n\nD1\nA. w\nB. x\nC. y\nD. z\nAnswer: D\n\nQ1\nA. a\nB. b\nC. c\nD. d\nAnswer:');
  await assert.rejects(loadMmlu(path.join(dir, 'nope')), (e: BbioError) => e.code === 'E_FILE_MISSING');
});

test('bootstrap standard error is seeded and close to the analytic value', () => {
  const xs = Array.from({ length: 400 }, (_, i) => (i % 10 < 7 ? 1 : 0));
  const a = bootstrapStderr(xs, 2000, 1);
  assert.equal(a, bootstrapStderr(xs, 2000, 1), 'deterministic for a seed');
  assert.notEqual(a, bootstrapStderr(xs, 2000, 2));
  const analytic = Math.sqrt((0.7 * 0.3) / 400);
  assert.ok(Math.abs(a - analytic) < 0.15 * analytic, `${a} vs ${analytic}`);
  assert.deepEqual(score([1], 100, 1).n, 1);
  assert.equal(score([1], 100, 1).stderr, null);
});

function report(runId: string, domain: number, reasoning: number, se = 0.02): EvalReport {
  const headline = { domain: { value: domain, stderr: se, n: 100 }, reasoning: { value: reasoning, stderr: se, n: 100 } };
  return { version: 1, runId, createdAt: '2026-11-27T00:00:00Z', models: [{ name: 'base', scores: { 'domain/acc': headline.domain }, headline, balance: balanceOf(headline) }], examples: [{ suite: 'domain', model: 'base', prompt: 'Q?', gold: 'B', output: 'A', correct: false }], reproducibility: { hashes: { 'artifacts/data/test.jsonl': 'ab'.repeat(32) } } };
}

test('a report validates against its schema and renders to Markdown', () => {
  const r = report('r1', 0.6, 0.3);
  const ajv = new Ajv2020({ strict: false });
  assert.ok(ajv.validate(reportSchema, r), ajv.errorsText());
  assert.equal(r.models[0]!.balance, 0.5);
  const md = renderReportMarkdown(r);
  assert.match(md, /\| domain \| 60\.0 ± 2\.0 \|/);
  assert.match(md, /\| \*\*balance\*\* \(min\/max\) \| 0\.500 \|/);
  assert.match(md, /gold: B · answered: A/);
});

test('compare marks deltas smaller than the standard error as not significant', () => {
  const rows = compareReports([{ runId: 'a', report: report('a', 0.6, 0.3) }, { runId: 'b', report: report('b', 0.62, 0.45) }]);
  const d = rows.find((r) => r.metric === 'headline/domain')!;
  const re = rows.find((r) => r.metric === 'headline/reasoning')!;
  assert.ok(Math.abs(d.deltas[1]! - 2) < 1e-9);
  assert.equal(d.significant[1], false);
  assert.equal(re.significant[1], true);
  const text = renderComparison([{ runId: 'a', report: report('a', 0.6, 0.3) }, { runId: 'b', report: report('b', 0.62, 0.45) }], 'md').join('\n');
  assert.match(text, /\| headline\/domain \| 60\.0 ± 2\.0 \| 62\.0 ± 2\.0 \(\+2\.0 n\.s\.\) \|/);
  assert.match(text, /\| headline\/reasoning \| 30\.0 ± 2\.0 \| 45\.0 ± 2\.0 \(\+15\.0\) \|/);
});
