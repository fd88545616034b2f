/**
 * BalancedBio Studio's VS Code client. Activation (on a *.bbio.yaml file, the Runs view or a command)
 * builds the parts that need no server first (output channel, runs view, dashboard serializer, status
 * bar, commands), then starts the language client. If the server cannot start, the user gets one clear
 * message with "Show Logs", and the file-based views keep working.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { reportStartFailure, startLanguageClient, type ServerApi } from './client';
import { cancelRunRef, registerCommands, type CommandContext } from './commands/register';
import { describeError, Log } from './log';
import { JobTracker } from './runs/job-tracker';
import type { RunRef } from './runs/run-files';
import { RunsTreeProvider } from './runs/runs-tree';
import { readSettings } from './settings';
import { RunStatusBar } from './status/status-bar';
import { AlertNotifier } from './views/alert-notifier';
import { DashboardPanel, type DashboardHost } from './views/dashboard-panel';
import { alertsIn } from './views/health-model';
import type { InspectorTab } from './views/messages';
import { InspectorPanel } from './views/inspector-panel';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const settings = readSettings();
  const log = new Log(settings.logLevel);
  context.subscriptions.push(log);
  log.info(`BalancedBio Studio ${String(context.extension.packageJSON.version)} activating (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'in Restricted Mode'})`);

  try {
    const tracker = new JobTracker(log);
    const tree = new RunsTreeProvider(log, tracker);
    const treeView = vscode.window.createTreeView('balancedbio.runs', { treeDataProvider: tree, canSelectMany: true, showCollapseAll: true });
    let api: ServerApi | undefined;
    const dashboardsOpened = new Set<string>();
    let serverError = 'the language server is starting';

    const openInspector = (run: RunRef, tab: InspectorTab): void => void InspectorPanel.open(context.extensionUri, log, run, tab);
    // called only after activation, when dashboardHost exists
    const alerts = new AlertNotifier(openInspector, (run) => DashboardPanel.open(dashboardHost, run));
    const dashboardHost: DashboardHost = {
      extensionUri: context.extensionUri,
      log,
      tracker,
      openInspector,
      notifyAlert: (run, alert) => void alerts.notify(run, alert).catch((e: unknown) => log.error(`could not show the alert "${alert.title}"`, e)),
      // ctx is assigned below, before any dashboard can exist
      cancelRun: (run) => cancelRunRef(ctx, run),
    };
    const ctx: CommandContext = {
      extensionContext: context,
      log,
      tracker,
      tree,
      openInspector,
      server: () => api ?? { error: serverError },
      dashboardHost,
    };
    context.subscriptions.push(
      tracker,
      tree,
      treeView,
      new RunStatusBar(tracker, log),
      DashboardPanel.registerSerializer(dashboardHost),
      InspectorPanel.registerSerializer(context.extensionUri, log),
      ...registerCommands(ctx),
      tracker.onJob((job) => {
        // every run this window sees start (command, code lens) gets its dashboard once its folder is known
        if (job.runId && job.info.runDir && !dashboardsOpened.has(job.info.jobId) && (job.startedHere || job.info.status === 'queued' || job.info.status === 'running')) {
          dashboardsOpened.add(job.info.jobId);
          if (readSettings().openDashboardOnRun) DashboardPanel.open(dashboardHost, { runId: job.runId, dir: vscode.Uri.file(job.info.runDir) });
        }
        void vscode.commands.executeCommand('setContext', 'balancedbio.running', tracker.active.length > 0).then(undefined, (e: unknown) => log.error('setContext failed', e));
      }),
      tracker.onEvent(({ jobId, event }) => {
        if (event.kind !== 'record' || event.type !== 'alert') return;
        const job = tracker.job(jobId);
        const runDir = job?.info.runDir;
        for (const alert of alertsIn([event])) if (runDir) void alerts.notify({ runId: event.runId, dir: vscode.Uri.file(runDir) }, alert).catch((e: unknown) => log.error(`could not show the alert "${alert.title}"`, e));
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('balancedbio.logLevel')) log.setLevel(readSettings().logLevel);
        if (e.affectsConfiguration('balancedbio.ontology.sources') || e.affectsConfiguration('balancedbio.allowedPaths')) {
          void vscode.window.showInformationMessage('BalancedBio: settings of the language server changed; reload the window to apply them.');
        }
      }),
    );

    try {
      const started = await startLanguageClient(context, log, settings);
      client = started.client;
      api = started.api;
      context.subscriptions.push(
        api.onRunEvent((p) => tracker.handleRunEvent(p)),
        api.onJobState((p) => tracker.handleJobState(p)),
        api.onOntologyStatus((s) => {
          if (s.state === 'failed') log.error(`ontology failed to load: ${s.message ?? 'unknown reason'}`);
          else log.info(`ontology ${s.state}${s.termCount !== undefined ? `: ${s.termCount} terms` : ''}${s.loadMs !== undefined ? ` in ${s.loadMs} ms` : ''}`);
        }),
        vscode.workspace.onDidGrantWorkspaceTrust(() => {
          log.info('workspace trusted: runs enabled');
          api?.setTrust(true).catch((e: unknown) => log.error('could not tell the server about trust', e));
        }),
      );
    } catch (e) {
      serverError = `the language server did not start (${describeError(e)})`;
      void reportStartFailure(log, e).catch((shown: unknown) => log.error('could not show the start failure', shown));
    }
  } catch (e) {
    log.error('activation failed', e);
    const choice = await vscode.window.showErrorMessage(`BalancedBio Studio failed to activate: ${describeError(e)}`, 'Show Logs');
    if (choice === 'Show Logs') log.show();
  }
}

export async function deactivate(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) await c.stop();
}
