/**
 * Reports: the per-run report.json (schemas/report.schema.json) rendered to Markdown, the balance figure,
 * and the side-by-side comparison of runs that `balancedbio compare` and the editor's results panel show.
 */
import type { EvalReport } from '../../schemas/generated/report';
import { makeRng } from '../util/rng';
import type { Capability } from '../core/stage';
import { HEADLINE_METRIC } from './suites';
import { meanOf, pairedBootstrap, pairedDifference, variance, type PairedBootstrapOptions, type PairedDifference, type Score } from './stats';

export type ModelReport = EvalReport['models'][number];

export const HEADLINE_ORDER = ['domain', 'reasoning', 'instruction', 'integration'] as const;

/**
 * A score with guessing taken out: (score − chance)/(1 − chance), clipped to [0, 1], so 0 = no better than
 * guessing and 1 = perfect whatever the chance level (the kappa-style correction of Cohen 1960). Without
 * it a 4-option multiple-choice suite starts at 25 % and a generative one at 0, and their ratio says
 * nothing about balance.
 */
export function chanceCorrected(value: number, chance: number): number {
  if (!(chance < 1)) return 0;
  return Math.min(1, Math.max(0, (value - chance) / (1 - chance)));
}

/**
 * The method's balance figure: min / max over capabilities of the chance-corrected headline scores
 * (chance = 1/options for multiple choice, 0 for generation; a capability missing from `chance` counts as
 * generation). 1 = every capability equally far above chance, 0 = some capability at or below chance
 * while another is above it; null with fewer than two capabilities or none above chance.
 */
export function balanceOf(headline: Record<string, Score | undefined>, chance: Partial<Record<string, number>> = {}): number | null {
  const values = Object.entries(headline).flatMap(([c, s]) => (s && Number.isFinite(s.value) ? [chanceCorrected(s.value, chance[c] ?? 0)] : []));
  if (values.length < 2) return null;
  const max = Math.max(...values);
  return max > 0 ? Math.min(...values) / max : null;
}

/**
 * Balance with its bootstrap standard error (Efron & Tibshirani 1993, §6.2): each capability's items are
 * resampled with replacement (capabilities are scored on different items, so independently), the balance
 * recomputed on every resample, and the error is the sd over the resamples where it is defined.
 * `items`: capability → the headline metric's per-item scores.
 */
export function balanceWithError(items: Record<string, readonly number[]>, chance: Partial<Record<string, number>>, resamples: number, seed: number): { balance: number | null; stderr: number | null } {
  const caps = Object.entries(items).filter(([, xs]) => xs.length > 0);
  const asScores = (means: number[]): Record<string, Score> => Object.fromEntries(caps.map(([c], k) => [c, { value: means[k]!, stderr: null, n: 0 }]));
  const balance = balanceOf(asScores(caps.map(([, xs]) => meanOf(xs))), chance);
  const rng = makeRng(seed).fork('balance');
  const draws: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const means = caps.map(([, xs]) => {
      let s = 0;
      for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)]!;
      return s / xs.length;
    });
    const v = balanceOf(asScores(means), chance);
    if (v !== null) draws.push(v);
  }
  return { balance, stderr: draws.length >= 2 ? Math.sqrt(variance(draws)) : null };
}

/** What the balance figure is, for every table that shows it. */
export const BALANCE_NOTE =
  'Balance: min/max over capabilities of the chance-corrected headline scores, (score − chance)/(1 − chance) clipped to [0, 1], with chance = 1/options for multiple choice and 0 for generation; 1 = equally far above chance on every capability, 0 = some capability no better than guessing; ± bootstrap standard error over items.';

/** `0.412 ± 0.080`, or `–` when undefined. */
export function fmtBalance(m: Pick<ModelReport, 'balance' | 'balanceStderr'> | undefined): string {
  if (!m || m.balance === null || m.balance === undefined) return '–';
  return `${m.balance.toFixed(3)}${typeof m.balanceStderr === 'number' ? ` ± ${m.balanceStderr.toFixed(3)}` : ''}`;
}

export function pct(s: Score | undefined): string {
  if (!s || !Number.isFinite(s.value)) return '–';
  const se = s.stderr !== null && Number.isFinite(s.stderr) ? ` ± ${(100 * s.stderr).toFixed(1)}` : '';
  return `${(100 * s.value).toFixed(1)}${se}`;
}

function mdTable(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** The model a run is judged by: the last stage that produced one. */
export function finalModel(report: EvalReport): ModelReport | undefined {
  const order = ['grpo', 'sft', 'base', 'external'];
  return [...report.models].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))[0];
}

export function renderReportMarkdown(report: EvalReport): string {
  const models = report.models;
  const lines = [`# Evaluation report — ${report.runId}`, '', `Scores in % (± bootstrap standard error); items per score in the detailed table.`, ''];
  lines.push(
    ...mdTable(
      ['capability', ...models.map((m) => m.name)],
      [...HEADLINE_ORDER.map((c) => [c, ...models.map((m) => pct(m.headline?.[c]))]), ['**balance** (chance-corrected min/max)', ...models.map(fmtBalance)]],
    ),
    '',
    BALANCE_NOTE,
  );
  const metricNames = [...new Set(models.flatMap((m) => Object.keys(m.scores)))].sort();
  lines.push('', '## All metrics', '', ...mdTable(['metric', ...models.map((m) => m.name), 'n'], metricNames.map((k) => [k, ...models.map((m) => pct(m.scores[k])), String(models.find((m) => m.scores[k])?.scores[k]?.n ?? '')])));
  lines.push(...renderPairedDifferences(models));
  const mmlu = models.filter((m) => m.mmlu && Object.keys(m.mmlu).length);
  if (mmlu.length) {
    const subjects = [...new Set(mmlu.flatMap((m) => Object.keys(m.mmlu!)))].sort((a, b) => (a === 'overall' ? 1 : b === 'overall' ? -1 : a.localeCompare(b)));
    lines.push('', '## MMLU-format benchmarks', '', ...mdTable(['subject', ...mmlu.map((m) => m.name), 'n'], subjects.map((s) => [s, ...mmlu.map((m) => pct(m.mmlu![s])), String(mmlu[0]!.mmlu![s]?.n ?? '')])));
  }
  const withTasks = models.filter((m) => m.tasks && Object.keys(m.tasks).length);
  if (withTasks.length) {
    const keys = [...new Set(withTasks.flatMap((m) => Object.keys(m.tasks!)))];
    lines.push('', '## Benchmarks (published formats, scored as lm-evaluation-harness does)', '', ...mdTable(['task/metric', ...withTasks.map((m) => m.name), 'n'], keys.map((k) => [k, ...withTasks.map((m) => pct(m.tasks![k])), String(withTasks.find((m) => m.tasks![k])?.tasks![k]?.n ?? '')])));
  }
  if (report.examples?.length) {
    lines.push('', '## Examples');
    for (const suite of [...new Set(report.examples.map((e) => e.suite))]) {
      lines.push('', `### ${suite}`, '');
      for (const e of report.examples.filter((x) => x.suite === suite)) {
        lines.push(`- **${e.model}** ${e.correct ? '✓' : '✗'} — gold: ${oneLine(e.gold)} · answered: ${oneLine(e.output)}`, `  <details><summary>prompt</summary>\n\n  ${oneLine(e.prompt, 600)}\n\n  </details>`);
      }
    }
  }
  const hashes = Object.entries(report.reproducibility.hashes);
  if (hashes.length) lines.push('', '## Reproducibility', '', ...hashes.map(([f, h]) => `- \`${f}\` sha256 \`${(h ?? '').slice(0, 16)}…\``));
  return lines.join('\n') + '\n';
}

/** The model pairs a run's report contrasts: each stage against the one before it, and GRPO against the base. */
const CONTRASTS: readonly (readonly [ModelReport['name'], ModelReport['name']])[] = [['base', 'sft'], ['sft', 'grpo'], ['base', 'grpo']];

/** `+4.7 ± 2.1` in points, with `**` at two paired standard errors or more and the pair count. */
export function fmtPaired(p: PairedDifference | null): string {
  if (!p) return '–';
  if (!p.differ) return `0.0 (no item differs, n = ${p.n})`;
  const se = p.stderr ?? NaN;
  const z = Number.isFinite(se) && se > 0 ? Math.abs(p.diff) / se : 0;
  return `${p.diff >= 0 ? '+' : '−'}${Math.abs(100 * p.diff).toFixed(1)} ± ${(100 * se).toFixed(1)}${z >= 2 ? ' **' : ''} (n = ${p.n}, ${p.differ} differ)`;
}

/**
 * Per metric, each later model against the earlier one on the same held-out items (paired by item id):
 * Δ ± paired standard error. The per-model ± above cannot say whether two models differ; this can.
 */
export function pairedDifferences(models: readonly ModelReport[]): { contrast: string; metric: string; paired: PairedDifference | null }[] {
  const byName = new Map(models.map((m) => [m.name, m]));
  const out: { contrast: string; metric: string; paired: PairedDifference | null }[] = [];
  for (const [a, b] of CONTRASTS) {
    const ma = byName.get(a);
    const mb = byName.get(b);
    if (!ma?.perItem || !mb?.perItem) continue;
    for (const metric of Object.keys(mb.perItem).sort()) {
      const ia = ma.perItem[metric];
      const ib = mb.perItem[metric];
      if (ia && ib) out.push({ contrast: `${b} − ${a}`, metric, paired: pairedDifference(ia, ib) });
    }
  }
  return out;
}

function renderPairedDifferences(models: readonly ModelReport[]): string[] {
  const rows = pairedDifferences(models);
  if (!rows.length) return [];
  const contrasts = [...new Set(rows.map((r) => r.contrast))];
  const metrics = [...new Set(rows.map((r) => r.metric))].sort();
  const cell = (c: string, m: string): string => fmtPaired(rows.find((r) => r.contrast === c && r.metric === m)?.paired ?? null);
  return [
    '', '## Paired differences', '',
    'Δ in points between two models on the same held-out items (matched by item id) ± the paired standard error, sd(Δ)/√n; ** marks |Δ| ≥ 2 paired standard errors. n counts items (instruction-level metrics: constraints).', '',
    ...mdTable(['metric', ...contrasts], metrics.map((m) => [m, ...contrasts.map((c) => cell(c, m))])),
  ];
}

function oneLine(s: string, max = 160): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

export interface ComparedRun {
  runId: string;
  report: EvalReport;
}

export interface ComparisonRow {
  metric: string;
  values: (Score | undefined)[];
  /** Delta of each run against the first, in points; undefined where either side is missing. */
  deltas: (number | undefined)[];
  /** Whether the paired bootstrap interval of each delta excludes 0; undefined where fewer than 2 items pair up. */
  significant: (boolean | undefined)[];
  /** Items both runs scored (paired by item id); undefined where a report has no per-item scores. */
  pairs: (number | undefined)[];
}

/** The paired bootstrap of `balancedbio compare`: B resamples, seeded, a 95 % percentile interval. */
export const COMPARE_BOOTSTRAP: PairedBootstrapOptions = { resamples: 1000, seed: 0, level: 0.95 };

/** The per-item scores behind a metric (`headline/<capability>` reads the capability's headline metric). */
function perItemOf(m: ModelReport | undefined, metric: string): Record<string, number | undefined> | undefined {
  const key = metric.startsWith('headline/') ? HEADLINE_METRIC[metric.slice(9) as Capability] : metric;
  return key ? m?.perItem?.[key] : undefined;
}

/**
 * Headline capabilities, balance, every suite metric and every benchmark score of each run's final model, against the first run.
 * Significance: a paired bootstrap (eval/stats.ts) over the items both runs scored, matched by item id;
 * runs evaluated on different items (other test splits, reports without per-item scores) are not tested.
 */
export function compareReports(runs: readonly ComparedRun[], boot: PairedBootstrapOptions = COMPARE_BOOTSTRAP): ComparisonRow[] {
  const models = runs.map((r) => finalModel(r.report));
  const suiteMetrics = [...new Set(models.flatMap((m) => Object.keys(m?.scores ?? {})))].sort();
  const taskMetrics = [...new Set(models.flatMap((m) => Object.keys(m?.tasks ?? {})))].sort();
  const metrics = [...HEADLINE_ORDER.map((c) => `headline/${c}`), ...suiteMetrics, ...taskMetrics];
  const get = (m: ModelReport | undefined, k: string): Score | undefined => (k.startsWith('headline/') ? m?.headline?.[k.slice(9)] : (m?.scores[k] ?? m?.tasks?.[k]));
  return metrics.map((metric) => {
    const values = models.map((m) => get(m, metric));
    const base = values[0];
    const baseItems = perItemOf(models[0], metric);
    const paired = models.map((m, i) => {
      const items = perItemOf(m, metric);
      if (i === 0 || !items || !baseItems) return undefined;
      const shared = Object.keys(items).filter((id) => typeof items[id] === 'number' && typeof baseItems[id] === 'number');
      return { n: shared.length, ci: pairedBootstrap(shared.map((id) => baseItems[id]!), shared.map((id) => items[id]!), boot) };
    });
    return {
      metric,
      values,
      deltas: values.map((v) => (v && base ? 100 * (v.value - base.value) : undefined)),
      significant: paired.map((p) => (p?.ci ? p.ci.lo > 0 || p.ci.hi < 0 : undefined)),
      pairs: paired.map((p) => p?.n),
    };
  });
}

function comparisonNote(boot: PairedBootstrapOptions): string {
  return `Δ in points against the first run. n.s.: the ${Math.round(100 * (boot.level ?? 0.95))} % paired bootstrap interval of Δ over the items both runs scored (B = ${boot.resamples}, Efron & Tibshirani 1993) includes 0; unpaired: fewer than 2 shared items, so no test. ${BALANCE_NOTE}`;
}

export function renderComparison(runs: readonly ComparedRun[], format: 'md' | 'text', boot: PairedBootstrapOptions = COMPARE_BOOTSTRAP): string[] {
  const rows = compareReports(runs, boot);
  const header = ['metric', ...runs.map((r, i) => (i === 0 ? r.runId : `${r.runId} (Δ)`))];
  const mark = (r: ComparisonRow, i: number): string => (r.significant[i] === undefined ? ' unpaired' : r.significant[i] ? '' : ' n.s.');
  const cells = rows
    .filter((r) => r.values.some(Boolean))
    .map((r) => [r.metric, ...r.values.map((v, i) => (i === 0 ? pct(v) : `${pct(v)} (${r.deltas[i] === undefined ? '–' : `${r.deltas[i]! >= 0 ? '+' : ''}${r.deltas[i]!.toFixed(1)}${mark(r, i)}`})`))]);
  const balance = ['balance', ...runs.map((r) => fmtBalance(finalModel(r.report)))];
  if (format === 'md') return [...mdTable(header, [...cells, balance]), '', comparisonNote(boot)];
  const all = [header, ...cells, balance];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return [...all.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()), '', comparisonNote(boot)];
}
