/**
 * The run inspector: one webview panel per run with three tabs — the GRPO rollout groups (each
 * completion with its reward components, advantage, extracted vs gold answer), the training set with its
 * ontology provenance and the tokens SFT trains on, and the health notes and alerts. Follows the run:
 * a change of events.jsonl schedules a read of the lines appended since (at most one a second); the
 * dataset is read when the panel opens and again when the synthesize stage rewrites it. Dataset filtering
 * and paging happen here, in the host, so the webview only ever holds one page. A serializer reopens the
 * panel on the same run after a reload.
 */
import * as vscode from 'vscode';
import type { EngineEvent } from '../../schemas/generated/events';
import { describeError, type Log } from '../log';
import { readBytes, readText, RUN_FILES, type RunRef } from '../runs/run-files';
import { assertNever } from '../util/assert-never';
import { parseEventsJsonl } from './dashboard-model';
import { HealthModel } from './health-model';
import { renderShell, webviewOptions } from './html';
import { chatFrameFrom, parseDataset, queryDataset, rolloutsFrom, tokenPreviewsFrom } from './inspector-model';
import { isInspectorToHost, type DatasetPage, type DatasetQuery, type DatasetRow, type HealthPayload, type HostToInspector, type InspectorState, type InspectorTab, type InspectorToHost, type RolloutStep } from './messages';

export const INSPECTOR_VIEW_TYPE = 'balancedbio.inspector';
const REFRESH_MS = 1000;

export class InspectorPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, InspectorPanel>();

  private rollouts: RolloutStep[] = [];
  /** Bytes of events.jsonl already folded in (always at a line boundary), and what they held. */
  private offset = 0;
  private records: EngineEvent[] = [];
  private healthModel = new HealthModel();
  private health: HealthPayload = { metrics: [], notes: [], alerts: [] };
  private rows: DatasetRow[] = [];
  private datasetProblem: string | undefined;
  private datasetStamp = -1;
  private query: DatasetQuery = { capability: undefined, text: '', page: 0 };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  /** Reopens inspectors after a window reload from the run and tab their webview saved. */
  static registerSerializer(extensionUri: vscode.Uri, log: Log): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(INSPECTOR_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        const s = state as Partial<InspectorState> | undefined;
        if (!s || typeof s.runDir !== 'string' || !s.runDir || typeof s.runId !== 'string') {
          panel.webview.html = '<!DOCTYPE html><html><body><p>This inspector has no saved run. Open one with "BalancedBio: Inspect Run".</p></body></html>';
          return;
        }
        panel.webview.options = webviewOptions(extensionUri);
        const tab: InspectorTab = s.tab === 'dataset' || s.tab === 'health' ? s.tab : 'rollouts';
        new InspectorPanel(extensionUri, log, panel, { runId: s.runId, dir: vscode.Uri.parse(s.runDir) }, tab);
      },
    });
  }

  static open(extensionUri: vscode.Uri, log: Log, run: RunRef, tab: InspectorTab = 'rollouts'): InspectorPanel {
    const existing = InspectorPanel.panels.get(run.dir.toString());
    if (existing) {
      existing.panel.reveal();
      if (existing.ready) void existing.sendInit(tab).catch((e: unknown) => log.error(`inspector ${run.runId}: could not switch to ${tab}`, e));
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(INSPECTOR_VIEW_TYPE, `Inspect ${run.runId}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false }, webviewOptions(extensionUri));
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'dashboard.svg');
    return new InspectorPanel(extensionUri, log, panel, run, tab);
  }

  private constructor(
    extensionUri: vscode.Uri,
    private readonly log: Log,
    readonly panel: vscode.WebviewPanel,
    readonly run: RunRef,
    private tab: InspectorTab,
  ) {
    InspectorPanel.panels.set(run.dir.toString(), this);
    panel.webview.html = renderShell(panel.webview, extensionUri, 'inspector', `Inspect ${run.runId}`);
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(run.dir, `{${RUN_FILES.events},${RUN_FILES.trainData}}`));
    this.disposables.push(
      watcher,
      watcher.onDidChange(() => this.scheduleRefresh()),
      watcher.onDidCreate(() => this.scheduleRefresh()),
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (!isInspectorToHost(m)) {
          log.warn(`inspector: ignored a malformed message ${JSON.stringify(m).slice(0, 200)}`);
          return;
        }
        this.handle(m).catch((e: unknown) => log.error(`inspector ${run.runId}: ${m.type} failed`, e));
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private async handle(m: InspectorToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        await this.sendInit(this.tab);
        return;
      case 'queryDataset':
        this.query = { capability: m.query.capability || undefined, text: String(m.query.text ?? '').slice(0, 200), page: Number(m.query.page) || 0 };
        await this.post({ type: 'dataset', dataset: this.page() });
        return;
      case 'log':
        if (m.level === 'error') this.log.error(`inspector view: ${m.message}`);
        else this.log.info(`inspector view: ${m.message}`);
        return;
      default:
        assertNever(m, 'inspector message');
    }
  }

  private async sendInit(tab: InspectorTab): Promise<void> {
    this.tab = tab;
    await this.load();
    await this.post({ type: 'init', runId: this.run.runId, runDir: this.run.dir.toString(), rollouts: this.rollouts, dataset: this.page(), health: this.health, tab });
  }

  private page(): DatasetPage {
    const page = queryDataset(this.rows, this.query, RUN_FILES.trainData);
    return this.datasetProblem ? { ...page, problem: this.datasetProblem } : page;
  }

  /** Reads events.jsonl (rollouts, token previews, health) and, when it changed, train.jsonl. */
  private async load(): Promise<void> {
    await this.readNewEvents();
    this.rollouts = rolloutsFrom(this.records);
    this.health = this.healthModel.payload();
    const previews = tokenPreviewsFrom(this.records);
    const frame = chatFrameFrom(this.records);
    const train = vscode.Uri.joinPath(this.run.dir, RUN_FILES.trainData);
    try {
      const stat = await vscode.workspace.fs.stat(train);
      // re-parse when the file changed, or when new token previews (which bring the chat frame) arrived for it
      const stamp = stat.mtime * 1000 + previews.size;
      if (stamp !== this.datasetStamp) {
        const { rows, badLines } = parseDataset(await readText(train), RUN_FILES.trainData, previews, frame);
        this.rows = rows;
        this.datasetStamp = stamp;
        this.datasetProblem = badLines ? `${badLines} line(s) of ${RUN_FILES.trainData} are not examples and were skipped` : undefined;
      }
    } catch (e) {
      if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') {
        this.rows = [];
        this.datasetProblem = `No training set yet: ${RUN_FILES.trainData} appears when the synthesize stage has run.`;
      } else {
        this.datasetProblem = `Could not read ${RUN_FILES.trainData}: ${describeError(e)}`;
      }
    }
  }

  /**
   * Folds the complete lines appended to events.jsonl since the last read (the file is append-only; a
   * shorter file means it was replaced, and everything is read again). Only the records the tabs use are
   * kept; metrics go straight into the health model.
   */
  private async readNewEvents(): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(vscode.Uri.joinPath(this.run.dir, RUN_FILES.events));
    } catch (e) {
      if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return;
      throw e;
    }
    if (bytes.length < this.offset) {
      this.offset = 0;
      this.records = [];
      this.healthModel = new HealthModel();
    }
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end <= this.offset) return;
    const { events } = parseEventsJsonl(new TextDecoder().decode(bytes.subarray(this.offset, end)));
    this.offset = end;
    for (const e of events) {
      this.healthModel.apply(e);
      if (e.kind === 'record' && (e.type === 'rollouts' || e.type === 'examples')) this.records.push(e);
    }
  }

  private scheduleRefresh(): void {
    if (this.timer || !this.ready) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.load()
        .then(async () => {
          await this.post({ type: 'update', rollouts: this.rollouts, health: this.health });
          await this.post({ type: 'dataset', dataset: this.page() });
        })
        .catch((e: unknown) => this.log.error(`inspector ${this.run.runId}: refresh failed`, e));
    }, REFRESH_MS);
  }

  private async post(m: HostToInspector): Promise<void> {
    try {
      await this.panel.webview.postMessage(m);
    } catch (e) {
      this.log.error(`inspector ${this.run.runId}: could not post ${m.type}: ${describeError(e)}`);
    }
  }

  dispose(): void {
    InspectorPanel.panels.delete(this.run.dir.toString());
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
