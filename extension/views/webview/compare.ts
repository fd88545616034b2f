/**
 * The results panel inside the webview: scores per capability with ± and deltas against the first run,
 * overlaid per-capability loss curves, and the config diff (only keys that differ).
 */
import { assertNever } from '../../util/assert-never';
import { formatDelta, formatScore } from '../../compare/compare-model';
import type { CompareRunView, CompareToHost, ConfigDiffRow, HostToCompare } from '../messages';
import { ChartView } from './chart-view';
import { el, getApi } from './vscode-api';

const api = getApi<CompareToHost, undefined>();

export class Compare {
  private readonly body: HTMLElement;
  private chart: ChartView | undefined;

  constructor(root: HTMLElement) {
    const exportButton = el('button', { id: 'export-markdown' }, 'Export Markdown');
    exportButton.addEventListener('click', () => api.post({ type: 'exportMarkdown' }));
    const addButton = el('button', { class: 'secondary' }, 'Add runs…');
    addButton.addEventListener('click', () => api.post({ type: 'addRuns' }));
    this.body = el('div', { class: 'compare' });
    root.replaceChildren(el('header', { class: 'run-header' }, el('h2', {}, 'Compare runs')), el('div', { class: 'toolbar' }, exportButton, addButton), this.body);
  }

  handle(m: HostToCompare): void {
    switch (m.type) {
      case 'show':
        this.show(m.runs, m.diff);
        return;
      case 'error':
        this.body.replaceChildren(el('p', { class: 'error' }, m.message));
        return;
      default:
        assertNever(m, 'host message');
    }
  }

  private show(runs: CompareRunView[], diff: ConfigDiffRow[]): void {
    const suites = [...new Set(runs.flatMap((r) => Object.keys(r.scores)))].sort();
    const head = el('tr', {}, el('th', {}, 'capability'), ...runs.map((r, i) => el('th', { title: r.createdAt ?? '' }, `${r.runId}${i === 0 ? ' (baseline)' : ''}`)));
    const statusRow = el('tr', { class: 'status-row' }, el('td', {}, 'status'), ...runs.map((r) => el('td', {}, r.status)));
    const rows = suites.map((s) =>
      el(
        'tr',
        {},
        el('td', {}, s),
        ...runs.map((r, i) => {
          const d = i === 0 ? '' : formatDelta(r.scores[s], runs[0]!.scores[s]);
          return el('td', { class: 'num' }, formatScore(r.scores[s]), ...(d ? [el('span', { class: d.startsWith('+') ? 'delta up' : 'delta down' }, ` ${d}`)] : []));
        }),
      ),
    );
    const scores = el('section', { class: 'scores' }, el('h3', {}, 'Scores'), suites.length ? el('table', { id: 'compare-scores' }, el('thead', {}, head), el('tbody', {}, statusRow, ...rows)) : el('p', { class: 'empty-state' }, 'No evaluation scores in these runs yet (the evaluate stage writes them).'));

    const diffTable = diff.length
      ? el(
          'table',
          { id: 'config-diff' },
          el('thead', {}, el('tr', {}, el('th', {}, 'key'), ...runs.map((r) => el('th', {}, r.runId)))),
          el('tbody', {}, ...diff.map((row) => el('tr', {}, el('td', {}, el('code', {}, row.path)), ...row.values.map((v) => el('td', {}, v === undefined ? el('em', {}, '(absent)') : el('code', {}, v)))))),
        )
      : el('p', { class: 'empty-state' }, 'The resolved configurations are identical.');
    const diffSection = el('section', { class: 'diff' }, el('h3', {}, `Configuration differences (${diff.length})`), diffTable);

    this.chart?.destroy();
    this.chart = new ChartView({ title: 'Training loss per capability (sft/loss), all runs', yLabel: 'nats/token', logAllowed: true, description: 'sft/loss per capability' });
    let any = false;
    for (const r of runs) {
      for (const [cap, c] of Object.entries(r.curves)) {
        any = true;
        this.chart.update(`${r.runId}|${cap}`, `${r.runId} ${cap}`, 0, c.xs, c.ys);
      }
    }
    this.body.replaceChildren(scores, ...(any ? [this.chart.root] : []), diffSection);
    if (any) requestAnimationFrame(() => this.chart?.render());
  }
}
