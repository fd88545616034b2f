/**
 * Reads results of earlier runs for hover and code lens: the newest run of an experiment (state.json),
 * its report.json scores and the last value of each metric series of a stage (events.jsonl). All reads are
 * asynchronous and cached briefly (listing) or by file size + mtime (events, report).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { listRuns, readEvents, RUN_FILES, type RunListing, type RunState } from '../engine/run/store';
import type { EngineEvent } from '../schemas/generated/events';

export interface LatestRun {
  runId: string;
  runDir: string;
  state: RunState;
}

export interface ScoreLine {
  name: string;
  /** In percent when the report gives a fraction. */
  score: number;
  stderr?: number;
}

export interface SeriesValue {
  name: string;
  labels?: Record<string, string | undefined>;
  value: number;
  step?: number;
}

const LIST_TTL_MS = 1000;

export class RunReader {
  private readonly lists = new Map<string, { at: number; value: Promise<RunListing[]> }>();
  private readonly files = new Map<string, { key: string; value: unknown }>();

  /** Forget cached listings (a run started or ended). */
  invalidate(): void {
    this.lists.clear();
  }

  async list(runsDir: string): Promise<RunListing[]> {
    const hit = this.lists.get(runsDir);
    if (hit && Date.now() - hit.at < LIST_TTL_MS) return hit.value;
    const value = listRuns(runsDir);
    this.lists.set(runsDir, { at: Date.now(), value });
    value.catch(() => this.lists.delete(runsDir)); // the caller receives the error; do not cache it
    return value;
  }

  /** The newest run of this experiment file (or, for copied files, of the same experiment name). */
  async latest(runsDir: string, experimentFile: string, name: string | undefined): Promise<LatestRun | undefined> {
    const runs = await this.list(runsDir);
    const mine = runs.find((r) => r.state && path.resolve(r.state.experimentFile) === path.resolve(experimentFile)) ?? runs.find((r) => r.state && name !== undefined && r.state.name === name);
    return mine?.state ? { runId: mine.runId, runDir: mine.runDir, state: mine.state } : undefined;
  }

  /** Per-capability scores from report.json, when the run has one. */
  async report(runDir: string): Promise<ScoreLine[] | undefined> {
    const json = await this.cachedFile(path.join(runDir, RUN_FILES.report), (t) => JSON.parse(t) as unknown);
    return json === undefined ? undefined : scoresOf(json);
  }

  /** The last value of every metric series a stage emitted. */
  async stageMetrics(runDir: string, stage: string): Promise<SeriesValue[]> {
    const events = await this.cachedFile(path.join(runDir, RUN_FILES.events), () => undefined, async () => (await readEvents(runDir)).events);
    const last = new Map<string, SeriesValue>();
    for (const e of (events as EngineEvent[] | undefined) ?? []) {
      if (e.kind !== 'metric' || e.stage !== stage) continue;
      const key = `${e.name}${JSON.stringify(e.labels ?? {})}`;
      last.set(key, { name: e.name, ...(e.labels ? { labels: e.labels } : {}), value: e.value, ...(e.step !== undefined ? { step: e.step } : {}) });
    }
    return [...last.values()];
  }

  private async cachedFile<T>(file: string, parse: (text: string) => T, load?: () => Promise<T>): Promise<T | undefined> {
    let key: string;
    try {
      const s = await stat(file);
      key = `${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const hit = this.files.get(file);
    if (hit?.key === key) return hit.value as T;
    const value = load ? await load() : parse(await readFile(file, 'utf8'));
    this.files.set(file, { key, value });
    return value;
  }
}

const SCORE_KEYS = ['score', 'mean', 'accuracy', 'value', 'strict'];
const ERR_KEYS = ['stderr', 'se', 'std_error', 'standard_error'];

/**
 * Scores from a report, tolerant of its exact layout: the first object among `capabilities`, `suites`,
 * `scores` (or the root) whose entries are numbers or objects with a score and a standard error.
 */
export function scoresOf(report: unknown): ScoreLine[] | undefined {
  if (!report || typeof report !== 'object') return undefined;
  const r = report as Record<string, unknown>;
  for (const container of [r.capabilities, r.suites, r.scores, r]) {
    if (!container || typeof container !== 'object' || Array.isArray(container)) continue;
    const lines: ScoreLine[] = [];
    for (const [name, v] of Object.entries(container as Record<string, unknown>)) {
      let score: number | undefined;
      let stderr: number | undefined;
      if (typeof v === 'number') score = v;
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        score = SCORE_KEYS.map((k) => o[k]).find((x): x is number => typeof x === 'number');
        stderr = ERR_KEYS.map((k) => o[k]).find((x): x is number => typeof x === 'number');
      }
      if (score === undefined || !Number.isFinite(score)) continue;
      const scale = score <= 1 && (stderr === undefined || stderr <= 1) ? 100 : 1;
      lines.push({ name, score: score * scale, ...(stderr !== undefined ? { stderr: stderr * scale } : {}) });
    }
    if (lines.length) return lines;
  }
  return undefined;
}

const SHORT: Record<string, string> = { instruction: 'IF' };

/** `domain 71.2 ± 1.9 · reasoning 58.0 ± 2.2 · IF 64.1 ± 2.0` */
export function formatScores(lines: ScoreLine[]): string {
  return lines.map((l) => `${SHORT[l.name] ?? l.name} ${l.score.toFixed(1)}${l.stderr !== undefined ? ` ± ${l.stderr.toFixed(1)}` : ''}`).join(' · ');
}

/** `loss 1.23 · val_loss 1.41`: a stage summary with three significant digits. */
export function formatSummary(summary: Record<string, number> | undefined): string {
  if (!summary) return '';
  return Object.entries(summary).map(([k, v]) => `${k} ${formatNumber(v)}`).join(' · ');
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 || a < 0.001 ? v.toExponential(2) : Number(v.toPrecision(3)).toString();
}
