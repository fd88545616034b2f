/**
 * The results panel inside the webview: the sweep report when the comparison is a sweep (mean ± sd over
 * seeds per capability, balance, interference, significance marks), scores per capability with ± and
 * deltas against the first run, overlaid curves (one chart per metric, every run's series in it), and the
 * config diff (only keys that differ). A sweep over a numeric key (training steps, a model dimension) also
 * gets scaling curves: each capability's mean against that key, one series per other setting. Exports: Markdown (built by the host) and PNG (composed here from
 * the tables and the chart canvases, saved by the host).
 */
import { assertNever } from '../../util/assert-never';
import { formatDelta, formatScore, formatSweepCell, OVERLAY_METRICS, scalingCurves, sweepCellTitle } from '../../compare/compare-model';
import type { CompareRunView, CompareToHost, ConfigDiffRow, HostToCompare, SweepView } from '../messages';
import { ChartView } from './chart-view';
import { el, getApi } from './vscode-api';

const api = getApi<CompareToHost, undefined>();

/** A table for the PNG: header row then body rows, plain text. */
type TextTable = string[][];

export class Compare {
  private readonly body: HTMLElement;
  private charts: ChartView[] = [];
  /** The tables as text, for the PNG export. */
  private tables: { title: string; rows: TextTable }[] = [];
  private title = 'BalancedBio run comparison';

  constructor(root: HTMLElement) {
    const exportButton = el('button', { id: 'export-markdown' }, 'Export Markdown');
    exportButton.addEventListener('click', () => api.post({ type: 'exportMarkdown' }));
    const pngButton = el('button', { id: 'export-png', class: 'secondary' }, 'Export PNG');
    pngButton.addEventListener('click', () => {
      try {
        api.post({ type: 'exportPng', dataUrl: this.composePng() });
      } catch (e) {
        api.post({ type: 'log', level: 'error', message: `PNG export failed: ${e instanceof Error ? e.message : String(e)}` });
      }
    });
    const addButton = el('button', { class: 'secondary' }, 'Add runs…');
    addButton.addEventListener('click', () => api.post({ type: 'addRuns' }));
    this.body = el('div', { class: 'compare' });
    root.replaceChildren(el('header', { class: 'run-header' }, el('h2', {}, 'Compare runs')), el('div', { class: 'toolbar' }, exportButton, pngButton, addButton), this.body);
    window.addEventListener('resize', () => {
      for (const c of this.charts) c.dirty = true;
      requestAnimationFrame(() => this.charts.forEach((c) => c.dirty && c.render()));
    });
  }

  handle(m: HostToCompare): void {
    switch (m.type) {
      case 'show':
        this.show(m.runs, m.diff, m.sweep, m.sweepProblem);
        return;
      case 'error':
        this.body.replaceChildren(el('p', { class: 'error' }, m.message));
        return;
      default:
        assertNever(m, 'host message');
    }
  }

  private show(runs: CompareRunView[], diff: ConfigDiffRow[], sweep: SweepView | undefined, sweepProblem: string | undefined): void {
    this.tables = [];
    this.title = sweep ? `BalancedBio sweep ${sweep.sweepId}` : `BalancedBio comparison of ${runs.length} runs`;
    const sections: HTMLElement[] = [];
    for (const c of this.charts) c.destroy();
    this.charts = [];
    if (sweep) sections.push(this.sweepSection(sweep));
    else if (sweepProblem) sections.push(el('section', { class: 'sweep' }, el('h3', {}, 'Sweep report'), el('p', { class: 'empty-state' }, sweepProblem)));
    const scaling = sweep ? this.scalingSection(sweep) : undefined;
    if (scaling) sections.push(scaling);
    sections.push(this.scoresSection(runs));
    const overlays: ChartView[] = [];
    for (const spec of OVERLAY_METRICS) {
      const chart = new ChartView({ title: `${spec.title} (${spec.metric})`, yLabel: spec.yLabel, logAllowed: spec.logAllowed, description: `${spec.metric}, one series per run and label` });
      let any = false;
      for (const r of runs) {
        for (const [label, c] of Object.entries(r.curves[spec.metric] ?? {})) {
          any = true;
          chart.update(`${r.runId}|${label}`, label === 'all' ? r.runId : `${r.runId} ${label}`, 0, c.xs, c.ys);
        }
      }
      if (any) overlays.push(chart);
      else chart.destroy();
    }
    this.charts.push(...overlays); // after the scaling charts, which their own section holds
    const charts = overlays.length ? el('div', { class: 'charts', id: 'compare-charts' }, ...overlays.map((c) => c.root)) : el('p', { class: 'empty-state' }, 'No training curves in these runs yet.');
    sections.push(el('section', {}, el('h3', {}, 'Curves'), charts), this.diffSection(runs, diff));
    this.body.replaceChildren(...sections);
    requestAnimationFrame(() => this.charts.forEach((c) => c.render()));
  }

  /** Scaling curves (compare-model.ts scalingCurves) with a choice of x axis; undefined when no key is numeric. */
  private scalingSection(s: SweepView, axis?: string): HTMLElement | undefined {
    const view = scalingCurves(s, axis);
    if (!view) return undefined;
    const charts = view.charts.map((c) => {
      const percent = s.capabilities.includes(c.metric);
      const chart = new ChartView({
        title: `${c.metric} vs ${view.axis}`,
        yLabel: percent ? 'score (%)' : c.metric,
        xLabel: view.axis,
        logAllowed: false,
        description: `mean over seeds of ${c.metric} for each ${view.axis}; one series per combination of the other sweep keys`,
      });
      for (const series of c.series) chart.update(series.label, series.label, 0, series.xs, percent ? series.ys.map((y) => y * 100) : series.ys);
      return chart;
    });
    this.charts.push(...charts);
    const select = el('select', { id: 'scaling-axis', title: 'the sweep key on the x axis' }, ...view.axes.map((a) => el('option', { value: a, ...(a === view.axis ? { selected: 'selected' } : {}) }, a)));
    const section = el(
      'section',
      { class: 'scaling', id: 'scaling' },
      el('h3', {}, 'Scaling curves'),
      el('p', { class: 'hint' }, 'Each capability’s mean score over seeds against a numeric sweep key, one series per setting of the other keys: where the series separate is where a method’s effect appears. Means only: read the table above for the spread and the paired tests.'),
      ...(view.axes.length > 1 ? [el('label', {}, 'x axis ', select)] : []),
      el('div', { class: 'charts' }, ...charts.map((c) => c.root)),
    );
    select.addEventListener('change', () => {
      for (const c of charts) {
        c.destroy();
        this.charts.splice(this.charts.indexOf(c), 1);
      }
      const next = this.scalingSection(s, select.value);
      if (next) {
        section.replaceWith(next);
        requestAnimationFrame(() => this.charts.forEach((c) => c.render()));
      }
    });
    return section;
  }

  private sweepSection(s: SweepView): HTMLElement {
    const head = ['variant', 'seeds', ...s.capabilities, 'balance', 'interference'];
    const rows = s.rows.map((r) => [r.label, String(r.seeds.length), ...s.capabilities.map((c) => formatSweepCell(r.capabilities[c], true)), formatSweepCell(r.balance, false), formatSweepCell(r.interference, false)]);
    this.tables.push({ title: `Sweep ${s.name}: mean ± sd over seeds (scores in %)`, rows: [head, ...rows] });
    const table = el(
      'table',
      { id: 'sweep-table' },
      el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...s.rows.map((r, i) =>
          el(
            'tr',
            {},
            ...rows[i]!.map((cell, j) => {
              const c = j < 2 ? undefined : j - 2 < s.capabilities.length ? r.capabilities[s.capabilities[j - 2]!] : j - 2 === s.capabilities.length ? r.balance : r.interference;
              const title = sweepCellTitle(c, s.rows[0]?.label ?? 'the first row');
              return el('td', { class: j < 2 ? '' : 'num', ...(title ? { title } : {}) }, cell);
            }),
          ),
        ),
      ),
    );
    const grpoRows = s.rows.filter((r) => r.grpo);
    const grpoHead = ['variant', 'reward (last 10 %)', 'KL (final)', ...s.capabilities.map((c) => `weight ${c}`)];
    const grpoText = grpoRows.map((r) => [r.label, formatSweepCell(r.grpo!.reward, false, 4), formatSweepCell(r.grpo!.kl, false, 4), ...s.capabilities.map((c) => formatSweepCell(r.grpo!.weights[c], false))]);
    if (grpoRows.length) this.tables.push({ title: 'GRPO training signal (mean ± sd over seeds)', rows: [grpoHead, ...grpoText] });
    const grpo = grpoRows.length
      ? [
          el('h3', {}, 'GRPO training signal'),
          el('p', { class: 'hint' }, 'What the weighting changed during GRPO: total reward over the last 10 % of steps, final KL to the reference, final adaptive capability weights. At small scale these move before the held-out scores do.'),
          el('table', { id: 'sweep-grpo' }, el('thead', {}, el('tr', {}, ...grpoHead.map((h) => el('th', {}, h)))), el('tbody', {}, ...grpoText.map((cells) => el('tr', {}, ...cells.map((c, j) => el('td', { class: j ? 'num' : '' }, c)))))),
        ]
      : [];
    return el(
      'section',
      { class: 'sweep' },
      el('h3', {}, `Sweep report — ${s.name}`),
      el('p', { class: 'hint' }, 'Headline score per capability in % (mean ± sample sd over seeds); balance = min/max over capabilities of the chance-corrected headlines, (score − chance)/(1 − chance) clipped to [0, 1], chance = 1/options for multiple choice and 0 for generation (1 = balanced, 0 = a capability at chance); interference = mean change in another capability’s probe loss after one SFT step on one capability’s (projected) update (positive = hurts).'),
      table,
      el('p', { class: 'hint' }, `Significance: ${s.test}; * Holm-adjusted p < 0.05, ** < 0.01; the first row is the reference. Hover a cell for its p-value and number of seed pairs.`),
      ...grpo,
    );
  }

  private scoresSection(runs: CompareRunView[]): HTMLElement {
    const suites = [...new Set(runs.flatMap((r) => Object.keys(r.scores)))].sort();
    if (!suites.length) return el('section', { class: 'scores' }, el('h3', {}, 'Scores'), el('p', { class: 'empty-state' }, 'No evaluation scores in these runs yet (the evaluate stage writes them).'));
    const text: TextTable = [['capability', ...runs.map((r, i) => `${r.runId}${i === 0 ? ' (baseline)' : ''}`)]];
    const head = el('tr', {}, el('th', {}, 'capability'), ...runs.map((r, i) => el('th', { title: r.createdAt ?? '' }, `${r.runId}${i === 0 ? ' (baseline)' : ''}`)));
    const statusRow = el('tr', { class: 'status-row' }, el('td', {}, 'status'), ...runs.map((r) => el('td', {}, r.status)));
    text.push(['status', ...runs.map((r) => r.status)]);
    const rows = suites.map((s) => {
      const cells = runs.map((r, i) => ({ score: formatScore(r.scores[s]), delta: i === 0 ? '' : formatDelta(r.scores[s], runs[0]!.scores[s]) }));
      text.push([s, ...cells.map((c) => `${c.score}${c.delta ? ` (${c.delta})` : ''}`)]);
      return el('tr', {}, el('td', {}, s), ...cells.map((c) => el('td', { class: 'num' }, c.score, ...(c.delta ? [el('span', { class: c.delta.startsWith('+') ? 'delta up' : 'delta down' }, ` ${c.delta}`)] : []))));
    });
    this.tables.push({ title: 'Scores (± stderr; deltas against the baseline)', rows: text });
    return el('section', { class: 'scores' }, el('h3', {}, 'Scores'), el('table', { id: 'compare-scores' }, el('thead', {}, head), el('tbody', {}, statusRow, ...rows)));
  }

  private diffSection(runs: CompareRunView[], diff: ConfigDiffRow[]): HTMLElement {
    if (diff.length) this.tables.push({ title: 'Configuration differences', rows: [['key', ...runs.map((r) => r.runId)], ...diff.map((d) => [d.path, ...d.values.map((v) => v ?? '(absent)')])] });
    const table = diff.length
      ? el(
          'table',
          { id: 'config-diff' },
          el('thead', {}, el('tr', {}, el('th', {}, 'key'), ...runs.map((r) => el('th', {}, r.runId)))),
          el('tbody', {}, ...diff.map((row) => el('tr', {}, el('td', {}, el('code', {}, row.path)), ...row.values.map((v) => el('td', {}, v === undefined ? el('em', {}, '(absent)') : el('code', {}, v)))))),
        )
      : el('p', { class: 'empty-state' }, 'The resolved configurations are identical.');
    return el('section', { class: 'diff' }, el('h3', {}, `Configuration differences (${diff.length})`), table);
  }

  /**
   * Draws the comparison on one canvas, top to bottom: title, each table as aligned text, then the
   * charts two to a row at their drawn resolution, each with its title and a colour legend. Colours
   * come from the editor theme so the image looks like the panel.
   */
  private composePng(): string {
    const styles = getComputedStyle(document.body);
    const fg = styles.getPropertyValue('--vscode-foreground').trim() || '#cccccc';
    const bg = styles.getPropertyValue('--vscode-editor-background').trim() || '#1e1e1e';
    const font = styles.getPropertyValue('--vscode-font-family').trim() || 'sans-serif';
    const pad = 24;
    const line = 18;
    const images = this.charts.map((c) => c.image()).filter((x): x is NonNullable<typeof x> => x !== undefined);
    const colW = Math.max(560, ...images.map((im) => im.canvas.width));
    const W = Math.max(1200, 2 * colW + 3 * pad);
    const measure = document.createElement('canvas').getContext('2d')!;
    measure.font = `13px ${font}`;
    // column widths per table from the widest cell, capped so a long value cannot push the rest off the page
    const layouts = this.tables.map((t) => {
      const cols = Math.max(...t.rows.map((r) => r.length));
      const cap = Math.max(120, Math.floor((W - 2 * pad) / cols));
      const widths = Array.from({ length: cols }, (_, j) => Math.min(cap, Math.max(...t.rows.map((r) => measure.measureText(r[j] ?? '').width)) + 16));
      return { ...t, widths };
    });
    const legendCols = 2;
    const blockH = images.map((im) => 26 + Math.round((im.canvas.height / im.canvas.width) * colW) + Math.ceil(im.legend.length / legendCols) * line + 16);
    const rowsH: number[] = [];
    for (let i = 0; i < images.length; i += 2) rowsH.push(Math.max(blockH[i]!, blockH[i + 1] ?? 0));
    const height = pad + 34 + layouts.reduce((h, t) => h + line * (t.rows.length + 2) + 8, 0) + rowsH.reduce((h, x) => h + x, 0) + pad;
    const canvas = document.createElement('canvas');
    canvas.width = W;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas context');
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, W, height);
    ctx.fillStyle = fg;
    ctx.textBaseline = 'top';
    const clip = (s: string, w: number): string => {
      if (ctx.measureText(s).width <= w - 10) return s;
      let t = s;
      while (t.length > 1 && ctx.measureText(`${t}…`).width > w - 10) t = t.slice(0, -1);
      return `${t}…`;
    };
    let y = pad;
    ctx.font = `bold 20px ${font}`;
    ctx.fillText(this.title, pad, y);
    y += 34;
    for (const t of layouts) {
      ctx.font = `bold 15px ${font}`;
      ctx.fillText(t.title, pad, y);
      y += line + 6;
      t.rows.forEach((r, i) => {
        ctx.font = `${i === 0 ? 'bold ' : ''}13px ${font}`;
        let x = pad;
        r.forEach((cell, j) => {
          ctx.fillText(clip(cell, t.widths[j]!), x, y);
          x += t.widths[j]!;
        });
        y += line;
      });
      y += line + 2;
    }
    images.forEach((im, i) => {
      const x0 = pad + (i % 2) * (colW + pad);
      let yy = y;
      ctx.font = `bold 14px ${font}`;
      ctx.fillStyle = fg;
      ctx.fillText(clip(im.title, colW), x0, yy);
      yy += 26;
      const h = Math.round((im.canvas.height / im.canvas.width) * colW);
      ctx.drawImage(im.canvas, x0, yy, colW, h);
      yy += h + 4;
      ctx.font = `12px ${font}`;
      im.legend.forEach((l, k) => {
        const x = x0 + (k % legendCols) * (colW / legendCols);
        const ly = yy + Math.floor(k / legendCols) * line;
        ctx.fillStyle = l.color;
        ctx.fillRect(x, ly + 3, 12, 8);
        ctx.fillStyle = fg;
        ctx.fillText(clip(l.label, colW / legendCols - 18), x + 18, ly);
      });
      if (i % 2 === 1 || i === images.length - 1) y += rowsH[Math.floor(i / 2)]!;
    });
    return canvas.toDataURL('image/png');
  }
}
