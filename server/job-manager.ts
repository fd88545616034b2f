/**
 * Runs experiments as child processes of the engine CLI, never on the server's event loop:
 *   <node> <repo>/bin/balancedbio.js run FILE --json [--stages a,b] [--resume DIR] [--steps-scale x]
 * One queue, one run at a time. Every stdout line (one EngineEvent) is forwarded as it arrives; stderr
 * lines are human logs. Cancel = SIGTERM (the engine checkpoints and stops), then SIGKILL after a grace
 * period. Progress is reported through LSP work-done progress when the client supports it.
 */
import type { PathPolicy } from '../engine/config/paths';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { EngineEvent } from '../schemas/generated/events';
import type { JobInfo, StageName } from './protocol';

/** The subset of vscode-languageserver's WorkDoneProgressServerReporter the manager uses. */
export interface ProgressReporter {
  begin(title: string, percentage?: number, message?: string, cancellable?: boolean): void;
  report(percentage: number, message?: string): void;
  done(): void;
  token?: { onCancellationRequested(listener: () => void): unknown };
}

export interface JobManagerOptions {
  /** Absolute path of bin/balancedbio.js. */
  binPath: string;
  /** The node executable (process.execPath; Electron's with ELECTRON_RUN_AS_NODE inside VS Code). */
  execPath: string;
  onEvent(jobId: string, event: EngineEvent): void;
  onState(info: JobInfo): void;
  /** stderr lines and manager messages. */
  log(line: string): void;
  /** A work-done progress reporter for a starting job (a no-op reporter when the client has none). */
  createProgress?(): Promise<ProgressReporter>;
  killGraceMs?: number;
  /** Finished jobs kept for listJobs. */
  keepFinished?: number;
}

export interface EnqueueParams {
  uri: string;
  file: string;
  stages?: StageName[];
  resume?: string;
  stepsScale?: number;
  /** Absolute runs folder of the experiment (to name runDir once the engine says the runId). */
  runsDir?: string;
  /** The editor's workspace policy for this file, passed on as `--workspace` / `--allow-path`. */
  paths?: PathPolicy;
}

interface Job {
  info: JobInfo;
  params: EnqueueParams;
  child?: ChildProcess;
  cancelRequested: boolean;
  killTimer?: NodeJS.Timeout;
  progress?: ProgressReporter;
  lastError?: string;
  stderrTail: string[];
  stagesDone: number;
}

const DEFAULT_GRACE_MS = 5000;
const STDERR_TAIL = 5;

export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private running: Job | undefined;
  private nextId = 1;

  constructor(private readonly opts: JobManagerOptions) {}

  enqueue(params: EnqueueParams): { jobId: string; position: number } {
    const jobId = `job-${this.nextId++}`;
    const info: JobInfo = { jobId, uri: params.uri, file: params.file, status: 'queued', queuedAt: Date.now(), ...(params.stages ? { stages: params.stages } : {}), ...(params.resume ? { resume: params.resume } : {}) };
    const job: Job = { info, params, cancelRequested: false, stderrTail: [], stagesDone: 0 };
    this.jobs.set(jobId, job);
    this.queue.push(job);
    const position = this.queue.length - 1 + (this.running ? 1 : 0);
    this.emitState(job);
    this.pump();
    this.prune();
    return { jobId, position };
  }

  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    if (!job) return false;
    if (job.info.status === 'queued') {
      this.queue.splice(this.queue.indexOf(job), 1);
      this.finish(job, 'cancelled', { message: 'cancelled before it started' });
      return true;
    }
    if (job.info.status !== 'running' || !job.child) return false;
    if (job.cancelRequested) return true;
    job.cancelRequested = true;
    job.child.kill('SIGTERM');
    job.killTimer = setTimeout(() => {
      if (job.child && job.child.exitCode === null && job.child.signalCode === null) {
        this.opts.log(`[${jobId}] did not stop ${this.grace / 1000} s after SIGTERM; sending SIGKILL`);
        job.child.kill('SIGKILL');
      }
    }, this.grace);
    return true;
  }

  list(): JobInfo[] {
    return [...this.jobs.values()].map((j) => ({ ...j.info })).reverse();
  }

  get(jobId: string): JobInfo | undefined {
    const j = this.jobs.get(jobId);
    return j ? { ...j.info } : undefined;
  }

  /**
   * Stops everything (server shutdown): queued jobs are dropped, the running one gets SIGTERM and, after
   * the grace period, SIGKILL. Resolves when no child is left.
   */
  dispose(): Promise<void> {
    for (const job of [...this.queue]) this.cancel(job.info.jobId);
    const child = this.running?.child;
    if (!this.running || !child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    this.cancel(this.running.info.jobId);
    return closed;
  }

  /** The CLI script the runs execute (bin/balancedbio.js), which a Slurm batch script's tasks run too. */
  get cliPath(): string {
    return this.opts.binPath;
  }

  /** Last resort when the server process exits: no engine outlives the server. */
  killNow(): void {
    const child = this.running?.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private get grace(): number {
    return this.opts.killGraceMs ?? DEFAULT_GRACE_MS;
  }

  private pump(): void {
    if (this.running) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    this.start(job);
  }

  private start(job: Job): void {
    const p = job.params;
    const args = [this.opts.binPath, 'run', p.file, '--json'];
    if (p.stages?.length) args.push('--stages', p.stages.join(','));
    if (p.resume) args.push('--resume', p.resume);
    if (p.stepsScale !== undefined) args.push('--steps-scale', String(p.stepsScale));
    // the run checks paths against the same workspace as the editor's diagnostics (its cwd is the file's folder)
    for (const w of p.paths?.workspace.slice(0, 1) ?? []) args.push('--workspace', w);
    for (const d of p.paths?.allowed ?? []) args.push('--allow-path', d);
    job.info = { ...job.info, status: 'running', startedAt: Date.now() };
    let child: ChildProcess;
    try {
      // In desktop VS Code process.execPath is Electron: ELECTRON_RUN_AS_NODE makes it behave as plain Node.
      child = spawn(this.opts.execPath, args, { cwd: path.dirname(p.file), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    } catch (e) {
      this.finish(job, 'failed', { message: `cannot start the engine: ${e instanceof Error ? e.message : String(e)}` });
      return;
    }
    job.child = child;
    this.emitState(job);
    void this.startProgress(job).catch((e: unknown) => this.opts.log(`[${job.info.jobId}] progress unavailable: ${String(e)}`));

    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => this.onStdout(job, line));
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => {
      job.stderrTail.push(line);
      if (job.stderrTail.length > STDERR_TAIL) job.stderrTail.shift();
      this.opts.log(`[${job.info.jobId}] ${line}`);
    });
    child.on('error', (e) => {
      this.opts.log(`[${job.info.jobId}] engine process error: ${e.message}`);
      job.lastError ??= e.message;
    });
    child.on('close', (code, signal) => {
      if (job.killTimer) clearTimeout(job.killTimer);
      const status = code === 0 ? 'completed' : job.cancelRequested ? 'cancelled' : 'failed';
      const message = status === 'completed' ? undefined : job.lastError ?? (job.cancelRequested ? 'cancelled' : job.stderrTail.join('\n') || `engine exited with ${signal ?? `code ${code}`}`);
      this.finish(job, status, { exitCode: code, signal, ...(message ? { message } : {}) });
    });
  }

  private async startProgress(job: Job): Promise<void> {
    if (!this.opts.createProgress) return;
    const progress = await this.opts.createProgress();
    if (job.info.status !== 'running') {
      progress.done();
      return;
    }
    job.progress = progress;
    progress.begin(`BalancedBio: ${path.basename(job.params.file)}`, 0, 'starting', true);
    progress.token?.onCancellationRequested(() => this.cancel(job.info.jobId));
  }

  private onStdout(job: Job, line: string): void {
    if (!line.trim()) return;
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
      if (!event || typeof event !== 'object' || typeof (event as { kind?: unknown }).kind !== 'string') throw new Error('not an event');
    } catch (e) {
      this.opts.log(`[${job.info.jobId}] stdout (not an event: ${e instanceof Error ? e.message : String(e)}): ${line.slice(0, 500)}`);
      return;
    }
    if (!job.info.runId && typeof event.runId === 'string') {
      job.info = { ...job.info, runId: event.runId, ...(job.params.resume ? { runDir: path.resolve(path.dirname(job.params.file), job.params.resume) } : job.params.runsDir ? { runDir: path.join(job.params.runsDir, event.runId) } : {}) };
      this.emitState(job);
    }
    if (event.kind === 'error') job.lastError = `${event.code}: ${event.message}${event.hint ? ` (${event.hint})` : ''}`;
    this.reportProgress(job, event);
    this.opts.onEvent(job.info.jobId, event);
  }

  private reportProgress(job: Job, event: EngineEvent): void {
    const progress = job.progress;
    if (!progress || event.kind !== 'phase' || event.stage === 'run') return;
    const total = Math.max(1, job.params.stages?.length ?? 5);
    if (event.status === 'completed' || event.status === 'skipped' || event.status === 'failed') job.stagesDone++;
    const within = event.status === 'progress' && event.total && event.step !== undefined ? Math.min(1, event.step / event.total) : 0;
    const pct = Math.min(100, Math.round(((job.stagesDone + within) / total) * 100));
    progress.report(pct, `${event.stage}: ${event.status}${event.message ? ` — ${event.message}` : ''}`);
  }

  private finish(job: Job, status: JobInfo['status'], extra: Partial<JobInfo>): void {
    job.info = { ...job.info, ...extra, status, finishedAt: Date.now() };
    job.progress?.done();
    job.progress = undefined;
    this.emitState(job);
    if (this.running === job) {
      this.running = undefined;
      job.child = undefined;
      this.pump();
    }
  }

  private emitState(job: Job): void {
    this.opts.onState({ ...job.info });
  }

  private prune(): void {
    const keep = this.opts.keepFinished ?? 50;
    const finished = [...this.jobs.values()].filter((j) => j.info.status !== 'queued' && j.info.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - keep))) this.jobs.delete(j.info.jobId);
  }
}
