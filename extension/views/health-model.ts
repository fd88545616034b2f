/**
 * The health panel's data: the GRPO and projection health metrics with their latest values, the notes
 * the engine raised about them (each with a plain-language meaning, written by the rule that fired) and
 * the reward-vs-accuracy alerts. Folded from a run's events; pure, so the dashboard, the inspector and
 * the alert notifier share it and it is unit-tested without an editor.
 */
import { METRIC_DESCRIPTIONS, type EngineEvent, type MetricName } from '../../schemas/generated/events';
import { asObj, nonEmptyStr, num } from '../util/read';
import type { AlertRow, HealthMetricRow, HealthPayload, HealthRow } from './messages';

/** The metrics the panel always lists, in reading order: GRPO first, then the projection. */
export const HEALTH_METRICS: readonly MetricName[] = [
  'grpo/kl',
  'grpo/clip_fraction_high',
  'grpo/tie_fraction',
  'grpo/truncation_rate',
  'grpo/entropy',
  'sft/cosine_raw',
  'sft/cosine_projected',
  'sft/conflict_fraction',
  'sft/grad_norm_projected',
];

const WATCHED = new Set<string>(HEALTH_METRICS);

function range(v: unknown): { from: number; to: number } | undefined {
  const o = asObj(v);
  const from = num(o?.['from']);
  const to = num(o?.['to']);
  return from !== undefined && to !== undefined ? { from, to } : undefined;
}

export class HealthModel {
  private readonly latest = new Map<string, Map<string, number>>();
  private readonly notes = new Map<string, HealthRow>();
  private readonly alerts: AlertRow[] = [];
  dirty = false;

  apply(e: EngineEvent): void {
    if (e.kind === 'metric') {
      if (!WATCHED.has(e.name)) return;
      const l = e.labels ?? {};
      const label = l.capability ? (l.other ? `${l.capability}×${l.other}` : l.capability) : 'all';
      let m = this.latest.get(e.name);
      if (!m) this.latest.set(e.name, (m = new Map()));
      m.set(label, e.value);
      this.dirty = true;
      return;
    }
    if (e.kind !== 'record') return;
    const d = (e.data ?? {}) as Record<string, unknown>;
    if (e.type === 'health') {
      const metric = nonEmptyStr(d['metric']);
      const meaning = nonEmptyStr(d['meaning']);
      if (!metric || !meaning) return;
      const capability = nonEmptyStr(d['capability']);
      const other = nonEmptyStr(d['other']);
      const key = `${metric}|${capability ?? ''}|${other ?? ''}`;
      const prev = this.notes.get(key);
      const value = num(d['value']);
      this.notes.set(key, {
        metric,
        stage: e.stage,
        ...(capability ? { capability } : {}),
        ...(other ? { other } : {}),
        value,
        firstStep: prev?.firstStep ?? e.step,
        lastStep: e.step ?? prev?.lastStep,
        count: (prev?.count ?? 0) + 1,
        meaning,
      });
      this.dirty = true;
    } else if (e.type === 'alert') {
      const title = nonEmptyStr(d['title']);
      const meaning = nonEmptyStr(d['meaning']);
      if (!title || !meaning) return;
      const reward = range(d['reward']);
      const accuracy = range(d['accuracy']);
      this.alerts.push({ step: e.step, stage: e.stage, title, meaning, ...(reward ? { reward } : {}), ...(accuracy ? { accuracy } : {}) });
      this.dirty = true;
    }
  }

  payload(): HealthPayload {
    this.dirty = false;
    const notes = [...this.notes.values()];
    const metrics: HealthMetricRow[] = HEALTH_METRICS.filter((m) => this.latest.has(m) || notes.some((n) => n.metric === m)).map((metric) => ({
      metric,
      description: METRIC_DESCRIPTIONS[metric],
      latest: Object.fromEntries(this.latest.get(metric) ?? []),
      notes: notes.filter((n) => n.metric === metric).reduce((s, n) => s + n.count, 0),
    }));
    // notes the engine raised about metrics outside the watched list (e.g. the GRPO loss explanation) still show
    return { metrics, notes, alerts: [...this.alerts] };
  }
}

/** The alerts among some events, for the notification (one per run and step and title). */
export function alertsIn(events: readonly EngineEvent[]): AlertRow[] {
  const h = new HealthModel();
  for (const e of events) if (e.kind === 'record' && e.type === 'alert') h.apply(e);
  return h.payload().alerts;
}

/** One line for a value range, e.g. `0.62 → 0.48`. */
export function formatRange(r: { from: number; to: number } | undefined): string {
  return r ? `${r.from.toFixed(3)} → ${r.to.toFixed(3)}` : '';
}
