import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { EngineEvent } from '../../../schemas/generated/events';
import { displayRunStatus } from '../../../schemas/run-writer';
import { listRuns, readEvents, readRunState, type RunState } from '../../run/store';
import { STAGE_ORDER } from '../../core/stage';
import { BbioError } from '../../util/errors';
import { EXIT, table, type CliIo } from '../io';

function duration(a?: string, b?: string): string {
  if (!a || !b) return '';
  const s = (Date.parse(b) - Date.parse(a)) / 1000;
  return s < 90 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(4);
}

/** `balancedbio runs list`: newest first. */
export async function runRunsList(opts: { dir: string; json: boolean }, io: CliIo): Promise<number> {
  const runsDir = path.resolve(io.cwd, opts.dir);
  const runs = await listRuns(runsDir);
  if (opts.json) {
    io.out(JSON.stringify(runs.map((r) => ({ runId: r.runId, runDir: r.runDir, status: r.state ? displayRunStatus(r.state) : 'corrupt', problem: r.problem, stages: r.state?.stages })), null, 2));
    return EXIT.ok;
  }
  if (!runs.length) {
    io.err(`no runs in ${runsDir}`);
    return EXIT.ok;
  }
  const rows = [['RUN', 'STATUS', 'STAGES', 'CREATED']];
  for (const r of runs) {
    const done = r.state ? STAGE_ORDER.filter((s) => r.state!.stages[s]?.status === 'completed').join(',') : '';
    rows.push([r.runId, r.state ? displayRunStatus(r.state) : `unreadable: ${r.problem ?? ''}`, done || '-', r.state?.createdAt.replace('T', ' ').slice(0, 19) ?? '']);
  }
  for (const l of table(rows)) io.out(l);
  return EXIT.ok;
}

export async function resolveRunDir(run: string, runsDir: string, cwd: string): Promise<string> {
  for (const candidate of [path.resolve(cwd, run), path.join(runsDir, run)]) {
    try {
      if ((await stat(candidate)).isDirectory()) return candidate;
    } catch {
      // try the next candidate
    }
  }
  const runs = await listRuns(runsDir);
  const match = runs.filter((r) => r.runId.includes(run));
  if (match.length === 1) return match[0]!.runDir;
  throw new BbioError('E_RUN_NOT_FOUND', match.length ? `"${run}" matches ${match.length} runs` : `no run "${run}" in ${runsDir}`, {}, 'give the run folder path or a unique part of its name; see `balancedbio runs list`');
}

/** The last value of each metric series, keyed `name{label=value}`. */
export function lastMetrics(events: readonly EngineEvent[]): Map<string, { value: number; step?: number; stage?: string }> {
  const last = new Map<string, { value: number; step?: number; stage?: string }>();
  for (const e of events) {
    if (e.kind !== 'metric') continue;
    const labels = e.labels ? Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(',') : '';
    last.set(labels ? `${e.name}{${labels}}` : e.name, { value: e.value, ...(e.step !== undefined ? { step: e.step } : {}), ...(e.stage ? { stage: e.stage } : {}) });
  }
  return last;
}

/** `balancedbio runs show RUN`: stages with status, duration and headline numbers, then last metrics. */
export async function runRunsShow(run: string, opts: { dir: string; json: boolean }, io: CliIo): Promise<number> {
  const runDir = await resolveRunDir(run, path.resolve(io.cwd, opts.dir), io.cwd);
  const state: RunState = await readRunState(runDir);
  const { events, badLines } = await readEvents(runDir);
  const metrics = lastMetrics(events);
  if (opts.json) {
    io.out(JSON.stringify({ runDir, status: displayRunStatus(state), state, metrics: Object.fromEntries(metrics), events: events.length, unreadableEventLines: badLines }, null, 2));
    return EXIT.ok;
  }
  io.out(`run ${state.runId}  (${displayRunStatus(state)})`);
  io.out(`experiment ${state.experimentFile}`);
  if (state.error) io.out(`error ${state.error.code} ${state.error.message}${state.error.hint ? ` (${state.error.hint})` : ''}`);
  const rows = [['STAGE', 'STATUS', 'TIME', 'RESULTS']];
  for (const s of STAGE_ORDER) {
    const st = state.stages[s];
    if (!st) continue;
    const summary = Object.entries(st.summary ?? {}).map(([k, v]) => `${k}=${fmt(v)}`).join('  ');
    rows.push([s, st.status, duration(st.startedAt, st.finishedAt), summary || st.message || '']);
  }
  for (const l of table(rows)) io.out(l);
  if (metrics.size) {
    io.out('');
    io.out(`last metrics (${events.length} events):`);
    const mrows = [['METRIC', 'VALUE', 'STEP']];
    for (const [k, v] of [...metrics.entries()].sort(([a], [b]) => a.localeCompare(b))) mrows.push([k, fmt(v.value), v.step !== undefined ? String(v.step) : '']);
    for (const l of table(mrows)) io.out(l);
  }
  if (badLines.length) io.err(`warning: ${badLines.length} unreadable line(s) in events.jsonl (lines ${badLines.slice(0, 5).join(', ')}${badLines.length > 5 ? ', …' : ''}); a killed run can leave a torn last line`);
  return EXIT.ok;
}
