/**
 * The sweep report: one table across the variants of a sweep. Variants whose overrides differ only in
 * `seed` form one row; each cell is the mean ± sample standard deviation (n − 1) over those seeds of the
 * runs' headline scores (report.json, the final model: GRPO, else SFT, else base). Besides the four
 * capabilities: the balance figure (min/max of the headlines, per run, then averaged), and the
 * interference summary, the mean off-diagonal `sft/interference` of a run's events (change in another
 * capability's probe loss after one step on one capability; positive = the step hurt it).
 *
 * Significance: a two-sided paired t-test (Student 1908) of each row against the first row, pairing runs
 * with the same seed; shown where at least 2 seeds pair up. `*` p < 0.05, `**` p < 0.01.
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

export const SWEEP_REPORT_FILES = { json: SWEEP_FILES.report, md: SWEEP_FILES.reportMd } as const;
export const SIGNIFICANCE_TEST = 'two-sided paired t-test against the first row, runs paired by seed (Student 1908)';

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
  /** Seeds present in both rows. */
  n: number;
  df: number;
  t: number;
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

/** ln Γ(x), Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0. */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (Numerical Recipes §6.4, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 / (Math.abs(1 + aa * d) < tiny ? tiny : 1 + aa * d);
    c = Math.abs(1 + aa / c) < tiny ? tiny : 1 + aa / c;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 / (Math.abs(1 + aa * d) < tiny ? tiny : 1 + aa * d);
    c = Math.abs(1 + aa / c) < tiny ? tiny : 1 + aa / c;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Two-sided p-value of Student's t with `df` degrees of freedom: P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2). */
export function studentTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

export function significanceMark(p: number): PairedTest['mark'] {
  return p < 0.01 ? '**' : p < 0.05 ? '*' : '';
}

/** Paired t-test of b − a over matched pairs; null with fewer than 2 pairs. */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTest | null {
  const n = Math.min(a.length, b.length);
  if (n < 2) return null;
  const d = Array.from({ length: n }, (_, i) => b[i]! - a[i]!);
  const s = summarize(d)!;
  const sd = s.sd ?? 0;
  // identical differences: no spread, so any non-zero shift is as certain as the data can say
  const t = sd === 0 ? (s.mean === 0 ? 0 : Math.sign(s.mean) * Infinity) : s.mean / (sd / Math.sqrt(n));
  const p = s.mean === 0 && sd === 0 ? 1 : studentTwoSidedP(t, n - 1);
  return { n, df: n - 1, t, p, meanDiff: s.mean, mark: significanceMark(p) };
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
    vsFirst = pairedTTest(pairs.map((p) => p[0]), pairs.map((p) => p[1]));
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
  return { version: 1, sweepId: meta.sweepId, name: meta.name, createdAt: now.toISOString(), test: SIGNIFICANCE_TEST, rows, variants: [...results] };
}

function taskCell(vs: readonly VariantResult[], ref: readonly VariantResult[] | undefined, key: string): TaskCell {
  const ses = vs.flatMap((v) => (typeof v.tasks?.[key]?.stderr === 'number' ? [v.tasks[key].stderr] : []));
  return { ...cell(vs, ref, (v) => v.tasks?.[key]?.value), bootstrapSe: ses.length ? Math.sqrt(ses.reduce((a, x) => a + x * x, 0)) / ses.length : null };
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
    `Headline score per capability in % of the final model of each run (${[...new Set(report.rows.flatMap((r) => r.models))].join(', ') || 'no scored runs yet'}), mean ± sample sd over seeds; balance = min/max of the four headlines (1 = balanced); interference = mean change in another capability's probe loss after one SFT step on one capability's (projected) update (positive = hurts).`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Significance: ${report.test}; \`*\` p < 0.05, \`**\` p < 0.01; no mark: not significant, or fewer than 2 seeds pair up. The first row is the reference.`,
  ];
  const tests = report.rows.slice(1).flatMap((r) => [...HEADLINE_ORDER, 'balance', 'interference'].flatMap((c) => {
    const t = c === 'balance' ? r.balance.vsFirst : c === 'interference' ? r.interference.vsFirst : r.capabilities[c]!.vsFirst;
    const diff = c === 'balance' ? t?.meanDiff.toFixed(3) : c === 'interference' ? t?.meanDiff.toExponential(1) : t && (100 * t.meanDiff).toFixed(1);
    return t ? [`| ${r.label} | ${c} | ${t.n} | ${diff} | ${Number.isFinite(t.t) ? t.t.toFixed(2) : '∞'} | ${t.p < 0.001 ? t.p.toExponential(1) : t.p.toFixed(3)} |`] : [];
  }));
  if (tests.length) lines.push('', '## Paired tests against the first row', '', '| variant | metric | pairs | mean Δ | t | p |', '|---|---|---|---|---|---|', ...tests);
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
      return { ...withInterference, model: model.name, headline, ...(Object.keys(tasks).length ? { tasks } : {}), balance: model.balance ?? balanceOf(model.headline) };
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
