/**
 * A single experiment (no variants) on Slurm: one job running `run FILE --json` (or `--resume RUN`), its
 * files in <runs_dir>/slurm/ (job-<n>.sh, probe-<n>, <job>.out with the run's events, <job>.err), followed
 * here until it ends. The run folder is named by the run's first event in the job's output.
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BbioError } from '../util/errors';
import type { SlurmClient } from './client';
import { buildBatchScript, type BatchScriptInput, type RankLayout, type SlurmSettings } from './script';
import { isFinished, stuckPendingHint, type SlurmTaskState } from './state';
import { readTail, SLURM_DIR, taskFailure } from './sweep';
import { listDir } from '../util/fs';

export interface SlurmJobOptions {
  client: SlurmClient;
  slurm: SlurmSettings;
  jobName: string;
  /** The run command (node, its options, the CLI, `run FILE --json …`). */
  command: readonly string[];
  /** The torch backend's data-parallel ranks (script.ts rankLayout), when more than one. */
  ranks?: RankLayout;
  runsDir: string;
  workDir: string;
  pollMs: number;
  signal: AbortSignal;
  report(line: string): void;
}

export interface SlurmJobOutcome {
  jobId: string;
  /** Slurm's last state; undefined when following stopped before the job ended. */
  task?: SlurmTaskState;
  /** The run folder, once the job's output names it. */
  runDir?: string;
  error?: BbioError;
}

/** The batch script input of single-job submission `submission` in `runsDir`. */
export function jobScriptInput(o: Pick<SlurmJobOptions, 'slurm' | 'jobName' | 'command' | 'runsDir' | 'workDir' | 'ranks'> & { submission: number }): BatchScriptInput {
  const logDir = path.join(o.runsDir, SLURM_DIR);
  return { jobName: o.jobName, slurm: o.slurm, logDir, workDir: o.workDir, probeFile: path.join(logDir, `probe-job-${o.submission}`), command: o.command, ...(o.ranks ? { ranks: o.ranks } : {}) };
}

/** The number of the next single job submitted from a runs folder (1 for the first). */
export async function nextJobNumber(logDir: string): Promise<number> {
  const names = (await listDir(logDir)).map((d) => d.name);
  return names.filter((f) => /^job-\d+\.sh$/.test(f)).length + 1;
}

/** The run id in the first event line of a job's output, if it has one yet. */
async function runIdOf(outFile: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(outFile, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BbioError('E_IO', `cannot read ${outFile}: ${(e as Error).message}`, { file: outFile }, undefined, { cause: e });
  }
  try {
    // an event line is a few hundred bytes; 64 KiB holds the first one with room to spare
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const first = buf.subarray(0, bytesRead).toString('utf8').split('\n').find((l) => l.startsWith('{'));
    if (!first) return undefined;
    try {
      return (JSON.parse(first) as { runId?: string }).runId;
    } catch {
      return undefined; // torn first line: the next look reads it whole
    }
  } finally {
    await fh.close();
  }
}

export async function runSlurmJob(o: SlurmJobOptions): Promise<SlurmJobOutcome> {
  const logDir = path.join(o.runsDir, SLURM_DIR);
  await mkdir(logDir, { recursive: true });
  const n = await nextJobNumber(logDir);
  const input = jobScriptInput({ ...o, submission: n });
  await writeFile(input.probeFile, `written by ${process.pid} before job ${n}\n`);
  const scriptFile = path.join(logDir, `job-${n}.sh`);
  await writeFile(scriptFile, buildBatchScript(input), { mode: 0o755 });
  const jobId = await o.client.submit(scriptFile, o.workDir);
  o.report(`submitted job ${jobId} (script: ${scriptFile})`);
  let last = '';
  let warned = false;
  while (!o.signal.aborted) {
    const task = (await o.client.query([jobId])).find((s) => s.jobId === jobId);
    const line = task ? `${task.state}${task.node ? ` on ${task.node}` : ''}${task.reason ? ` (${task.reason})` : ''}` : 'gone';
    if (line !== last) o.report(`[job ${jobId}] ${(last = line)}`);
    const hint = task?.state === 'PENDING' ? stuckPendingHint(task.reason) : undefined;
    if (hint && !warned) {
      warned = true;
      o.report(`warning: job ${jobId} is pending because of ${task!.reason}: ${hint}; it will not start until that changes`);
    }
    if (!task || isFinished(task.state)) {
      const runId = await runIdOf(path.join(logDir, `${jobId}.out`));
      const stderrFile = path.join(logDir, `${jobId}.err`);
      const failed = task?.state !== 'COMPLETED';
      return {
        jobId, ...(task ? { task } : {}), ...(runId ? { runDir: path.join(o.runsDir, runId) } : {}),
        ...(failed ? { error: taskFailure({ what: `job ${jobId}`, task, stderrFile, stderrTail: await readTail(stderrFile), sweepDir: o.runsDir }) } : {}),
      };
    }
    try {
      await delay(o.pollMs, undefined, { signal: o.signal });
    } catch (e) {
      if (!o.signal.aborted) throw e;
    }
  }
  return { jobId };
}
