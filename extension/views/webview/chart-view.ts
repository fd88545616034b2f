/**
 * One uPlot chart fed from full-resolution series. Each redraw keeps only min–max points per pixel bucket
 * of the visible x range (../chart-data.ts), so drawing cost stays flat at 50,000+ points per series.
 * Zoom: drag to select an x range, double-click to reset. Smoothing (debiased EMA) and log scale apply
 * to every series of the chart. Sparse series (a probe every few steps) are drawn with point markers.
 */
import uPlot from 'uplot';
import { alignSeries, canUseLogScale, reduceMinMax, smoothEma, visibleRange } from '../chart-data';
import { el, PALETTE } from './vscode-api';

export interface SeriesData {
  label: string;
  xs: number[];
  ys: number[];
}

export interface ChartOptions {
  title: string;
  description: string;
  yLabel: string;
  /** The x axis (default: training step). */
  xLabel?: string;
  logAllowed: boolean;
}

export class ChartView {
  readonly root: HTMLElement;
  private readonly plotHost: HTMLElement;
  private plot: uPlot | undefined;
  private plotLabels = '';
  private plotLog = false;
  private readonly series = new Map<string, SeriesData>();
  private aligned: { xs: number[]; ys: (number | null)[][] } | undefined;
  private smoothed: (number | null)[][] | undefined;
  private smoothing = 0;
  private log = false;
  /** Zoomed x range, or undefined for all data. */
  private xRange: [number, number] | undefined;
  dirty = false;

  constructor(private readonly opts: ChartOptions) {
    this.plotHost = el('div', { class: 'plot' });
    const title = el('h3', { title: opts.description }, opts.title);
    this.root = el('section', { class: 'chart', 'data-chart': opts.title }, title, this.plotHost);
  }

  /** Appends points (from = index in the series where xs[0] goes; earlier points are kept). */
  update(key: string, label: string, from: number, xs: number[], ys: number[]): void {
    let s = this.series.get(key);
    if (!s) {
      s = { label, xs: [], ys: [] };
      this.series.set(key, s);
    }
    if (from < s.xs.length) {
      s.xs.length = from;
      s.ys.length = from;
    }
    for (let i = 0; i < xs.length; i++) {
      s.xs.push(xs[i]!);
      s.ys.push(ys[i]!);
    }
    this.aligned = undefined;
    this.dirty = true;
  }

  get pointsPerSeries(): number {
    let n = 0;
    for (const s of this.series.values()) n = Math.max(n, s.xs.length);
    return n;
  }

  get seriesCount(): number {
    return this.series.size;
  }

  /** Total points drawn at the last render (after reduction), for the frame-rate report. */
  drawnPoints = 0;

  setSmoothing(w: number): void {
    if (w === this.smoothing) return;
    this.smoothing = w;
    this.smoothed = undefined;
    this.dirty = true;
  }

  setLog(on: boolean): void {
    this.log = on;
    this.dirty = true;
  }

  setXRange(r: [number, number] | undefined): void {
    this.xRange = r;
    this.dirty = true;
  }

  get fullXRange(): [number, number] | undefined {
    const a = this.getAligned();
    return a.xs.length ? [a.xs[0]!, a.xs[a.xs.length - 1]!] : undefined;
  }

  private getAligned(): { xs: number[]; ys: (number | null)[][] } {
    if (!this.aligned) {
      this.aligned = alignSeries([...this.series.values()]);
      this.smoothed = undefined;
    }
    return this.aligned;
  }

  private getSmoothed(): (number | null)[][] {
    const a = this.getAligned();
    this.smoothed ??= this.smoothing > 0 ? a.ys.map((col) => smoothEma(col, this.smoothing)) : a.ys;
    return this.smoothed;
  }

  /** Draws now (the caller batches renders into animation frames). */
  render(): void {
    this.dirty = false;
    if (this.series.size === 0) return;
    const a = this.getAligned();
    const ys = this.getSmoothed();
    const width = Math.max(200, this.plotHost.clientWidth || 400);
    const labels = [...this.series.values()].map((s) => s.label).join('\u0000');
    const useLog = this.log && this.opts.logAllowed && canUseLogScale(ys);
    if (!this.plot || labels !== this.plotLabels || useLog !== this.plotLog) this.create(width, labels, useLog);
    const plot = this.plot!;
    if (plot.width !== width) plot.setSize({ width, height: 220 });
    const [xMin, xMax] = this.xRange ?? [a.xs[0]!, a.xs[a.xs.length - 1]!];
    const [lo, hi] = visibleRange(a.xs, xMin, xMax);
    // one bucket per 2 CSS pixels: each keeps every series' min and max, more than the eye can separate
    const idx = reduceMinMax(a.xs, ys, lo, hi, Math.ceil(width / 2));
    const data: uPlot.AlignedData = [idx.map((i) => a.xs[i]!), ...ys.map((col) => idx.map((i) => col[i] ?? null))];
    this.drawnPoints = idx.length * ys.length;
    // for tests and the frame-rate report: full-resolution points per series, and what was drawn
    this.root.dataset['points'] = String(this.pointsPerSeries);
    this.root.dataset['drawn'] = String(this.drawnPoints);
    plot.batch(() => {
      plot.setData(data, false);
      plot.setScale('x', { min: xMin, max: xMax === xMin ? xMin + 1 : xMax });
    });
  }

  private create(width: number, labels: string, useLog: boolean): void {
    this.plot?.destroy();
    this.plotLabels = labels;
    this.plotLog = useLog;
    const styles = getComputedStyle(document.body);
    const fg = styles.getPropertyValue('--vscode-foreground').trim() || '#ccc';
    const grid = styles.getPropertyValue('--vscode-editorWidget-border').trim() || 'rgba(128,128,128,0.25)';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width,
      height: 220,
      scales: { x: { time: false, auto: false }, y: useLog ? { distr: 3 } : { auto: true } },
      axes: [{ ...axis, label: this.opts.xLabel ?? 'step' }, { ...axis, label: this.opts.yLabel, size: 60 }],
      series: [{ label: this.opts.xLabel ?? 'step' }, ...[...this.series.values()].map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length]!, width: 1.5, spanGaps: true, points: { show: (_u: uPlot, _s: number, i0: number, i1: number) => i1 - i0 < 40, size: 5 } }))],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        bind: {
          dblclick: () => () => {
            this.setXRange(undefined);
            this.render();
            return null;
          },
        },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const min = u.posToVal(u.select.left, 'x');
            const max = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.setXRange([min, max]);
            this.render();
          },
        ],
      },
      legend: { live: true },
    };
    this.plotHost.replaceChildren();
    this.plot = new uPlot(opts, [[]], this.plotHost);
  }

  /** The drawn canvas, the title and each series' label and colour, for exporting the chart as an image. */
  image(): { title: string; canvas: HTMLCanvasElement; legend: { label: string; color: string }[] } | undefined {
    if (!this.plot) return undefined;
    return { title: this.opts.title, canvas: this.plot.ctx.canvas, legend: [...this.series.values()].map((s, i) => ({ label: s.label, color: PALETTE[i % PALETTE.length]! })) };
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }
}
