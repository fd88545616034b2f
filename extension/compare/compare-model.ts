/**
 * Pure logic of the results/compare panel: the config diff of resolved experiment.yaml files (only keys
 * whose values differ), per-capability scores from report.json or the eval/score events, and the Markdown
 * export. No vscode import; unit-tested.
 */
import type { EngineEvent } from '../../schemas/generated/events';
import type { CompareRunView, ConfigDiffRow } from '../views/messages';

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
 * Reads scores from report.json. Accepted shapes (the eval stage owns the format; read defensively):
 *   { scores: { domain: 0.61, … } } · { scores: { domain: { value|score, stderr } } }
 *   { suites: [{ suite|name, score|value, stderr? , metric? }] } · { results: [...] } (same rows)
 */
export function scoresFromReport(report: unknown): Scores {
  const out: Scores = {};
  if (!report || typeof report !== 'object') return out;
  const r = report as Record<string, unknown>;
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

/** Per-capability training loss curves (sft/loss by capability), for the overlay chart. */
export function lossCurves(events: readonly EngineEvent[]): CompareRunView['curves'] {
  const out: CompareRunView['curves'] = {};
  for (const e of events) {
    if (e.kind !== 'metric' || e.name !== 'sft/loss' || e.step === undefined) continue;
    const key = e.labels?.capability ?? 'loss';
    const c = (out[key] ??= { xs: [], ys: [] });
    c.xs.push(e.step);
    c.ys.push(e.value);
  }
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
