import { MODEL_BACKENDS, type ModelBackend } from '../../model/backend';
import path from 'node:path';
import type { ExperimentInput } from '../../../schemas/generated/experiment';
import { loadExperiment } from '../../config/load';
import { formatProblem, hasErrors } from '../../config/problems';
import { runPipeline } from '../../run/pipeline';
import { createComputeSession } from '../../compute';
import { createStageTable } from '../stages';
import { STAGE_ORDER, type StageName } from '../../core/stage';
import { BbioError } from '../../util/errors';
import { createLogger } from '../../util/log';
import { cliPathPolicy, EXIT, workspaceArgs, type CliIo, type WorkspaceOptions } from '../io';
import { createProgressView } from '../progress';
import { createSlurmClient } from '../../slurm/client';
import { chooseExecutor, runSingleOnSlurm, runSlurmScript } from './slurm';
import { runSweepCommand, runVariantCommand } from './sweep';

export interface RunCommandOptions extends WorkspaceOptions {
  stages?: string;
  resume?: string;
  stepsScale: number;
  /** Stream events to stdout as JSON lines (for the language server's job manager and scripts). */
  json: boolean;
  version: string;
  /** Variants run at once for a file with `variants:` (default: the file's sweep.parallel). */
  parallel?: number;
  /** Whether --steps-scale was given on the command line (a resumed sweep keeps its own otherwise). */
  stepsScaleGiven?: boolean;
  /** `local` or `slurm`: overrides the file's `executor`. */
  executor?: string;
  /** --backend: overrides the file's model.backend (and BALANCEDBIO_BACKEND). */
  backend?: ModelBackend;
  /** Internal, for a sweep's child processes: run only this variant of the sweep in `sweepDir`. */
  sweepDir?: string;
  variant?: string;
}

export function parseStages(list: string | undefined): StageName[] | undefined {
  if (!list) return undefined;
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(STAGE_ORDER as readonly string[]).includes(n));
  if (bad.length) throw new BbioError('E_USAGE', `unknown stage(s): ${bad.join(', ')}`, {}, `stages are ${STAGE_ORDER.join(', ')}`);
  return names as StageName[];
}

const BACKENDS = MODEL_BACKENDS;

/**
 * BALANCEDBIO_BACKEND (the editor's `balancedbio.engine.backend` setting, or set by hand) is the preferred
 * backend where the experiment leaves `model.backend: auto`; an explicit choice in the file wins. The
 * replacement is said in one line, and the manifest records the backend actually used.
 */
export function applyBackendOverride(config: { model: { backend: (typeof BACKENDS)[number] } }, env: NodeJS.ProcessEnv, io: CliIo): void {
  const wanted = env['BALANCEDBIO_BACKEND']?.trim();
  if (!wanted || wanted === config.model.backend) return;
  if (!(BACKENDS as readonly string[]).includes(wanted)) throw new BbioError('E_USAGE', `BALANCEDBIO_BACKEND is "${wanted}"`, {}, `use one of ${BACKENDS.join(', ')}, or unset it to use model.backend`);
  if (config.model.backend !== 'auto') return; // the experiment file chose explicitly
  io.err(`backend: BALANCEDBIO_BACKEND=${wanted} replaces model.backend (${config.model.backend}) for this run`);
  config.model.backend = wanted as (typeof BACKENDS)[number];
}

/** `balancedbio run FILE`: exit 0 when the run completes, 1 when it fails or is cancelled, 2 on bad input. */
export async function runRun(file: string, opts: RunCommandOptions, io: CliIo): Promise<number> {
  const abs = path.resolve(io.cwd, file);
  // every path of the file is checked against the workspace here, before any of them is read
  const policy = cliPathPolicy(io, opts);
  const { config, problems, raw } = await loadExperiment(abs, { paths: policy });
  for (const p of problems) io.err(formatProblem(p, io.cwd));
  if (!config || hasErrors(problems)) return EXIT.badInput;
  applyBackendOverride(config, process.env, io);
  if (opts.backend && opts.backend !== config.model.backend) {
    io.err(`backend: --backend ${opts.backend} replaces model.backend (${config.model.backend}) for this run`);
    config.model.backend = opts.backend;
  }
  if (!(opts.stepsScale > 0) || !Number.isFinite(opts.stepsScale)) throw new BbioError('E_USAGE', `--steps-scale must be a positive number, got ${opts.stepsScale}`);
  const stages = parseStages(opts.stages);
  if (opts.parallel !== undefined && !(Number.isInteger(opts.parallel) && opts.parallel >= 1)) throw new BbioError('E_USAGE', `--parallel must be a positive integer, got ${opts.parallel}`);
  const experiment = { file: abs, input: raw as ExperimentInput, config };
  if (opts.sweepDir || opts.variant) {
    if (!opts.sweepDir || !opts.variant) throw new BbioError('E_USAGE', '--sweep-dir and --variant go together (they are how a sweep starts one variant)');
    return runVariantCommand({ experiment, sweepDir: opts.sweepDir, variant: opts.variant, ...(stages ? { stages } : {}), ...(opts.backend ? { backend: opts.backend } : {}), stepsScale: opts.stepsScale, version: opts.version }, io);
  }
  const executor = chooseExecutor(opts.executor, config.executor);
  const slurm = executor === 'slurm' ? createSlurmClient(process.env) : undefined;
  if (config.variants) {
    return runSweepCommand({
      experiment, displayFile: file, ...(opts.resume ? { resume: opts.resume } : {}), ...(opts.parallel !== undefined ? { parallel: opts.parallel } : {}),
      stepsScale: opts.stepsScale, stepsScaleGiven: opts.stepsScaleGiven ?? true, ...(stages ? { stages } : {}), json: opts.json, version: opts.version,
      cliEntry: process.argv[1] ?? '', execArgv: process.execArgv, workspaceArgs: workspaceArgs(policy), executor, ...(slurm ? { slurm } : {}),
      ...(opts.backend ? { backend: opts.backend } : {}), ...(io.env ? { env: io.env } : {}),
    }, io);
  }
  if (slurm) {
    const parts = { cliEntry: process.argv[1] ?? '', execArgv: process.execArgv, workspaceArgs: workspaceArgs(policy), stepsScale: opts.stepsScale, ...(stages ? { stages } : {}), ...(opts.backend ? { backend: opts.backend } : {}) };
    return runSingleOnSlurm({ experiment, displayFile: file, ...(opts.resume ? { resume: opts.resume } : {}), parts, client: slurm }, io);
  }
  if (opts.parallel !== undefined && opts.parallel > 1) io.err(`--parallel ${opts.parallel} has no effect: ${file} has no variants`);

  const controller = new AbortController();
  const stopSignals = handleStopSignals(controller, io);

  const view = opts.json ? undefined : createProgressView(io);
  const log = createLogger({ level: 'info', write: (l) => io.err(l) });
  const compute = createComputeSession();
  try {
    const outcome = await runPipeline({
      config,
      experimentFile: abs,
      ...(stages ? { stages } : {}),
      ...(opts.resume ? { resumeDir: path.resolve(io.cwd, opts.resume) } : {}),
      stepsScale: opts.stepsScale,
      stageTable: createStageTable(compute.open),
      compute,
      log,
      onEvent: (e) => (opts.json ? io.out(JSON.stringify(e)) : view?.onEvent(e)),
      signal: controller.signal,
      version: opts.version,
    });
    view?.stop();
    if (!opts.json) {
      io.out(`run ${outcome.status}: ${path.relative(io.cwd, outcome.runDir) || outcome.runDir}`);
      if (outcome.unavailable.length) io.out(`not in this build (skipped): ${outcome.unavailable.join(', ')}`);
      if (outcome.status === 'completed') io.out(`see it with: balancedbio runs show ${path.relative(io.cwd, outcome.runDir)}`);
      else io.out(`resume with: balancedbio run ${file} --resume ${path.relative(io.cwd, outcome.runDir)}`);
    }
    return outcome.status === 'completed' ? EXIT.ok : EXIT.failed;
  } finally {
    view?.stop();
    stopSignals();
  }
}

/**
 * SIGTERM/SIGINT while a run is open: the first aborts `controller` (the stage checkpoints and stops between
 * steps); a second one stops at once. It exits through process.exit, not the default signal action, so the
 * pipeline's 'exit' listener records the run as cancelled in state.json. Returns the function that
 * uninstalls the handlers.
 */
export function handleStopSignals(controller: AbortController, io: CliIo): () => void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      io.err(`${sig} received again: stopping now, without a checkpoint`);
      process.exit(EXIT.failed);
    }
    io.err(`${sig} received: checkpointing and stopping (send again to force)`);
    controller.abort(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** `balancedbio slurm script FILE`: loads FILE as `run` does and prints the batch script it would submit. */
/**
 * `balancedbio slurm script FILE`. `cliEntry`/`execArgv` name the CLI the tasks run: this process's own by
 * default; the language server passes bin/balancedbio.js, the CLI its runs use.
 */
export async function runSlurmScriptCommand(file: string, opts: WorkspaceOptions & { resume?: string; parallel?: number; stepsScale: number; stages?: string; backend?: ModelBackend; cliEntry?: string; execArgv?: string[] }, io: CliIo): Promise<number> {
  const abs = path.resolve(io.cwd, file);
  const policy = cliPathPolicy(io, opts);
  const { config, problems, raw } = await loadExperiment(abs, { paths: policy });
  for (const p of problems) io.err(formatProblem(p, io.cwd));
  if (!config || hasErrors(problems)) return EXIT.badInput;
  const stages = parseStages(opts.stages);
  const parts = { cliEntry: opts.cliEntry ?? process.argv[1] ?? '', execArgv: opts.execArgv ?? process.execArgv, workspaceArgs: workspaceArgs(policy), stepsScale: opts.stepsScale, ...(stages ? { stages } : {}), ...(opts.backend ? { backend: opts.backend } : {}) };
  return runSlurmScript({ experiment: { file: abs, input: raw as ExperimentInput, config }, ...(opts.resume ? { resume: opts.resume } : {}), ...(opts.parallel !== undefined ? { parallel: opts.parallel } : {}), parts }, io);
}
