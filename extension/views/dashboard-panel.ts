/**
 * The run dashboard: one webview panel per run. The run folder's events.jsonl is the source of truth (so
 * runs started from a terminal or another window show too); it is read once in full, then followed: a
 * runEvent from the language server or a file-system change schedules a re-read that parses only the
 * bytes appended since (at most 4 re-reads a second). While the run is live the file's size is also polled
 * (runs/follow.ts): a variant running on a Slurm compute node writes over a network filesystem, whose writes
 * no local watcher sees. A WebviewPanelSerializer restores panels after a window reload from the state the
 * webview saved.
 */
import * as vscode from 'vscode';
import type { JobTracker } from '../runs/job-tracker';
import { SizeFollower } from '../runs/follow';
import { readBytes, RUN_FILES, type RunRef } from '../runs/run-files';
import { describeError, type Log } from '../log';
import { assertNever } from '../util/assert-never';
import { METRIC_DESCRIPTIONS } from '../../schemas/generated/events';
import { CHARTS, DashboardModel, parseEventsJsonl } from './dashboard-model';
import { renderShell, webviewOptions } from './html';
import { isDashboardToHost, type DashboardState, type DashboardToHost, type FpsResult, type HostToDashboard, type InspectorTab, type AlertRow } from './messages';

export const DASHBOARD_VIEW_TYPE = 'balancedbio.dashboard';
const REFRESH_MS = 250;
/** Size polls of a live run's events.jsonl: often enough to feel live, rare enough to cost nothing on NFS. */
const POLL_MS = 2000;

export interface DashboardHost {
  extensionUri: vscode.Uri;
  log: Log;
  tracker: JobTracker;
  cancelRun(run: RunRef): Promise<void>;
  openInspector(run: RunRef, tab: InspectorTab): void;
  notifyAlert(run: RunRef, alert: AlertRow): void;
}

export class DashboardPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, DashboardPanel>();
  private static lastActive: DashboardPanel | undefined;
  private static readonly fpsWaiters: ((r: FpsResult) => void)[] = [];

  private model: DashboardModel;
  /** Bytes of events.jsonl already parsed (always at a line boundary). */
  private offset = 0;
  private loaded = false;
  private alertsSeen = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | undefined;
  /** Size of events.jsonl at the last read (including a partial last line). */
  private fileSize: number | undefined;
  private readonly follower: SizeFollower;
  private readonly disposables: vscode.Disposable[] = [];

  static open(host: DashboardHost, run: RunRef): DashboardPanel {
    const existing = DashboardPanel.panels.get(run.dir.toString());
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, `Run ${run.runId}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false }, webviewOptions(host.extensionUri));
    return new DashboardPanel(host, panel, run);
  }

  static get active(): DashboardPanel | undefined {
    return DashboardPanel.lastActive;
  }

  static registerSerializer(host: DashboardHost): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        const s = state as Partial<DashboardState> | undefined;
        if (!s || typeof s.runDir !== 'string' || typeof s.runId !== 'string') {
          panel.webview.html = '<!DOCTYPE html><html><body><p>This dashboard has no saved run. Open one with "BalancedBio: Open Dashboard".</p></body></html>';
          return;
        }
        panel.webview.options = webviewOptions(host.extensionUri);
        new DashboardPanel(host, panel, { runId: s.runId, dir: vscode.Uri.parse(s.runDir) });
      },
    });
  }

  /** Asks the most recently focused dashboard to measure its frame rate while it redraws every chart. */
  static async measureFps(durationMs: number): Promise<FpsResult | undefined> {
    const target = DashboardPanel.lastActive;
    if (!target) return undefined;
    const result = new Promise<FpsResult>((resolve) => DashboardPanel.fpsWaiters.push(resolve));
    await target.post({ type: 'measureFps', durationMs });
    return result;
  }

  private constructor(
    private readonly host: DashboardHost,
    readonly panel: vscode.WebviewPanel,
    readonly run: RunRef,
  ) {
    this.model = new DashboardModel(run.runId);
    DashboardPanel.panels.set(run.dir.toString(), this);
    DashboardPanel.lastActive = this;
    panel.iconPath = vscode.Uri.joinPath(host.extensionUri, 'media', 'dashboard.svg');
    panel.webview.html = renderShell(panel.webview, host.extensionUri, 'dashboard', `Run ${run.runId}`);
    const events = vscode.Uri.joinPath(run.dir, RUN_FILES.events);
    this.follower = new SizeFollower({
      size: async () => {
        try {
          return (await vscode.workspace.fs.stat(events)).size;
        } catch (e) {
          if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return undefined;
          throw e;
        }
      },
      onChange: () => this.scheduleRefresh(),
      onError: (e) => host.log.warn(`dashboard ${run.runId}: could not check ${RUN_FILES.events} for new events: ${describeError(e)}`),
      intervalMs: POLL_MS,
    });
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(run.dir, RUN_FILES.events));
    this.disposables.push(
      watcher,
      watcher.onDidChange(() => this.scheduleRefresh()),
      watcher.onDidCreate(() => this.scheduleRefresh()),
      host.tracker.onEvent(({ event }) => {
        if (event.runId === run.runId) this.scheduleRefresh();
      }),
      panel.onDidChangeViewState((e) => {
        if (e.webviewPanel.active) DashboardPanel.lastActive = this;
      }),
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (!isDashboardToHost(m)) {
          host.log.warn(`dashboard: ignored a malformed message ${JSON.stringify(m).slice(0, 200)}`);
          return;
        }
        this.handle(m, events).catch((e: unknown) => host.log.error(`dashboard ${run.runId}: ${m.type} failed`, e));
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private async handle(m: DashboardToHost, events: vscode.Uri): Promise<void> {
    switch (m.type) {
      case 'ready':
        await this.sendInit();
        return;
      case 'openRunFile': {
        const file = m.file === 'report' ? RUN_FILES.reportMd : m.file === 'events' ? RUN_FILES.events : RUN_FILES.experiment;
        const uri = m.file === 'events' ? events : vscode.Uri.joinPath(this.run.dir, file);
        await vscode.window.showTextDocument(uri, { viewColumn: vscode.ViewColumn.One, preview: true });
        return;
      }
      case 'cancelRun':
        await this.host.cancelRun(this.run);
        return;
      case 'openInspector':
        this.host.openInspector(this.run, m.tab === 'dataset' || m.tab === 'health' ? m.tab : 'rollouts');
        return;
      case 'stateChanged':
        return; // the webview persisted it with setState; the serializer receives it after a reload
      case 'fpsMeasured': {
        const r = m.result;
        this.host.log.info(`dashboard ${this.run.runId}: ${r.fps.toFixed(1)} fps over ${r.frames} frames (p95 frame ${r.p95FrameMs.toFixed(1)} ms) with ${r.series} series in ${r.charts} charts, up to ${r.pointsPerSeries} points per series`);
        for (const w of DashboardPanel.fpsWaiters.splice(0)) w(r);
        return;
      }
      case 'log':
        if (m.level === 'error') this.host.log.error(`dashboard: ${m.message}`);
        else if (m.level === 'warn') this.host.log.warn(`dashboard: ${m.message}`);
        else this.host.log.info(`dashboard: ${m.message}`);
        return;
      default:
        assertNever(m, 'dashboard message');
    }
  }

  private async sendInit(): Promise<void> {
    if (!this.loaded) {
      await this.readNew();
      this.loaded = true;
    }
    const snap = this.model.snapshot();
    this.alertsSeen = snap.health.alerts.length; // past alerts show in the panel, not as notifications
    await this.post({ type: 'init', runDir: this.run.dir.toString(), charts: CHARTS, ...snap, descriptions: { ...METRIC_DESCRIPTIONS } });
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer || !this.loaded) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().catch((e: unknown) => this.host.log.error(`dashboard ${this.run.runId}: refresh failed`, e));
    }, REFRESH_MS);
  }

  private async refresh(): Promise<void> {
    if (this.refreshing) {
      await this.refreshing;
      this.scheduleRefresh();
      return;
    }
    this.refreshing = this.readNew();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
    const delta = this.model.take();
    // alerts that arrive while the run is followed become a notification (once per run, step and title)
    for (const a of delta.health?.alerts.slice(this.alertsSeen) ?? []) this.host.notifyAlert(this.run, a);
    if (delta.health) this.alertsSeen = delta.health.alerts.length;
    await this.post({ type: 'append', ...delta });
  }

  /** Parses the complete lines appended to events.jsonl since the last read. */
  private async readNew(): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(vscode.Uri.joinPath(this.run.dir, RUN_FILES.events));
    } catch (e) {
      if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') {
        this.followWhileLive(); // the run has not written an event yet
        return;
      }
      throw e;
    }
    if (bytes.length < this.offset) {
      // the log shrank (the folder was replaced): start over
      this.offset = 0;
      this.model = new DashboardModel(this.run.runId);
    }
    this.fileSize = bytes.length;
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end <= this.offset) {
      this.followWhileLive();
      return;
    }
    const text = new TextDecoder().decode(bytes.subarray(this.offset, end));
    this.offset = end;
    const { events, badLines } = parseEventsJsonl(text);
    this.model.applyAll(events);
    this.followWhileLive();
    if (badLines) this.host.log.warn(`run ${this.run.runId}: ${badLines} line(s) of ${RUN_FILES.events} did not parse and were skipped`);
  }

  /** Polls the file's size while the run is live (see the header comment); stops once it has ended. */
  private followWhileLive(): void {
    if (this.model.ended) this.follower.stop();
    else this.follower.start(this.fileSize);
  }

  private async post(m: HostToDashboard): Promise<void> {
    try {
      await this.panel.webview.postMessage(m);
    } catch (e) {
      this.host.log.error(`dashboard ${this.run.runId}: could not post ${m.type}: ${describeError(e)}`);
    }
  }

  dispose(): void {
    DashboardPanel.panels.delete(this.run.dir.toString());
    if (DashboardPanel.lastActive === this) DashboardPanel.lastActive = undefined;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.follower.stop();
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
