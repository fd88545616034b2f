/**
 * Every message between the extension host and its webviews, as discriminated unions. Both sides switch
 * on `type` and end the switch in assertNever, so adding a message is a compile error until handled.
 * Plain data only (structured-clone safe). Imported by the webview bundle, so no vscode import here.
 */
import type { EngineEvent, MetricName } from '../../schemas/generated/events';

type PhaseStatus = Extract<EngineEvent, { kind: 'phase' }>['status'];

export interface ChartSpec {
  id: string;
  title: string;
  metrics: readonly MetricName[];
  yLabel: string;
  /** Log scale makes sense for this chart's quantity (losses, norms, throughput), not for cosines. */
  logAllowed: boolean;
}

export interface RunHeader {
  runId: string;
  status: 'unknown' | 'running' | PhaseStatus;
  /** Per stage, the last phase status seen. */
  stages: Partial<Record<string, PhaseStatus>>;
  backend?: string;
  message?: string;
  /** Lines of events.jsonl that did not parse. */
  badLines?: number;
}

/** New points of one series; `from` is the index of xs[0] within the whole series (a rewrite truncates there). */
export interface SeriesDelta {
  key: string;
  chartId: string;
  label: string;
  from: number;
  xs: number[];
  ys: number[];
}

/** values[row][col]: change of `col`'s probe loss after a step on `row` alone; null where not measured. */
export interface HeatmapPayload {
  capabilities: string[];
  values: (number | null)[][];
  step: number | undefined;
}

export interface ScoreRow {
  suite: string;
  metric: string;
  model: string;
  value: number | undefined;
  stderr: number | undefined;
}

export interface RecordPayload {
  type: Extract<EngineEvent, { kind: 'record' }>['type'];
  step: number | undefined;
  stage: string | undefined;
  data: unknown;
}

export interface FpsResult {
  fps: number;
  frames: number;
  durationMs: number;
  p95FrameMs: number;
  pointsPerSeries: number;
  series: number;
  charts: number;
}

/** What the webview persists with getState/setState and the serializer receives after a reload. */
export interface DashboardState {
  runId: string;
  /** URI string of the run folder. */
  runDir: string;
  smoothing: number;
  logScale: boolean;
}

export type HostToDashboard =
  | { type: 'init'; runDir: string; charts: readonly ChartSpec[]; header: RunHeader; series: SeriesDelta[]; heatmap: HeatmapPayload; scores: ScoreRow[]; records: RecordPayload[]; descriptions: Record<string, string> }
  | { type: 'append'; header: RunHeader; series: SeriesDelta[]; heatmap?: HeatmapPayload; scores?: ScoreRow[]; records?: RecordPayload[] }
  | { type: 'measureFps'; durationMs: number }
  | { type: 'error'; message: string };

export type DashboardToHost =
  | { type: 'ready' }
  | { type: 'openRunFile'; file: 'report' | 'events' | 'experiment' }
  | { type: 'cancelRun' }
  | { type: 'stateChanged'; state: DashboardState }
  | { type: 'fpsMeasured'; result: FpsResult }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

export interface CompareRunView {
  runId: string;
  status: string;
  createdAt: string | undefined;
  /** capability/suite → score (±stderr) */
  scores: Record<string, { value: number; stderr: number | undefined }>;
  /** stage → summary numbers from state.json */
  summaries: Record<string, Record<string, number>>;
  /** final loss curves for overlay: series label → points */
  curves: Record<string, { xs: number[]; ys: number[] }>;
}

export interface ConfigDiffRow {
  path: string;
  /** One value per run, in the order of the runs; undefined where the key is absent. */
  values: (string | undefined)[];
}

export type HostToCompare =
  | { type: 'show'; runs: CompareRunView[]; diff: ConfigDiffRow[]; markdown: string }
  | { type: 'error'; message: string };

export type CompareToHost =
  | { type: 'ready' }
  | { type: 'exportMarkdown' }
  | { type: 'addRuns' }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** Type guard for messages arriving from a webview (untrusted input: check the discriminant). */
export function isDashboardToHost(m: unknown): m is DashboardToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'openRunFile' || t === 'cancelRun' || t === 'stateChanged' || t === 'fpsMeasured' || t === 'log';
}

export function isCompareToHost(m: unknown): m is CompareToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'exportMarkdown' || t === 'addRuns' || t === 'log';
}
