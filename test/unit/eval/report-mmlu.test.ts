import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import reportSchema from '../../../schemas/report.schema.json';
import type { EvalReport } from '../../../schemas/generated/report';
import { loadMmlu, mmluPrompt, parseMmluCsv } from '../../../engine/eval/mmlu';
import { balanceOf, balanceWithError, chanceCorrected, compareReports, pairedDifferences, renderComparison, renderReportMarkdown } from '../../../engine/eval/report';
import { bootstrapStderr, score } from '../../../engine/eval/stats';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';
import { main } from '../../../engine/cli/main';
import type { CliIo } from '../../../engine/cli/io';

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

/** 100 items per capability: the first `right` of them correct. */
function items(right: number, n = 100): number[] {
  return Array.from({ length: n }, (_, i) => (i < right ? 1 : 0));
}

/** A report whose final model scored `domain` (4 options, chance 1/4) and `reasoning` (generation) items. */
function report(runId: string, domain: number[], reasoning: number[], opts: { perItem?: boolean } = {}): EvalReport {
  const s = (xs: number[]) => score(xs, 200, 1);
  const headline = { domain: s(domain), reasoning: s(reasoning) };
  const chance = { domain: 0.25, reasoning: 0 };
  const byId = (xs: number[]) => Object.fromEntries(xs.map((x, i) => [`q${i}`, x]));
  const perItem = { 'domain/acc': byId(domain), 'reasoning/answer_acc': byId(reasoning) };
  const bal = balanceWithError({ domain, reasoning }, chance, 200, 1);
  return { version: 1, runId, createdAt: '2026-11-27T00:00:00Z', models: [{ name: 'base', scores: { 'domain/acc': headline.domain }, headline, balance: bal.balance, balanceStderr: bal.stderr, chance, ...(opts.perItem === false ? {} : { perItem }) }], examples: [{ suite: 'domain', model: 'base', prompt: 'Q?', gold: 'B', output: 'A', correct: false }], reproducibility: { hashes: { 'artifacts/data/test.jsonl': 'ab'.repeat(32) } } };
}

test('a report validates against its schema and renders to Markdown', () => {
  const r = report('r1', items(60), items(30));
  const ajv = new Ajv2020({ strict: false });
  assert.ok(ajv.validate(reportSchema, r), ajv.errorsText());
  const md = renderReportMarkdown(r);
  assert.match(md, /\| domain \| 60\.0 ± 4\.\d \|/);
  assert.match(md, /\| \*\*balance\*\* \(chance-corrected min\/max\) \| 0\.643 ± 0\.\d{3} \|/);
  assert.match(md, /Balance: min\/max over capabilities of the chance-corrected headline scores/);
  assert.match(md, /gold: B · answered: A/);
});

test('balance is min/max of chance-corrected scores, clipped to [0, 1], with a bootstrap error (issue 17)', () => {
  const h = (domain: number, reasoning: number) => ({ domain: { value: domain, stderr: null, n: 100 }, reasoning: { value: reasoning, stderr: null, n: 100 } });
  const chance = { domain: 0.25, reasoning: 0 };
  // domain 60 % on 4 options is (0.6 − 0.25)/0.75 = 0.4667 above chance; reasoning 30 % → 0.3/0.4667 = 9/14
  assert.ok(Math.abs(balanceOf(h(0.6, 0.3), chance)! - 9 / 14) < 1e-12);
  // guessing on domain and nothing on reasoning: no capability above chance, so no balance (was 0)
  assert.equal(balanceOf(h(0.25, 0), chance), null);
  // below chance clips to 0: domain 20 % with reasoning 10 % → 0, not 2
  assert.equal(balanceOf(h(0.2, 0.1), chance), 0);
  assert.equal(chanceCorrected(1, 0.25), 1);
  // the error: items of a perfectly balanced pair resampled; with all items right on both, none
  const even = balanceWithError({ domain: items(100), reasoning: items(100) }, chance, 300, 3);
  assert.deepEqual(even, { balance: 1, stderr: 0 });
  const noisy = balanceWithError({ domain: items(60), reasoning: items(30) }, chance, 2000, 3);
  assert.ok(Math.abs(noisy.balance! - 9 / 14) < 1e-12);
  // delta method by hand: balance = r/d with d = (D − ¼)/¾; sd(D) = √(.6·.4/100) / ¾ = .0653 for d = .4667,
  // sd(r) = √(.3·.7/100) = .0458 → sd(r/d) ≈ (r/d)·√((.0458/.3)² + (.0653/.4667)²) = 0.133
  assert.ok(Math.abs(noisy.stderr! - 0.133) < 0.02, String(noisy.stderr));
});

test('compare tests deltas by a paired bootstrap over the items both runs scored (issue 17)', () => {
  // b gains 6 domain items and loses none: 1-SE rule √(.0025 + .00246) = 7.0 points > 6 said "n.s.";
  // paired, P(no gained item in a resample) = .94^100 ≈ .2 %, so the interval excludes 0
  const gained = items(50).map((x, i) => (i >= 50 && i < 56 ? 1 : x));
  const runs = [{ runId: 'a', report: report('a', items(50), items(30)) }, { runId: 'b', report: report('b', gained, items(32)) }];
  const rows = compareReports(runs);
  const d = rows.find((r) => r.metric === 'headline/domain')!;
  const re = rows.find((r) => r.metric === 'headline/reasoning')!;
  assert.ok(Math.abs(d.deltas[1]! - 6) < 1e-9);
  assert.equal(d.significant[1], true);
  assert.equal(d.pairs[1], 100);
  // reasoning: +2 items out of 100, P(none in a resample) = .98^100 ≈ 13 % → within the noise
  assert.equal(re.significant[1], false);
  const text = renderComparison(runs, 'md').join('\n');
  assert.match(text, /\| headline\/domain \| 50\.0 ± \d\.\d \| 56\.0 ± \d\.\d \(\+6\.0\) \|/);
  assert.match(text, /\| headline\/reasoning \| 30\.0 ± 4\.\d \| 32\.0 ± 4\.\d \(\+2\.0 n\.s\.\) \|/);
  assert.match(text, /paired bootstrap interval of Δ over the items both runs scored \(B = 1000/);
  // a report without per-item scores cannot be paired: no test, and the table says so
  const old = compareReports([runs[0]!, { runId: 'c', report: report('c', gained, items(32), { perItem: false }) }]);
  assert.equal(old.find((r) => r.metric === 'headline/domain')!.significant[1], undefined);
  assert.match(renderComparison([runs[0]!, { runId: 'c', report: report('c', gained, items(32), { perItem: false }) }], 'text').join('\n'), /\+6\.0 unpaired/);
});

test('`balancedbio compare --bootstrap B` sets the resamples of the paired bootstrap and refuses a non-positive B', async (t) => {
  const dir = await tempDir(t);
  const gained = items(50).map((x, i) => (i >= 50 && i < 56 ? 1 : x));
  for (const [id, rep] of [['a', report('a', items(50), items(30))], ['b', report('b', gained, items(32))]] as const) {
    await mkdir(path.join(dir, id));
    await writeFile(path.join(dir, id, 'report.json'), JSON.stringify(rep));
  }
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: () => {}, isTTY: false, cwd: dir };
  assert.equal(await main(['compare', 'a', 'b', '--bootstrap', '300'], io), 0);
  assert.match(out.join('\n'), /\(B = 300,/);
  assert.match(out.join('\n'), /headline\/domain +50\.0 ± \d\.\d +56\.0 ± \d\.\d \(\+6\.0\)/);
  assert.notEqual(await main(['compare', 'a', 'b', '--bootstrap', '0'], { ...io, err: () => {} }), 0);
});

test('a run\'s report pairs each model with the one before it on the same items: Δ ± paired SE, ** at 2 SE, "no item differs" when none does', () => {
  const base = report('r', items(10, 40), items(0, 40));
  const sft = { ...base.models[0]!, name: 'sft' as const, perItem: { 'domain/acc': base.models[0]!.perItem!['domain/acc']!, 'reasoning/answer_acc': Object.fromEntries(Object.keys(base.models[0]!.perItem!['reasoning/answer_acc']!).map((id, i) => [id, i < 10 ? 1 : 0])) } };
  const rows = pairedDifferences([base.models[0]!, sft]);
  const reasoning = rows.find((r) => r.metric === 'reasoning/answer_acc')!;
  assert.equal(reasoning.contrast, 'sft − base');
  assert.equal(reasoning.paired!.diff, 0.25);
  assert.equal(reasoning.paired!.differ, 10);
  const md = renderReportMarkdown({ ...base, models: [base.models[0]!, sft] });
  assert.match(md, /## Paired differences/);
  assert.match(md, /\| reasoning\/answer_acc \| \+25\.0 ± 6\.9 \*\* \(n = 40, 10 differ\) \|/);
  assert.match(md, /\| domain\/acc \| 0\.0 \(no item differs, n = 40\) \|/);
});
