/**
 * A sweep on Slurm: the unfinished variants become ONE job array (task i = the variant at position i of
 * sweep.json, `%N` throttle = the sweep's parallelism), each task running the CLI's own variant command
 * (`run FILE --json --sweep-dir DIR --variant NAME`) into the same sweep folder. This process follows the
 * job, mapping Slurm's states onto sweep.json, until every task has ended; stopping it leaves the job to
 * Slurm, and a later `--resume` follows the tasks still queued or running and resubmits only the others.
 *
 *   <sweep>/slurm/submit-<n>.sh       the batch script of each submission
 *   <sweep>/slurm/probe-<n>           written here; a task that cannot see it is not on the shared filesystem
 *   <sweep>/slurm/<job>_<task>.out    each task's events (JSON lines); .err its logs
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SWEEP_FILES } from '../../schemas/run-layout';
import { BbioError } from '../util/errors';
import { findVariantRun, type SlurmTaskRecord, type SweepStatus, type SweepStore, type VariantStatus } from '../run/sweep-store';
import type { SlurmClient } from './client';
import { buildBatchScript, PROBE_MISSING_EXIT, PROBE_MISSING_MARK, type BatchScriptInput, type RankLayout, type SlurmSettings } from './script';
import { isFinished, stuckPendingHint, variantStatusOf, type SlurmTaskState } from './state';
import { listDir } from '../util/fs';

export const SLURM_DIR = SWEEP_FILES.slurm;
/** Lines of a failed task's stderr shown with its error: enough for a Python or Node stack's last frames. */
const STDERR_TAIL_LINES = 15;
/** Bytes read from the end of a stderr file for its tail (a long run's log can be large). */
const STDERR_TAIL_BYTES = 16 * 1024;

export interface SlurmSweepOptions {
  client: SlurmClient;
  slurm: SlurmSettings;
  /** Tasks running at once (`%N`). */
  parallel: number;
  jobName: string;
  /** The variant command without `--variant` (node, its options, the CLI, `run FILE --json --sweep-dir DIR …`). */
  command: readonly string[];
  /** The job's working folder. */
  workDir: string;
  /** The torch backend's data-parallel ranks of each task (script.ts rankLayout), when more than one. */
  ranks?: RankLayout;
  pollMs: number;
  signal: AbortSignal;
  /** A progress line for the user (stderr). */
  report(line: string): void;
}

export interface SlurmSweepOutcome {
  status: SweepStatus;
  counts: Record<VariantStatus, number>;
  /** Job ids submitted or followed. */
  jobIds: string[];
  /** Variants whose tasks were still queued or running when following stopped. */
  detached: string[];
}

/** The last `n` lines of a text file, or undefined when it does not exist here. */
export async function readTail(file: string, n = STDERR_TAIL_LINES): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BbioError('E_IO', `cannot read ${file}: ${(e as Error).message}`, { file }, undefined, { cause: e });
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, STDERR_TAIL_BYTES);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8').trimEnd().split('\n').slice(-n).join('\n');
  } finally {
    await fh.close();
  }
}

/**
 * Why an ended task did not complete, from Slurm's state and the task's stderr as seen from the submit
 * host. No stderr file here, or the probe's message in it, means the job ran where the sweep folder is not
 * visible: E_SLURM_NOT_SHARED.
 */
export function taskFailure(o: { what: string; task: Pick<SlurmTaskState, 'state' | 'exitCode' | 'node'> | undefined; stderrFile: string; stderrTail: string | undefined; sweepDir: string }): BbioError {
  const where = o.task?.node ? ` on ${o.task.node}` : '';
  const notShared = (why: string): BbioError =>
    new BbioError('E_SLURM_NOT_SHARED', `${o.what}${where}: ${why}: ${o.sweepDir} is not on a filesystem the compute nodes share`, { file: o.sweepDir }, 'set output.runs_dir to a folder on the cluster\'s shared filesystem (home or project space, not /tmp)');
  if (o.stderrTail?.includes(PROBE_MISSING_MARK) || o.task?.exitCode?.startsWith(`${PROBE_MISSING_EXIT}:`)) return notShared('the job could not see the probe file written by this host');
  if (o.stderrTail === undefined && o.task && o.task.state !== 'CANCELLED') return notShared(`its output ${o.stderrFile} did not appear on this host`);
  const state = o.task ? `Slurm ${o.task.state}${o.task.exitCode && o.task.exitCode !== '0:0' ? ` (exit ${o.task.exitCode})` : ''}${where}` : 'the task left Slurm\'s queue without a record';
  const tail = o.stderrTail?.trim() ? `; stderr tail (${o.stderrFile}):\n${o.stderrTail}` : '';
  return new BbioError('E_STAGE_FAILED', `${o.what}: ${state}${tail}`, { file: o.stderrFile }, `resume with --resume ${o.sweepDir} --executor slurm (the run continues from its checkpoint)`);
}

/**
 * The batch script input of submission `submission` of a sweep: every variant by its position (the array
 * task id), of which `submit` run. `balancedbio slurm script` prints the same.
 */
export function sweepScriptInput(o: Pick<SlurmSweepOptions, 'slurm' | 'parallel' | 'jobName' | 'command' | 'workDir' | 'ranks'> & { sweepDir: string; variants: readonly string[]; submit: readonly string[]; submission: number }): BatchScriptInput {
  const logDir = path.join(o.sweepDir, SLURM_DIR);
  return {
    jobName: o.jobName, slurm: o.slurm, logDir, workDir: o.workDir, probeFile: path.join(logDir, `probe-${o.submission}`), command: o.command,
    array: { variants: o.variants, indices: o.submit.map((n) => o.variants.indexOf(n)), throttle: o.parallel },
    ...(o.ranks ? { ranks: o.ranks } : {}),
  };
}

/** The number of the next submission in a sweep's slurm folder (1 for a new sweep). */
export async function nextSubmission(logDir: string): Promise<number> {
  const names = (await listDir(logDir)).map((d) => d.name);
  return names.filter((n) => /^submit-\d+\.sh$/.test(n)).length + 1;
}

function sameRecord(a: SlurmTaskRecord | undefined, b: SlurmTaskRecord): boolean {
  return !!a && a.jobId === b.jobId && a.taskId === b.taskId && a.state === b.state && a.node === b.node && a.reason === b.reason;
}

function recordOf(s: SlurmTaskState): SlurmTaskRecord {
  return { jobId: s.jobId, ...(s.taskId !== undefined ? { taskId: s.taskId } : {}), state: s.state, ...(s.node ? { node: s.node } : {}), ...(s.reason ? { reason: s.reason } : {}) };
}

/** Waits `ms` between two looks at the queue; an abort ends the wait early (the caller's loop then stops). */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}

export async function runSlurmSweep(store: SweepStore, o: SlurmSweepOptions): Promise<SlurmSweepOutcome> {
  const all = store.current.variants;
  const rel = (dir: string): string => path.relative(store.sweepDir, dir);
  const logDir = path.join(store.sweepDir, SLURM_DIR);
  await mkdir(logDir, { recursive: true });
  await store.setExecutor('slurm');

  // 1. variants whose run finished after the last sweep.json update are done
  for (const v of all.filter((x) => x.status !== 'completed')) {
    const run = await findVariantRun(path.join(store.sweepDir, v.name));
    if (run?.state.status === 'completed') await store.updateVariant(v.name, { status: 'completed', runDir: rel(run.runDir), finishedAt: run.state.updatedAt });
  }
  // 2. tasks of an earlier submission still queued or running are followed, not submitted again
  const earlierJobs = [...new Set(all.filter((v) => v.status !== 'completed' && v.slurm).map((v) => v.slurm!.jobId))];
  const earlier = await o.client.query(earlierJobs);
  const live = new Set(all.filter((v) => v.status !== 'completed' && v.slurm && earlier.some((s) => s.jobId === v.slurm!.jobId && s.taskId === v.slurm!.taskId && !isFinished(s.state))).map((v) => v.name));
  const submit = all.filter((v) => v.status !== 'completed' && !live.has(v.name));
  const jobIds = [...new Set(all.filter((v) => live.has(v.name)).map((v) => v.slurm!.jobId))];
  if (live.size) o.report(`following ${live.size} task(s) still in Slurm from before: ${[...live].join(', ')}`);

  // 3. one array job for the rest
  if (submit.length) {
    const n = await nextSubmission(logDir);
    const input = sweepScriptInput({ ...o, sweepDir: store.sweepDir, variants: all.map((v) => v.name), submit: submit.map((v) => v.name), submission: n });
    await writeFile(input.probeFile, `written by ${process.pid} before submission ${n}\n`);
    const scriptFile = path.join(logDir, `submit-${n}.sh`);
    await writeFile(scriptFile, buildBatchScript(input), { mode: 0o755 });
    const jobId = await o.client.submit(scriptFile, o.workDir);
    jobIds.push(jobId);
    const now = new Date().toISOString();
    for (const v of submit) {
      await store.updateVariant(v.name, { status: 'pending', attempts: v.attempts + 1, startedAt: now, slurm: { jobId, taskId: all.indexOf(v), state: 'PENDING' } });
    }
    o.report(`submitted job ${jobId}: ${submit.length} array task(s), at most ${Math.min(o.parallel, submit.length)} at once (script: ${rel(scriptFile)})`);
  }

  // 4. follow until every followed task has ended, or until told to stop
  const followed = new Set([...live, ...submit.map((v) => v.name)]);
  const warned = new Set<string>();
  let notShared: BbioError | undefined;
  while (followed.size && !o.signal.aborted && !notShared) {
    const states = await o.client.query(jobIds);
    for (const name of [...followed]) {
      const v = store.variant(name)!;
      const task = states.find((s) => s.jobId === v.slurm!.jobId && s.taskId === v.slurm!.taskId);
      const variantDir = path.join(store.sweepDir, name);
      const run = await findVariantRun(variantDir);
      if (task && !isFinished(task.state)) {
        const record = recordOf(task);
        const changed = !sameRecord(v.slurm, record);
        // the run folder appears once the task has started the run: record it then (the editor opens it)
        const newRunDir = run && v.runDir !== rel(run.runDir) ? rel(run.runDir) : undefined;
        if (changed || newRunDir) await store.updateVariant(name, { status: variantStatusOf(task.state), slurm: record, ...(newRunDir ? { runDir: newRunDir } : {}) });
        if (changed) o.report(`[${name}] ${task.state}${task.node ? ` on ${task.node}` : ''}${task.reason ? ` (${task.reason})` : ''} (job ${task.jobId}_${task.taskId})`);
        const hint = task.state === 'PENDING' ? stuckPendingHint(task.reason) : undefined;
        if (hint && !warned.has(name)) {
          warned.add(name);
          o.report(`warning: [${name}] is pending because of ${task.reason}: ${hint}; it will not start until that changes`);
        }
        continue;
      }
      // ended (or gone from Slurm's memory): the run's own state.json has the last word on completion
      followed.delete(name);
      const record: SlurmTaskRecord = task ? recordOf(task) : { ...v.slurm!, state: v.slurm!.state === 'PENDING' ? 'CANCELLED' : v.slurm!.state };
      const finishedAt = new Date().toISOString();
      if (run?.state.status === 'completed') {
        await store.updateVariant(name, { status: 'completed', runDir: rel(run.runDir), finishedAt, slurm: record });
        o.report(`[${name}] completed (job ${record.jobId}_${record.taskId})`);
        continue;
      }
      const stderrFile = path.join(logDir, `${record.jobId}_${record.taskId}.err`);
      const failure = taskFailure({ what: `variant ${name}`, task, stderrFile, stderrTail: await readTail(stderrFile), sweepDir: store.sweepDir });
      if (failure.code === 'E_SLURM_NOT_SHARED') notShared = failure;
      const status: VariantStatus = task ? (variantStatusOf(task.state) === 'completed' ? 'failed' : variantStatusOf(task.state)) : 'cancelled';
      await store.updateVariant(name, { status, finishedAt, slurm: record, error: failure.message, ...(run ? { runDir: rel(run.runDir) } : {}) });
      o.report(`[${name}] ${status}: ${failure.message}`);
    }
    if (followed.size && !notShared) await pause(o.pollMs, o.signal);
  }
  if (notShared) {
    // every other task would meet the same wall: stop them rather than let each fail in turn
    await o.client.cancel(jobIds);
    for (const name of followed) await store.updateVariant(name, { status: 'failed', error: notShared.message });
    followed.clear();
  }

  const counts: Record<VariantStatus, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const v of store.current.variants) counts[v.status]++;
  const detached = [...followed];
  // tasks left to Slurm are still running: the sweep is too (a resume picks them up)
  const status: SweepStatus = counts.completed === all.length ? 'completed' : detached.length ? 'running' : counts.cancelled ? 'cancelled' : 'failed';
  await store.finish(status);
  if (notShared) throw notShared;
  return { status, counts, jobIds, detached };
}
