/**
 * Slurm on the command line: `run --executor slurm` on a single experiment (one job, followed here; a
 * sweep goes through commands/sweep.ts as one job array), `balancedbio slurm script FILE` (the exact batch
 * script `run` would submit) and `balancedbio slurm cancel SWEEP_DIR|JOB` (scancel of what is unfinished).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expandVariants } from '../../config/variants';
import { parseExperiment } from '../../config/load';
import { readRunState, timestampId } from '../../run/store';
import { readSweepState } from '../../run/sweep-store';
import { createSlurmClient, type SlurmClient } from '../../slurm/client';
import { jobScriptInput, nextJobNumber, runSlurmJob } from '../../slurm/job';
import { locateRejection } from '../../slurm/rejection';
import { buildBatchScript, submissionSettings } from '../../slurm/script';
import type { ModelBackend } from '../../model/backend';
import { isFinished } from '../../slurm/state';
import { nextSubmission, SLURM_DIR, sweepScriptInput } from '../../slurm/sweep';
import { BbioError } from '../../util/errors';
import { EXIT, type CliIo } from '../io';
import { variantCommand, type LoadedExperiment } from './sweep';
import type { StageName } from '../../core/stage';

export const EXECUTORS = ['local', 'slurm'] as const;
export type Executor = (typeof EXECUTORS)[number];

/** `--executor` if given (checked), else the file's `executor`. */
export function chooseExecutor(flag: string | undefined, fromFile: Executor): Executor {
  if (flag === undefined) return fromFile;
  if (!(EXECUTORS as readonly string[]).includes(flag)) throw new BbioError('E_USAGE', `--executor must be one of ${EXECUTORS.join(', ')}, got "${flag}"`);
  return flag as Executor;
}

export interface TaskCommandParts {
  cliEntry: string;
  execArgv: string[];
  workspaceArgs: string[];
  stepsScale: number;
  stages?: StageName[];
  /** `run --backend`, passed on to the task's run. */
  backend?: ModelBackend;
}

/** The command of a single experiment's job: `run FILE --json` (and `--resume RUN`), as the submit host runs the CLI. */
function runCommand(file: string, p: TaskCommandParts, resume?: string): string[] {
  return [
    process.execPath, ...p.execArgv, p.cliEntry, 'run', file, '--json', '--steps-scale', String(p.stepsScale), ...p.workspaceArgs,
    ...(p.stages ? ['--stages', p.stages.join(',')] : []), ...(p.backend ? ['--backend', p.backend] : []), ...(resume ? ['--resume', resume] : []),
  ];
}

async function rejectionAtLine<T>(p: Promise<T>, file: string): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (!(e instanceof BbioError) || e.code !== 'E_SLURM_REJECTED') throw e;
    throw locateRejection(e, file, (await parseExperiment(await readFile(file, 'utf8'), file, { skipFileChecks: true })).sourceMap);
  }
}

/** `run --executor slurm` on a file without variants: one job, followed until it ends. */
export async function runSingleOnSlurm(o: { experiment: LoadedExperiment; displayFile: string; resume?: string; parts: TaskCommandParts; client: SlurmClient }, io: CliIo): Promise<number> {
  const { config, file } = o.experiment;
  const runsDir = path.resolve(path.dirname(file), config.output.runs_dir);
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    io.err(`${sig} received: no longer following the Slurm job, which keeps running (cancel it with scancel, or balancedbio slurm cancel JOB)`);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let outcome;
  try {
    outcome = await rejectionAtLine(runSlurmJob({
      client: o.client, ...submissionSettings(config, io.env ?? process.env), jobName: `bbio-${config.name}`, command: runCommand(file, o.parts, o.resume ? path.resolve(io.cwd, o.resume) : undefined),
      runsDir, workDir: path.dirname(file), pollMs: config.slurm.poll_seconds * 1000, signal: controller.signal, report: (l) => io.err(l),
    }), file);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const runRel = outcome.runDir ? path.relative(io.cwd, outcome.runDir) : undefined;
  if (!outcome.task) {
    io.err(`job ${outcome.jobId} still in Slurm; its run: ${runRel ?? 'not started yet'}; cancel with: balancedbio slurm cancel ${outcome.jobId}`);
    return EXIT.failed;
  }
  const status = outcome.runDir ? (await readRunState(outcome.runDir)).status : undefined;
  if (status === 'completed') {
    io.out(`run completed: ${runRel} (Slurm job ${outcome.jobId} on ${outcome.task.node ?? '?'})`);
    io.out(`see it with: balancedbio runs show ${runRel}`);
    return EXIT.ok;
  }
  if (outcome.error) io.err(outcome.error.format());
  if (runRel) io.out(`resume with: balancedbio run ${o.displayFile} --resume ${runRel} --executor slurm`);
  return EXIT.failed;
}

/** `balancedbio slurm script FILE`: the batch script `run --executor slurm` would submit now. */
export async function runSlurmScript(o: { experiment: LoadedExperiment; resume?: string; parallel?: number; parts: TaskCommandParts }, io: CliIo): Promise<number> {
  const { config, file } = o.experiment;
  const runsDir = path.resolve(path.dirname(file), config.output.runs_dir);
  const jobName = `bbio-${config.name}`;
  const workDir = path.dirname(file);
  if (!config.variants) {
    const submission = await nextJobNumber(path.join(runsDir, SLURM_DIR));
    io.out(buildBatchScript(jobScriptInput({ ...submissionSettings(config, io.env ?? process.env), jobName, command: runCommand(file, o.parts, o.resume ? path.resolve(io.cwd, o.resume) : undefined), runsDir, workDir, submission })).trimEnd());
    return EXIT.ok;
  }
  const names = expandVariants(config.variants).map((v) => v.name);
  let sweepDir: string;
  let submit = names;
  let submission = 1;
  if (o.resume) {
    sweepDir = path.resolve(io.cwd, o.resume);
    const state = await readSweepState(sweepDir);
    submit = state.variants.filter((v) => v.status !== 'completed').map((v) => v.name);
    submission = await nextSubmission(path.join(sweepDir, SLURM_DIR));
  } else {
    // the folder a sweep started now would get (SweepStore.create adds -2, -3 … when it exists)
    sweepDir = path.join(runsDir, `${timestampId(new Date())}-${config.name}-sweep`);
    io.err(`a new sweep's folder is named when it starts: ${path.relative(io.cwd, sweepDir)} is the name it would get now`);
  }
  const command = variantCommand({ ...o.parts, file, sweepDir });
  io.out(buildBatchScript(sweepScriptInput({ ...submissionSettings(config, io.env ?? process.env), parallel: o.parallel ?? config.sweep.parallel, jobName, command, workDir, sweepDir, variants: names, submit, submission })).trimEnd());
  return EXIT.ok;
}

/** `balancedbio slurm cancel SWEEP_DIR|JOB`: scancel a sweep's unfinished tasks, or one job id. */
export async function runSlurmCancel(target: string, io: CliIo, client: SlurmClient = createSlurmClient()): Promise<number> {
  if (/^\d+(_\d+)?$/.test(target)) {
    await client.cancel([target]);
    io.err(`cancelled Slurm job ${target}`);
    return EXIT.ok;
  }
  const dir = path.resolve(io.cwd, target);
  const state = await readSweepState(dir);
  const ids = state.variants.filter((v) => v.status !== 'completed' && v.slurm && !isFinished(v.slurm.state)).map((v) => `${v.slurm!.jobId}${v.slurm!.taskId !== undefined ? `_${v.slurm!.taskId}` : ''}`);
  if (!ids.length) {
    io.err(`sweep ${state.sweepId} has no Slurm task queued or running`);
    return EXIT.ok;
  }
  await client.cancel(ids);
  io.err(`cancelled ${ids.length} task(s) of sweep ${state.sweepId}: ${ids.join(' ')}; resume with: balancedbio run ${state.experimentFile} --resume ${target} --executor slurm`);
  return EXIT.ok;
}
