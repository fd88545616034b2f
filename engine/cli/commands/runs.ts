import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { EngineEvent } from '../../../schemas/generated/events';
import { displayRunStatus } from '../../../schemas/run-writer';
import { listRuns, readEvents, readRunState, type RunState } from '../../run/store';
import { listSweeps, readSweepState, SWEEP_FILE, type SweepState } from '../../run/sweep-store';
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
  const sweeps = await listSweeps(runsDir);
  if (!runs.length && !sweeps.length) {
    io.err(`no runs in ${runsDir}`);
    return EXIT.ok;
  }
  if (runs.length) {
    const rows = [['RUN', 'STATUS', 'STAGES', 'CREATED']];
    for (const r of runs) {
      const done = r.state ? STAGE_ORDER.filter((s) => r.state!.stages[s]?.status === 'completed').join(',') : '';
      rows.push([r.runId, r.state ? displayRunStatus(r.state) : `unreadable: ${r.problem ?? ''}`, done || '-', r.state?.createdAt.replace('T', ' ').slice(0, 19) ?? '']);
    }
    for (const l of table(rows)) io.out(l);
  }
  if (sweeps.length) {
    if (runs.length) io.out('');
    const rows = [['SWEEP', 'STATUS', 'VARIANTS', 'SLURM', 'CREATED']];
    for (const s of sweeps) {
      const st = s.state;
      rows.push([path.basename(s.sweepDir), st?.status ?? `unreadable: ${s.problem ?? ''}`, st ? `${st.variants.filter((v) => v.status === 'completed').length}/${st.variants.length} completed` : '', st ? slurmSummary(st) : '', st?.createdAt.replace('T', ' ').slice(0, 19) ?? '']);
    }
    for (const l of table(rows)) io.out(l);
  }
  return EXIT.ok;
}

/** `job 12: 2 COMPLETED, 1 RUNNING` per Slurm job of a sweep's variants; `-` for a local sweep. */
export function slurmSummary(state: SweepState): string {
  const jobs = new Map<string, Map<string, number>>();
  for (const v of state.variants) {
    if (!v.slurm) continue;
    const counts = jobs.get(v.slurm.jobId) ?? new Map<string, number>();
    counts.set(v.slurm.state, (counts.get(v.slurm.state) ?? 0) + 1);
    jobs.set(v.slurm.jobId, counts);
  }
  if (!jobs.size) return '-';
  return [...jobs].map(([id, counts]) => `job ${id}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`).join('; ');
}

/** `runs show SWEEP_DIR`: each variant's status, and on Slurm its job, task, state and node. */
function showSweep(state: SweepState, sweepDir: string, opts: { json: boolean }, io: CliIo): number {
  if (opts.json) {
    io.out(JSON.stringify({ sweepDir, state }, null, 2));
    return EXIT.ok;
  }
  io.out(`sweep ${state.sweepId}  (${state.status}${state.executor === 'slurm' ? ', on Slurm' : ''})`);
  io.out(`experiment ${state.experimentFile}`);
  const rows = [['VARIANT', 'STATUS', 'SLURM JOB', 'STATE', 'NODE', 'RUN']];
  for (const v of state.variants) {
    const job = v.slurm ? `${v.slurm.jobId}${v.slurm.taskId !== undefined ? `_${v.slurm.taskId}` : ''}` : '-';
    rows.push([v.name, v.status, job, v.slurm ? `${v.slurm.state}${v.slurm.reason ? ` (${v.slurm.reason})` : ''}` : '-', v.slurm?.node ?? '-', v.runDir ?? '-']);
  }
  for (const l of table(rows)) io.out(l);
  for (const v of state.variants) if (v.error) io.out(`${v.name}: ${v.error}`);
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
  if (await stat(path.join(runDir, SWEEP_FILE)).then((st) => st.isFile(), () => false)) return showSweep(await readSweepState(runDir), runDir, opts, io);
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
