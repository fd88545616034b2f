/**
 * The run inspector inside the webview: tabs for GRPO rollouts (step picker, each group's prompt and gold
 * answer, each completion with reward, advantage, components and extracted answer), the dataset preview
 * (capability filter, search, pages; provenance; the tokens SFT trains on highlighted) and health.
 * All text from the run goes in through textContent, never as HTML.
 */
import { assertNever } from '../../util/assert-never';
import { answerMatch } from '../inspector-model';
import type { DatasetPage, DatasetRow, HealthPayload, HostToInspector, InspectorState, InspectorTab, InspectorToHost, RolloutGroup, RolloutStep } from '../messages';
import { renderHealth } from './health';
import { el, getApi } from './vscode-api';

const api = getApi<InspectorToHost, InspectorState>();

const fmt = (v: number | undefined, digits = 3): string => (v === undefined ? '—' : v.toFixed(digits));

export class Inspector {
  private readonly tabs: Record<InspectorTab, HTMLElement>;
  private readonly buttons: Record<InspectorTab, HTMLButtonElement>;
  private readonly title: HTMLElement;
  private rollouts: RolloutStep[] = [];
  private step: number | undefined;
  private tab: InspectorTab = 'rollouts';
  private run = { runId: '', runDir: '' };
  private capability = '';
  private text = '';
  private searchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(root: HTMLElement) {
    const saved = api.getState();
    if (saved) {
      this.tab = saved.tab;
      this.step = saved.step;
      this.run = { runId: saved.runId, runDir: saved.runDir };
    }
    this.title = el('h2', {}, 'Inspect run');
    const mk = (tab: InspectorTab, label: string): HTMLButtonElement => {
      const b = el('button', { class: 'tab', id: `tab-${tab}`, role: 'tab' }, label);
      b.addEventListener('click', () => this.show(tab));
      return b;
    };
    this.buttons = { rollouts: mk('rollouts', 'Rollouts'), dataset: mk('dataset', 'Dataset'), health: mk('health', 'Health') };
    this.tabs = {
      rollouts: el('section', { class: 'tab-body', id: 'rollouts', role: 'tabpanel' }),
      dataset: el('section', { class: 'tab-body', id: 'dataset', role: 'tabpanel' }),
      health: el('section', { class: 'tab-body', id: 'health', role: 'tabpanel' }),
    };
    root.replaceChildren(el('header', { class: 'run-header' }, this.title), el('nav', { class: 'tabs', role: 'tablist' }, ...Object.values(this.buttons)), ...Object.values(this.tabs));
    this.show(this.tab);
  }

  handle(m: HostToInspector): void {
    switch (m.type) {
      case 'init':
        this.title.textContent = `Inspect run ${m.runId}`;
        this.run = { runId: m.runId, runDir: m.runDir };
        this.setRollouts(m.rollouts);
        this.renderDataset(m.dataset);
        this.renderHealthTab(m.health);
        this.show(m.tab);
        return;
      case 'update':
        this.setRollouts(m.rollouts);
        this.renderHealthTab(m.health);
        return;
      case 'dataset':
        this.renderDataset(m.dataset);
        return;
      case 'error':
        this.tabs[this.tab].prepend(el('p', { class: 'error' }, m.message));
        return;
      default:
        assertNever(m, 'host message');
    }
  }

  private show(tab: InspectorTab): void {
    this.tab = tab;
    for (const t of Object.keys(this.tabs) as InspectorTab[]) {
      this.tabs[t].hidden = t !== tab;
      this.buttons[t].classList.toggle('active', t === tab);
      this.buttons[t].setAttribute('aria-selected', String(t === tab));
    }
    this.saveState();
  }

  private saveState(): void {
    api.setState({ ...this.run, tab: this.tab, ...(this.step !== undefined ? { step: this.step } : {}) });
  }

  // ── rollouts ──────────────────────────────────────────────────────────────────────────────────────

  private setRollouts(steps: RolloutStep[]): void {
    const following = this.step === undefined || this.step === this.rollouts[this.rollouts.length - 1]?.step;
    this.rollouts = steps;
    // stay on the step the user picked; follow the newest one otherwise
    if (following || !steps.some((s) => s.step === this.step)) this.step = steps[steps.length - 1]?.step;
    this.renderRollouts();
  }

  private renderRollouts(): void {
    const body = this.tabs.rollouts;
    if (this.rollouts.length === 0) {
      body.replaceChildren(el('p', { class: 'empty-state' }, 'No rollouts logged yet. The GRPO stage logs two groups at its first step and every grpo.log_rollouts_every steps.'));
      return;
    }
    const select = el('select', { id: 'rollout-step', 'aria-label': 'GRPO step' });
    for (const s of this.rollouts) {
      const o = el('option', { value: String(s.step) }, `step ${s.step} · ${s.groups.length} group${s.groups.length === 1 ? '' : 's'}`);
      if (s.step === this.step) o.selected = true;
      select.append(o);
    }
    select.addEventListener('change', () => {
      this.step = Number(select.value);
      this.saveState();
      this.renderRollouts();
    });
    const current = this.rollouts.find((s) => s.step === this.step) ?? this.rollouts[this.rollouts.length - 1]!;
    body.replaceChildren(el('div', { class: 'toolbar' }, el('label', { for: 'rollout-step' }, 'Step '), select, el('span', { class: 'hint' }, `${this.rollouts.length} logged step${this.rollouts.length === 1 ? '' : 's'}`)), ...current.groups.map((g, i) => this.renderGroup(g, i)));
  }

  private renderGroup(g: RolloutGroup, index: number): HTMLElement {
    const components = [...new Set(g.completions.flatMap((c) => Object.keys(c.components)))];
    const head = el('tr', {}, ...['#', 'reward', 'advantage', ...components, 'extracted', 'vs gold', 'completion'].map((h) => el('th', {}, h)));
    const rows = g.completions.map((c, i) => {
      const match = answerMatch(c.extracted, g.gold);
      const adv = el('td', { class: `num ${c.advantage !== undefined && c.advantage > 0 ? 'pos' : c.advantage !== undefined && c.advantage < 0 ? 'neg' : ''}` }, fmt(c.advantage));
      return el(
        'tr',
        {},
        el('td', { class: 'num' }, String(i + 1)),
        el('td', { class: 'num' }, fmt(c.reward)),
        adv,
        ...components.map((k) => el('td', { class: 'num' }, fmt(c.components[k]))),
        el('td', {}, c.extracted ? el('code', {}, c.extracted) : el('em', {}, 'none')),
        el('td', { class: `vs-gold ${match}`, title: 'Display aid: exact match after folding case and spaces. The rewards decide correctness and also accept synonyms.' }, match === 'match' ? '✓ same' : match === 'none' ? '— nothing extracted' : '✗ differs'),
        el('td', { class: 'completion' }, el('pre', {}, c.text), ...(c.truncated ? [el('span', { class: 'badge' }, 'truncated')] : [])),
      );
    });
    return el(
      'article',
      { class: 'rollout-group' },
      el('h3', {}, `Group ${index + 1} · ${g.capability}`, el('span', { class: 'hint' }, ` ${g.exampleId}`)),
      el('details', {}, el('summary', {}, 'Prompt'), el('pre', {}, g.prompt)),
      el('p', {}, el('strong', {}, 'Gold: '), el('code', {}, g.gold)),
      el('table', { class: 'rollouts' }, el('thead', {}, head), el('tbody', {}, ...rows)),
    );
  }

  // ── dataset ───────────────────────────────────────────────────────────────────────────────────────

  private query(page: number): void {
    api.post({ type: 'queryDataset', query: { capability: this.capability || undefined, text: this.text, page } });
  }

  private renderDataset(d: DatasetPage): void {
    const body = this.tabs.dataset;
    const caps = el('select', { id: 'dataset-capability', 'aria-label': 'Capability' }, el('option', { value: '' }, `all (${d.total})`));
    for (const [c, n] of Object.entries(d.capabilities)) {
      const o = el('option', { value: c }, `${c} (${n})`);
      if (c === this.capability) o.selected = true;
      caps.append(o);
    }
    caps.addEventListener('change', () => {
      this.capability = caps.value;
      this.query(0);
    });
    const search = el('input', { type: 'search', id: 'dataset-search', placeholder: 'Search prompts, answers, ontology ids…', value: this.text, 'aria-label': 'Search' });
    search.addEventListener('input', () => {
      this.text = search.value;
      if (this.searchTimer) clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.query(0), 200);
    });
    const pages = Math.max(1, Math.ceil(d.matched / d.pageSize));
    const prev = el('button', { class: 'secondary', id: 'dataset-prev' }, '‹ Previous');
    const next = el('button', { class: 'secondary', id: 'dataset-next' }, 'Next ›');
    prev.disabled = d.page <= 0;
    next.disabled = d.page >= pages - 1;
    prev.addEventListener('click', () => this.query(d.page - 1));
    next.addEventListener('click', () => this.query(d.page + 1));
    const hadFocus = document.activeElement?.id === 'dataset-search';
    body.replaceChildren(
      el('div', { class: 'toolbar' }, caps, search, prev, el('span', { class: 'hint', id: 'dataset-count' }, `${d.matched} of ${d.total} · page ${d.page + 1}/${pages}`), next),
      el('p', { class: 'hint' }, el('span', { class: 'tok trained' }, 'highlighted'), ' tokens are the SFT loss targets; the prompt is context only. Token views exist for the examples the SFT stage previewed (listed first); the others show the text in the model\'s chat format once the SFT stage has run, the response as the trained span.'),
      ...(d.problem ? [el('p', { class: 'error' }, d.problem)] : []),
      ...(d.rows.length ? d.rows.map((r) => this.renderExample(r)) : [el('p', { class: 'empty-state' }, d.total ? 'No example matches.' : 'No examples.')]),
    );
    if (hadFocus) {
      search.focus();
      search.setSelectionRange(search.value.length, search.value.length);
    }
  }

  private renderExample(r: DatasetRow): HTMLElement {
    // the tokens SFT previewed, else the text in the model's chat format, else the raw prompt and response
    const text = r.tokens
      ? this.tokenView(r)
      : r.rendered
        ? el('pre', { class: 'example-text' }, el('span', { class: 'prompt' }, r.rendered.context), el('span', { class: 'trained' }, r.rendered.trained))
        : el('pre', { class: 'example-text' }, el('span', { class: 'prompt' }, r.prompt + '\n'), el('span', { class: 'trained' }, r.response));
    const meta: (HTMLElement | string)[] = [el('span', { class: 'badge' }, r.capability)];
    if (r.template) meta.push(el('code', {}, r.template));
    if (r.specialty) meta.push(` · ${r.specialty}`);
    const prov = r.provenance
      ? el(
          'dl',
          { class: 'provenance' },
          ...(r.provenance.central ? [el('dt', {}, 'about'), el('dd', {}, el('code', {}, r.provenance.central))] : []),
          ...(r.provenance.query ? [el('dt', {}, 'asks'), el('dd', {}, el('code', {}, r.provenance.query))] : []),
          el('dt', {}, 'facts'),
          el('dd', {}, ...(r.provenance.edges.length ? r.provenance.edges.map((e) => el('div', {}, el('code', {}, e))) : ['(none: a definition or a term question)'])),
          el('dt', {}, 'entities'),
          el('dd', {}, r.provenance.entities.join(', ')),
        )
      : el('p', { class: 'hint' }, r.source ?? 'No ontology provenance (user data).');
    return el('article', { class: 'example', 'data-id': r.id }, el('h3', {}, r.id, ' ', ...meta), text, ...(r.answer ? [el('p', {}, el('strong', {}, 'Answer: '), el('code', {}, r.answer))] : []), el('details', {}, el('summary', {}, 'Provenance'), prov));
  }

  private tokenView(r: DatasetRow): HTMLElement {
    const t = r.tokens!;
    const pre = el('pre', { class: 'example-text tokens', title: `${t.pieces.length} tokens, ${t.pieces.length - t.trainedFrom} trained` });
    t.pieces.forEach((p, i) => {
      if (!p) return;
      pre.append(el('span', { class: i >= t.trainedFrom ? 'tok trained' : 'tok' }, p));
    });
    return pre;
  }

  // ── health ────────────────────────────────────────────────────────────────────────────────────────

  private renderHealthTab(h: HealthPayload): void {
    this.tabs.health.replaceChildren(...renderHealth(h));
  }
}
