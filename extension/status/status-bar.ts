/**
 * One status bar item for the run this window started last: stage, step/total and ETA while it runs,
 * the outcome when it ends. Clicking it opens the run's dashboard.
 */
import * as vscode from 'vscode';
import type { JobTracker } from '../runs/job-tracker';
import { formatDuration, formatStatusText, type ProgressSnapshot } from './progress';

export const OPEN_DASHBOARD_COMMAND = 'balancedbio.openDashboard';

export class RunStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(tracker: JobTracker) {
    this.item = vscode.window.createStatusBarItem('balancedbio.run', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'BalancedBio Run';
    this.item.command = OPEN_DASHBOARD_COMMAND;
    this.subscriptions.push(
      tracker.onProgress(({ jobId, progress }) => {
        if (tracker.focused?.info.jobId === jobId) this.render(progress, tracker.focused.runId);
      }),
      tracker.onJob((job) => {
        if (tracker.focused === job) this.render(job.progress.current, job.runId);
      }),
    );
  }

  private render(p: Readonly<ProgressSnapshot>, runId: string | undefined): void {
    this.item.text = formatStatusText(p);
    const lines = [`BalancedBio run ${runId ?? '(starting)'}`];
    if (p.stage) lines.push(`stage: ${p.stage}${p.step !== undefined ? `, step ${p.step}${p.total !== undefined ? ` of ${p.total}` : ''}` : ''}`);
    if (p.etaMs !== undefined) lines.push(`about ${formatDuration(p.etaMs)} left in this stage`);
    if (p.message) lines.push(p.message);
    lines.push('Click to open the dashboard');
    this.item.tooltip = lines.join('\n');
    this.item.backgroundColor = p.phase === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    this.item.dispose();
  }
}
