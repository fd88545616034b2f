/**
 * Pure logic of the results/compare panel: the config diff of resolved experiment.yaml files (only keys
 * whose values differ), per-capability scores from report.json or the eval/score events, and the Markdown
 * export. No vscode import; unit-tested.
 */
import type { EngineEvent } from '../../schemas/generated/events';
import { asObj, num } from '../util/read';
import type { CompareRunView, ConfigDiffRow, ScalingView, SweepCell, SweepRowView, SweepView } from '../views/messages';

/** `{a: {b: 1}, c: [1, 2]}` → `a.b = 1`, `c = [1,2]`: arrays are leaves (their order matters as a whole). */
export function flattenConfig(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, '{}');
    for (const [k, v] of entries) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (prefix) out.set(prefix, JSON.stringify(value));
  return out;
}

/** Keys whose values are not the same in every config (absent counts as different), sorted by path. */
export function diffConfigs(configs: readonly unknown[]): ConfigDiffRow[] {
  const flat = configs.map((c) => flattenConfig(c));
  const keys = new Set<string>();
  for (const f of flat) for (const k of f.keys()) keys.add(k);
  const rows: ConfigDiffRow[] = [];
  for (const path of [...keys].sort()) {
    const values = flat.map((f) => f.get(path));
    if (values.every((v) => v === values[0])) continue;
    rows.push({ path, values });
  }
  return rows;
}

/** Score table keyed by `suite` (or `suite/metric` when a suite reports several metrics). */
export type Scores = CompareRunView['scores'];

/**
 * Reads scores from report.json: the final model's headline per capability and its benchmark scores. Older and hand-written shapes
 * are accepted too (read defensively):
 *   { scores: { domain: 0.61, … } } · { scores: { domain: { value|score, stderr } } }
 *   { suites: [{ suite|name, score|value, stderr? , metric? }] } · { results: [...] } (same rows)
 */
export function scoresFromReport(report: unknown): Scores {
  const out: Scores = {};
  if (!report || typeof report !== 'object') return out;
  const r = report as Record<string, unknown>;
  // the evaluate stage's report (schemas/report.schema.json): models in pipeline order, each with a
  // headline score per capability; the comparison shows the final model's
  const models = r['models'];
  if (Array.isArray(models) && models.length) {
    const last = models[models.length - 1] as Record<string, unknown> | null;
    const headline = last && typeof last === 'object' ? last['headline'] : undefined;
    if (headline && typeof headline === 'object') {
      // benchmark scores (eval.tasks, keyed `<set>/<metric>`) sit beside the capability headlines
      const tasks = last!['tasks'];
      for (const [k, v] of Object.entries({ ...(headline as Record<string, unknown>), ...(tasks && typeof tasks === 'object' ? (tasks as Record<string, unknown>) : {}) })) {
        const row = scoreOf(v);
        if (row) out[k] = row;
      }
      return out;
    }
  }
  const scores = r['scores'];
  if (scores && typeof scores === 'object' && !Array.isArray(scores)) {
    for (const [k, v] of Object.entries(scores as Record<string, unknown>)) {
      const row = scoreOf(v);
      if (row) out[k] = row;
    }
  }
  for (const listKey of ['suites', 'results', 'scores']) {
    const list = r[listKey];
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!item || typeof item !== 'object') continue;
      const o = item as Record<string, unknown>;
      const suite = typeof o['suite'] === 'string' ? o['suite'] : typeof o['name'] === 'string' ? o['name'] : undefined;
      const row = scoreOf(o);
      if (!suite || !row) continue;
      const key = typeof o['metric'] === 'string' && o['metric'] !== 'score' ? `${suite}/${o['metric']}` : suite;
      out[key] = row;
    }
  }
  return out;
}

function scoreOf(v: unknown): { value: number; stderr: number | undefined } | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return { value: v, stderr: undefined };
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const value = typeof o['value'] === 'number' ? o['value'] : typeof o['score'] === 'number' ? o['score'] : undefined;
  if (value === undefined || !Number.isFinite(value)) return undefined;
  const stderr = typeof o['stderr'] === 'number' && Number.isFinite(o['stderr']) ? o['stderr'] : undefined;
  return { value, stderr };
}

/** The last eval/score and eval/stderr per suite (and metric) from a run's events. */
export function scoresFromEvents(events: readonly EngineEvent[]): Scores {
  const out: Scores = {};
  for (const e of events) {
    if (e.kind !== 'metric' || (e.name !== 'eval/score' && e.name !== 'eval/stderr')) continue;
    const suite = e.labels?.suite ?? 'score';
    const metric = e.labels?.metric;
    const key = metric && metric !== 'score' && metric !== 'accuracy' ? `${suite}/${metric}` : suite;
    const row = out[key] ?? { value: Number.NaN, stderr: undefined };
    out[key] = e.name === 'eval/score' ? { ...row, value: e.value } : { ...row, stderr: e.value };
  }
  for (const [k, v] of Object.entries(out)) if (!Number.isFinite(v.value)) delete out[k];
  return out;
}

/** The curves the comparison overlays, one chart each, every run's series in it. */
export const OVERLAY_METRICS: readonly { metric: string; title: string; yLabel: string; logAllowed: boolean }[] = [
  { metric: 'pretrain/loss', title: 'Pretraining loss', yLabel: 'nats/token', logAllowed: true },
  { metric: 'sft/loss', title: 'SFT loss per capability', yLabel: 'nats/token', logAllowed: true },
  { metric: 'sft/val_loss', title: 'SFT validation loss per capability', yLabel: 'nats/token', logAllowed: true },
  { metric: 'probe/accuracy', title: 'Held-out probe accuracy per capability', yLabel: 'accuracy', logAllowed: false },
  { metric: 'grpo/reward_total', title: 'GRPO mean reward', yLabel: 'reward', logAllowed: false },
  { metric: 'grpo/kl', title: 'KL to the reference policy', yLabel: 'nats', logAllowed: true },
];

/** Points kept per series in a comparison (every n-th point and the last): the charts reduce further per pixel. */
export const MAX_OVERLAY_POINTS = 2000;

/** A series label within one metric: stage (where a metric is logged by several), capability or pair, component. */
function curveLabel(labels: Record<string, string | undefined> | undefined): string {
  const l = labels ?? {};
  const parts = [l['stage'], l['capability'] ? (l['other'] ? `${l['capability']}×${l['other']}` : l['capability']) : undefined, l['component']].filter((x): x is string => !!x);
  return parts.join(' ') || 'all';
}

function thin(c: { xs: number[]; ys: number[] }, max: number): { xs: number[]; ys: number[] } {
  if (c.xs.length <= max) return c;
  const stride = Math.ceil(c.xs.length / max);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < c.xs.length; i += stride) {
    xs.push(c.xs[i]!);
    ys.push(c.ys[i]!);
  }
  if (xs[xs.length - 1] !== c.xs[c.xs.length - 1]) {
    xs.push(c.xs[c.xs.length - 1]!);
    ys.push(c.ys[c.ys.length - 1]!);
  }
  return { xs, ys };
}

/** metric → series label → points, for the overlay charts; a repeated step (resume) replaces the earlier value. */
export function overlayCurves(events: readonly EngineEvent[], max = MAX_OVERLAY_POINTS): CompareRunView['curves'] {
  const wanted = new Set(OVERLAY_METRICS.map((m) => m.metric));
  const out: CompareRunView['curves'] = {};
  for (const e of events) {
    if (e.kind !== 'metric' || e.step === undefined || !wanted.has(e.name) || !Number.isFinite(e.value)) continue;
    const byLabel = (out[e.name] ??= {});
    const c = (byLabel[curveLabel(e.labels)] ??= { xs: [], ys: [] });
    // a resumed stage logs steps again: drop what the repeat supersedes
    while (c.xs.length && c.xs[c.xs.length - 1]! >= e.step) {
      c.xs.pop();
      c.ys.pop();
    }
    c.xs.push(e.step);
    c.ys.push(e.value);
  }
  for (const byLabel of Object.values(out)) for (const [k, c] of Object.entries(byLabel)) byLabel[k] = thin(c, max);
  return out;
}

export function formatScore(s: { value: number; stderr: number | undefined } | undefined): string {
  if (!s) return '—';
  return s.stderr !== undefined ? `${s.value.toFixed(3)} ± ${s.stderr.toFixed(3)}` : s.value.toFixed(3);
}

/** Difference to the first (baseline) run, signed, or '' for the baseline itself. */
export function formatDelta(s: { value: number } | undefined, base: { value: number } | undefined): string {
  if (!s || !base) return '';
  const d = s.value - base.value;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)}`;
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The whole comparison as Markdown: scores with ± and deltas against the first run, then the config diff. */
export function compareToMarkdown(runs: readonly CompareRunView[], diff: readonly ConfigDiffRow[]): string {
  const lines: string[] = [`# BalancedBio run comparison`, '', `Baseline: \`${runs[0]?.runId ?? '—'}\`; deltas are against it.`, ''];
  const suites = [...new Set(runs.flatMap((r) => Object.keys(r.scores)))].sort();
  lines.push('## Scores', '');
  if (suites.length === 0) {
    lines.push('_No evaluation scores in these runs yet._', '');
  } else {
    lines.push(`| capability | ${runs.map((r) => mdCell(r.runId)).join(' | ')} |`, `|---|${runs.map(() => '---').join('|')}|`);
    for (const s of suites) {
      const base = runs[0]?.scores[s];
      const cells = runs.map((r, i) => {
        const v = r.scores[s];
        const d = i === 0 ? '' : formatDelta(v, base);
        return `${formatScore(v)}${d ? ` (${d})` : ''}`;
      });
      lines.push(`| ${mdCell(s)} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push('## Status', '', `| run | status | created |`, `|---|---|---|`);
  for (const r of runs) lines.push(`| ${mdCell(r.runId)} | ${r.status} | ${r.createdAt ?? '—'} |`);
  lines.push('', '## Configuration differences', '');
  if (diff.length === 0) {
    lines.push('_The resolved configurations are identical._');
  } else {
    lines.push(`| key | ${runs.map((r) => mdCell(r.runId)).join(' | ')} |`, `|---|${runs.map(() => '---').join('|')}|`);
    for (const row of diff) lines.push(`| \`${mdCell(row.path)}\` | ${row.values.map((v) => (v === undefined ? '_(absent)_' : `\`${mdCell(v)}\``)).join(' | ')} |`);
  }
  lines.push('');
  return lines.join('\n');
}


/** `{ summary: { mean, sd, n }, vsFirst: { n, p, mark } | null }` → a cell; undefined when there is no mean. */
function sweepCell(v: unknown): SweepCell | undefined {
  const o = asObj(v);
  const summary = asObj(o?.['summary']);
  const mean = num(summary?.['mean']);
  if (mean === undefined) return undefined;
  const vs = asObj(o?.['vsFirst']);
  return { mean, sd: num(summary?.['sd']) ?? 0, n: num(summary?.['n']) ?? 0, mark: typeof vs?.['mark'] === 'string' ? vs['mark'] : '', p: num(vs?.['p']), pairs: num(vs?.['n']) };
}

/** The hover of a sweep cell: its Holm-adjusted p and how many seeds paired; undefined without a test. */
export function sweepCellTitle(c: SweepCell | undefined, reference: string): string | undefined {
  if (c?.p === undefined) return undefined;
  return `vs ${reference}: Holm-adjusted p = ${c.p.toFixed(3)}${c.pairs === undefined ? '' : ` (${c.pairs} seed pairs; the smallest p ${c.pairs} pairs can give is ${(2 ** (1 - c.pairs)).toPrecision(2)})`}`;
}

/** Reads sweep-report.json (engine/run/sweep-report.ts writes it) into the comparison's sweep table. */
export function sweepFromReport(report: unknown): SweepView {
  const r = asObj(report);
  if (!r || !Array.isArray(r['rows'])) throw new Error('sweep-report.json has no rows');
  const capabilities: string[] = [];
  const rows: SweepRowView[] = r['rows'].flatMap((raw): SweepRowView[] => {
    const row = asObj(raw);
    if (!row || typeof row['label'] !== 'string') return [];
    const caps: Record<string, SweepCell | undefined> = {};
    for (const [c, v] of Object.entries(asObj(row['capabilities']) ?? {})) {
      if (!capabilities.includes(c)) capabilities.push(c);
      caps[c] = sweepCell(v);
    }
    const seeds = Array.isArray(row['seeds']) ? row['seeds'].filter((x): x is number => typeof x === 'number') : [];
    const g = asObj(row['grpo']);
    const grpo = g ? { reward: sweepCell(g['reward']), kl: sweepCell(g['kl']), weights: Object.fromEntries(Object.entries(asObj(g['weights']) ?? {}).map(([c, v]) => [c, sweepCell(v)])) } : undefined;
    return [{ label: row['label'], set: groupSet(row['groupKey']), seeds, capabilities: caps, balance: sweepCell(row['balance']), interference: sweepCell(row['interference']), ...(grpo ? { grpo } : {}) }];
  });
  return { sweepId: typeof r['sweepId'] === 'string' ? r['sweepId'] : '', name: typeof r['name'] === 'string' ? r['name'] : '', test: typeof r['test'] === 'string' ? r['test'] : '', capabilities, rows };
}

/** A row's groupKey (JSON of the overrides that define its group) as an object; {} when absent or not JSON. */
function groupSet(key: unknown): Record<string, unknown> {
  if (typeof key !== 'string') return {};
  try {
    return asObj(JSON.parse(key)) ?? {};
  } catch {
    return {}; // a hand-written report: the row still shows in the table, just not on a scaling curve
  }
}

/** Keys whose values, across the rows, are all finite numbers with at least two distinct values. */
function numericAxes(rows: readonly SweepRowView[]): string[] {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.set)))].sort();
  return keys.filter((k) => {
    const values = rows.map((r) => r.set[k]);
    return values.every((v) => typeof v === 'number' && Number.isFinite(v)) && new Set(values).size >= 2;
  });
}

/**
 * Scaling curves of a sweep: the mean of each capability's headline (and balance, interference) against one
 * numeric key — training length, a model dimension — with one series per combination of the other keys
 * (projection, preset, …), so a user sees at which size or length the variants separate. Undefined when no
 * key is numeric with two or more values. `axis` picks the key; by default the one with the most values
 * (ties: the first by name).
 */
export function scalingCurves(sweep: SweepView, axis?: string): ScalingView | undefined {
  const axes = numericAxes(sweep.rows);
  if (!axes.length) return undefined;
  const x = axis && axes.includes(axis) ? axis : [...axes].sort((a, b) => new Set(sweep.rows.map((r) => r.set[b])).size - new Set(sweep.rows.map((r) => r.set[a])).size || a.localeCompare(b))[0]!;
  const seriesOf = (r: SweepRowView): string =>
    Object.entries(r.set)
      .filter(([k]) => k !== x)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' · ') || 'all';
  const metrics: { metric: string; cell: (r: SweepRowView) => SweepCell | undefined }[] = [
    ...sweep.capabilities.map((c) => ({ metric: c, cell: (r: SweepRowView) => r.capabilities[c] })),
    { metric: 'balance', cell: (r) => r.balance },
    { metric: 'interference', cell: (r) => r.interference },
  ];
  const charts: ScalingView['charts'] = [];
  for (const { metric, cell } of metrics) {
    const bySeries = new Map<string, { x: number; y: number; sd: number }[]>();
    for (const r of sweep.rows) {
      const c = cell(r);
      if (!c) continue;
      const label = seriesOf(r);
      bySeries.set(label, [...(bySeries.get(label) ?? []), { x: r.set[x] as number, y: c.mean, sd: c.sd }]);
    }
    if (!bySeries.size) continue;
    const series = [...bySeries].sort(([a], [b]) => a.localeCompare(b)).map(([label, pts]) => {
      pts.sort((a, b) => a.x - b.x);
      return { label, xs: pts.map((p) => p.x), ys: pts.map((p) => p.y), sds: pts.map((p) => p.sd) };
    });
    charts.push({ metric, series });
  }
  return { axis: x, axes, charts };
}

/** A headline score cell in percent, as the sweep report prints it: `31.3 ± 4.4*`. */
export function formatSweepCell(c: SweepCell | undefined, percent: boolean, digits = 3): string {
  if (!c) return '–';
  const f = (x: number): string => (percent ? (x * 100).toFixed(1) : Math.abs(x) >= 10 ** -digits || x === 0 ? x.toFixed(digits) : x.toExponential(1));
  return `${f(c.mean)} ± ${f(c.sd)}${c.mark}`;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The bytes of a `data:image/png;base64,…` URL from the webview, checked to be a PNG (untrusted input). */
export function decodePngDataUrl(url: string): Uint8Array {
  // atob, not Buffer: this module is bundled into the webview too
  const prefix = 'data:image/png;base64,';
  if (typeof url !== 'string' || !url.startsWith(prefix)) throw new Error('the comparison image is not a PNG data URL');
  const bytes = Uint8Array.from(atob(url.slice(prefix.length)), (c) => c.charCodeAt(0));
  if (bytes.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error('the comparison image does not start with the PNG signature');
  return bytes;
}
