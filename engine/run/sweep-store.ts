/**
 * The sweep store: sweep.json in a sweep folder (variants, their overrides and status), rewritten
 * atomically under a lock by the one process running the sweep, and read by the CLI, the report and the
 * editor. The folder layout is in engine/run/sweep.ts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';
import { SWEEP_FILES, type SlurmTaskRecord } from '../../schemas/run-layout';

export type { SlurmTaskRecord };
import { canonicalJson, variantSeed, type Overrides, type VariantSpec } from '../config/variants';
import { BbioError } from '../util/errors';
import { sha256 } from '../util/provenance';
import { writerOf } from '../../schemas/run-writer';
import { acquireRunLock, type RunLock } from './run-lock';
import { listRuns, timestampId, writeJsonAtomic, type RunState } from './store';
import { listDir } from '../util/fs';

export const SWEEP_FILE = SWEEP_FILES.sweep;
export type VariantStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export type SweepStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface SweepVariantState {
  name: string;
  group: string;
  groupKey: string;
  seed: number;
  set: Overrides;
  status: VariantStatus;
  /** The variant's run folder, relative to the sweep folder, once it exists. */
  runDir?: string;
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  /** On `executor: slurm`: the array task running (or that ran) this variant, as Slurm last reported it. */
  slurm?: SlurmTaskRecord;
}

export interface SweepState {
  version: 1;
  sweepId: string;
  name: string;
  experimentFile: string;
  /** SHA-256 of the experiment file when the sweep started (a resume warns when it changed). */
  experimentSha256: string;
  status: SweepStatus;
  createdAt: string;
  updatedAt: string;
  parallel: number;
  stepsScale: number;
  stages?: string[];
  /** Where the variants run; absent in sweeps written before Slurm support (local). */
  executor?: 'local' | 'slurm';
  /** Process writing the sweep; lets a resume take over the lock of a killed one at once. */
  pid?: number;
  variants: SweepVariantState[];
}

export async function readSweepState(sweepDir: string): Promise<SweepState> {
  const file = path.join(sweepDir, SWEEP_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BbioError(code === 'ENOENT' ? 'E_RUN_NOT_FOUND' : 'E_IO', code === 'ENOENT' ? `no sweep at ${sweepDir} (no ${SWEEP_FILE})` : `cannot read ${file}: ${code}`, { file }, 'give the sweep folder, runs/<stamp>-<name>-sweep', { cause: e });
  }
  try {
    const s = JSON.parse(text) as SweepState;
    if (s.version !== 1 || !Array.isArray(s.variants)) throw new Error('unexpected structure');
    return s;
  } catch (e) {
    throw new BbioError('E_RUN_CORRUPT', `${file} is not a valid sweep state: ${(e as Error).message}`, { file }, 'the sweep folder was edited or damaged; start a new sweep', { cause: e });
  }
}

export class SweepStore {
  private heldLock: RunLock | undefined;
  /** Writes are chained so concurrent variant updates never interleave. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly sweepDir: string,
    private state: SweepState,
  ) {}

  static async create(opts: { runsDir: string; name: string; experimentFile: string; sourceText: string; variants: SweepVariantState[]; parallel: number; stepsScale: number; stages?: string[]; now?: Date }): Promise<SweepStore> {
    try {
      await mkdir(opts.runsDir, { recursive: true });
    } catch (e) {
      throw new BbioError('E_RUNS_DIR_UNWRITABLE', `cannot write to the runs directory ${opts.runsDir}: ${(e as Error).message}`, { file: opts.runsDir }, 'set output.runs_dir to a writable folder', { cause: e });
    }
    const base = `${timestampId(opts.now ?? new Date())}-${opts.name}-sweep`;
    let sweepId = base;
    for (let i = 2; ; i++) {
      try {
        await mkdir(path.join(opts.runsDir, sweepId));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BbioError('E_RUNS_DIR_UNWRITABLE', `cannot create a sweep folder in ${opts.runsDir}: ${(e as Error).message}`, { file: opts.runsDir }, undefined, { cause: e });
        sweepId = `${base}-${i}`;
      }
    }
    const now = new Date().toISOString();
    const state: SweepState = {
      version: 1, sweepId, name: opts.name, experimentFile: opts.experimentFile, experimentSha256: sha256(opts.sourceText), status: 'running', createdAt: now, updatedAt: now,
      parallel: opts.parallel, stepsScale: opts.stepsScale, ...(opts.stages ? { stages: opts.stages } : {}), pid: process.pid, variants: opts.variants,
    };
    const store = new SweepStore(path.join(opts.runsDir, sweepId), state);
    await store.lock();
    await store.save();
    return store;
  }

  static async open(sweepDir: string): Promise<SweepStore> {
    const abs = path.resolve(sweepDir);
    const store = new SweepStore(abs, await readSweepState(abs));
    await store.lock();
    store.state.status = 'running';
    store.state.pid = process.pid;
    await store.save();
    return store;
  }

  get current(): Readonly<SweepState> {
    return this.state;
  }

  /**
   * The sweep's lock is the run lock (run-lock.ts): a killed sweep's lock is free at once, and of two
   * `--resume`s of one killed sweep exactly one wins; the other gets E_RUN_LOCKED.
   */
  private async lock(): Promise<void> {
    this.heldLock = await acquireRunLock(this.sweepDir, writerOf(), 'sweep');
  }

  private save(): Promise<void> {
    this.writing = this.writing.then(() => {
      this.state.updatedAt = new Date().toISOString();
      return writeJsonAtomic(path.join(this.sweepDir, SWEEP_FILE), this.state);
    });
    return this.writing;
  }

  variant(name: string): SweepVariantState | undefined {
    return this.state.variants.find((v) => v.name === name);
  }

  async updateVariant(name: string, patch: Partial<SweepVariantState>): Promise<void> {
    const v = this.variant(name);
    if (!v) throw new BbioError('E_INTERNAL', `sweep has no variant ${name}`);
    Object.assign(v, patch);
    if (patch.status && patch.status !== 'failed' && patch.status !== 'cancelled') delete v.error;
    await this.save();
  }

  async finish(status: SweepStatus): Promise<void> {
    this.state.status = status;
    await this.save();
  }

  async setExecutor(executor: 'local' | 'slurm'): Promise<void> {
    this.state.executor = executor;
    await this.save();
  }

  async close(): Promise<void> {
    await this.writing;
    const held = this.heldLock;
    this.heldLock = undefined;
    if (held) await held.release();
  }
}

/** The sweep.json entries of freshly expanded variants. */
export function initialVariantStates(variants: readonly VariantSpec[], base: Experiment): SweepVariantState[] {
  return variants.map((v) => ({ name: v.name, group: v.group, groupKey: v.groupKey, seed: variantSeed(v, base), set: v.set, status: 'pending', attempts: 0 }));
}

/**
 * Checks that a sweep being resumed has the variants the experiment file expands to now; a changed list
 * would mix results of different experiments in one report.
 */
export function checkResumable(state: SweepState, variants: readonly VariantSpec[]): void {
  const before = new Map(state.variants.map((v) => [v.name, canonicalJson(v.set)]));
  const now = new Map(variants.map((v) => [v.name, canonicalJson(v.set)]));
  const added = [...now.keys()].filter((n) => !before.has(n));
  const removed = [...before.keys()].filter((n) => !now.has(n));
  const changed = [...now.keys()].filter((n) => before.has(n) && before.get(n) !== now.get(n));
  if (added.length || removed.length || changed.length) {
    const what = [added.length ? `added ${added.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : '', changed.length ? `changed ${changed.join(', ')}` : ''].filter(Boolean).join('; ');
    throw new BbioError('E_CONFLICT', `the experiment's variants differ from those of sweep ${state.sweepId}: ${what}`, { file: state.experimentFile }, 'restore the variants block, or start a new sweep (run without --resume)');
  }
}

/** Every sweep folder (one with a sweep.json) in `runsDir`, newest first; an unreadable one with its problem. */
export async function listSweeps(runsDir: string): Promise<{ sweepDir: string; state?: SweepState; problem?: string }[]> {
  const names = (await listDir(runsDir)).filter((d) => d.isDirectory()).map((d) => d.name);
  const out = await Promise.all(names.sort().reverse().map(async (name) => {
    const sweepDir = path.join(runsDir, name);
    try {
      return { sweepDir, state: await readSweepState(sweepDir) };
    } catch (e) {
      return { sweepDir, problem: e instanceof BbioError ? e.code : String(e) };
    }
  }));
  // a folder without sweep.json is a run (or something else), not a broken sweep
  return out.filter((s) => s.state || s.problem !== 'E_RUN_NOT_FOUND');
}

/** The newest run folder inside a variant's folder, if any. */
export async function findVariantRun(variantDir: string): Promise<{ runDir: string; state: RunState } | undefined> {
  const runs = await listRuns(variantDir);
  const found = runs.find((r) => r.state);
  return found?.state ? { runDir: found.runDir, state: found.state } : undefined;
}

