/**
 * Analysis of large experiment documents off the server thread. Loading is linear in the file's size but
 * synchronous: a 250 KB file (20,000 keys) takes ~0.5 s of CPU, a 950 KB one ~2.5 s, and on the server
 * thread that time would delay every other request (completion in another file waited 14 s while the loader
 * was quadratic). A document above LARGE_DOCUMENT_BYTES is therefore loaded in a worker thread, which is
 * terminated (and replaced) when the document changes or closes during the load, or when the load runs
 * past its time budget. The worker runs the same bundle as the server (see server.ts), like the ontology worker.
 */
import { parentPort, Worker } from 'node:worker_threads';
import { parseExperiment, type LoadResult } from '../engine/config/load';
import type { PathPolicy } from '../engine/config/paths';
import type { Problem } from '../engine/config/problems';
import { createConfigValidator } from '../engine/config/schema-validator';

export const ANALYSIS_WORKER_ROLE = 'bbio-analysis-worker';

/**
 * Documents larger than this are loaded in a worker. Real experiment files are 1–10 KB; yaml parses about
 * 1 MB/s here, so 64 KiB is ~60 ms of server-thread time, the most one request may keep the others waiting.
 */
export const LARGE_DOCUMENT_BYTES = 64 * 1024;
/** How long a large document's load may take before it is stopped and reported (issue 20). */
export const ANALYSIS_BUDGET_MS = 1000;

export interface AnalysisRequest {
  text: string;
  file: string;
  /** Where the experiment may reach (the document's workspace policy); a plain object, so it crosses threads. */
  paths: PathPolicy;
}

/** A LoadResult without its source map (a yaml Document cannot cross threads). */
export interface AnalysisReply {
  ok: true;
  result: Omit<LoadResult, 'sourceMap'>;
}

type WorkerMessage = AnalysisReply | { ok: false; error: string } | { ready: true; warmUpError?: string };

/** The worker side: answers each request in turn, for as long as the server keeps it. */
export function runAnalysisWorker(): void {
  const port = parentPort;
  if (!port) throw new Error('runAnalysisWorker must run in a worker thread');
  const validator = createConfigValidator();
  port.on('message', (req: AnalysisRequest) => {
    parseExperiment(req.text, req.file, { validator, paths: req.paths })
      .then(({ sourceMap: _notTransferable, ...result }) => port.postMessage({ ok: true, result } satisfies WorkerMessage))
      .catch((e: unknown) => port.postMessage({ ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) } satisfies WorkerMessage));
  });
  // Warm up before saying ready: a new thread's first load also compiles yaml's and ajv's code (20,000
  // keys: 1.2 s of CPU in a new thread, 0.6 s in a used one), and that must not count against a budget.
  parseExperiment(warmUpDocument(), '/warm-up.bbio.yaml', { validator, skipFileChecks: true }).then(
    () => port.postMessage({ ready: true } satisfies WorkerMessage),
    // still ready: jobs run, only colder; the server logs why
    (e: unknown) => port.postMessage({ ready: true, warmUpError: String(e) } satisfies WorkerMessage),
  );
}

/** Unknown keys in the warm-up document (~0.1 s of CPU at start-up, in the worker thread). */
const WARM_UP_KEYS = 3000;

/** Many unknown keys and a few known sections: enough iterations for the parser's and validator's hot loops. */
function warmUpDocument(): string {
  const keys = Array.from({ length: WARM_UP_KEYS }, (_, i) => `k${i}: ${i}`).join('\n');
  return `name: warm-up\nsft:\n  steps: 10\n  projection: pcgrad\ngrpo:\n  group_size: 4\n${keys}\n`;
}

export type WorkerOutcome = AnalysisReply | { ok: false; reason: 'timeout'; budgetMs: number } | { ok: false; reason: 'cancelled' } | { ok: false; reason: 'failed'; error: string };

interface Job {
  req: AnalysisRequest;
  signal: AbortSignal;
  resolve(outcome: WorkerOutcome): void;
}

/**
 * One analysis worker thread, started with the server (see start) and kept: each edit of a large document
 * is analysed again, and a new thread spends ~0.5 s loading the bundle and warming up. Jobs run
 * one at a time; a job that runs past its budget or is aborted (its document changed or closed)
 * terminates the thread, and the next job starts a new one.
 */
export class AnalysisWorker {
  private worker: Worker | undefined;
  private ready = false;
  private running: { job: Job; timer: NodeJS.Timeout | undefined } | undefined;
  private readonly queue: Job[] = [];

  constructor(private readonly opts: { workerScript: string; budgetMs: number; log(message: string): void }) {}

  analyze(req: AnalysisRequest, signal: AbortSignal): Promise<WorkerOutcome> {
    return new Promise<WorkerOutcome>((resolve) => {
      if (signal.aborted) {
        resolve({ ok: false, reason: 'cancelled' });
        return;
      }
      const job: Job = { req, signal, resolve };
      signal.addEventListener('abort', () => this.cancel(job), { once: true });
      this.queue.push(job);
      this.next();
    });
  }

  /** Starts the thread ahead of the first large document (it loads the bundle and warms up meanwhile). */
  start(): void {
    this.ensureWorker();
  }

  dispose(): void {
    for (const job of this.queue.splice(0)) job.resolve({ ok: false, reason: 'cancelled' });
    if (this.running) this.finish({ ok: false, reason: 'cancelled' });
    this.stop();
  }

  private next(): void {
    if (this.running || !this.queue.length) return;
    const w = this.ensureWorker();
    if (!this.ready) return; // started on the thread's `ready` message
    const job = this.queue.shift()!;
    const { budgetMs } = this.opts;
    this.running = { job, timer: setTimeout(() => this.finish({ ok: false, reason: 'timeout', budgetMs }, { stop: true }), budgetMs) };
    w.postMessage(job.req satisfies AnalysisRequest);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const t0 = performance.now();
    const w = new Worker(this.opts.workerScript, { workerData: { role: ANALYSIS_WORKER_ROLE } });
    this.worker = w;
    this.ready = false;
    w.on('message', (m: WorkerMessage) => {
      if (w !== this.worker) return;
      if ('ready' in m) {
        this.opts.log(m.warmUpError ? `analysis worker warm-up failed: ${m.warmUpError}` : `analysis worker ready in ${Math.round(performance.now() - t0)} ms`);
        this.ready = true;
        this.next();
      } else {
        this.finish(m.ok ? m : { ok: false, reason: 'failed', error: m.error });
      }
    });
    const stopped = (why: string): void => {
      if (w !== this.worker) return;
      const wasReady = this.ready;
      this.worker = undefined;
      this.ready = false;
      this.opts.log(`analysis worker stopped: ${why}`);
      if (this.running) {
        this.finish({ ok: false, reason: 'failed', error: why });
      } else if (!wasReady) {
        // it died while starting: a new one would too, so the waiting jobs fail instead of looping
        for (const job of this.queue.splice(0)) job.resolve({ ok: false, reason: 'failed', error: `analysis worker failed to start: ${why}` });
      } else {
        this.next();
      }
    };
    w.on('error', (e) => stopped(e.message));
    w.on('exit', (code) => stopped(`exit code ${code}`));
    return w;
  }

  private cancel(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1);
      job.resolve({ ok: false, reason: 'cancelled' });
    } else if (this.running?.job === job) {
      this.finish({ ok: false, reason: 'cancelled' }, { stop: true });
    }
  }

  /** Settles the running job; `stop` terminates the thread (it is still busy with the job). */
  private finish(outcome: WorkerOutcome, opts: { stop?: boolean } = {}): void {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    if (r.timer) clearTimeout(r.timer);
    r.job.resolve(outcome);
    if (opts.stop) this.stop();
    this.next();
  }

  private stop(): void {
    const w = this.worker;
    this.worker = undefined;
    this.ready = false;
    if (w) void w.terminate().catch((e: unknown) => this.opts.log(`analysis worker did not stop: ${String(e)}`));
  }
}

/** The one diagnostic of a document whose analysis ran past its budget. */
export function timeoutProblem(file: string, text: string, budgetMs: number): Problem {
  const kib = Math.round(Buffer.byteLength(text, 'utf8') / 1024);
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  return {
    file, line: 1, column: 1, endLine: 1, endColumn: 2, code: 'E_ANALYSIS_TIMEOUT', severity: 'error',
    message: `analysis stopped after ${budgetMs / 1000} s: file too large (${kib.toLocaleString('en-US')} KiB, ${lines.toLocaleString('en-US')} lines) to check while editing`,
    hint: 'an experiment file holds settings only: put data in JSONL/OBO/CSV files and reference them by path; `balancedbio validate FILE` checks it without a time limit',
  };
}
