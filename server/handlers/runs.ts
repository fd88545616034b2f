/** Custom run requests (startRun, cancelRun, listRuns, listJobs, setTrust) and the run commands. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ResponseError, type CancellationToken } from 'vscode-languageserver';
import { runSlurmScriptCommand } from '../../engine/cli/commands/run';
import type { CliIo } from '../../engine/cli/io';
import { loadExperiment } from '../../engine/config/load';
import { readSweepState } from '../../engine/run/sweep-store';
import { createSlurmClient, type SlurmClient } from '../../engine/slurm/client';
import { isFinished } from '../../engine/slurm/state';
import { BbioError } from '../../engine/util/errors';
import type { Experiment } from '../../schemas/generated/experiment';
import { slurmTaskLabel } from '../../schemas/run-layout';
import { displayRunStatus } from '../../schemas/run-writer';
import { STAGE_ORDER } from '../../schemas/generated/vocabulary';
import { isExperimentUri, uriToPath } from '../paths';
import * as P from '../protocol';
import { experimentDoc, guarded, type HandlerDeps } from './deps';

const INVALID_PARAMS = -32602;
const INVALID_REQUEST = -32600;

/** The experiment's resolved config: from the open document when there is one, else from disk. */
async function configOf(deps: HandlerDeps, uri: string, file: string): Promise<Experiment | undefined> {
  const doc = experimentDoc(deps, uri);
  if (doc) return (await deps.ctx.analyzer.analyze(doc)).config;
  return (await loadExperiment(file, { skipFileChecks: true })).config;
}

function runsDirOf(file: string, config: Experiment | undefined): string {
  return path.resolve(path.dirname(file), config?.output.runs_dir ?? 'runs');
}

/** The path of the experiment at `uri` as saved; an error when it cannot be read or the open document differs. */
async function savedExperiment(deps: HandlerDeps, uri: string, saveHint: string): Promise<string> {
  const file = uriToPath(uri);
  let disk: string;
  try {
    disk = await readFile(file, 'utf8');
  } catch (e) {
    throw new ResponseError(INVALID_REQUEST, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; save the experiment first`);
  }
  const doc = experimentDoc(deps, uri);
  if (doc && doc.getText() !== disk) throw new ResponseError(INVALID_REQUEST, `${path.basename(file)} has unsaved changes: ${saveHint}`);
  return file;
}

export async function startRun(deps: HandlerDeps, params: P.StartRunParams, token?: CancellationToken): Promise<P.StartRunResult> {
  if (!deps.state.trusted) throw new ResponseError(INVALID_REQUEST, 'this workspace is not trusted: runs are disabled (a run executes code such as custom reward modules)');
  if (!params || typeof params.uri !== 'string' || !isExperimentUri(params.uri) || !params.uri.startsWith('file:')) throw new ResponseError(INVALID_PARAMS, 'startRun needs the file: URI of a saved *.bbio.yaml experiment');
  const bad = (params.stages ?? []).filter((s) => !STAGE_ORDER.includes(s));
  if (!Array.isArray(params.stages ?? []) || bad.length) throw new ResponseError(INVALID_PARAMS, `unknown stage(s): ${bad.join(', ')}; stages are ${STAGE_ORDER.join(', ')}`);
  if (params.stepsScale !== undefined && !(typeof params.stepsScale === 'number' && params.stepsScale > 0 && Number.isFinite(params.stepsScale))) throw new ResponseError(INVALID_PARAMS, 'stepsScale must be a positive number');
  const file = await savedExperiment(deps, params.uri, 'save it before running');
  const config = await configOf(deps, params.uri, file);
  const runsDir = runsDirOf(file, config);
  let resume = params.resume;
  if (resume === 'latest') {
    const latest = await deps.ctx.runs.latest(runsDir, file, config?.name);
    if (!latest) throw new ResponseError(INVALID_REQUEST, `no earlier run of ${path.basename(file)} in ${runsDir} to resume`);
    resume = latest.runDir;
  }
  if (token?.isCancellationRequested) throw new ResponseError(-32800, 'request cancelled');
  return deps.jobs.enqueue({ uri: params.uri, file, runsDir, paths: deps.ctx.pathPolicy(file), ...(params.stages ? { stages: params.stages } : {}), ...(resume ? { resume } : {}), ...(params.stepsScale !== undefined ? { stepsScale: params.stepsScale } : {}) });
}

/**
 * The Slurm batch script of a saved experiment, from the engine's own `slurm script` command (in process: it
 * reads files and writes nothing), with the CLI the runs use as the tasks' command. Read-only, so it needs no trust.
 */
export async function slurmScript(deps: HandlerDeps, params: P.SlurmScriptParams): Promise<P.SlurmScriptResult> {
  if (!params || typeof params.uri !== 'string' || !isExperimentUri(params.uri) || !params.uri.startsWith('file:')) throw new ResponseError(INVALID_PARAMS, 'slurmScript needs the file: URI of a saved *.bbio.yaml experiment');
  const file = await savedExperiment(deps, params.uri, 'save it first (the script is for the saved file)');
  const policy = deps.ctx.pathPolicy(file);
  const out: string[] = [];
  const notes: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => notes.push(l), isTTY: false, cwd: path.dirname(file) };
  let code: number;
  try {
    code = await runSlurmScriptCommand(file, { ...(policy.workspace[0] ? { workspace: policy.workspace[0] } : {}), allowPath: [...policy.allowed], stepsScale: 1, cliEntry: deps.jobs.cliPath, execArgv: [] }, io);
  } catch (e) {
    if (e instanceof BbioError) throw new ResponseError(INVALID_REQUEST, e.format());
    throw e;
  }
  if (code !== 0) throw new ResponseError(INVALID_REQUEST, `no Slurm script for ${path.basename(file)}: ${notes.join('\n') || `exit code ${code}`}`);
  return { script: `${out.join('\n')}\n`, notes };
}

/**
 * scancel of the Slurm task that runs the variant whose run folder is `params.runDir`: the sweep folder two
 * levels up names the task in sweep.json. Refused in an untrusted workspace, for a run that is no Slurm
 * variant, and for a task Slurm already finished; Slurm's own refusal is passed through.
 */
export async function cancelSlurmTask(deps: HandlerDeps, params: P.CancelSlurmTaskParams, client: SlurmClient = createSlurmClient()): Promise<P.CancelSlurmTaskResult> {
  if (!deps.state.trusted) throw new ResponseError(INVALID_REQUEST, 'this workspace is not trusted: cancelling Slurm jobs is disabled');
  if (!params || typeof params.runDir !== 'string' || !path.isAbsolute(params.runDir)) throw new ResponseError(INVALID_PARAMS, 'cancelSlurmTask needs the absolute path of a sweep variant\'s run folder');
  const runDir = path.resolve(params.runDir);
  const sweepDir = path.dirname(path.dirname(runDir));
  const notSlurm = `${path.basename(runDir)} is not a variant of a sweep submitted to Slurm`;
  let state;
  try {
    state = await readSweepState(sweepDir);
  } catch (e) {
    if (e instanceof BbioError) throw new ResponseError(INVALID_REQUEST, `${notSlurm} (${e.message})`);
    throw e;
  }
  const variant = state.variants.find((v) => v.runDir !== undefined && path.resolve(sweepDir, v.runDir) === runDir);
  if (!variant?.slurm) throw new ResponseError(INVALID_REQUEST, `${notSlurm}; stop it where it runs`);
  const task = slurmTaskLabel(variant.slurm);
  if (isFinished(variant.slurm.state)) throw new ResponseError(INVALID_REQUEST, `nothing to cancel: ${task} has ended`);
  const slurmId = variant.slurm.taskId !== undefined ? `${variant.slurm.jobId}_${variant.slurm.taskId}` : variant.slurm.jobId;
  try {
    await client.cancel([slurmId]);
  } catch (e) {
    if (e instanceof BbioError) throw new ResponseError(INVALID_REQUEST, e.format());
    throw e;
  }
  deps.connection.console.info(`scancel ${slurmId} (${variant.name}, ${task})`);
  return { slurmId, task };
}

export function registerRuns(deps: HandlerDeps): void {
  const { connection } = deps;

  connection.onRequest(P.startRun, (params, token) => guarded(deps, 'startRun', () => startRun(deps, params, token)));

  connection.onRequest(P.slurmScript, (params) => guarded(deps, 'slurmScript', () => slurmScript(deps, params)));

  connection.onRequest(P.cancelSlurmTask, (params) => guarded(deps, 'cancelSlurmTask', () => cancelSlurmTask(deps, params)));

  connection.onRequest(P.cancelRun, (params) =>
    guarded(deps, 'cancelRun', async () => {
      if (!params || typeof params.jobId !== 'string') throw new ResponseError(INVALID_PARAMS, 'cancelRun needs a jobId');
      return { cancelled: deps.jobs.cancel(params.jobId) };
    }),
  );

  connection.onRequest(P.listJobs, () => guarded(deps, 'listJobs', async () => deps.jobs.list()));

  connection.onRequest(P.listRuns, (params) =>
    guarded(deps, 'listRuns', async () => {
      if (!params || typeof params.uri !== 'string') throw new ResponseError(INVALID_PARAMS, 'listRuns needs the experiment uri');
      const file = uriToPath(params.uri);
      const runsDir = runsDirOf(file, await configOf(deps, params.uri, file));
      const runs = await deps.ctx.runs.list(runsDir);
      return {
        runsDir,
        runs: runs.map((r): P.RunSummary => ({
          runId: r.runId,
          runDir: r.runDir,
          ...(r.problem ? { problem: r.problem } : {}),
          ...(r.state ? { status: displayRunStatus(r.state), name: r.state.name, experimentFile: r.state.experimentFile, createdAt: r.state.createdAt, updatedAt: r.state.updatedAt, stages: r.state.stages } : {}),
        })),
      };
    }),
  );

  connection.onNotification(P.setTrust, (params) => {
    if (typeof params?.trusted === 'boolean') deps.state.trusted = params.trusted;
    else connection.console.warn(`balancedbio/setTrust ignored: expected { trusted: boolean }, got ${JSON.stringify(params)}`);
  });

  connection.onExecuteCommand((params, token) =>
    guarded(deps, `command ${params.command}`, async () => {
      const arg = (params.arguments ?? [])[0] as unknown;
      switch (params.command) {
        case P.ServerCommands.startRun:
          return startRun(deps, arg as P.StartRunParams, token);
        case P.ServerCommands.cancelRun:
          return { cancelled: deps.jobs.cancel(String((arg as P.CancelRunParams | undefined)?.jobId)) };
        default:
          throw new ResponseError(INVALID_PARAMS, `unknown command ${params.command}`);
      }
    }),
  );
}
