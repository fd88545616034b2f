/**
 * Variants and sweeps. An experiment's `variants:` block (a list of named overrides, a grid, or both)
 * expands into variants; each overrides dotted paths of the base experiment and runs as its own run in a
 * sweep folder:
 *
 *   runs/<yyyymmdd-hhmmss>-<name>-sweep/
 *     sweep.json            variants, their overrides and status (rewritten atomically by one process)
 *     <variant>/<run>/      an ordinary run store (engine/run/store.ts) per variant
 *     sweep-report.md/.json the table across variants (engine/run/sweep-report.ts)
 *
 * The scheduler here is independent of how a variant runs: the CLI passes an executor (in process, or a
 * child process of the CLI for `--parallel N`). On Slurm, Slurm schedules: engine/slurm/sweep.ts submits
 * the variants as one job array and follows it instead. A killed sweep resumes as a whole: finished variants are
 * kept, an interrupted variant's run continues from its checkpoint, pending ones start.
 * Variants expand in engine/config/variants.ts; sweep.json is kept by engine/run/sweep-store.ts.
 */
import path from 'node:path';
import { BbioError } from '../util/errors';
import type { Logger } from '../util/log';
import { findVariantRun, type SweepStatus, type SweepStore, type SweepVariantState, type VariantStatus } from './sweep-store';

export interface VariantJob {
  variant: SweepVariantState;
  /** 0-based position among all variants, and their count (for progress lines). */
  index: number;
  total: number;
  /** Absolute folder of the variant inside the sweep; its run folder goes inside. */
  variantDir: string;
  /** An unfinished run of this variant to continue. */
  resumeRunDir?: string;
  /** Call as soon as the run folder exists, so a kill after that point resumes it. */
  onRunDir(runDir: string): Promise<void>;
}

export interface VariantOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  runDir?: string;
  error?: string;
}

export type VariantExecutor = (job: VariantJob, signal: AbortSignal) => Promise<VariantOutcome>;

export interface SweepRunOptions {
  parallel: number;
  execute: VariantExecutor;
  signal: AbortSignal;
  log: Logger;
}

export interface SweepOutcome {
  status: SweepStatus;
  counts: Record<VariantStatus, number>;
}

/**
 * Runs every variant not yet completed, at most `parallel` at once. A failed variant does not stop the
 * others; cancelling stops starting new ones and lets running ones checkpoint.
 */
export async function runSweep(store: SweepStore, opts: SweepRunOptions): Promise<SweepOutcome> {
  const all = store.current.variants;
  const queue = all.filter((v) => v.status !== 'completed');
  const total = all.length;
  const runOne = async (v: SweepVariantState): Promise<void> => {
    const variantDir = path.join(store.sweepDir, v.name);
    const existing = await findVariantRun(variantDir);
    const rel = (dir: string): string => path.relative(store.sweepDir, dir);
    if (existing?.state.status === 'completed') {
      // finished after the last sweep.json update (the sweep was killed in between)
      await store.updateVariant(v.name, { status: 'completed', runDir: rel(existing.runDir), finishedAt: existing.state.updatedAt });
      return;
    }
    await store.updateVariant(v.name, { status: 'running', attempts: v.attempts + 1, startedAt: new Date().toISOString(), ...(existing ? { runDir: rel(existing.runDir) } : {}) });
    opts.log.info(`variant ${all.indexOf(v) + 1}/${total}: ${v.name}${existing ? ' (resuming its run)' : ''}`);
    let outcome: VariantOutcome;
    try {
      outcome = await opts.execute(
        { variant: v, index: all.indexOf(v), total, variantDir, ...(existing ? { resumeRunDir: existing.runDir } : {}), onRunDir: (dir) => store.updateVariant(v.name, { runDir: rel(dir) }) },
        opts.signal,
      );
    } catch (e) {
      outcome = { status: 'failed', error: e instanceof BbioError ? e.format() : e instanceof Error ? e.message : String(e) };
    }
    await store.updateVariant(v.name, {
      status: outcome.status,
      finishedAt: new Date().toISOString(),
      ...(outcome.runDir ? { runDir: rel(outcome.runDir) } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
    });
    opts.log.info(`variant ${v.name}: ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`);
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queue.length && !opts.signal.aborted) await runOne(queue[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel, queue.length)) }, () => worker()));
  const counts: Record<VariantStatus, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const v of store.current.variants) counts[v.status]++;
  const status: SweepStatus = counts.completed === total ? 'completed' : opts.signal.aborted || counts.cancelled ? 'cancelled' : 'failed';
  await store.finish(status);
  return { status, counts };
}
