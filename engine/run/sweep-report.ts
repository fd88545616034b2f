/**
 * The sweep report: one table across the variants of a sweep. Variants whose overrides differ only in
 * `seed` form one row; each cell is the mean ± sample standard deviation (n − 1) over those seeds of the
 * runs' headline scores (report.json, the final model: GRPO, else SFT, else base). Besides the four
 * capabilities: the balance figure (min/max of the chance-corrected headlines, per run, then averaged), and the
 * interference summary, the mean off-diagonal `sft/interference` of a run's events (change in another
 * capability's probe loss after one step on one capability; positive = the step hurt it).
 *
 * Significance: an exact two-sided sign-flip permutation test (eval/stats.ts) of each row against the
 * first row, pairing runs with the same seed; shown where at least 2 seeds pair up. Exact for any number
 * of pairs and honest when every difference is the same (the paired t statistic is then ±∞ and reported
 * p = 0). The p-values of all comparisons in one report are Holm-adjusted together (Holm 1979), and the
 * marks use the adjusted p: `*` < 0.05, `**` < 0.01. With n pairs the smallest attainable p is 2^(1−n),
 * so 6 seeds are the fewest that can show a difference at 5 %.
 *
 * When the runs trained with GRPO, a second table shows the training signal, which moves before held-out
 * scores do at small scale: the mean total reward over the last 10 % of GRPO steps, the final KL to the
 * reference, and the final adaptive capability weights (grpo/weight) — what a reward-weighting sweep changes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { EvalReport } from '../../schemas/generated/report';
import type { EngineEvent } from '../../schemas/generated/events';
import { readEvents, writeJsonAtomic } from './store';
import { readSweepState, type SweepState, type VariantStatus } from './sweep-store';
import { BbioError } from '../util/errors';
import { balanceOf, finalModel, HEADLINE_ORDER } from '../eval/report';
import { SWEEP_FILES } from '../../schemas/run-layout';
import { holmAdjust, itemDifferences, pooledPairedDifference, signFlipTest, type PooledDifference } from '../eval/stats';
import { HEADLINE_METRIC } from '../eval/suites';

export const SWEEP_REPORT_FILES = { json: SWEEP_FILES.report, md: SWEEP_FILES.reportMd } as const;
export const SIGNIFICANCE_TEST = 'exact two-sided sign-flip permutation test of the mean difference against the first row, runs paired by seed (Fisher 1935); p Holm-adjusted across all comparisons of this report (Holm 1979)';

/** What one variant's run contributed. */
export interface VariantResult {
  name: string;
  group: string;
  groupKey: string;
  seed: number;
  status: VariantStatus;
  /** Which model of report.json the scores are from. */
  model?: string;
  /** Headline score per capability in [0, 1]. */
  headline: Partial<Record<string, number>>;
  /** The headline metric's per-item scores per capability (item id → score), for the item-level comparison. */
  items?: Partial<Record<string, Record<string, number>>>;
  /** Benchmark scores of eval.tasks (`<set>/<metric>`) with the run's bootstrap standard error. */
  tasks?: Partial<Record<string, { value: number; stderr: number | null }>>;
  balance: number | null;
  /** Mean off-diagonal sft/interference over the run; undefined when the run logged none. */
  interference?: number;
  /** GRPO training signal from the run's events; undefined when the run has no GRPO steps. */
  grpo?: GrpoSignal;
  /** Why the variant has no scores (not run yet, failed, no report.json). */
  missing?: string;
}

export interface GrpoSignal {
  /** Mean grpo/reward_total over the last 10 % of steps (at least one). */
  rewardLast10pct: number;
  /** grpo/kl at the last step. */
  kl: number | undefined;
  /** grpo/weight per capability at the last step. */
  weights: Partial<Record<string, number>>;
}

export interface Summary {
  mean: number;
  /** Sample standard deviation (n − 1); null with one value. */
  sd: number | null;
  n: number;
  values: number[];
}

export interface PairedTest {
  /** Seeds present in both rows (the pairs). */
  n: number;
  /** Exact two-sided sign-flip p of this comparison alone. */
  pRaw: number;
  /** Holm-adjusted p across every comparison of the report; the mark and the table use it. */
  p: number;
  /** Mean of (this row − first row) over the paired seeds. */
  meanDiff: number;
  mark: '' | '*' | '**';
}

export interface Cell {
  summary: Summary | null;
  vsFirst: PairedTest | null;
}

export interface SweepRow {
  label: string;
  groupKey: string;
  variants: string[];
  seeds: number[];
  /** Runs with scores / variants in the row. */
  scored: number;
  capabilities: Record<string, Cell>;
  balance: Cell;
  interference: Cell;
  models: string[];
  /** Present when a run of the row trained with GRPO. */
  grpo?: { reward: Cell; kl: Cell; weights: Record<string, Cell> };
  /** Benchmark scores over seeds, with the bootstrap standard error of their mean. */
  tasks?: Record<string, TaskCell>;
  /** Per capability, this row's final models against the first row's on the same items, seed by seed (itemLevel). */
  items?: Record<string, ItemComparison>;
}

/** A PooledDifference with its Holm-adjusted p over every item-level comparison of the report. */
export interface ItemComparison extends PooledDifference {
  pHolm: number | null;
}

export interface TaskCell extends Cell {
  /** √(Σ se_i²) / k over the k runs with a bootstrap error: the standard error of the mean of independent runs. */
  bootstrapSe: number | null;
}

export interface SweepReport {
  version: 1;
  sweepId: string;
  name: string;
  createdAt: string;
  test: string;
  rows: SweepRow[];
  variants: VariantResult[];
}

// ------------------------------------------------------------------------------------------- statistics

export function summarize(values: readonly number[]): Summary | null {
  const xs = values.filter((v) => Number.isFinite(v));
  if (!xs.length) return null;
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : null;
  return { mean, sd, n: xs.length, values: xs };
}

export function significanceMark(p: number): PairedTest['mark'] {
  return p < 0.01 ? '**' : p < 0.05 ? '*' : '';
}

/**
 * Paired test of b − a over matched pairs: exact sign-flip p, not yet adjusted (p = pRaw until
 * buildSweepReport applies Holm across the report); null with fewer than 2 pairs.
 */
export function pairedTest(a: readonly number[], b: readonly number[]): PairedTest | null {
  const n = Math.min(a.length, b.length);
  if (n < 2) return null;
  const d = Array.from({ length: n }, (_, i) => b[i]! - a[i]!);
  const p = signFlipTest(d);
  return { n, pRaw: p, p, meanDiff: d.reduce((s, x) => s + x, 0) / n, mark: significanceMark(p) };
}

/** Replaces each test's p by its Holm-adjusted p over all of them (one family: the whole report). */
export function adjustHolm(tests: readonly PairedTest[]): void {
  const adjusted = holmAdjust(tests.map((t) => t.pRaw));
  tests.forEach((t, i) => {
    t.p = adjusted[i]!;
    t.mark = significanceMark(t.p);
  });
}

// ------------------------------------------------------------------------------------------- the table

type Metric = (v: VariantResult) => number | undefined | null;

function cell(rowVariants: readonly VariantResult[], first: readonly VariantResult[] | undefined, metric: Metric): Cell {
  const values = rowVariants.map(metric).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const summary = summarize(values);
  let vsFirst: PairedTest | null = null;
  if (first && first !== rowVariants && summary) {
    const bySeed = new Map(first.map((v) => [v.seed, metric(v)]));
    const pairs = rowVariants.flatMap((v) => {
      const a = bySeed.get(v.seed);
      const b = metric(v);
      return typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b) ? [[a, b] as const] : [];
    });
    vsFirst = pairedTest(pairs.map((p) => p[0]), pairs.map((p) => p[1]));
  }
  return { summary, vsFirst };
}

/** Rows in order of first appearance; the significance tests compare each with the first row. */
export function buildSweepReport(meta: { sweepId: string; name: string }, results: readonly VariantResult[], now = new Date()): SweepReport {
  const groups = new Map<string, VariantResult[]>();
  for (const r of results) groups.set(r.groupKey, [...(groups.get(r.groupKey) ?? []), r]);
  const scored = (vs: readonly VariantResult[]): VariantResult[] => vs.filter((v) => !v.missing);
  const lists = [...groups.values()];
  const first = lists[0] ? scored(lists[0]) : undefined;
  const rows = lists.map((vs): SweepRow => {
    const s = scored(vs);
    const isFirst = vs === lists[0];
    const ref = isFirst ? undefined : first;
    const labels = [...new Set(vs.map((v) => v.group))];
    return {
      label: labels.join(' / '),
      groupKey: vs[0]!.groupKey,
      variants: vs.map((v) => v.name),
      seeds: vs.map((v) => v.seed),
      scored: s.length,
      capabilities: Object.fromEntries(HEADLINE_ORDER.map((c) => [c, cell(s, ref, (v) => v.headline[c])])),
      balance: cell(s, ref, (v) => v.balance),
      interference: cell(s, ref, (v) => v.interference),
      models: [...new Set(s.flatMap((v) => (v.model ? [v.model] : [])))],
      ...(vs.some((v) => v.grpo)
        ? {
            grpo: {
              reward: cell(vs, isFirst ? undefined : lists[0], (v) => v.grpo?.rewardLast10pct),
              kl: cell(vs, isFirst ? undefined : lists[0], (v) => v.grpo?.kl),
              weights: Object.fromEntries(HEADLINE_ORDER.map((c) => [c, cell(vs, isFirst ? undefined : lists[0], (v) => v.grpo?.weights[c])])),
            },
          }
        : {}),
    };
  });
  const taskKeys = [...new Set(results.flatMap((r) => Object.keys(r.tasks ?? {})))];
  if (taskKeys.length) {
    rows.forEach((row, i) => {
      const s = scored(lists[i]!);
      row.tasks = Object.fromEntries(taskKeys.map((k) => [k, taskCell(s, i === 0 ? undefined : first, k)]));
    });
  }
  // item level: each later row against the first on the items both scored, seed by seed (its own Holm family)
  if (first) {
    const itemTests: ItemComparison[] = [];
    rows.forEach((row, i) => {
      if (i === 0) return;
      const s = scored(lists[i]!);
      const comparisons = Object.fromEntries(HEADLINE_ORDER.flatMap((c) => {
        const pooled = itemLevel(first, s, c);
        return pooled ? [[c, { ...pooled, pHolm: null } as ItemComparison]] : [];
      }));
      if (Object.keys(comparisons).length) {
        row.items = comparisons;
        itemTests.push(...Object.values(comparisons));
      }
    });
    const tested = itemTests.filter((t) => t.p !== null);
    holmAdjust(tested.map((t) => t.p!)).forEach((p, k) => (tested[k]!.pHolm = p));
  }
  // one Holm family: every comparison this report makes, benchmark cells included
  const cells = rows.flatMap((r) => [...Object.values(r.capabilities), r.balance, r.interference, ...Object.values(r.tasks ?? {}), ...(r.grpo ? [r.grpo.reward, r.grpo.kl, ...Object.values(r.grpo.weights)] : [])]);
  adjustHolm(cells.flatMap((c) => (c.vsFirst ? [c.vsFirst] : [])));
  return { version: 1, sweepId: meta.sweepId, name: meta.name, createdAt: now.toISOString(), test: SIGNIFICANCE_TEST, rows, variants: [...results] };
}

/**
 * One capability's item-level comparison of two rows: for each seed both rows scored, the paired difference of
 * their final models' headline per-item scores (matched by item id), pooled over seeds (pooledPairedDifference).
 */
export function itemLevel(ref: readonly VariantResult[], row: readonly VariantResult[], capability: string): PooledDifference | null {
  // a row has one variant per seed (variants that differ only in seed form a row), so the seed identifies the pair
  const bySeed = new Map(ref.map((v) => [v.seed, v.items?.[capability]]));
  return pooledPairedDifference(row.map((v) => {
    const a = bySeed.get(v.seed);
    const b = v.items?.[capability];
    return a && b ? itemDifferences(a, b) : null;
  }));
}

function taskCell(vs: readonly VariantResult[], ref: readonly VariantResult[] | undefined, key: string): TaskCell {
  const ses = vs.flatMap((v) => (typeof v.tasks?.[key]?.stderr === 'number' ? [v.tasks[key].stderr] : []));
  return { ...cell(vs, ref, (v) => v.tasks?.[key]?.value), bootstrapSe: ses.length ? Math.sqrt(ses.reduce((a, x) => a + x * x, 0)) / ses.length : null };
}

function fmtP(p: number): string {
  return p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

function fmtPct(c: Cell): string {
  if (!c.summary) return '–';
  const { mean, sd } = c.summary;
  const mark = c.vsFirst?.mark ? ` ${c.vsFirst.mark}` : '';
  return `${(100 * mean).toFixed(1)}${sd === null ? '' : ` ± ${(100 * sd).toFixed(1)}`}${mark}`;
}

function fmtPlain(c: Cell, digits: number): string {
  if (!c.summary) return '–';
  const { mean, sd } = c.summary;
  const mark = c.vsFirst?.mark ? ` ${c.vsFirst.mark}` : '';
  const f = (x: number): string => (Math.abs(x) < 10 ** -digits && x !== 0 ? x.toExponential(1) : x.toFixed(digits));
  return `${f(mean)}${sd === null ? '' : ` ± ${f(sd)}`}${mark}`;
}

export function renderSweepMarkdown(report: SweepReport): string {
  const header = ['variant', 'seeds', ...HEADLINE_ORDER, 'balance', 'interference'];
  const rows = report.rows.map((r) => [
    r.label,
    r.scored === r.variants.length ? String(r.scored) : `${r.scored}/${r.variants.length}`,
    ...HEADLINE_ORDER.map((c) => fmtPct(r.capabilities[c]!)),
    fmtPlain(r.balance, 3),
    fmtPlain(r.interference, 4),
  ]);
  const lines = [
    `# Sweep report — ${report.sweepId}`,
    '',
    `Headline score per capability in % of the final model of each run (${[...new Set(report.rows.flatMap((r) => r.models))].join(', ') || 'no scored runs yet'}), mean ± sample sd over seeds; balance = min/max over capabilities of the chance-corrected headlines, (acc − chance)/(1 − chance) clipped to [0, 1] (1 = balanced; chance = 1/options for multiple choice, 0 for generation); interference = mean change in another capability's probe loss after one SFT step on one capability's (projected) update (positive = hurts).`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Significance: ${report.test}; \`*\` Holm-adjusted p < 0.05, \`**\` < 0.01; no mark: not significant, or fewer than 2 seeds pair up. The first row is the reference. With n pairs the smallest possible p is 2^(1−n) (0.0625 at 5 seeds).`,
  ];
  const tests = report.rows.slice(1).flatMap((r) => [...HEADLINE_ORDER, 'balance', 'interference'].flatMap((c) => {
    const t = c === 'balance' ? r.balance.vsFirst : c === 'interference' ? r.interference.vsFirst : r.capabilities[c]!.vsFirst;
    const diff = c === 'balance' ? t?.meanDiff.toFixed(3) : c === 'interference' ? t?.meanDiff.toExponential(1) : t && (100 * t.meanDiff).toFixed(1);
    return t ? [`| ${r.label} | ${c} | ${t.n} | ${diff} | ${fmtP(t.pRaw)} | ${fmtP(t.p)}${t.mark ? ` ${t.mark}` : ''} |`] : [];
  }));
  if (tests.length) lines.push('', '## Paired tests against the first row', '', 'Exact sign-flip p per comparison, and Holm-adjusted across every comparison of this report (the one that decides the marks).', '', '| variant | metric | pairs | mean Δ | p | Holm-adjusted p |', '|---|---|---|---|---|---|', ...tests);
  const itemRows = report.rows.slice(1).flatMap((r) => HEADLINE_ORDER.flatMap((c) => {
    const t = r.items?.[c];
    if (!t) return [];
    const err = t.stderr === null ? '' : ` ± ${(100 * t.stderr).toFixed(1)}`;
    const mark = t.pHolm !== null && t.pHolm < 0.01 ? ' **' : t.pHolm !== null && t.pHolm < 0.05 ? ' *' : '';
    return [`| ${r.label} | ${c} | ${t.seeds} | ${t.n} | ${t.differ} | ${(100 * t.diff).toFixed(1)}${err} | ${t.p === null ? '–' : fmtP(t.p)} | ${t.pHolm === null ? '–' : fmtP(t.pHolm)}${mark} |`];
  }));
  if (itemRows.length) {
    lines.push(
      '',
      '## Item-level paired differences against the first row',
      '',
      'Per capability, each row\'s final model against the first row\'s of the same seed on the held-out items both scored (matched by item id), in points: the mean over seeds of the per-seed mean difference ± its standard error from the items alone, √(Σ se²)/seeds; p of the exact sign-flip test of all item differences together, Holm-adjusted over this table. This holds the trained models fixed: it says whether these models differ on these items, not whether the difference survives retraining, which the seed-level test above decides.',
      '',
      '| variant | capability | seeds | item pairs | pairs differ | Δ ± se | p | Holm-adjusted p |',
      '|---|---|---|---|---|---|---|---|',
      ...itemRows,
    );
  }
  const withGrpo = report.rows.filter((r) => r.grpo);
  if (withGrpo.length) {
    const head = ['variant', 'reward (last 10 %)', 'KL (final)', ...HEADLINE_ORDER.map((c) => `weight ${c}`)];
    lines.push(
      '',
      '## GRPO training signal',
      '',
      'What the weighting changed during GRPO, mean ± sd over seeds: the total reward over the last 10 % of steps, the final KL to the reference policy and the final adaptive capability weights. At small scale these move before the held-out scores above do.',
      '',
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...withGrpo.map((r) => `| ${[r.label, fmtPlain(r.grpo!.reward, 4), fmtPlain(r.grpo!.kl, 4), ...HEADLINE_ORDER.map((c) => fmtPlain(r.grpo!.weights[c]!, 3))].join(' | ')} |`),
    );
  }
  const taskKeys = [...new Set(report.rows.flatMap((r) => Object.keys(r.tasks ?? {})))];
  if (taskKeys.length) {
    const fmtTask = (c: TaskCell | undefined): string => (c?.summary ? `${fmtPct(c)}${c.bootstrapSe === null ? '' : ` (se ${(100 * c.bootstrapSe).toFixed(1)})`}` : '–');
    lines.push(
      '',
      '## Benchmarks',
      '',
      'Scores of `eval.tasks` in %, beside the capability headlines above: mean ± sd over seeds, marks as above, and in brackets the bootstrap standard error of that mean from the runs\' own errors.',
      '',
      `| ${['variant', ...taskKeys].join(' | ')} |`,
      `|${['variant', ...taskKeys].map(() => '---').join('|')}|`,
      ...report.rows.map((r) => `| ${[r.label, ...taskKeys.map((k) => fmtTask(r.tasks?.[k]))].join(' | ')} |`),
    );
  }
  const missing = report.variants.filter((v) => v.missing);
  if (missing.length) lines.push('', '## Variants without scores', '', ...missing.map((v) => `- \`${v.name}\` (${v.status}): ${v.missing}`));
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------- reading runs

/** Mean of sft/interference over steps and pairs of different capabilities. */
export function interferenceOf(events: readonly EngineEvent[]): number | undefined {
  const xs = events.flatMap((e) => (e.kind === 'metric' && e.name === 'sft/interference' && e.labels?.capability !== e.labels?.other && Number.isFinite(e.value) ? [e.value] : []));
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : undefined;
}

/** The GRPO training signal of a run's events; undefined without GRPO steps. */
export function grpoSignalOf(events: readonly EngineEvent[]): GrpoSignal | undefined {
  const rewards = new Map<number, number>();
  let kl: { step: number; value: number } | undefined;
  const weights = new Map<string, { step: number; value: number }>();
  for (const e of events) {
    if (e.kind !== 'metric' || e.step === undefined || !Number.isFinite(e.value)) continue;
    if (e.name === 'grpo/reward_total') rewards.set(e.step, e.value); // a resumed step replaces the earlier value
    else if (e.name === 'grpo/kl' && (!kl || e.step >= kl.step)) kl = { step: e.step, value: e.value };
    else if (e.name === 'grpo/weight' && e.labels?.capability) {
      const prev = weights.get(e.labels.capability);
      if (!prev || e.step >= prev.step) weights.set(e.labels.capability, { step: e.step, value: e.value });
    }
  }
  if (!rewards.size) return undefined;
  const ordered = [...rewards.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  const tail = ordered.slice(-Math.max(1, Math.ceil(ordered.length / 10)));
  return { rewardLast10pct: tail.reduce((a, b) => a + b, 0) / tail.length, kl: kl?.value, weights: Object.fromEntries([...weights].map(([c, w]) => [c, w.value])) };
}

/** Headlines, balance and interference of each variant's run, as far as they exist. */
export async function collectVariantResults(sweepDir: string, state: SweepState): Promise<VariantResult[]> {
  return Promise.all(
    state.variants.map(async (v): Promise<VariantResult> => {
      const base: VariantResult = { name: v.name, group: v.group, groupKey: v.groupKey, seed: v.seed, status: v.status, headline: {}, balance: null };
      if (!v.runDir) return { ...base, missing: 'no run yet' };
      const runDir = path.join(sweepDir, v.runDir);
      const { events } = await readEvents(runDir);
      const interference = interferenceOf(events);
      const grpo = grpoSignalOf(events);
      const withInterference = { ...base, ...(interference === undefined ? {} : { interference }), ...(grpo ? { grpo } : {}) };
      if (v.status !== 'completed') return { ...withInterference, missing: v.status === 'failed' || v.status === 'cancelled' ? `the run ${v.status}` : 'the run has not finished' };
      let report: EvalReport;
      try {
        report = JSON.parse(await readFile(path.join(runDir, 'report.json'), 'utf8')) as EvalReport;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return { ...withInterference, missing: code === 'ENOENT' ? 'no report.json (the run has no evaluate stage)' : `report.json unreadable: ${(e as Error).message}` };
      }
      const model = finalModel(report);
      if (!model?.headline) return { ...withInterference, missing: 'report.json has no headline scores' };
      const headline = Object.fromEntries(Object.entries(model.headline).flatMap(([k, s]) => (s && Number.isFinite(s.value) ? [[k, s.value]] : [])));
      const tasks = Object.fromEntries(Object.entries(model.tasks ?? {}).flatMap(([k, s]) => (s && Number.isFinite(s.value) ? [[k, { value: s.value, stderr: s.stderr }]] : [])));
      const items = Object.fromEntries(Object.keys(headline).flatMap((c) => {
        const scores = model.perItem?.[HEADLINE_METRIC[c as keyof typeof HEADLINE_METRIC] ?? ''];
        return scores ? [[c, Object.fromEntries(Object.entries(scores).filter((e): e is [string, number] => Number.isFinite(e[1])))]] : [];
      }));
      return { ...withInterference, model: model.name, headline, ...(Object.keys(items).length ? { items } : {}), ...(Object.keys(tasks).length ? { tasks } : {}), balance: model.balance ?? balanceOf(model.headline, model.chance ?? {}) };
    }),
  );
}

/** Builds the report from a sweep folder and writes sweep-report.json and sweep-report.md (atomically). */
export async function writeSweepReport(sweepDir: string): Promise<{ report: SweepReport; markdown: string; files: { json: string; md: string } }> {
  const abs = path.resolve(sweepDir);
  const state = await readSweepState(abs);
  const report = buildSweepReport({ sweepId: state.sweepId, name: state.name }, await collectVariantResults(abs, state));
  const markdown = renderSweepMarkdown(report);
  const files = { json: path.join(abs, SWEEP_REPORT_FILES.json), md: path.join(abs, SWEEP_REPORT_FILES.md) };
  try {
    await writeJsonAtomic(files.json, report);
    await writeFileAtomic(files.md, markdown);
  } catch (e) {
    throw new BbioError('E_IO', `cannot write the sweep report in ${abs}: ${(e as Error).message}`, { file: abs }, undefined, { cause: e });
  }
  return { report, markdown, files };
}
