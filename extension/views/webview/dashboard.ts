/**
 * The run dashboard inside the webview: header (run, status, stages, backend), toolbar (smoothing, log
 * scale, frame-rate probe, files, cancel), one chart per ChartSpec that has data, the interference
 * heatmap, final scores and the health panel (alerts, health metrics and what they mean). Renders are batched into animation frames.
 */
import { assertNever } from '../../util/assert-never';
import type { ChartSpec, DashboardState, DashboardToHost, FpsResult, HealthPayload, HeatmapPayload, HostToDashboard, RunHeader, ScoreRow, SeriesDelta } from '../messages';
import { ChartView } from './chart-view';
import { renderHealth } from './health';
import { drawHeatmap } from './heatmap';
import { el, getApi } from './vscode-api';

const api = getApi<DashboardToHost, DashboardState>();

interface Ui {
  header: HTMLElement;
  charts: HTMLElement;
  heatmap: HTMLCanvasElement;
  heatmapSection: HTMLElement;
  scores: HTMLElement;
  health: HTMLElement;
  fps: HTMLElement;
  cancel: HTMLButtonElement;
  empty: HTMLElement;
}

export class Dashboard {
  private readonly ui: Ui;
  private specs = new Map<string, ChartSpec>();
  private descriptions: Record<string, string> = {};
  private readonly charts = new Map<string, ChartView>();
  private state: DashboardState;
  private frameRequested = false;
  private lastHeatmap: HeatmapPayload | undefined;

  constructor(root: HTMLElement) {
    const saved = api.getState();
    this.state = saved ?? { runId: '', runDir: '', smoothing: 0, logScale: false };
    const smoothing = el('input', { type: 'range', min: '0', max: '0.99', step: '0.01', value: String(this.state.smoothing), id: 'smoothing', 'aria-label': 'Smoothing' });
    const smoothingValue = el('span', { class: 'value' }, this.state.smoothing.toFixed(2));
    smoothing.addEventListener('input', () => {
      this.state = { ...this.state, smoothing: Number(smoothing.value) };
      smoothingValue.textContent = this.state.smoothing.toFixed(2);
      for (const c of this.charts.values()) c.setSmoothing(this.state.smoothing);
      this.saveState();
      this.requestFrame();
    });
    const log = el('input', { type: 'checkbox', id: 'log-scale' });
    log.checked = this.state.logScale;
    log.addEventListener('change', () => {
      this.state = { ...this.state, logScale: log.checked };
      for (const c of this.charts.values()) c.setLog(this.state.logScale);
      this.saveState();
      this.requestFrame();
    });
    const fpsButton = el('button', { id: 'measure-fps', title: 'Redraws every chart for 3 s while panning across all points, and reports frames per second' }, 'Measure frame rate');
    fpsButton.addEventListener('click', () => void this.measureFps(3000).catch((e: unknown) => this.fpsFailed(e)));
    const fileButton = (label: string, file: 'report' | 'events' | 'experiment'): HTMLButtonElement => {
      const b = el('button', { class: 'secondary' }, label);
      b.addEventListener('click', () => api.post({ type: 'openRunFile', file }));
      return b;
    };
    const inspectButton = el('button', { class: 'secondary', id: 'inspect-run', title: 'GRPO rollouts, the training set with provenance and trained tokens, health' }, 'Inspect');
    inspectButton.addEventListener('click', () => api.post({ type: 'openInspector', tab: 'rollouts' }));
    const cancel = el('button', { class: 'danger', id: 'cancel-run', hidden: '' }, 'Cancel run');
    cancel.addEventListener('click', () => api.post({ type: 'cancelRun' }));
    const toolbar = el(
      'div',
      { class: 'toolbar' },
      el('label', { for: 'smoothing' }, 'Smoothing '),
      smoothing,
      smoothingValue,
      el('label', { class: 'check' }, log, ' Log scale'),
      fpsButton,
      fileButton('Events', 'events'),
      fileButton('Experiment', 'experiment'),
      fileButton('Report', 'report'),
      inspectButton,
      cancel,
    );
    const heatmap = el('canvas', { width: '420', height: '300', id: 'interference' });
    this.ui = {
      header: el('header', { class: 'run-header' }),
      charts: el('div', { class: 'charts', id: 'charts' }),
      heatmap,
      heatmapSection: el('section', { class: 'chart heatmap', hidden: '' }, el('h3', { title: 'Change in the column capability’s probe loss after one step on the row capability alone: red = the step hurt it, blue = it helped.' }, 'Interference between capabilities'), heatmap),
      scores: el('section', { class: 'scores', hidden: '' }),
      health: el('section', { class: 'health', id: 'health-panel', hidden: '' }),
      fps: el('span', { id: 'fps-result', class: 'fps' }),
      cancel,
      empty: el('p', { class: 'empty-state', id: 'no-metrics' }, 'No metrics yet. Charts appear as the run reports them.'),
    };
    toolbar.append(this.ui.fps);
    root.replaceChildren(this.ui.header, toolbar, this.ui.empty, this.ui.charts, this.ui.heatmapSection, this.ui.scores, this.ui.health);
    window.addEventListener('resize', () => {
      for (const c of this.charts.values()) c.dirty = true;
      this.requestFrame();
    });
  }

  handle(m: HostToDashboard): void {
    switch (m.type) {
      case 'init':
        this.specs = new Map(m.charts.map((c) => [c.id, c]));
        this.descriptions = m.descriptions;
        for (const c of this.charts.values()) c.destroy();
        this.charts.clear();
        this.ui.charts.replaceChildren();
        this.state = { ...this.state, runId: m.header.runId, runDir: m.runDir };
        this.saveState();
        this.applySeries(m.series);
        this.renderHeader(m.header);
        this.renderHeatmap(m.heatmap);
        this.renderScores(m.scores);
        this.renderHealth(m.health);
        this.requestFrame();
        return;
      case 'append':
        this.applySeries(m.series);
        this.renderHeader(m.header);
        if (m.heatmap) this.renderHeatmap(m.heatmap);
        if (m.scores) this.renderScores(m.scores);
        if (m.health) this.renderHealth(m.health);
        this.requestFrame();
        return;
      case 'measureFps':
        void this.measureFps(m.durationMs).catch((e: unknown) => this.fpsFailed(e));
        return;
      case 'error':
        this.ui.header.append(el('p', { class: 'error' }, m.message));
        return;
      default:
        assertNever(m, 'host message');
    }
  }

  private saveState(): void {
    api.setState(this.state);
    api.post({ type: 'stateChanged', state: this.state });
  }

  private applySeries(series: SeriesDelta[]): void {
    for (const s of series) {
      let chart = this.charts.get(s.chartId);
      if (!chart) {
        const spec = this.specs.get(s.chartId);
        if (!spec) continue;
        chart = new ChartView({ title: spec.title, yLabel: spec.yLabel, logAllowed: spec.logAllowed, description: spec.metrics.map((m) => `${m}: ${this.descriptions[m] ?? ''}`).join('\n') });
        chart.setSmoothing(this.state.smoothing);
        chart.setLog(this.state.logScale);
        this.charts.set(s.chartId, chart);
        this.placeChart(s.chartId, chart);
      }
      chart.update(s.key, s.label, s.from, s.xs, s.ys);
    }
    this.ui.empty.hidden = this.charts.size > 0;
  }

  /** Keeps charts in the order of the specs, whatever order their first points arrive in. */
  private placeChart(id: string, chart: ChartView): void {
    const order = [...this.specs.keys()];
    const mine = order.indexOf(id);
    const after = Array.from(this.ui.charts.children).find((c) => order.indexOf((c as HTMLElement).dataset['chartId'] ?? '') > mine);
    chart.root.dataset['chartId'] = id;
    this.ui.charts.insertBefore(chart.root, after ?? null);
  }

  private requestFrame(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      for (const c of this.charts.values()) if (c.dirty) c.render();
      if (this.lastHeatmap) drawHeatmap(this.ui.heatmap, this.lastHeatmap);
    });
  }

  private renderHeader(h: RunHeader): void {
    const stages = Object.entries(h.stages).map(([s, st]) => el('span', { class: `stage ${st ?? ''}`, title: `${s}: ${st ?? ''}` }, `${s}: ${st ?? ''}`));
    this.ui.header.replaceChildren(
      el('h2', {}, `Run ${h.runId}`),
      el('span', { class: `status ${h.status}`, id: 'run-status' }, h.status),
      ...(h.backend ? [el('span', { class: 'backend' }, `backend: ${h.backend}`)] : []),
      el('div', { class: 'stages' }, ...stages),
      ...(h.message ? [el('p', { class: 'message' }, h.message)] : []),
    );
    this.ui.cancel.hidden = h.status !== 'running';
  }

  private renderHeatmap(h: HeatmapPayload): void {
    if (h.capabilities.length === 0) return;
    this.lastHeatmap = h;
    this.ui.heatmapSection.hidden = false;
  }

  private renderScores(rows: ScoreRow[]): void {
    if (rows.length === 0) return;
    this.ui.scores.hidden = false;
    const body = rows.map((r) =>
      el('tr', {}, el('td', {}, r.suite), el('td', {}, r.metric), el('td', {}, r.model), el('td', { class: 'num' }, r.value === undefined ? '—' : r.value.toFixed(3)), el('td', { class: 'num' }, r.stderr === undefined ? '' : `± ${r.stderr.toFixed(3)}`)),
    );
    this.ui.scores.replaceChildren(el('h3', {}, 'Evaluation'), el('table', {}, el('thead', {}, el('tr', {}, ...['suite', 'metric', 'model', 'score', 'stderr'].map((h) => el('th', {}, h)))), el('tbody', {}, ...body)));
  }

  /** Alerts, the health metrics with their meaning and the engine's notes; links to the inspector. */
  private renderHealth(h: HealthPayload): void {
    if (h.metrics.length === 0 && h.notes.length === 0 && h.alerts.length === 0) return;
    this.ui.health.hidden = false;
    const inspect = el('button', { class: 'secondary', id: 'open-inspector' }, 'Inspect rollouts and training data');
    inspect.addEventListener('click', () => api.post({ type: 'openInspector', tab: 'rollouts' }));
    this.ui.health.replaceChildren(el('h3', {}, 'Health'), ...renderHealth(h), el('div', { class: 'toolbar' }, inspect));
  }

  /**
   * Frame-rate probe: every animation frame pans a window over 60 % of each chart's x range, so every
   * chart re-reduces and redraws its full-resolution data; reports frames per second and the p95 frame time.
   */
  private async measureFps(durationMs: number): Promise<void> {
    const charts = [...this.charts.values()].filter((c) => c.pointsPerSeries > 1);
    const ranges = charts.map((c) => c.fullXRange);
    const frameTimes: number[] = [];
    const start = performance.now();
    let last = start;
    this.ui.fps.textContent = 'measuring…';
    await new Promise<void>((resolve) => {
      const tick = (now: number): void => {
        if (now !== start) frameTimes.push(now - last);
        last = now;
        const f = Math.min(1, (now - start) / durationMs);
        charts.forEach((c, i) => {
          const r = ranges[i];
          if (!r) return;
          const span = r[1] - r[0];
          const lo = r[0] + f * 0.4 * span;
          c.setXRange([lo, lo + 0.6 * span]);
          c.render();
        });
        if (now - start < durationMs) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    const elapsed = last - start;
    for (const c of charts) c.setXRange(undefined);
    this.requestFrame();
    const sorted = [...frameTimes].sort((a, b) => a - b);
    const result: FpsResult = {
      fps: frameTimes.length / (elapsed / 1000),
      frames: frameTimes.length,
      durationMs: elapsed,
      p95FrameMs: sorted[Math.floor(sorted.length * 0.95)] ?? 0,
      pointsPerSeries: Math.max(0, ...charts.map((c) => c.pointsPerSeries)),
      series: charts.reduce((n, c) => n + c.seriesCount, 0),
      charts: charts.length,
    };
    this.ui.fps.textContent = `${result.fps.toFixed(1)} fps · p95 ${result.p95FrameMs.toFixed(1)} ms · ${result.pointsPerSeries} pts/series`;
    this.ui.fps.dataset['fps'] = result.fps.toFixed(2);
    this.ui.fps.dataset['points'] = String(result.pointsPerSeries);
    api.post({ type: 'fpsMeasured', result });
  }

  /** A failed frame-rate probe shows where its result would have, and in the host's log. */
  private fpsFailed(e: unknown): void {
    const message = `frame-rate measurement failed: ${e instanceof Error ? e.message : String(e)}`;
    this.ui.fps.textContent = message;
    api.post({ type: 'log', level: 'error', message });
  }
}
