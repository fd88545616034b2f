/**
 * Every `balancedbio.*` command. Commands that need the language server get it through `requireServer`,
 * which explains what is wrong (and offers the logs) when the server is not running. Commands that start
 * a process refuse in an untrusted workspace, with the reason.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { STAGE_ORDER } from '../../schemas/generated/vocabulary';
import type { StageName } from '../../server/protocol';
import type { ServerApi } from '../client';
import { ComparePanel } from '../compare/compare-panel';
import { describeError, type Log } from '../log';
import type { JobTracker } from '../runs/job-tracker';
import { exists, readRunState, RUN_FILES, slurmTaskOfRun, sweepRuns, type RunRef, type SweepEntry } from '../runs/run-files';
import { runOfNode, sweepOfNode, type RunsNode, type RunsTreeProvider } from '../runs/runs-tree';
import { readSettings } from '../settings';
import { DashboardPanel, type DashboardHost } from '../views/dashboard-panel';
import type { InspectorTab } from '../views/messages';
import { slugify, TEMPLATES } from './templates';
import { displayRunStatus } from '../../schemas/run-writer';
import { slurmTaskLabel } from '../../schemas/run-layout';

export interface CommandContext {
  extensionContext: vscode.ExtensionContext;
  log: Log;
  tracker: JobTracker;
  tree: RunsTreeProvider;
  /** The server API, or why there is none. */
  server(): ServerApi | { error: string };
  dashboardHost: DashboardHost;
  openInspector(run: RunRef, tab: InspectorTab): void;
}

export const UNTRUSTED_RUN_MESSAGE =
  'BalancedBio: runs are disabled in Restricted Mode. A run executes code from this workspace (custom reward modules, model files), so it needs a trusted workspace. Editing, validation and completion keep working.';

/** Refuses with the reason when the workspace is not trusted; true when a run may start. */
export async function ensureTrusted(log: Log): Promise<boolean> {
  if (vscode.workspace.isTrusted) return true;
  log.warn('run refused: the workspace is not trusted (Restricted Mode)');
  const choice = await vscode.window.showWarningMessage(UNTRUSTED_RUN_MESSAGE, 'Manage Workspace Trust');
  if (choice === 'Manage Workspace Trust') await vscode.commands.executeCommand('workbench.trust.manage');
  return false;
}

function isExperiment(uri: vscode.Uri): boolean {
  return /\.bbio\.ya?ml$/.test(uri.path);
}

/** The experiment a command acts on: its argument, the active editor, or a pick among the workspace's files. */
async function resolveExperiment(arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri && isExperiment(arg)) return arg;
  if (typeof arg === 'string' && isExperiment(vscode.Uri.parse(arg))) return vscode.Uri.parse(arg);
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active && isExperiment(active)) return active;
  const files = await vscode.workspace.findFiles('**/*.bbio.{yaml,yml}', '**/{node_modules,runs}/**', 200);
  if (files.length === 0) {
    void vscode.window.showInformationMessage('BalancedBio: no *.bbio.yaml experiment in this workspace. Create one with "BalancedBio: New Experiment".');
    return undefined;
  }
  if (files.length === 1) return files[0];
  const pick = await vscode.window.showQuickPick(
    files.map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(uri), uri })),
    { title: 'Which experiment?' },
  );
  return pick?.uri;
}

async function pickRun(ctx: CommandContext, title: string, filter?: (r: { status?: string }) => boolean): Promise<RunRef | undefined> {
  const runs = (await ctx.tree.listAll()).filter((r) => !filter || filter({ ...(r.state ? { status: displayRunStatus(r.state) } : {}) }));
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('BalancedBio: no matching runs found. Start one with "BalancedBio: Run Experiment".');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    runs.map((r) => ({ label: r.runId, description: (r.state ? displayRunStatus(r.state) : undefined) ?? r.problem ?? '', run: { runId: r.runId, dir: r.dir } })),
    { title },
  );
  return pick?.run;
}

async function pickRuns(ctx: CommandContext, title: string): Promise<RunRef[] | undefined> {
  const runs = await ctx.tree.listAll();
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('BalancedBio: no runs to compare yet.');
    return undefined;
  }
  const picks = await vscode.window.showQuickPick(
    runs.map((r) => ({ label: r.runId, description: r.state ? displayRunStatus(r.state) : '', run: { runId: r.runId, dir: r.dir } })),
    { title, canPickMany: true },
  );
  return picks?.map((p) => p.run);
}

async function startRun(ctx: CommandContext, uri: vscode.Uri, extra: { stages?: StageName[]; resume?: string }): Promise<void> {
  if (!(await ensureTrusted(ctx.log))) return;
  const server = ctx.server();
  if ('error' in server) {
    const choice = await vscode.window.showErrorMessage(`BalancedBio: cannot run: ${server.error}`, 'Show Logs');
    if (choice === 'Show Logs') ctx.log.show();
    return;
  }
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (doc?.isDirty && !(await doc.save())) {
    void vscode.window.showWarningMessage('BalancedBio: save the experiment before running it.');
    return;
  }
  const settings = readSettings(uri);
  const params = { uri: uri.toString(), ...extra, ...(settings.stepsScale !== 1 ? { stepsScale: settings.stepsScale } : {}) };
  ctx.log.info(`starting a run of ${uri.fsPath}${extra.stages ? ` (stages ${extra.stages.join(', ')})` : ''}${extra.resume ? ` resuming ${extra.resume}` : ''}`);
  let result;
  try {
    result = await server.startRun(params);
  } catch (e) {
    ctx.log.error('the server refused the run', e);
    const choice = await vscode.window.showErrorMessage(`BalancedBio: the run did not start: ${describeError(e)}`, 'Show Logs');
    if (choice === 'Show Logs') ctx.log.show();
    return;
  }
  ctx.tracker.add(result.jobId, uri.fsPath);
  await vscode.commands.executeCommand('setContext', 'balancedbio.running', true);
  ctx.log.info(`job ${result.jobId} queued${result.position ? ` (${result.position} ahead)` : ''}`);
}

async function newExperiment(ctx: CommandContext): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage('BalancedBio: open a folder first; experiments live in its experiments/ folder.');
    return;
  }
  const template = await vscode.window.showQuickPick(
    TEMPLATES.map((t) => ({ label: t.label, detail: t.detail, template: t })),
    { title: 'New BalancedBio experiment: choose a method' },
  );
  if (!template) return;
  const raw = await vscode.window.showInputBox({
    title: 'Experiment name',
    value: template.template.id,
    validateInput: (v) => (/^[a-z0-9][a-z0-9._-]{0,63}$/.test(v) ? undefined : `lower case letters, digits, ".", "_" and "-"; e.g. ${slugify(v)}`),
  });
  if (!raw) return;
  const target = vscode.Uri.joinPath(folder.uri, 'experiments', `${raw}.bbio.yaml`);
  if (await exists(target)) {
    void vscode.window.showErrorMessage(`BalancedBio: ${vscode.workspace.asRelativePath(target)} already exists.`);
    return;
  }
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(template.template.render(raw)));
  await vscode.window.showTextDocument(target);
  ctx.log.info(`created ${target.fsPath} from template ${template.template.id}`);
}

/** "Show Slurm Script": the batch script `run --executor slurm` would submit for the saved experiment, in an editor. */
async function showSlurmScript(ctx: CommandContext, arg: unknown): Promise<void> {
  const uri = await resolveExperiment(arg);
  if (!uri) return;
  const server = ctx.server();
  if ('error' in server) {
    void vscode.window.showErrorMessage(`BalancedBio: cannot build the Slurm script: ${server.error}`);
    return;
  }
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open?.isDirty) await open.save(); // the script is built from the file on disk
  let result: { script: string; notes: string[] };
  try {
    result = await server.slurmScript(uri.toString());
  } catch (e) {
    void vscode.window.showErrorMessage(`BalancedBio: no Slurm script for ${path.basename(uri.fsPath)}: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const doc = await vscode.workspace.openTextDocument({ content: result.script, language: 'shellscript' });
  await vscode.window.showTextDocument(doc, { preview: false });
  if (result.notes.length) void vscode.window.showInformationMessage(`BalancedBio: ${result.notes.join(' ')}`);
}

async function validateExperiment(ctx: CommandContext, arg: unknown): Promise<void> {
  const uri = await resolveExperiment(arg);
  if (!uri) return;
  const server = ctx.server();
  if ('error' in server) {
    void vscode.window.showErrorMessage(`BalancedBio: cannot validate: ${server.error}`);
    return;
  }
  await vscode.window.showTextDocument(uri, { preserveFocus: true, preview: false });
  // the server validates open documents; give it one diagnostics round (or 3 s) before reporting
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      sub.dispose();
      resolve();
    }, 3000);
    const sub = vscode.languages.onDidChangeDiagnostics((e) => {
      if (!e.uris.some((u) => u.toString() === uri.toString())) return;
      clearTimeout(timer);
      sub.dispose();
      resolve();
    });
  });
  const diags = vscode.languages.getDiagnostics(uri);
  const errors = diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length;
  const warnings = diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Warning).length;
  const name = path.basename(uri.fsPath);
  if (errors + warnings === 0) {
    void vscode.window.showInformationMessage(`BalancedBio: ${name} is valid.`);
  } else {
    void vscode.window.showWarningMessage(`BalancedBio: ${name}: ${errors} error(s), ${warnings} warning(s).`);
    await vscode.commands.executeCommand('workbench.actions.view.problems');
  }
}

async function reloadOntology(ctx: CommandContext): Promise<void> {
  const server = ctx.server();
  if ('error' in server) {
    void vscode.window.showErrorMessage(`BalancedBio: cannot reload the ontology: ${server.error}`);
    return;
  }
  const active = vscode.window.activeTextEditor?.document.uri;
  const status = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'BalancedBio: reloading the ontology…' }, () =>
    server.reloadOntology(active && isExperiment(active) ? active.toString() : undefined),
  );
  if (status.state === 'failed') {
    ctx.log.error(`ontology reload failed: ${status.message ?? 'unknown reason'}`);
    void vscode.window.showErrorMessage(`BalancedBio: the ontology did not load: ${status.message ?? 'see the logs'}`);
    return;
  }
  ctx.log.info(`ontology: ${status.termCount ?? '?'} terms from ${status.sources.join(', ')} in ${status.loadMs ?? '?'} ms`);
  void vscode.window.showInformationMessage(`BalancedBio: ontology reloaded: ${status.termCount ?? '?'} terms from ${status.sources.length} file(s).`);
}

async function cancelRun(ctx: CommandContext, node: RunsNode | undefined): Promise<void> {
  const server = ctx.server();
  if ('error' in server) {
    void vscode.window.showErrorMessage(`BalancedBio: cannot cancel: ${server.error}`);
    return;
  }
  const run = runOfNode(node);
  let jobId: string | undefined;
  if (run) {
    await cancelRunRef(ctx, run);
    return;
  } else {
    const active = ctx.tracker.active;
    if (active.length === 0) {
      void vscode.window.showInformationMessage('BalancedBio: no run is in progress.');
      return;
    }
    jobId =
      active.length === 1
        ? active[0]!.info.jobId
        : (await vscode.window.showQuickPick(active.map((j) => ({ label: j.runId ?? j.info.jobId, description: j.info.status, jobId: j.info.jobId })), { title: 'Cancel which run?' }))?.jobId;
  }
  if (!jobId) return;
  const r = await server.cancelRun(jobId);
  ctx.log.info(`cancel ${jobId}: ${r.cancelled ? 'requested' : 'nothing to cancel'}`);
  if (!r.cancelled) void vscode.window.showInformationMessage('BalancedBio: that run already finished.');
}

/**
 * Cancels one run: through the language server when this window started it, with scancel when it is a variant
 * running on Slurm (after a confirmation naming the task), otherwise says where to stop it.
 */
export async function cancelRunRef(ctx: Pick<CommandContext, 'server' | 'tracker' | 'log'>, run: RunRef): Promise<void> {
  const server = ctx.server();
  if ('error' in server) {
    void vscode.window.showErrorMessage(`BalancedBio: cannot cancel: ${server.error}`);
    return;
  }
  const job = ctx.tracker.byRunId(run.runId);
  if (job) {
    const r = await server.cancelRun(job.info.jobId);
    ctx.log.info(`cancel ${job.info.jobId}: ${r.cancelled ? 'requested' : 'nothing to cancel'}`);
    if (!r.cancelled) void vscode.window.showInformationMessage('BalancedBio: that run already finished.');
    return;
  }
  const task = await slurmTaskOfRun(run);
  if (!task) {
    void vscode.window.showWarningMessage(`BalancedBio: ${run.runId} was not started from this window; stop it where it runs (Ctrl+C in its terminal).`);
    return;
  }
  const label = slurmTaskLabel(task.slurm);
  const pick = await vscode.window.showWarningMessage(`Cancel ${task.variant} (${label})? Slurm stops the task; resume it later with "run --resume" on the sweep.`, { modal: true }, 'Cancel Task');
  if (pick !== 'Cancel Task') return;
  try {
    const r = await server.cancelSlurmTask(run.dir.fsPath);
    ctx.log.info(`scancel ${r.slurmId}: ${task.variant} (${r.task})`);
    void vscode.window.showInformationMessage(`BalancedBio: scancel ${r.slurmId} sent for ${task.variant}.`);
  } catch (e) {
    void vscode.window.showErrorMessage(`BalancedBio: could not cancel ${task.variant}: ${describeError(e)}`);
  }
}

async function resumeRun(ctx: CommandContext, node: RunsNode | undefined): Promise<void> {
  const run = runOfNode(node) ?? (await pickRun(ctx, 'Resume which run?', (r) => r.status !== 'completed'));
  if (!run) return;
  const state = await readRunState(run.dir);
  if (!state.experimentFile) {
    void vscode.window.showErrorMessage(`BalancedBio: ${run.runId} does not record its experiment file.`);
    return;
  }
  await startRun(ctx, vscode.Uri.file(state.experimentFile), { resume: run.dir.fsPath });
}

/** The run a view command acts on: its argument (a tree node or a run), the run this window follows, or a pick. */
async function targetRun(ctx: CommandContext, node: RunsNode | RunRef | undefined, pickTitle: string): Promise<RunRef | undefined> {
  let run = node && 'dir' in node ? node : runOfNode(node as RunsNode | undefined);
  if (!run) {
    const job = ctx.tracker.focused;
    if (job?.runId && job.info.runDir) run = { runId: job.runId, dir: vscode.Uri.file(job.info.runDir) };
  }
  return run ?? (await pickRun(ctx, pickTitle));
}

async function openDashboard(ctx: CommandContext, node: RunsNode | RunRef | undefined): Promise<void> {
  const run = await targetRun(ctx, node, 'Open the dashboard of which run?');
  if (run) DashboardPanel.open(ctx.dashboardHost, run);
}

async function openInspector(ctx: CommandContext, node: RunsNode | RunRef | undefined, tab: unknown): Promise<void> {
  const run = await targetRun(ctx, node, 'Inspect which run?');
  if (run) ctx.openInspector(run, tab === 'dataset' || tab === 'health' ? tab : 'rollouts');
}

/** The comparison view on a sweep: its report first, then every variant's run side by side. */
async function compareSweep(ctx: CommandContext, node: RunsNode | undefined): Promise<void> {
  let sweep: SweepEntry | undefined = sweepOfNode(node);
  if (!sweep) {
    const sweeps = await ctx.tree.listSweeps();
    if (sweeps.length === 0) {
      void vscode.window.showInformationMessage('BalancedBio: no sweeps found. An experiment with a `variants:` block runs as a sweep.');
      return;
    }
    const pick = await vscode.window.showQuickPick(
      sweeps.map((s) => ({ label: s.sweepId, description: s.state ? `${s.state.status} · ${s.state.variants.length} variants` : (s.problem ?? ''), sweep: s })),
      { title: 'Open which sweep?' },
    );
    sweep = pick?.sweep;
  }
  if (!sweep) return;
  if (sweep.problem) {
    void vscode.window.showErrorMessage(`BalancedBio: ${sweep.sweepId}: ${sweep.problem}`);
    return;
  }
  const runs = (await sweepRuns(sweep)).map((r) => ({ runId: r.variant ? `${r.variant}` : r.runId, dir: r.dir }));
  await ComparePanel.open(ctx.extensionContext.extensionUri, ctx.log, runs, () => pickRuns(ctx, 'Add which runs?'), { sweepId: sweep.sweepId, dir: sweep.dir });
}

async function compareRuns(ctx: CommandContext, node: RunsNode | undefined, selected: RunsNode[] | undefined): Promise<void> {
  if (node?.kind === 'sweep' && (!selected || selected.length <= 1)) {
    await compareSweep(ctx, node);
    return;
  }
  let runs = (selected ?? (node ? [node] : [])).map(runOfNode).filter((r): r is RunRef => r !== undefined);
  if (runs.length < 2) {
    const picked = await pickRuns(ctx, 'Compare which runs? (two or more; the first is the baseline)');
    if (!picked) return;
    runs = picked;
  }
  if (runs.length < 2) {
    void vscode.window.showWarningMessage('BalancedBio: pick at least two runs to compare.');
    return;
  }
  await ComparePanel.open(ctx.extensionContext.extensionUri, ctx.log, runs, () => pickRuns(ctx, 'Add which runs?'));
}

async function deleteRun(ctx: CommandContext, node: RunsNode | undefined): Promise<void> {
  const run = runOfNode(node) ?? (await pickRun(ctx, 'Delete which run?'));
  if (!run) return;
  if (ctx.tracker.byRunId(run.runId)?.info.status === 'running') {
    void vscode.window.showWarningMessage(`BalancedBio: ${run.runId} is running; cancel it first.`);
    return;
  }
  const ok = await vscode.window.showWarningMessage(`Delete run ${run.runId} and everything in its folder? This cannot be undone.`, { modal: true }, 'Delete');
  if (ok !== 'Delete') return;
  await vscode.workspace.fs.delete(run.dir, { recursive: true, useTrash: false });
  ctx.log.info(`deleted ${run.dir.fsPath}`);
  ctx.tree.refresh();
}

async function openRunFile(node: RunsNode | undefined, file: 'report' | 'events'): Promise<void> {
  const run = runOfNode(node);
  if (!run) return;
  const candidates = file === 'report' ? [RUN_FILES.reportMd, RUN_FILES.report] : [RUN_FILES.events];
  for (const name of candidates) {
    const uri = vscode.Uri.joinPath(run.dir, name);
    if (await exists(uri)) {
      await vscode.window.showTextDocument(uri, { preview: true });
      return;
    }
  }
  void vscode.window.showInformationMessage(`BalancedBio: ${run.runId} has no ${file === 'report' ? 'report yet (it is written by the evaluate stage)' : 'event log'}.`);
}

async function runStage(ctx: CommandContext, arg: unknown, stageArg: unknown): Promise<void> {
  const uri = await resolveExperiment(arg);
  if (!uri) return;
  const stage =
    typeof stageArg === 'string' && (STAGE_ORDER as readonly string[]).includes(stageArg)
      ? (stageArg as StageName)
      : (await vscode.window.showQuickPick(STAGE_ORDER.map((s) => ({ label: s })), { title: 'Run which stage? (its inputs must exist from an earlier run, or be produced by earlier stages)' }))?.label;
  if (!stage) return;
  await startRun(ctx, uri, { stages: [stage] });
}

/** Wraps a command so every failure is logged and shown, never lost in an unhandled rejection. */
function guarded<A extends unknown[]>(ctx: CommandContext, id: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      ctx.log.error(`${id} failed`, e);
      const choice = await vscode.window.showErrorMessage(`BalancedBio: ${describeError(e)}`, 'Show Logs');
      if (choice === 'Show Logs') ctx.log.show();
    }
  };
}

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  const reg = <A extends unknown[]>(id: string, fn: (...args: A) => Promise<void>): vscode.Disposable =>
    vscode.commands.registerCommand(id, guarded(ctx, id, fn) as (...args: unknown[]) => Promise<void>);
  return [
    reg('balancedbio.newExperiment', () => newExperiment(ctx)),
    reg('balancedbio.runExperiment', async (arg?: unknown) => {
      const uri = await resolveExperiment(arg);
      if (uri) await startRun(ctx, uri, {});
    }),
    reg('balancedbio.runStage', (arg?: unknown, stage?: unknown) => runStage(ctx, arg, stage)),
    reg('balancedbio.cancelRun', (node?: RunsNode) => cancelRun(ctx, node)),
    reg('balancedbio.resumeRun', (node?: RunsNode) => resumeRun(ctx, node)),
    reg('balancedbio.openDashboard', (node?: RunsNode | RunRef) => openDashboard(ctx, node)),
    reg('balancedbio.openInspector', (node?: RunsNode | RunRef, tab?: unknown) => openInspector(ctx, node, tab)),
    reg('balancedbio.compareSweep', (node?: RunsNode) => compareSweep(ctx, node)),
    reg('balancedbio.compareRuns', (node?: RunsNode, selected?: RunsNode[]) => compareRuns(ctx, node, selected)),
    reg('balancedbio.validateExperiment', (arg?: unknown) => validateExperiment(ctx, arg)),
    reg('balancedbio.showSlurmScript', (arg?: unknown) => showSlurmScript(ctx, arg)),
    reg('balancedbio.reloadOntology', () => reloadOntology(ctx)),
    reg('balancedbio.showLogs', async () => ctx.log.show()),
    reg('balancedbio.refreshRuns', async () => ctx.tree.refresh()),
    reg('balancedbio.openReport', (node?: RunsNode) => openRunFile(node, 'report')),
    reg('balancedbio.openEvents', (node?: RunsNode) => openRunFile(node, 'events')),
    reg('balancedbio.revealRun', async (node?: RunsNode) => {
      const dir = runOfNode(node)?.dir ?? sweepOfNode(node)?.dir;
      if (dir) await vscode.commands.executeCommand('revealInExplorer', dir);
    }),
    reg('balancedbio.deleteRun', (node?: RunsNode) => deleteRun(ctx, node)),
    reg('balancedbio.measureDashboardFrameRate', async () => {
      const r = await DashboardPanel.measureFps(3000);
      if (!r) {
        void vscode.window.showInformationMessage('BalancedBio: open a run dashboard first.');
        return;
      }
      void vscode.window.showInformationMessage(`BalancedBio dashboard: ${r.fps.toFixed(1)} fps (p95 frame ${r.p95FrameMs.toFixed(1)} ms) at ${r.pointsPerSeries} points per series, ${r.series} series.`);
    }),
  ];
}
