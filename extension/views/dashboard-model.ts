/**
 * Folds a run's events into what the dashboard draws: series grouped into charts, the latest interference
 * matrix, final scores, the health panel's data and the run header. Pure (no vscode, no DOM) so it runs in the extension
 * host and is unit-tested; the host sends its output to the webview as typed messages.
 * Only metrics declared in schemas/events.schema.json are charted (METRIC_DESCRIPTIONS is generated from it).
 */
import { METRIC_DESCRIPTIONS, type EngineEvent, type MetricName } from '../../schemas/generated/events';
import { HealthModel } from './health-model';
import type { ChartSpec, HealthPayload, HeatmapPayload, RunHeader, ScoreRow, SeriesDelta } from './messages';

type MetricEvent = Extract<EngineEvent, { kind: 'metric' }>;

/** One row per chart the dashboard shows; the series of a chart are the label combinations seen at run time. */
export const CHARTS: readonly ChartSpec[] = [
  { id: 'loss', title: 'Loss per capability', metrics: ['sft/loss', 'pretrain/loss'], yLabel: 'nats/token', logAllowed: true },
  { id: 'val_loss', title: 'Validation loss', metrics: ['sft/val_loss', 'pretrain/val_loss'], yLabel: 'nats/token', logAllowed: true },
  { id: 'cosine', title: 'Gradient cosine: raw vs projected', metrics: ['sft/cosine_raw', 'sft/cosine_projected', 'grpo/cosine_raw', 'grpo/cosine_projected'], yLabel: 'cosine', logAllowed: false },
  { id: 'grad_norm', title: 'Gradient norms: raw vs projected', metrics: ['sft/grad_norm_raw', 'sft/grad_norm_projected', 'sft/grad_norm', 'pretrain/grad_norm'], yLabel: 'L2 norm', logAllowed: true },
  { id: 'conflict', title: 'Conflict fraction per pair', metrics: ['sft/conflict_fraction'], yLabel: 'fraction', logAllowed: false },
  { id: 'reward', title: 'Rewards per component', metrics: ['grpo/reward_mean', 'grpo/reward_total'], yLabel: 'reward', logAllowed: false },
  { id: 'weights', title: 'Adaptive capability weights', metrics: ['grpo/weight'], yLabel: 'weight', logAllowed: false },
  { id: 'kl', title: 'KL to reference', metrics: ['grpo/kl'], yLabel: 'nats', logAllowed: true },
  { id: 'clip', title: 'Clip fraction', metrics: ['grpo/clip_fraction_low', 'grpo/clip_fraction_high'], yLabel: 'fraction', logAllowed: false },
  { id: 'grpo_loss', title: 'GRPO loss, entropy, length', metrics: ['grpo/loss', 'grpo/entropy', 'grpo/completion_length', 'grpo/truncation_rate', 'grpo/tie_fraction'], yLabel: '', logAllowed: false },
  { id: 'probe', title: 'Held-out probes', metrics: ['probe/accuracy', 'probe/loss'], yLabel: '', logAllowed: false },
  { id: 'throughput', title: 'Throughput', metrics: ['pretrain/tokens_per_s', 'sft/tokens_per_s', 'grpo/rollout_tokens_per_s', 'synth/examples_per_s', 'eval/items_per_s'], yLabel: 'per second', logAllowed: true },
  { id: 'system', title: 'Step time and memory', metrics: ['system/step_ms', 'system/rss_mb', 'sft/projection_ms'], yLabel: '', logAllowed: true },
];

const CHART_OF_METRIC = new Map<MetricName, ChartSpec>();
for (const c of CHARTS) for (const m of c.metrics) CHART_OF_METRIC.set(m, c);

/** `domain`, `domain×reasoning`, `format` …: the labels that tell series of one metric apart. */
export function seriesLabel(e: MetricEvent, chart: ChartSpec): string {
  const l = e.labels ?? {};
  const parts: string[] = [];
  if (l.capability) parts.push(l.other ? `${l.capability}×${l.other}` : l.capability);
  else if (l.other) parts.push(l.other);
  for (const k of Object.keys(l).sort()) {
    if (k === 'capability' || k === 'other') continue;
    const v = l[k];
    if (v !== undefined) parts.push(k === 'component' ? v : `${k}=${v}`);
  }
  const metricPart = chart.metrics.length > 1 ? shortMetric(e.name, chart) : '';
  const label = [metricPart, parts.join(' ')].filter(Boolean).join(' ');
  return label || e.name;
}

/** The part of a metric name that differs within a chart: `raw`/`projected` in the cosine chart. */
function shortMetric(name: MetricName, chart: ChartSpec): string {
  const stems = chart.metrics.map((m) => m.split('/')[1]!);
  const prefixes = new Set(chart.metrics.map((m) => m.split('/')[0]!));
  const [area, stem] = name.split('/') as [string, string];
  const common = commonPrefix(stems);
  const rest = stem.slice(common.length) || stem;
  return prefixes.size > 1 && chart.metrics.some((m) => m !== name && m.endsWith(`/${stem}`)) ? `${area} ${rest}` : rest;
}

function commonPrefix(xs: readonly string[]): string {
  if (xs.length < 2) return '';
  let p = xs[0]!;
  for (const x of xs) while (!x.startsWith(p)) p = p.slice(0, -1);
  // only cut at a word boundary
  const cut = p.lastIndexOf('_');
  return cut >= 0 ? p.slice(0, cut + 1) : '';
}

interface SeriesBuf {
  key: string;
  chartId: string;
  label: string;
  metric: MetricName;
  xs: number[];
  ys: number[];
}

/**
 * Accumulates a run's events. `take()` returns what changed since the previous call, so the host can send
 * a full `init` once and small `append` batches afterwards.
 */
export class DashboardModel {
  private readonly series = new Map<string, SeriesBuf>();
  /** How many points of each series were already handed out by take(). */
  private readonly sent = new Map<string, number>();
  private header: RunHeader;
  private heatmap: HeatmapPayload = { capabilities: [], values: [], step: undefined };
  private heatmapDirty = false;
  private readonly scores = new Map<string, ScoreRow>();
  private scoresDirty = false;
  private readonly interference = new Map<string, number>();
  private readonly health = new HealthModel();
  /** Per stage, the last step seen: stages without explicit steps get a running counter as x. */
  private readonly counters = new Map<string, number>();
  eventCount = 0;

  constructor(runId: string) {
    this.header = { runId, status: 'unknown', stages: {} };
  }

  /** The run has ended (completed, failed or cancelled): nothing more will be appended to its events. */
  get ended(): boolean {
    const s = this.header.status;
    return s === 'completed' || s === 'failed' || s === 'cancelled';
  }

  applyAll(events: readonly EngineEvent[]): void {
    for (const e of events) this.apply(e);
  }

  apply(e: EngineEvent): void {
    this.eventCount++;
    this.health.apply(e);
    switch (e.kind) {
      case 'metric':
        this.applyMetric(e);
        return;
      case 'phase':
        if (e.stage === 'run') {
          this.header = { ...this.header, status: e.status === 'progress' || e.status === 'started' || e.status === 'resumed' ? 'running' : e.status, ...(e.message ? { message: e.message } : {}) };
          const backend = (e.fields as Record<string, unknown> | undefined)?.['backend'];
          if (typeof backend === 'string') this.header = { ...this.header, backend };
        } else {
          this.header = { ...this.header, stages: { ...this.header.stages, [e.stage]: e.status } };
        }
        return;
      case 'record':
        return; // health notes and alerts went to this.health above; rollouts and examples are the inspector's
      case 'error':
        this.header = { ...this.header, message: `${e.code}: ${e.message}${e.hint ? ` (${e.hint})` : ''}` };
        return;
      case 'log':
        if (e.stage === 'run' && typeof (e.fields as Record<string, unknown> | undefined)?.['backend'] === 'string') {
          this.header = { ...this.header, backend: String((e.fields as Record<string, unknown>)['backend']) };
        }
        return;
      case 'artifact':
        return;
    }
  }

  private applyMetric(e: MetricEvent): void {
    if (!(e.name in METRIC_DESCRIPTIONS)) return; // views render only what the schema declares
    if (e.name === 'sft/interference') this.applyInterference(e);
    if (e.name === 'eval/score' || e.name === 'eval/stderr') this.applyScore(e);
    const chart = CHART_OF_METRIC.get(e.name);
    if (!chart) return;
    const label = seriesLabel(e, chart);
    const key = `${chart.id}|${label}`;
    let s = this.series.get(key);
    if (!s) {
      s = { key, chartId: chart.id, label, metric: e.name, xs: [], ys: [] };
      this.series.set(key, s);
    }
    const counterKey = `${e.stage ?? ''}|${key}`;
    const x = e.step ?? (this.counters.get(counterKey) ?? 0) + 1;
    this.counters.set(counterKey, x);
    const n = s.xs.length;
    if (n > 0 && x <= s.xs[n - 1]!) {
      // a resumed stage repeats steps: the newer value replaces the older at the same x
      if (x === s.xs[n - 1]) {
        s.ys[n - 1] = e.value;
        this.sent.set(key, Math.min(this.sent.get(key) ?? 0, n - 1));
        return;
      }
      const at = s.xs.findIndex((v) => v >= x);
      s.xs.length = at;
      s.ys.length = at;
      this.sent.set(key, Math.min(this.sent.get(key) ?? 0, at));
    }
    s.xs.push(x);
    s.ys.push(e.value);
  }

  private applyInterference(e: MetricEvent): void {
    const from = e.labels?.capability;
    const to = e.labels?.other;
    if (!from || !to) return;
    this.interference.set(`${from}\u0000${to}`, e.value);
    const caps = new Set(this.heatmap.capabilities);
    caps.add(from);
    caps.add(to);
    const capabilities = [...caps];
    const values = capabilities.map((r) => capabilities.map((c) => this.interference.get(`${r}\u0000${c}`) ?? null));
    this.heatmap = { capabilities, values, step: e.step };
    this.heatmapDirty = true;
  }

  private applyScore(e: MetricEvent): void {
    const suite = e.labels?.suite ?? 'score';
    const metric = e.labels?.metric ?? 'score';
    const model = e.labels?.model ?? '';
    const key = `${suite}|${metric}|${model}`;
    const row = this.scores.get(key) ?? { suite, metric, model, value: undefined, stderr: undefined };
    this.scores.set(key, e.name === 'eval/score' ? { ...row, value: e.value } : { ...row, stderr: e.value });
    this.scoresDirty = true;
  }

  /** Everything, for the webview's first paint. */
  snapshot(): { header: RunHeader; series: SeriesDelta[]; heatmap: HeatmapPayload; scores: ScoreRow[]; health: HealthPayload } {
    for (const s of this.series.values()) this.sent.set(s.key, s.xs.length);
    this.heatmapDirty = this.scoresDirty = false;
    return {
      header: this.header,
      series: [...this.series.values()].map((s) => ({ key: s.key, chartId: s.chartId, label: s.label, from: 0, xs: [...s.xs], ys: [...s.ys] })),
      heatmap: this.heatmap,
      scores: [...this.scores.values()],
      health: this.health.payload(),
    };
  }

  /** What changed since the last snapshot()/take(): new points per series (from = index they start at). */
  take(): { header: RunHeader; series: SeriesDelta[]; heatmap?: HeatmapPayload; scores?: ScoreRow[]; health?: HealthPayload } {
    const series: SeriesDelta[] = [];
    for (const s of this.series.values()) {
      const from = this.sent.get(s.key) ?? 0;
      if (from >= s.xs.length) continue;
      series.push({ key: s.key, chartId: s.chartId, label: s.label, from, xs: s.xs.slice(from), ys: s.ys.slice(from) });
      this.sent.set(s.key, s.xs.length);
    }
    const out: ReturnType<DashboardModel['take']> = { header: this.header, series };
    if (this.heatmapDirty) out.heatmap = this.heatmap;
    if (this.scoresDirty) out.scores = [...this.scores.values()];
    if (this.health.dirty) out.health = this.health.payload();
    this.heatmapDirty = this.scoresDirty = false;
    return out;
  }

  pointCount(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.xs.length;
    return n;
  }
}

/** Parses events.jsonl text, skipping blank and torn lines (a killed run may end mid-line). */
export function parseEventsJsonl(text: string): { events: EngineEvent[]; badLines: number } {
  const events: EngineEvent[] = [];
  let badLines = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as EngineEvent;
      if (e && typeof e === 'object' && typeof e.kind === 'string') events.push(e);
      else badLines++;
    } catch {
      badLines++; // counted and shown in the dashboard header; the rest of the log is still usable
    }
  }
  return { events, badLines };
}
