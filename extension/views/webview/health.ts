/**
 * The health panel, shared by the dashboard and the inspector: alerts first (reward up while task accuracy
 * went down), then each GRPO and projection health metric with what it means, its latest values and
 * whether the engine raised a note about it, then the notes themselves in the engine's own words.
 */
import { formatRange } from '../health-model';
import type { HealthPayload } from '../messages';
import { el } from './vscode-api';

export function renderHealth(h: HealthPayload): HTMLElement[] {
  const out: HTMLElement[] = [];
  for (const a of h.alerts) {
    out.push(
      el(
        'div',
        { class: 'alert', role: 'alert' },
        el('strong', {}, `⚠ ${a.title}`),
        a.step !== undefined ? ` (step ${a.step}${a.stage ? `, ${a.stage}` : ''})` : '',
        el('p', {}, a.meaning),
        ...(a.reward ? [el('p', {}, `mean reward ${formatRange(a.reward)} · held-out accuracy ${formatRange(a.accuracy)}`)] : []),
      ),
    );
  }
  if (h.metrics.length === 0 && h.notes.length === 0) {
    out.push(el('p', { class: 'empty-state' }, 'No health metrics yet: SFT reports gradient conflicts and GRPO its KL, clipping, ties, truncation and entropy as they run.'));
    return out;
  }
  const rows = h.metrics.map((m) => {
    const values = Object.entries(m.latest);
    const shown = values.length > 4 ? `${values.length} series, ${Math.min(...values.map(([, v]) => v)).toFixed(3)} … ${Math.max(...values.map(([, v]) => v)).toFixed(3)}` : values.map(([k, v]) => (k === 'all' ? v.toFixed(3) : `${k} ${v.toFixed(3)}`)).join(', ');
    return el(
      'tr',
      { class: m.notes ? 'watch' : 'ok' },
      el('td', {}, el('code', {}, m.metric)),
      el('td', { class: 'status-cell' }, m.notes ? `watch (${m.notes})` : 'ok'),
      el('td', { class: 'num' }, shown || '—'),
      el('td', {}, m.description),
    );
  });
  out.push(el('h3', {}, 'Health metrics'), el('table', { id: 'health-metrics' }, el('thead', {}, el('tr', {}, ...['metric', 'status', 'latest', 'what it measures'].map((t) => el('th', {}, t)))), el('tbody', {}, ...rows)));
  if (h.notes.length) {
    const notes = [...h.notes].sort((a, b) => (b.lastStep ?? 0) - (a.lastStep ?? 0));
    out.push(
      el('h3', {}, 'What the engine noticed'),
      el(
        'ul',
        { class: 'health-notes', id: 'health-notes' },
        ...notes.map((n) =>
          el(
            'li',
            {},
            el('code', {}, n.metric),
            n.capability ? ` ${n.capability}${n.other ? `×${n.other}` : ''}` : '',
            n.value !== undefined ? ` = ${n.value.toFixed(3)}` : '',
            n.lastStep !== undefined ? ` · ${n.stage ?? ''} step ${n.firstStep === n.lastStep ? n.lastStep : `${n.firstStep}–${n.lastStep}`}` : '',
            n.count > 1 ? ` · ${n.count}×` : '',
            el('p', {}, n.meaning),
          ),
        ),
      ),
    );
  }
  return out;
}
