/**
 * The Runs view (own activity-bar container): runs → stages, report, events, experiment, artifacts, with
 * status icons; sweeps → the sweep report and each variant's run. Read from the run folders on disk (state.json), so CLI runs appear too; refreshed when a
 * state.json changes or a job of this window changes state.
 */
import * as vscode from 'vscode';
import { STAGE_ORDER } from '../../schemas/generated/vocabulary';
import type { JobTracker } from './job-tracker';
import { slurmTaskLabel } from '../../schemas/run-layout';
import { exists, listArtifacts, listRunFolders, listSweepFolders, RUN_FILES, SWEEP_FILES, sweepRuns, type RunEntry, type RunRef, type StageStatus, type SweepEntry } from './run-files';
import { describeError, type Log } from '../log';
import { readSettings } from '../settings';
import { displayRunStatus, INTERRUPTED_LABEL } from '../../schemas/run-writer';

export type RunsNode =
  | { kind: 'run'; entry: RunEntry }
  | { kind: 'sweep'; entry: SweepEntry }
  | { kind: 'stage'; run: RunRef; stage: string; status: StageStatus; summary?: Record<string, number>; message?: string }
  | { kind: 'file'; run: RunRef; label: string; uri: vscode.Uri; role: 'report' | 'events' | 'experiment' | 'artifact' | 'folder' }
  | { kind: 'message'; text: string };

/** A run's or stage's status as shown (`displayRunStatus`): any string, since a newer engine may write statuses this extension does not know. */
function statusIcon(status: StageStatus | typeof INTERRUPTED_LABEL | 'problem' | (string & {}) | undefined): vscode.ThemeIcon {
  switch (status) {
    case 'running':
      return new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue'));
    case 'completed':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'failed':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 'cancelled':
      return new vscode.ThemeIcon('circle-slash');
    case INTERRUPTED_LABEL:
      return new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('problemsWarningIcon.foreground'));
    case 'skipped':
      return new vscode.ThemeIcon('debug-step-over', new vscode.ThemeColor('disabledForeground'));
    case 'pending':
      return new vscode.ThemeIcon('circle-large-outline');
    case 'problem':
    case undefined:
    default: // a status written by a newer engine than this extension knows
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
  }
}

function summaryText(summary: Record<string, number> | undefined): string {
  if (!summary) return '';
  return Object.entries(summary)
    .slice(0, 3)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toPrecision(3)}`)
    .join(' · ');
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly extraDirs = new Set<string>();
  private watchers: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The runs currently listed, for commands that pick a run. */
  private lastRuns: RunEntry[] = [];

  constructor(
    private readonly log: Log,
    tracker: JobTracker,
  ) {
    this.disposables.push(
      tracker.onJob((job) => {
        if (job.info.runDir) this.addRunsDir(vscode.Uri.joinPath(vscode.Uri.file(job.info.runDir), '..'));
        this.refreshSoon();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('balancedbio.runs.directory')) this.rewatch();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rewatch()),
    );
    this.rewatch();
  }

  /** The folders listed: `balancedbio.runs.directory` in each workspace folder, plus run folders' parents seen in jobs. */
  runsDirs(): vscode.Uri[] {
    const dirs = new Map<string, vscode.Uri>();
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      const d = readSettings(f).runsDirectory;
      const uri = d.startsWith('/') ? vscode.Uri.file(d) : vscode.Uri.joinPath(f.uri, d);
      dirs.set(uri.toString(), uri);
    }
    for (const d of this.extraDirs) dirs.set(d, vscode.Uri.parse(d));
    return [...dirs.values()];
  }

  addRunsDir(dir: vscode.Uri): void {
    const key = dir.toString();
    if (this.extraDirs.has(key) || this.runsDirs().some((d) => d.toString() === key)) return;
    this.extraDirs.add(key);
    this.rewatch();
  }

  private rewatch(): void {
    for (const w of this.watchers) w.dispose();
    this.watchers = [];
    for (const dir of this.runsDirs()) {
      // runs, sweeps, and the runs inside a sweep (sweep/variant/run/state.json)
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(dir, `{*/{${RUN_FILES.state},${RUN_FILES.report},${SWEEP_FILES.sweep},${SWEEP_FILES.report}},*/*/*/${RUN_FILES.state}}`));
      this.watchers.push(w, w.onDidChange(() => this.refreshSoon()), w.onDidCreate(() => this.refreshSoon()), w.onDidDelete(() => this.refreshSoon()));
    }
    this.refreshSoon();
  }

  refreshSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.changed.fire(undefined);
    }, 300);
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  get runs(): readonly RunEntry[] {
    return this.lastRuns;
  }

  /** Every run on disk (listing afresh), newest first. */
  async listAll(): Promise<RunEntry[]> {
    const lists = await Promise.all(this.runsDirs().map((d) => listRunFolders(d)));
    this.lastRuns = lists.flat().sort((a, b) => b.runId.localeCompare(a.runId));
    return this.lastRuns;
  }

  /** Every sweep on disk, newest first. */
  async listSweeps(): Promise<SweepEntry[]> {
    const lists = await Promise.all(this.runsDirs().map((d) => listSweepFolders(d)));
    return lists.flat().sort((a, b) => b.sweepId.localeCompare(a.sweepId));
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'sweep': {
        const { entry } = node;
        const item = new vscode.TreeItem(entry.sweepId, vscode.TreeItemCollapsibleState.Collapsed);
        const status = entry.state?.status;
        const variants = entry.state?.variants ?? [];
        const done = variants.filter((v) => v.status === 'completed').length;
        item.id = `sweep:${entry.dir.toString()}`;
        item.iconPath = entry.problem ? statusIcon('problem') : status === 'running' ? statusIcon('running') : new vscode.ThemeIcon('layers', status === 'completed' ? new vscode.ThemeColor('testing.iconPassed') : status === 'failed' ? new vscode.ThemeColor('testing.iconFailed') : undefined);
        item.description = entry.problem ? 'unreadable' : `sweep · ${status ?? '?'} · ${done}/${variants.length} variants`;
        item.tooltip = new vscode.MarkdownString(entry.problem ? `**${entry.sweepId}**\n\n${entry.problem}` : `**${entry.sweepId}** — sweep, ${status}\n\n${entry.state?.experimentFile ?? ''}\n\n${variants.map((v) => `- ${v.name}: ${v.status}${v.slurm ? ` · ${slurmTaskLabel(v.slurm)}` : ''}`).join('\n')}`);
        item.contextValue = 'balancedbio.sweep';
        item.resourceUri = entry.dir;
        return item;
      }
      case 'run': {
        const { entry } = node;
        const item = new vscode.TreeItem(entry.variant ?? entry.runId, vscode.TreeItemCollapsibleState.Collapsed);
        // a run whose state says running but whose engine process is gone shows as interrupted (and can be resumed)
        const status = entry.state ? displayRunStatus(entry.state) : undefined;
        item.id = `run:${entry.dir.toString()}`;
        item.iconPath = statusIcon(entry.problem ? 'problem' : status);
        // a Slurm variant: the job's own state and node (its run.json only knows what the compute node wrote)
        const slurm = entry.slurm ? slurmTaskLabel(entry.slurm) : undefined;
        item.description = entry.problem ? 'unreadable' : entry.variant ? [status ?? '', slurm, entry.runId].filter(Boolean).join(' · ') : status;
        item.tooltip = new vscode.MarkdownString(
          entry.problem
            ? `**${entry.runId}**\n\n${entry.problem}`
            : `**${entry.runId}** — ${status}${slurm ? `\n\n${slurm}` : ''}\n\n${entry.state?.experimentFile ?? ''}\n\ncreated ${entry.state?.createdAt ?? '?'}${entry.state?.error ? `\n\n${entry.state.error.code}: ${entry.state.error.message}` : ''}`,
        );
        item.contextValue = status === 'running' ? 'balancedbio.run.running' : 'balancedbio.run';
        item.resourceUri = entry.dir;
        return item;
      }
      case 'stage': {
        const item = new vscode.TreeItem(node.stage, vscode.TreeItemCollapsibleState.None);
        item.id = `stage:${node.run.dir.toString()}:${node.stage}`;
        item.iconPath = statusIcon(node.status);
        item.description = [node.status, summaryText(node.summary)].filter(Boolean).join(' · ');
        item.tooltip = node.message ?? `${node.stage}: ${node.status}`;
        item.contextValue = 'balancedbio.stage';
        return item;
      }
      case 'file': {
        const item = new vscode.TreeItem(node.label, node.role === 'folder' ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        item.id = `file:${node.uri.toString()}`;
        item.resourceUri = node.uri;
        item.iconPath = node.role === 'report' ? new vscode.ThemeIcon('graph') : node.role === 'events' ? new vscode.ThemeIcon('list-flat') : node.role === 'folder' ? vscode.ThemeIcon.Folder : vscode.ThemeIcon.File;
        item.contextValue = `balancedbio.file.${node.role}`;
        if (node.role !== 'folder') item.command = { command: 'vscode.open', title: 'Open', arguments: [node.uri] };
        return item;
      }
      case 'message':
        return new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
    }
  }

  async getChildren(node?: RunsNode): Promise<RunsNode[]> {
    try {
      if (!node) {
        const [runs, sweeps] = await Promise.all([this.listAll(), this.listSweeps()]);
        const nodes: { id: string; node: RunsNode }[] = [...runs.map((entry) => ({ id: entry.runId, node: { kind: 'run', entry } as RunsNode })), ...sweeps.map((entry) => ({ id: entry.sweepId, node: { kind: 'sweep', entry } as RunsNode }))];
        // folder names start with their creation time: newest first across runs and sweeps
        return nodes.sort((a, b) => b.id.localeCompare(a.id)).map((n) => n.node);
      }
      if (node.kind === 'run') return await this.runChildren(node.entry);
      if (node.kind === 'sweep') return await this.sweepChildren(node.entry);
      if (node.kind === 'file' && node.role === 'folder') {
        const entries = await vscode.workspace.fs.readDirectory(node.uri);
        return entries
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, t]) => ({ kind: 'file', run: node.run, label: name, uri: vscode.Uri.joinPath(node.uri, name), role: t & vscode.FileType.Directory ? 'folder' : 'artifact' }));
      }
      return [];
    } catch (e) {
      this.log.error('runs view: listing failed', e);
      return [{ kind: 'message', text: `Could not list runs: ${describeError(e)}` }];
    }
  }

  private async sweepChildren(entry: SweepEntry): Promise<RunsNode[]> {
    const out: RunsNode[] = [];
    const run: RunRef = { runId: entry.sweepId, dir: entry.dir };
    const report = vscode.Uri.joinPath(entry.dir, SWEEP_FILES.reportMd);
    if (await exists(report)) out.push({ kind: 'file', run, label: 'Sweep report', uri: report, role: 'report' });
    for (const r of await sweepRuns(entry)) out.push({ kind: 'run', entry: r });
    const started = new Set((entry.state?.variants ?? []).filter((v) => v.runDir).map((v) => v.name));
    for (const v of entry.state?.variants ?? []) if (!started.has(v.name)) out.push({ kind: 'message', text: `${v.name}: ${v.status}${v.slurm ? ` · ${slurmTaskLabel(v.slurm)}` : ''}` });
    return out;
  }

  private async runChildren(entry: RunEntry): Promise<RunsNode[]> {
    const run: RunRef = { runId: entry.runId, dir: entry.dir };
    const out: RunsNode[] = [];
    const stages = entry.state?.stages ?? {};
    const names = [...STAGE_ORDER.filter((s) => s in stages), ...Object.keys(stages).filter((s) => !(STAGE_ORDER as readonly string[]).includes(s))];
    for (const stage of names) {
      const s = stages[stage];
      if (!s) continue;
      out.push({ kind: 'stage', run, stage, status: s.status, ...(s.summary ? { summary: s.summary } : {}), ...(s.message ? { message: s.message } : {}) });
    }
    const reportMd = vscode.Uri.joinPath(entry.dir, RUN_FILES.reportMd);
    const reportJson = vscode.Uri.joinPath(entry.dir, RUN_FILES.report);
    if (await exists(reportMd)) out.push({ kind: 'file', run, label: 'Report', uri: reportMd, role: 'report' });
    else if (await exists(reportJson)) out.push({ kind: 'file', run, label: 'Report', uri: reportJson, role: 'report' });
    out.push({ kind: 'file', run, label: 'Events', uri: vscode.Uri.joinPath(entry.dir, RUN_FILES.events), role: 'events' });
    out.push({ kind: 'file', run, label: 'Experiment (resolved)', uri: vscode.Uri.joinPath(entry.dir, RUN_FILES.experiment), role: 'experiment' });
    const artifacts = await listArtifacts(entry.dir);
    if (artifacts.length) out.push({ kind: 'file', run, label: 'Artifacts', uri: vscode.Uri.joinPath(entry.dir, 'artifacts'), role: 'folder' });
    return out;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.dispose();
    for (const d of this.disposables) d.dispose();
    this.changed.dispose();
  }
}

/** The run a tree node belongs to, for commands invoked from the view's context menu. */
export function runOfNode(node: RunsNode | undefined): RunRef | undefined {
  if (!node) return undefined;
  switch (node.kind) {
    case 'run':
      return { runId: node.entry.runId, dir: node.entry.dir };
    case 'stage':
    case 'file':
      return node.run;
    case 'sweep':
    case 'message':
      return undefined;
  }
}

/** The sweep a tree node is, for the sweep commands. */
export function sweepOfNode(node: RunsNode | undefined): SweepEntry | undefined {
  return node?.kind === 'sweep' ? node.entry : undefined;
}
