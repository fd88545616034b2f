/**
 * One torch worker per run instead of one per stage. Starting a worker costs seconds (Python, then `import
 * torch`: 1-3 s, tens on a loaded 2-core machine) and each of a run's model stages (pretrain, sft, grpo,
 * evaluate) used to start its own. A pool keeps the worker a stage has finished with, and hands it to the next
 * stage after a `reset` (no model, adapters or training left: a fresh worker's state). A worker that died or
 * cannot reset is closed and the next stage starts a new one, which fails, if it must, with the usual errors
 * of worker-process.ts. `close` ends every worker the pool started; the pipeline calls it when the run ends,
 * however it ends.
 */
import type { HelloResult } from '../../../schemas/generated/compute-protocol';
import { BbioError } from '../../util/errors';
import { WorkerProcess } from './worker-process';

/** Importing torch takes seconds, tens on a loaded 2-core machine; two minutes only bounds a worker that hangs. */
export const HELLO_TIMEOUT_MS = 120_000;

export interface WorkerStart {
  /** The interpreter (pythonCommand); a kept worker serves only a request for the same one. */
  python: string;
  timeoutMs: number;
  /** model.devices: data-parallel ranks (worker-process.ts); a kept worker serves only the same count. */
  devices: number;
  env?: NodeJS.ProcessEnv;
}

export interface LeasedWorker {
  worker: WorkerProcess;
  hello: HelloResult;
  python: string;
  devices: number;
}

/** Starts a worker and asks its Python, torch and devices; closes it again when it does not answer. */
export async function startTorchWorker(o: WorkerStart): Promise<LeasedWorker> {
  const worker = new WorkerProcess({ python: o.python, timeoutMs: o.timeoutMs, devices: o.devices, ...(o.env ? { env: o.env } : {}) });
  try {
    return { worker, hello: await worker.request('hello', undefined, { timeoutMs: HELLO_TIMEOUT_MS }), python: o.python, devices: o.devices };
  } catch (e) {
    await worker.close();
    throw e;
  }
}

export class TorchWorkerPool {
  private idle: LeasedWorker | undefined;
  /** Every worker this pool started and has not closed, kept or lent out: close ends them all. */
  private readonly started = new Set<WorkerProcess>();
  private closed = false;

  /** The kept worker, reset, when it serves `o.python` with `o.devices` ranks and is alive; else a new one. */
  async acquire(o: WorkerStart): Promise<LeasedWorker> {
    const kept = this.idle;
    this.idle = undefined;
    if (kept && kept.python === o.python && kept.devices === o.devices && kept.worker.alive) {
      try {
        await kept.worker.request('reset');
        return kept;
      } catch (e) {
        if (!(e instanceof BbioError)) throw e;
        // it died or hung between stages: its error belongs to no stage; a new worker replaces it below
      }
    }
    if (kept) await this.end(kept.worker);
    const leased = await startTorchWorker(o);
    this.started.add(leased.worker);
    return leased;
  }

  /** Takes back a stage's worker: kept for the next stage while the run is open and it is alive, else closed. */
  async release(leased: LeasedWorker): Promise<void> {
    if (this.closed || this.idle || !leased.worker.alive) {
      await this.end(leased.worker);
      return;
    }
    this.idle = leased;
  }

  /** Ends every worker of the pool, kept or still lent to a stage (shutdown, then kill after a grace period: WorkerProcess.close). */
  async close(): Promise<void> {
    this.closed = true;
    this.idle = undefined;
    await Promise.all([...this.started].map((w) => this.end(w)));
  }

  private async end(worker: WorkerProcess): Promise<void> {
    this.started.delete(worker);
    await worker.close();
  }
}
