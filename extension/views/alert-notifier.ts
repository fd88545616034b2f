/**
 * Turns the engine's alerts (reward rose while held-out task accuracy fell: a sign of reward hacking)
 * into one editor notification per run, step and title, whichever view saw the alert first: the job
 * tracker for runs this window started, a dashboard for runs started anywhere else. The notification
 * offers the rollout inspector, where the suspect completions and their reward components are.
 */
import * as vscode from 'vscode';
import type { RunRef } from '../runs/run-files';
import { formatRange } from './health-model';
import type { AlertRow, InspectorTab } from './messages';

export class AlertNotifier {
  private readonly seen = new Set<string>();

  constructor(private readonly openInspector: (run: RunRef, tab: InspectorTab) => void, private readonly openDashboard: (run: RunRef) => void) {}

  /** Shows the alert unless this run already showed it; resolves when the user has answered (or not). */
  async notify(run: RunRef, alert: AlertRow): Promise<void> {
    const key = `${run.dir.toString()}|${alert.step ?? ''}|${alert.title}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const numbers = alert.reward ? ` Reward ${formatRange(alert.reward)}, held-out accuracy ${formatRange(alert.accuracy)}.` : '';
    const choice = await vscode.window.showWarningMessage(`BalancedBio ${run.runId}: ${alert.title}${alert.step !== undefined ? ` at GRPO step ${alert.step}` : ''} — ${alert.meaning}.${numbers}`, 'Inspect Rollouts', 'Open Dashboard');
    if (choice === 'Inspect Rollouts') this.openInspector(run, 'rollouts');
    else if (choice === 'Open Dashboard') this.openDashboard(run);
  }
}
