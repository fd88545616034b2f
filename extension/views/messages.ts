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

export interface FpsResult {
  fps: number;
  frames: number;
  durationMs: number;
  p95FrameMs: number;
  pointsPerSeries: number;
  series: number;
  charts: number;
}

/** One health note (engine `record` of type health), folded per metric and capability pair. */
export interface HealthRow {
  metric: string;
  stage: string | undefined;
  capability?: string;
  other?: string;
  /** Value when the note was last raised. */
  value: number | undefined;
  firstStep: number | undefined;
  lastStep: number | undefined;
  /** How many times the engine raised it. */
  count: number;
  meaning: string;
}

/** A health metric the panel always lists, with its latest values and whether a note was raised. */
export interface HealthMetricRow {
  metric: string;
  description: string;
  /** Latest value of each of its series (capability or pair label → value). */
  latest: Record<string, number>;
  notes: number;
}

/** The reward-vs-accuracy alert (engine `record` of type alert). */
export interface AlertRow {
  step: number | undefined;
  stage: string | undefined;
  title: string;
  meaning: string;
  reward?: { from: number; to: number };
  accuracy?: { from: number; to: number };
}

export interface HealthPayload {
  metrics: HealthMetricRow[];
  notes: HealthRow[];
  alerts: AlertRow[];
}

export interface RolloutCompletion {
  text: string;
  truncated: boolean;
  reward: number | undefined;
  advantage: number | undefined;
  components: Record<string, number>;
  extracted: string;
}

export interface RolloutGroup {
  capability: string;
  exampleId: string;
  prompt: string;
  gold: string;
  completions: RolloutCompletion[];
}

/** The groups logged at one GRPO step (engine `record` of type rollouts). */
export interface RolloutStep {
  step: number;
  groups: RolloutGroup[];
}

/** An example as the model sees it: token texts, and the index from which tokens are loss targets. */
export interface TokenPreview {
  pieces: string[];
  trainedFrom: number;
}

/** The text the model's chat format writes around a prompt and around its answer (the SFT stage's `examples` record). */
export interface ChatFrame {
  prompt: [string, string];
  response: [string, string];
}

export interface DatasetRow {
  id: string;
  capability: string;
  template: string | undefined;
  specialty: string | undefined;
  prompt: string;
  response: string;
  answer: string | undefined;
  /** The ontology facts the example was generated from (MKGSG provenance); absent for user files. */
  provenance: { central?: string; entities: string[]; edges: string[]; query?: string } | undefined;
  /** Where the example came from when it is a user file: `file:line`. */
  source: string | undefined;
  tokens: TokenPreview | undefined;
  /** The example as SFT trained on it, in the model's chat format: the context, then the trained span. */
  rendered: { context: string; trained: string } | undefined;
}

export interface DatasetQuery {
  capability: string | undefined;
  text: string;
  page: number;
}

export interface DatasetPage {
  file: string;
  total: number;
  matched: number;
  page: number;
  pageSize: number;
  /** Examples per capability in the whole file. */
  capabilities: Record<string, number>;
  rows: DatasetRow[];
  /** Why there is no data (no synthesize stage yet, unreadable file). */
  problem?: string;
}

export type HostToInspector =
  | { type: 'init'; runId: string; runDir: string; rollouts: RolloutStep[]; dataset: DatasetPage; health: HealthPayload; tab: InspectorTab }
  | { type: 'update'; rollouts: RolloutStep[]; health: HealthPayload }
  | { type: 'dataset'; dataset: DatasetPage }
  | { type: 'error'; message: string };

export type InspectorTab = 'rollouts' | 'dataset' | 'health';

/** What the inspector webview persists; the serializer reopens the same run and tab after a reload. */
export interface InspectorState {
  runId: string;
  /** URI string of the run folder. */
  runDir: string;
  tab: InspectorTab;
  step?: number;
}

export type InspectorToHost =
  | { type: 'ready' }
  | { type: 'queryDataset'; query: DatasetQuery }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** What the webview persists with getState/setState and the serializer receives after a reload. */
export interface DashboardState {
  runId: string;
  /** URI string of the run folder. */
  runDir: string;
  smoothing: number;
  logScale: boolean;
}

export type HostToDashboard =
  | { type: 'init'; runDir: string; charts: readonly ChartSpec[]; header: RunHeader; series: SeriesDelta[]; heatmap: HeatmapPayload; scores: ScoreRow[]; health: HealthPayload; descriptions: Record<string, string> }
  | { type: 'append'; header: RunHeader; series: SeriesDelta[]; heatmap?: HeatmapPayload; scores?: ScoreRow[]; health?: HealthPayload }
  | { type: 'measureFps'; durationMs: number }
  | { type: 'error'; message: string };

export type DashboardToHost =
  | { type: 'ready' }
  | { type: 'openRunFile'; file: 'report' | 'events' | 'experiment' }
  | { type: 'cancelRun' }
  | { type: 'openInspector'; tab: InspectorTab }
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
  /** Curves for the overlay charts: metric → series label → points (see OVERLAY_METRICS). */
  curves: Record<string, Record<string, { xs: number[]; ys: number[] }>>;
}

export interface ConfigDiffRow {
  path: string;
  /** One value per run, in the order of the runs; undefined where the key is absent. */
  values: (string | undefined)[];
}

/** One cell of a sweep report: mean ± sd over seeds and the sign-flip test against the first row (Holm-adjusted). */
export interface SweepCell {
  mean: number;
  sd: number;
  n: number;
  /** `*` Holm-adjusted p < 0.05, `**` < 0.01, '' otherwise (engine/run/sweep-report.ts). */
  mark: string;
  /** Holm-adjusted p of the sign-flip test against the first row. */
  p: number | undefined;
  /** Seeds paired with the first row. */
  pairs: number | undefined;
}

export interface SweepRowView {
  label: string;
  /** The overrides that define the row's group (its groupKey), e.g. `{ "sft.projection": "pcgrad", "sft.steps": 40 }`. */
  set: Record<string, unknown>;
  seeds: number[];
  capabilities: Record<string, SweepCell | undefined>;
  balance: SweepCell | undefined;
  interference: SweepCell | undefined;
  /** The GRPO training signal, where the row's runs trained with GRPO. */
  grpo?: { reward: SweepCell | undefined; kl: SweepCell | undefined; weights: Record<string, SweepCell | undefined> };
}

/** Mean score against one numeric sweep key, one series per combination of the other keys (scaling curves). */
export interface ScalingView {
  /** The numeric key on the x axis, e.g. `sft.steps` or `model.dims.hidden_size`. */
  axis: string;
  /** Every numeric key with two or more values, any of which can be the x axis. */
  axes: string[];
  /** metric (a capability, `balance` or `interference`) → series (the other keys' values) → points sorted by x. */
  charts: { metric: string; series: { label: string; xs: number[]; ys: number[]; sds: number[] }[] }[];
}

/** A sweep report (sweep-report.json) for the comparison view. */
export interface SweepView {
  sweepId: string;
  name: string;
  /** How significance was tested, in the report's words. */
  test: string;
  capabilities: string[];
  rows: SweepRowView[];
}

export type HostToCompare =
  | { type: 'show'; runs: CompareRunView[]; diff: ConfigDiffRow[]; markdown: string; sweep?: SweepView; sweepProblem?: string }
  | { type: 'error'; message: string };

export type CompareToHost =
  | { type: 'ready' }
  | { type: 'exportMarkdown' }
  | { type: 'exportPng'; dataUrl: string }
  | { type: 'addRuns' }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** Type guard for messages arriving from a webview (untrusted input: check the discriminant). */
export function isDashboardToHost(m: unknown): m is DashboardToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'openRunFile' || t === 'cancelRun' || t === 'openInspector' || t === 'stateChanged' || t === 'fpsMeasured' || t === 'log';
}

export function isInspectorToHost(m: unknown): m is InspectorToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'queryDataset' || t === 'log';
}

export function isCompareToHost(m: unknown): m is CompareToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'exportMarkdown' || t === 'exportPng' || t === 'addRuns' || t === 'log';
}
