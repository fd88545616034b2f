/**
 * The results panel: 2+ runs side by side (scores with ± and deltas, overlaid curves, the config diff of
 * their resolved experiment.yaml showing only what differs), exportable as Markdown and PNG. No cap on
 * runs. Opened on a sweep, it leads with the sweep report (mean ± sd over seeds, balance, interference,
 * significance) and compares every variant's run below it.
 */
import * as vscode from 'vscode';
import { parse as parseYaml } from 'yaml';
import { describeError, type Log } from '../log';
import { exists, readRunState, readText, RUN_FILES, SWEEP_FILES, type RunRef } from '../runs/run-files';
import { assertNever } from '../util/assert-never';
import { parseEventsJsonl } from '../views/dashboard-model';
import { renderShell, webviewOptions } from '../views/html';
import { isCompareToHost, type CompareRunView, type CompareToHost, type HostToCompare, type SweepView } from '../views/messages';
import { compareToMarkdown, decodePngDataUrl, diffConfigs, overlayCurves, scoresFromEvents, scoresFromReport, sweepFromReport } from './compare-model';

export const COMPARE_VIEW_TYPE = 'balancedbio.compare';

/** Reads what the comparison needs from one run folder; a missing file leaves its part empty. */
export async function loadRunForCompare(run: RunRef, log: Log): Promise<{ view: CompareRunView; config: unknown }> {
  const view: CompareRunView = { runId: run.runId, status: 'unknown', createdAt: undefined, scores: {}, summaries: {}, curves: {} };
  try {
    const state = await readRunState(run.dir);
    view.status = state.status;
    view.createdAt = state.createdAt;
    for (const [stage, s] of Object.entries(state.stages)) if (s?.summary) view.summaries[stage] = s.summary;
  } catch (e) {
    log.warn(`compare: ${run.runId}: state.json unreadable: ${describeError(e)}`);
  }
  let config: unknown = {};
  const experiment = vscode.Uri.joinPath(run.dir, RUN_FILES.experiment);
  if (await exists(experiment)) {
    try {
      config = parseYaml(await readText(experiment)) as unknown;
    } catch (e) {
      log.warn(`compare: ${run.runId}: experiment.yaml does not parse: ${describeError(e)}`);
    }
  }
  const events = vscode.Uri.joinPath(run.dir, RUN_FILES.events);
  const parsed = (await exists(events)) ? parseEventsJsonl(await readText(events)).events : [];
  const report = vscode.Uri.joinPath(run.dir, RUN_FILES.report);
  if (await exists(report)) {
    try {
      view.scores = scoresFromReport(JSON.parse(await readText(report)) as unknown);
    } catch (e) {
      log.warn(`compare: ${run.runId}: report.json does not parse: ${describeError(e)}`);
    }
  }
  if (Object.keys(view.scores).length === 0) view.scores = scoresFromEvents(parsed);
  view.curves = overlayCurves(parsed);
  return { view, config };
}

/** The sweep a comparison was opened on: its folder and id. */
export interface SweepRef {
  sweepId: string;
  dir: vscode.Uri;
}

/** Reads a sweep's report; a sweep still running (or killed before its report) has none yet. */
export async function loadSweepReport(sweep: SweepRef): Promise<{ view?: SweepView; markdown?: string; problem?: string }> {
  const json = vscode.Uri.joinPath(sweep.dir, SWEEP_FILES.report);
  if (!(await exists(json))) return { problem: `${sweep.sweepId} has no ${SWEEP_FILES.report} yet: the sweep writes it when its last variant ends (or run \`balancedbio sweep report ${sweep.dir.fsPath}\`).` };
  try {
    const view = sweepFromReport(JSON.parse(await readText(json)) as unknown);
    const md = vscode.Uri.joinPath(sweep.dir, SWEEP_FILES.reportMd);
    return { view, ...((await exists(md)) ? { markdown: await readText(md) } : {}) };
  } catch (e) {
    return { problem: `${SWEEP_FILES.report} of ${sweep.sweepId} could not be read: ${describeError(e)}` };
  }
}

export class ComparePanel {
  private markdown = '';

  static async open(extensionUri: vscode.Uri, log: Log, runs: RunRef[], pickMore: () => Promise<RunRef[] | undefined>, sweep?: SweepRef): Promise<ComparePanel> {
    const title = sweep ? `Sweep ${sweep.sweepId}` : `Compare ${runs.length} runs`;
    const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, title, vscode.ViewColumn.Active, webviewOptions(extensionUri));
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'compare.svg');
    const p = new ComparePanel(panel, log, runs, pickMore, sweep);
    panel.webview.html = renderShell(panel.webview, extensionUri, 'compare', title);
    return p;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly log: Log,
    private runs: RunRef[],
    private readonly pickMore: () => Promise<RunRef[] | undefined>,
    private readonly sweep: SweepRef | undefined,
  ) {
    panel.webview.onDidReceiveMessage((m: unknown) => {
      if (!isCompareToHost(m)) {
        log.warn('compare: ignored a malformed message');
        return;
      }
      this.handle(m).catch((e: unknown) => {
        log.error(`compare: ${m.type} failed`, e);
        void vscode.window.showErrorMessage(`BalancedBio: comparison failed: ${describeError(e)}`);
      });
    });
  }

  private async handle(m: CompareToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        await this.send();
        return;
      case 'exportMarkdown': {
        const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: this.markdown });
        await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside });
        return;
      }
      case 'exportPng': {
        const bytes = decodePngDataUrl(m.dataUrl);
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
        const name = `${this.sweep ? this.sweep.sweepId : 'comparison'}.png`;
        const target = await vscode.window.showSaveDialog({ title: 'Save the comparison as PNG', filters: { 'PNG image': ['png'] }, ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}) });
        if (!target) return;
        await vscode.workspace.fs.writeFile(target, bytes);
        this.log.info(`compare: saved ${bytes.length} bytes to ${target.fsPath}`);
        void vscode.window.showInformationMessage(`BalancedBio: comparison saved to ${vscode.workspace.asRelativePath(target)}`);
        return;
      }
      case 'addRuns': {
        const more = await this.pickMore();
        if (!more) return;
        const known = new Set(this.runs.map((r) => r.dir.toString()));
        this.runs = [...this.runs, ...more.filter((r) => !known.has(r.dir.toString()))];
        this.panel.title = `Compare ${this.runs.length} runs`;
        await this.send();
        return;
      }
      case 'log':
        if (m.level === 'error') this.log.error(`compare view: ${m.message}`);
        else this.log.info(`compare view: ${m.message}`);
        return;
      default:
        assertNever(m, 'compare message');
    }
  }

  private async send(): Promise<void> {
    const loaded = await Promise.all(this.runs.map((r) => loadRunForCompare(r, this.log)));
    const views = loaded.map((l) => l.view);
    const diff = diffConfigs(loaded.map((l) => l.config));
    const sweep = this.sweep ? await loadSweepReport(this.sweep) : undefined;
    this.markdown = [sweep?.markdown, compareToMarkdown(views, diff)].filter(Boolean).join('\n');
    const msg: HostToCompare = { type: 'show', runs: views, diff, markdown: this.markdown, ...(sweep?.view ? { sweep: sweep.view } : {}), ...(sweep?.problem ? { sweepProblem: sweep.problem } : {}) };
    await this.panel.webview.postMessage(msg);
  }
}
