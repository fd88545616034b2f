/**
 * Sweeps on the command line: `balancedbio run FILE` on a file with `variants:` runs every variant
 * (engine/run/sweep.ts), one after another in this process or `--parallel N` child processes of the CLI
 * at once; `balancedbio sweep report SWEEP_DIR` (re)writes the sweep report. A child runs one variant
 * (`run FILE --sweep-dir DIR --variant NAME --json`) and streams its events to the parent, which alone
 * writes sweep.json.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { EngineEvent } from '../../../schemas/generated/events';
import type { Experiment, ExperimentInput } from '../../../schemas/generated/experiment';
import { writeSweepReport } from '../../run/sweep-report';
import { runPipeline } from '../../run/pipeline';
import { STAGE_CACHE_DIR } from '../../run/stage-cache';
import { createComputeSession } from '../../compute';
import { createStageTable } from '../stages';
import { runSweep, type VariantExecutor, type VariantOutcome } from '../../run/sweep';
import { checkResumable, findVariantRun, initialVariantStates, readSweepState, SWEEP_FILE, SweepStore, type SweepStatus, type VariantStatus } from '../../run/sweep-store';
import type { SlurmClient } from '../../slurm/client';
import { locateRejection } from '../../slurm/rejection';
import { runSlurmSweep } from '../../slurm/sweep';
import { submissionSettings } from '../../slurm/script';
import { parseExperiment } from '../../config/load';
import { sha256 } from '../../util/provenance';
import { applyOverrides, createOverrideValidator, expandVariants, type Overrides, type VariantSpec } from '../../config/variants';
import type { StageName } from '../../core/stage';
import type { ModelBackend } from '../../model/backend';
import { BbioError } from '../../util/errors';
import { createLogger, type Logger } from '../../util/log';
import { EXIT, type CliIo } from '../io';
import { createProgressView } from '../progress';

/** How long a variant's child may take to checkpoint after SIGTERM before it is killed. */
const CHILD_KILL_AFTER_MS = 10_000;

export interface LoadedExperiment {
  /** Absolute path of the experiment file. */
  file: string;
  input: ExperimentInput;
  config: Experiment;
}

export interface VariantRunOptions {
  experiment: LoadedExperiment;
  variant: { name: string; set: Overrides };
  /** The variant's folder in the sweep; its run folder is created (or found) inside. */
  variantDir: string;
  stages?: StageName[];
  stepsScale: number;
  version: string;
  signal: AbortSignal;
  log: Logger;
  onEvent(e: EngineEvent): void;
  onRunDir?(runDir: string): Promise<void>;
  /** `run --backend`: replaces model.backend after the variant's overrides (the command line beats the file). */
  backend?: ModelBackend;
}

/** Runs one variant in this process: its own config, a new run in its folder or the unfinished one there. */
export async function runVariantInProcess(o: VariantRunOptions): Promise<VariantOutcome> {
  const { config } = applyOverrides(o.experiment.input, o.experiment.config, o.variant.set, createOverrideValidator());
  // every variant's run goes into its own folder of the sweep; the stage cache stays the experiment's, shared by all
  const stageCacheDir = path.join(path.resolve(path.dirname(o.experiment.file), config.output.runs_dir), STAGE_CACHE_DIR);
  config.output.runs_dir = o.variantDir;
  if (o.backend) config.model.backend = o.backend;
  const existing = await findVariantRun(o.variantDir);
  if (existing?.state.status === 'completed') return { status: 'completed', runDir: existing.runDir };
  let announced = !!existing;
  const compute = createComputeSession();
  const outcome = await runPipeline({
    config,
    experimentFile: o.experiment.file,
    ...(o.stages ? { stages: o.stages } : {}),
    ...(existing ? { resumeDir: existing.runDir } : {}),
    stepsScale: o.stepsScale,
    stageTable: createStageTable(compute.open),
    compute,
    stageCacheDir,
    log: o.log,
    onEvent: (e) => {
      if (!announced && o.onRunDir) {
        announced = true;
        void o.onRunDir(path.join(o.variantDir, e.runId)).catch((err: unknown) => o.log.warn(`cannot record the run folder in ${SWEEP_FILE}: ${String(err)}`));
      }
      o.onEvent(e);
    },
    signal: o.signal,
    version: o.version,
  });
  return { status: outcome.status, runDir: outcome.runDir, ...(outcome.error ? { error: outcome.error.format() } : {}) };
}

function inProcessExecutor(experiment: LoadedExperiment, o: { stages?: StageName[]; stepsScale: number; version: string; json: boolean; log: Logger; backend?: ModelBackend }, io: CliIo): VariantExecutor {
  return async (job, signal) => {
    if (!o.json) io.err(`── variant ${job.index + 1}/${job.total}: ${job.variant.name} ──`);
    const view = o.json ? undefined : createProgressView(io);
    try {
      return await runVariantInProcess({
        experiment, variant: job.variant, variantDir: job.variantDir, ...(o.stages ? { stages: o.stages } : {}), ...(o.backend ? { backend: o.backend } : {}), stepsScale: o.stepsScale, version: o.version, signal, log: o.log,
        onEvent: (e) => (o.json ? io.out(JSON.stringify(e)) : view?.onEvent(e)),
        onRunDir: job.onRunDir,
      });
    } finally {
      view?.stop();
    }
  };
}

/** Splits a stream into lines, calling `onLine` for each complete one. */
function lineReader(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) if (l.trim()) onLine(l);
    },
    end() {
      if (buf.trim()) onLine(buf);
      buf = '';
    },
  };
}

export interface ChildExecutorOptions {
  /** The CLI entry script the children run (bin/balancedbio.js, or this process's own script). */
  cliEntry: string;
  /** Node options of the children (e.g. `--import tsx` when the parent runs from source). */
  execArgv: string[];
  file: string;
  sweepDir: string;
  stages?: StageName[];
  stepsScale: number;
  json: boolean;
  /** `--workspace`/`--allow-path` of the parent, so each child checks paths as the parent did. */
  workspaceArgs: string[];
  /** The parent's `--backend`, passed on so every variant runs on it. */
  backend?: ModelBackend;
  /** Variants at once: each child's math libraries get an equal share of the cores (childThreadEnv). */
  parallel?: number;
}

/** The variables by which OpenMP, OpenBLAS and MKL (torch's CPU kernels) size their thread pools. */
const THREAD_VARS = ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'] as const;

/**
 * The environment of a child when `parallel` run at once on `cores`: each math library gets cores / parallel
 * threads (at least one), unless the user set any of the variables. Without it every torch worker sizes its
 * pools for the whole machine, and OpenBLAS's threads then wait on each other's cores: docs/benchmarks.md
 * measured a two-thread reference 20× slower beside one busy process, against ~2× for a one-thread one.
 */
export function childThreadEnv(env: NodeJS.ProcessEnv, parallel: number, cores: number): NodeJS.ProcessEnv {
  if (parallel <= 1 || THREAD_VARS.some((v) => env[v] !== undefined)) return env;
  const share = String(Math.max(1, Math.floor(cores / parallel)));
  return { ...env, ...Object.fromEntries(THREAD_VARS.map((v) => [v, share])) };
}

/**
 * The command that runs one variant of the sweep (node, its options, the CLI, `run FILE --json --sweep-dir
 * DIR …`), without `--variant NAME`, which a child process or a Slurm array task appends.
 */
export function variantCommand(o: Omit<ChildExecutorOptions, 'json'>): string[] {
  return [
    process.execPath, ...o.execArgv, o.cliEntry, 'run', o.file, '--json', '--sweep-dir', o.sweepDir, '--steps-scale', String(o.stepsScale), ...o.workspaceArgs,
    ...(o.stages ? ['--stages', o.stages.join(',')] : []), ...(o.backend ? ['--backend', o.backend] : []),
  ];
}

/** Runs each variant as a child process of the CLI; SIGTERM on cancel, SIGKILL if it does not stop. */
function childExecutor(o: ChildExecutorOptions, io: CliIo): VariantExecutor {
  return (job, signal) =>
    new Promise<VariantOutcome>((resolve) => {
      const name = job.variant.name;
      const [node, ...args] = [...variantCommand(o), '--variant', name];
      // an IPC channel so a child notices (disconnect) when the sweep process dies and checkpoints
      const child = spawn(node!, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: childThreadEnv(process.env, o.parallel ?? 1, availableParallelism()) });
      io.err(`[${name}] started (variant ${job.index + 1}/${job.total}, pid ${child.pid ?? '?'})`);
      let runDir = job.resumeRunDir;
      let lastError: string | undefined;
      const out = lineReader((line) => {
        let e: EngineEvent;
        try {
          e = JSON.parse(line) as EngineEvent;
        } catch {
          io.err(`[${name}] ${line}`); // not an event: pass it on as a log line
          return;
        }
        if (!runDir) {
          runDir = path.join(job.variantDir, e.runId);
          void job.onRunDir(runDir).catch((err: unknown) => io.err(`[${name}] cannot record its run folder: ${String(err)}`));
        }
        if (e.kind === 'error') lastError = `${e.code} ${e.message}`;
        if (o.json) io.out(line);
        else if (e.kind === 'phase' && e.status !== 'progress') io.err(`[${name}] ${e.stage} ${e.status}${e.message ? `: ${e.message}` : ''}`);
      });
      const err = lineReader((line) => {
        if (!o.json) io.err(`[${name}] ${line}`);
      });
      child.stdout!.on('data', (d: Buffer) => out.push(d));
      child.stderr!.on('data', (d: Buffer) => err.push(d));
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), CHILD_KILL_AFTER_MS);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        lastError = `cannot start the variant's process: ${e.message}`;
      });
      child.on('close', (code) => {
        out.end();
        err.end();
        signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        const status: VariantOutcome['status'] = code === EXIT.ok ? 'completed' : signal.aborted ? 'cancelled' : 'failed';
        resolve({ status, ...(runDir ? { runDir } : {}), ...(status === 'failed' ? { error: lastError ?? `exit code ${code ?? 'null (killed)'}` } : {}) });
      });
    });
}

export interface SweepCommandOptions {
  experiment: LoadedExperiment;
  /** The file as the user wrote it, for the resume hint. */
  displayFile: string;
  resume?: string;
  parallel?: number;
  stepsScale: number;
  /** Whether --steps-scale was given (on resume, the sweep's own scale applies otherwise). */
  stepsScaleGiven: boolean;
  stages?: StageName[];
  json: boolean;
  version: string;
  cliEntry: string;
  execArgv: string[];
  workspaceArgs: string[];
  /** Where the variants run: here (in process or child processes), or as one Slurm job array. */
  executor: 'local' | 'slurm';
  /** Slurm's commands and their environment (SLURM_CONF, …); only for `executor: slurm`. */
  slurm?: SlurmClient;
  /** `run --backend`, passed on to every variant (in this process, a child, or a Slurm task). */
  backend?: ModelBackend;
  /** The environment BALANCEDBIO_PYTHON comes from for Slurm tasks (submissionSettings); default process.env. */
  env?: NodeJS.ProcessEnv;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false; // absent: the caller says what it expected instead
  }
}

/** `balancedbio run FILE` for a file with variants: exit 0 when every variant completed, 1 otherwise. */
export async function runSweepCommand(o: SweepCommandOptions, io: CliIo): Promise<number> {
  const { experiment } = o;
  const variants: VariantSpec[] = expandVariants(experiment.config.variants!);
  const log = createLogger({ level: 'info', write: (l) => io.err(l) });
  const sourceText = await readFile(experiment.file, 'utf8');
  let store: SweepStore;
  let stepsScale = o.stepsScale;
  let stages = o.stages;
  if (o.resume) {
    const dir = path.resolve(io.cwd, o.resume);
    if (!(await isFile(path.join(dir, SWEEP_FILE))) && (await isFile(path.join(dir, 'state.json')))) {
      throw new BbioError('E_USAGE', `${o.resume} is a single run, but ${o.displayFile} has variants: --resume takes the sweep folder`, { file: dir }, `resume the whole sweep: balancedbio run ${o.displayFile} --resume ${path.relative(io.cwd, path.dirname(path.dirname(dir))) || '.'}`);
    }
    const before = await readSweepState(dir);
    checkResumable(before, variants);
    if (before.experimentSha256 !== sha256(sourceText)) io.err(`warning: ${o.displayFile} changed since the sweep started; unfinished variants run with the file as it is now`);
    if (!o.stepsScaleGiven) stepsScale = before.stepsScale;
    if (!stages && before.stages) stages = before.stages as StageName[];
    store = await SweepStore.open(dir);
  } else {
    const runsDir = path.resolve(path.dirname(experiment.file), experiment.config.output.runs_dir);
    store = await SweepStore.create({
      runsDir, name: experiment.config.name, experimentFile: experiment.file, sourceText, variants: initialVariantStates(variants, experiment.config),
      parallel: o.parallel ?? experiment.config.sweep.parallel, stepsScale, ...(stages ? { stages } : {}),
    });
  }
  const parallel = o.parallel ?? experiment.config.sweep.parallel;
  const rel = path.relative(io.cwd, store.sweepDir) || store.sweepDir;
  const todo = store.current.variants.filter((v) => v.status !== 'completed').length;
  const onSlurm = o.executor === 'slurm';
  io.err(`sweep ${rel}: ${variants.length} variants, ${todo} to run, ${parallel === 1 ? 'one at a time' : `${parallel} at once`}${onSlurm ? ' on Slurm' : ''}`);
  const resumeHint = `balancedbio run ${o.displayFile} --resume ${rel}${onSlurm ? ' --executor slurm' : ''}`;

  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    io.err(onSlurm
      ? `${sig} received: no longer following the Slurm job, which keeps running. Cancel it with: balancedbio slurm cancel ${rel}; follow it again (and resubmit what did not finish) with: ${resumeHint}`
      : `${sig} received: checkpointing the running variant${parallel > 1 ? 's' : ''} and stopping`);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let outcome: { status: SweepStatus; counts: Record<VariantStatus, number>; detached?: string[] };
  try {
    if (onSlurm) {
      const command = variantCommand({ cliEntry: o.cliEntry, execArgv: o.execArgv, workspaceArgs: o.workspaceArgs, file: experiment.file, sweepDir: store.sweepDir, ...(stages ? { stages } : {}), ...(o.backend ? { backend: o.backend } : {}), stepsScale });
      outcome = await runSlurmSweep(store, {
        client: o.slurm!, ...submissionSettings(experiment.config, o.env ?? process.env), parallel, jobName: `bbio-${experiment.config.name}`, command, workDir: path.dirname(experiment.file),
        pollMs: experiment.config.slurm.poll_seconds * 1000, signal: controller.signal, report: (l) => io.err(l),
      }).catch(async (e: unknown) => {
        throw e instanceof BbioError && e.code === 'E_SLURM_REJECTED' ? locateRejection(e, experiment.file, (await parseExperiment(sourceText, experiment.file, { skipFileChecks: true })).sourceMap) : e;
      });
    } else {
      const execute = parallel > 1
        ? childExecutor({ cliEntry: o.cliEntry, execArgv: o.execArgv, workspaceArgs: o.workspaceArgs, file: experiment.file, sweepDir: store.sweepDir, ...(stages ? { stages } : {}), ...(o.backend ? { backend: o.backend } : {}), stepsScale, json: o.json, parallel }, io)
        : inProcessExecutor(experiment, { ...(stages ? { stages } : {}), ...(o.backend ? { backend: o.backend } : {}), stepsScale, version: o.version, json: o.json, log }, io);
      outcome = await runSweep(store, { parallel, execute, signal: controller.signal, log });
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await store.close();
  }
  if (outcome.detached?.length) {
    io.err(`sweep still running on Slurm: ${outcome.detached.length} variant(s) not followed any more (${outcome.detached.join(', ')}): ${rel}`);
    io.err(`follow it again with: ${resumeHint}; cancel it with: balancedbio slurm cancel ${rel}`);
    return EXIT.failed;
  }
  if (outcome.counts.completed > 0) {
    const { markdown, files } = await writeSweepReport(store.sweepDir);
    if (!o.json) for (const l of markdown.trimEnd().split('\n')) io.out(l);
    io.err(`sweep report: ${path.relative(io.cwd, files.md)} and ${path.basename(files.json)}`);
  }
  const c = outcome.counts;
  io.err(`sweep ${outcome.status}: ${c.completed}/${variants.length} variants completed${c.failed ? `, ${c.failed} failed` : ''}${c.cancelled + c.pending ? `, ${c.cancelled + c.pending} not finished` : ''}: ${rel}`);
  if (outcome.status !== 'completed') io.err(`resume with: ${resumeHint}`);
  return outcome.status === 'completed' ? EXIT.ok : EXIT.failed;
}

export interface VariantCommandOptions {
  experiment: LoadedExperiment;
  sweepDir: string;
  variant: string;
  stages?: StageName[];
  stepsScale: number;
  version: string;
  /** The sweep's `--backend`, applied after the variant's overrides as in the parent. */
  backend?: ModelBackend;
}

/** A sweep's child: runs one variant and streams its events to stdout as JSON lines. */
export async function runVariantCommand(o: VariantCommandOptions, io: CliIo): Promise<number> {
  const v = expandVariants(o.experiment.config.variants ?? []).find((x) => x.name === o.variant);
  if (!v) throw new BbioError('E_USAGE', `${o.experiment.file} has no variant named ${o.variant}`, { file: o.experiment.file }, 'the sweep\'s variants are listed in its sweep.json');
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // the sweep process died (its IPC channel closed): checkpoint and stop rather than run on unobserved
  process.once('disconnect', stop);
  try {
    const outcome = await runVariantInProcess({
      experiment: o.experiment, variant: v, variantDir: path.join(path.resolve(io.cwd, o.sweepDir), v.name), ...(o.stages ? { stages: o.stages } : {}), ...(o.backend ? { backend: o.backend } : {}),
      stepsScale: o.stepsScale, version: o.version, signal: controller.signal, log: createLogger({ level: 'info', write: (l) => io.err(l) }), onEvent: (e) => io.out(JSON.stringify(e)),
    });
    return outcome.status === 'completed' ? EXIT.ok : EXIT.failed;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('disconnect', stop);
    if (process.connected) process.disconnect();
  }
}

/** `balancedbio sweep report SWEEP_DIR`: rewrites sweep-report.md/.json and prints the table. */
export async function runSweepReport(dir: string, opts: { json: boolean }, io: CliIo): Promise<number> {
  const { report, markdown, files } = await writeSweepReport(path.resolve(io.cwd, dir));
  if (opts.json) io.out(JSON.stringify(report, null, 2));
  else for (const l of markdown.trimEnd().split('\n')) io.out(l);
  io.err(`wrote ${path.relative(io.cwd, files.md)} and ${path.relative(io.cwd, files.json)}`);
  return EXIT.ok;
}
