/**
 * Runs started through the language server's job manager, as this window sees them: job states
 * (balancedbio/jobState) and their event streams (balancedbio/runEvent), folded into a RunProgress per job
 * for the status bar. Engine log events are mirrored into the output channel.
 */
import * as vscode from 'vscode';
import type { EngineEvent } from '../../schemas/generated/events';
import type { JobInfo, RunEventParams } from '../../server/protocol';
import type { Log } from '../log';
import { RunProgress, type ProgressSnapshot } from '../status/progress';

export interface TrackedJob {
  info: JobInfo;
  progress: RunProgress;
  runId?: string;
  /** Queued by a command of this window (not a code lens or another client). */
  startedHere?: boolean;
}

export class JobTracker implements vscode.Disposable {
  private readonly jobs = new Map<string, TrackedJob>();
  private readonly onProgressEmitter = new vscode.EventEmitter<{ jobId: string; progress: ProgressSnapshot }>();
  private readonly onEventEmitter = new vscode.EventEmitter<{ jobId: string; event: EngineEvent }>();
  private readonly onJobEmitter = new vscode.EventEmitter<TrackedJob>();
  /** The job the status bar follows: the one started last. */
  private focusId: string | undefined;

  readonly onProgress = this.onProgressEmitter.event;
  readonly onEvent = this.onEventEmitter.event;
  readonly onJob = this.onJobEmitter.event;

  constructor(private readonly log: Log) {}

  /** A job this window just queued. */
  add(jobId: string, file: string): void {
    const existing = this.jobs.get(jobId);
    if (existing) {
      // the server's first notifications can arrive before the startRun response
      existing.startedHere = true;
    } else {
      const info: JobInfo = { jobId, uri: vscode.Uri.file(file).toString(), file, status: 'queued', queuedAt: Date.now() };
      this.jobs.set(jobId, { info, progress: new RunProgress(jobId), startedHere: true });
    }
    this.focusId = jobId;
    this.onJobEmitter.fire(this.jobs.get(jobId)!);
    this.onProgressEmitter.fire({ jobId, progress: this.jobs.get(jobId)!.progress.current });
  }

  job(jobId: string): TrackedJob | undefined {
    return this.jobs.get(jobId);
  }

  get focused(): TrackedJob | undefined {
    return this.focusId ? this.jobs.get(this.focusId) : undefined;
  }

  get active(): TrackedJob[] {
    return [...this.jobs.values()].filter((j) => j.info.status === 'queued' || j.info.status === 'running');
  }

  byRunId(runId: string): TrackedJob | undefined {
    for (const j of this.jobs.values()) if (j.runId === runId || j.info.runId === runId) return j;
    return undefined;
  }

  handleJobState(info: JobInfo): void {
    const known = this.jobs.get(info.jobId);
    const job = known ?? { info, progress: new RunProgress(info.jobId) };
    job.info = { ...info, ...(info.file ? {} : { file: job.info.file }) };
    if (info.runId) job.runId = info.runId;
    this.jobs.set(info.jobId, job);
    // a job started elsewhere (a code lens runs the server's own command) takes the status bar too
    if (!known && (info.status === 'queued' || info.status === 'running')) this.focusId = info.jobId;
    if (!this.focusId) this.focusId = info.jobId;
    if (info.status === 'failed' && info.message) this.log.error(`run ${info.runId ?? info.jobId} failed: ${info.message}`);
    if (info.status === 'failed' || info.status === 'cancelled' || info.status === 'completed') {
      // a process that died before printing its final phase event still ends the status bar's spinner
      const p = job.progress.current;
      if (p.phase === 'starting' || p.phase === 'running') {
        job.progress.apply({ v: 1, t: Date.now(), runId: job.runId ?? info.jobId, kind: 'phase', stage: 'run', status: info.status, ...(info.message ? { message: info.message } : {}) });
        this.onProgressEmitter.fire({ jobId: info.jobId, progress: job.progress.current });
      }
    }
    this.onJobEmitter.fire(job);
  }

  handleRunEvent({ jobId, event }: RunEventParams): void {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = { info: { jobId, uri: '', file: '', status: 'running', queuedAt: event.t }, progress: new RunProgress(jobId) };
      this.jobs.set(jobId, job);
    }
    if (!job.runId) {
      job.runId = event.runId;
      this.onJobEmitter.fire(job);
    }
    if (event.kind === 'log') {
      const line = `[${event.runId}${event.stage ? `/${event.stage}` : ''}] ${event.msg}`;
      if (event.level === 'error') this.log.error(line);
      else if (event.level === 'warn') this.log.warn(line);
      else if (event.level === 'info') this.log.info(line);
      else this.log.debug(line);
    } else if (event.kind === 'error') {
      this.log.error(`[${event.runId}] ${event.code}: ${event.message}${event.hint ? ` (${event.hint})` : ''}`);
    } else if (event.kind === 'phase') {
      this.log.info(`[${event.runId}] ${event.stage} ${event.status}${event.message ? `: ${event.message}` : ''}`);
    }
    if (job.progress.apply(event)) this.onProgressEmitter.fire({ jobId, progress: job.progress.current });
    this.onEventEmitter.fire({ jobId, event });
  }

  dispose(): void {
    this.onProgressEmitter.dispose();
    this.onEventEmitter.dispose();
    this.onJobEmitter.dispose();
  }
}
