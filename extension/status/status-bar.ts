/**
 * One status bar item for the run this window started last: stage, step/total and ETA while it runs,
 * the outcome when it ends, and in its tooltip the compute backend the run uses (read from the run's
 * manifest.json, which each stage updates when it opens its backend). Clicking it opens the dashboard.
 */
import * as vscode from 'vscode';
import type { JobTracker, TrackedJob } from '../runs/job-tracker';
import { readJson, RUN_FILES } from '../runs/run-files';
import type { Log } from '../log';
import { formatStatusText, type ProgressSnapshot } from './progress';
import { formatTooltip, manifestBackend, type ManifestBackend } from './tooltip';

export const OPEN_DASHBOARD_COMMAND = 'balancedbio.openDashboard';

/** The manifest is re-read at most this often while a run goes on (a stage records its backend when it starts). */
const MANIFEST_REREAD_MS = 10_000;

export class RunStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[] = [];
  /** The backend last read from the focused run's manifest, and when and for which stage it was read. */
  private backend: { runDir: string; value?: ManifestBackend; readAt: number; stage?: string; phase: string } | undefined;

  constructor(
    private readonly tracker: JobTracker,
    private readonly log: Log,
  ) {
    this.item = vscode.window.createStatusBarItem('balancedbio.run', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'BalancedBio Run';
    this.item.command = OPEN_DASHBOARD_COMMAND;
    this.subscriptions.push(
      tracker.onProgress(({ jobId, progress }) => {
        if (tracker.focused?.info.jobId === jobId) this.render(progress, tracker.focused);
      }),
      tracker.onJob((job) => {
        if (tracker.focused === job) this.render(job.progress.current, job);
      }),
    );
  }

  private render(p: Readonly<ProgressSnapshot>, job: TrackedJob): void {
    this.item.text = formatStatusText(p);
    const runDir = job.info.runDir;
    const known = runDir && this.backend?.runDir === runDir ? this.backend.value : undefined;
    this.item.tooltip = formatTooltip(p, job.runId, known);
    this.item.backgroundColor = p.phase === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.show();
    if (runDir && this.shouldRead(runDir, p)) {
      this.backend = { runDir, readAt: Date.now(), phase: p.phase, ...(p.stage ? { stage: p.stage } : {}), ...(known ? { value: known } : {}) };
      void this.readBackend(runDir).catch((e: unknown) => this.log.error(`could not read the backend from ${runDir}/${RUN_FILES.manifest}`, e));
    }
  }

  /** A new run, stage or phase (the run's end), or MANIFEST_REREAD_MS since the last read while it runs. */
  private shouldRead(runDir: string, p: Readonly<ProgressSnapshot>): boolean {
    const b = this.backend;
    if (!b || b.runDir !== runDir || b.stage !== p.stage || b.phase !== p.phase) return true;
    return p.phase === 'running' && Date.now() - b.readAt > MANIFEST_REREAD_MS;
  }

  private async readBackend(runDir: string): Promise<void> {
    const manifest = await readJson<unknown>(vscode.Uri.joinPath(vscode.Uri.file(runDir), RUN_FILES.manifest));
    const value = manifestBackend(manifest);
    if (!value || this.backend?.runDir !== runDir) return;
    this.backend = { ...this.backend, value };
    const job = this.tracker.focused;
    if (job?.info.runDir === runDir) this.item.tooltip = formatTooltip(job.progress.current, job.runId, value);
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    this.item.dispose();
  }
}
