/**
 * Reports: the per-run report.json (schemas/report.schema.json) rendered to Markdown, the balance figure,
 * and the side-by-side comparison of runs that `balancedbio compare` and the editor's results panel show.
 */
import type { EvalReport } from '../../schemas/generated/report';
import { significant, type Score } from './stats';

export type ModelReport = EvalReport['models'][number];

export const HEADLINE_ORDER = ['domain', 'reasoning', 'instruction', 'integration'] as const;

/** min / max over capabilities of the headline scores (the method's balance figure); null if undefined. */
export function balanceOf(headline: Record<string, Score | undefined>): number | null {
  const values = Object.values(headline).filter((s): s is Score => !!s && Number.isFinite(s.value)).map((s) => s.value);
  if (values.length < 2) return null;
  const max = Math.max(...values);
  return max > 0 ? Math.min(...values) / max : null;
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
      [...HEADLINE_ORDER.map((c) => [c, ...models.map((m) => pct(m.headline?.[c]))]), ['**balance** (min/max)', ...models.map((m) => (m.balance === null ? '–' : m.balance.toFixed(3)))]],
    ),
  );
  const metricNames = [...new Set(models.flatMap((m) => Object.keys(m.scores)))].sort();
  lines.push('', '## All metrics', '', ...mdTable(['metric', ...models.map((m) => m.name), 'n'], metricNames.map((k) => [k, ...models.map((m) => pct(m.scores[k])), String(models.find((m) => m.scores[k])?.scores[k]?.n ?? '')])));
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
  /** Whether each delta exceeds the combined standard error. */
  significant: (boolean | undefined)[];
}

/** Headline capabilities, balance, every suite metric and every benchmark score of each run's final model, against the first run. */
export function compareReports(runs: readonly ComparedRun[]): ComparisonRow[] {
  const models = runs.map((r) => finalModel(r.report));
  const suiteMetrics = [...new Set(models.flatMap((m) => Object.keys(m?.scores ?? {})))].sort();
  const taskMetrics = [...new Set(models.flatMap((m) => Object.keys(m?.tasks ?? {})))].sort();
  const metrics = [...HEADLINE_ORDER.map((c) => `headline/${c}`), ...suiteMetrics, ...taskMetrics];
  const get = (m: ModelReport | undefined, k: string): Score | undefined => (k.startsWith('headline/') ? m?.headline?.[k.slice(9)] : (m?.scores[k] ?? m?.tasks?.[k]));
  return metrics.map((metric) => {
    const values = models.map((m) => get(m, metric));
    const base = values[0];
    return {
      metric,
      values,
      deltas: values.map((v) => (v && base ? 100 * (v.value - base.value) : undefined)),
      significant: values.map((v) => (v && base ? significant(v, base) : undefined)),
    };
  });
}

export function renderComparison(runs: readonly ComparedRun[], format: 'md' | 'text'): string[] {
  const rows = compareReports(runs);
  const header = ['metric', ...runs.map((r, i) => (i === 0 ? r.runId : `${r.runId} (Δ)`))];
  const cells = rows
    .filter((r) => r.values.some(Boolean))
    .map((r) => [r.metric, ...r.values.map((v, i) => (i === 0 ? pct(v) : `${pct(v)} (${r.deltas[i] === undefined ? '–' : `${r.deltas[i]! >= 0 ? '+' : ''}${r.deltas[i]!.toFixed(1)}${r.significant[i] ? '' : ' n.s.'}`})`))]);
  const balance = ['balance', ...runs.map((r) => finalModel(r.report)?.balance?.toFixed(3) ?? '–')];
  if (format === 'md') return [...mdTable(header, [...cells, balance]), '', 'Δ in points against the first run; n.s.: smaller than the combined standard error.'];
  const all = [header, ...cells, balance];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return [...all.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()), '', 'Δ in points against the first run; n.s.: smaller than the combined standard error.'];
}
