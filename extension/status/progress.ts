/**
 * Pure run-progress bookkeeping for the status bar and the dashboard header: which stage runs, step/total,
 * and an ETA from the recent step rate. No vscode import, so it is unit-tested in plain node.
 */
import type { EngineEvent } from '../../schemas/generated/events';

export type StageId = NonNullable<EngineEvent['stage']>;
export type RunPhase = 'starting' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface ProgressSnapshot {
  runId: string;
  phase: RunPhase;
  /** Stage currently running (never `run`, the runner's own pseudo-stage). */
  stage?: StageId;
  step?: number;
  total?: number;
  /** Estimated milliseconds until the current stage finishes; undefined until two steps were seen. */
  etaMs?: number;
  /** Last error or cancellation message for the tooltip, or what the run does before its first stage (a download). */
  message?: string;
}

/** Step-rate samples older than this are dropped, so the ETA follows the current speed. */
const RATE_WINDOW_MS = 30_000;

export class RunProgress {
  private snapshot: ProgressSnapshot;
  /** (time ms, step) samples within the current stage, oldest first. */
  private samples: { t: number; step: number }[] = [];

  constructor(runId: string) {
    this.snapshot = { runId, phase: 'starting' };
  }

  get current(): Readonly<ProgressSnapshot> {
    return this.snapshot;
  }

  /** Folds one event in; returns true when the visible snapshot changed. */
  apply(e: EngineEvent): boolean {
    const before = JSON.stringify(this.snapshot);
    if (e.kind === 'phase') this.applyPhase(e);
    else if (e.kind === 'error') this.snapshot = { ...this.snapshot, message: e.message };
    else if (e.step !== undefined && e.stage && e.stage !== 'run' && e.stage === this.snapshot.stage) this.observeStep(e.t, e.step);
    return JSON.stringify(this.snapshot) !== before;
  }

  private applyPhase(e: Extract<EngineEvent, { kind: 'phase' }>): void {
    if (e.stage === 'run') {
      switch (e.status) {
        case 'started':
        case 'resumed':
          this.snapshot = { ...this.snapshot, phase: 'running' };
          return;
        case 'progress':
          // the runner's own work before the first stage, such as downloading a Hub model: its message, and
          // how far along it is; the next stage's start replaces it
          this.snapshot = { ...this.snapshot, phase: 'running', ...(e.message ? { message: `${e.message}${e.total && e.step !== undefined ? ` ${Math.floor((100 * e.step) / e.total)}%` : ''}` } : {}) };
          return;
        case 'completed':
          this.snapshot = { runId: this.snapshot.runId, phase: 'completed', ...(e.message ? { message: e.message } : {}) };
          return;
        case 'failed':
        case 'cancelled':
          this.snapshot = { ...this.snapshot, phase: e.status, ...(e.message ? { message: e.message } : {}), etaMs: undefined };
          return;
        case 'skipped':
          return;
      }
    }
    if (e.status === 'started' || e.status === 'resumed') {
      this.samples = [];
      this.snapshot = { runId: this.snapshot.runId, phase: 'running', stage: e.stage, ...(e.total !== undefined ? { total: e.total } : {}), ...(e.step !== undefined ? { step: e.step } : {}) };
      if (e.step !== undefined) this.observeStep(e.t, e.step);
      return;
    }
    if (e.status === 'progress' && e.stage === this.snapshot.stage) {
      if (e.total !== undefined) this.snapshot = { ...this.snapshot, total: e.total };
      if (e.step !== undefined) this.observeStep(e.t, e.step);
      return;
    }
    if (e.status === 'progress' && this.snapshot.stage !== e.stage) {
      // progress of a stage we did not see start (e.g. the window opened mid-run)
      this.samples = [];
      this.snapshot = { runId: this.snapshot.runId, phase: 'running', stage: e.stage, ...(e.total !== undefined ? { total: e.total } : {}) };
      if (e.step !== undefined) this.observeStep(e.t, e.step);
      return;
    }
    if ((e.status === 'completed' || e.status === 'skipped') && e.stage === this.snapshot.stage) {
      this.snapshot = { ...this.snapshot, ...(this.snapshot.total !== undefined ? { step: this.snapshot.total } : {}), etaMs: undefined };
    }
    if (e.status === 'failed' || e.status === 'cancelled') {
      this.snapshot = { ...this.snapshot, ...(e.message ? { message: e.message } : {}), etaMs: undefined };
    }
  }

  private observeStep(t: number, step: number): void {
    if (this.snapshot.step !== undefined && step < this.snapshot.step) this.samples = [];
    this.samples.push({ t, step });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
    const etaMs = estimateEtaMs(this.samples, this.snapshot.total);
    this.snapshot = { ...this.snapshot, step, etaMs };
  }
}

/**
 * Remaining time of a stage from (time, step) samples: (total − last step) / steps-per-ms over the window.
 * Undefined without a total, with fewer than two distinct steps, or when time does not advance.
 */
export function estimateEtaMs(samples: readonly { t: number; step: number }[], total: number | undefined): number | undefined {
  if (total === undefined || samples.length < 2) return undefined;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const dSteps = last.step - first.step;
  const dt = last.t - first.t;
  if (dSteps <= 0 || dt <= 0) return undefined;
  const remaining = Math.max(0, total - last.step);
  return (remaining * dt) / dSteps;
}

/** `45 s`, `3 min 05 s`, `1 h 02 min`: short enough for the status bar. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** The status bar's text, codicons included. */
export function formatStatusText(p: Readonly<ProgressSnapshot>): string {
  switch (p.phase) {
    case 'starting':
      return '$(sync~spin) BalancedBio: starting';
    case 'running': {
      if (!p.stage) return `$(sync~spin) BalancedBio: ${p.message ?? 'running'}`;
      const steps = p.step !== undefined ? ` ${p.step}${p.total !== undefined ? `/${p.total}` : ''}` : '';
      const eta = p.etaMs !== undefined ? ` · ETA ${formatDuration(p.etaMs)}` : '';
      return `$(sync~spin) BalancedBio: ${p.stage}${steps}${eta}`;
    }
    case 'completed':
      return '$(check) BalancedBio: run completed';
    case 'failed':
      return '$(error) BalancedBio: run failed';
    case 'cancelled':
      return '$(circle-slash) BalancedBio: run cancelled';
  }
}
