/**
 * The run store: one folder per run, `runs/<yyyymmdd-hhmmss>-<name>/`, holding
 *   experiment.yaml   the resolved config (every default explicit)
 *   experiment.source.yaml  the file as the user wrote it
 *   manifest.json     versions, backend, seeds, git commit of the experiment
 *   state.json        status of the run and of each stage (rewritten atomically)
 *   events.jsonl      append-only event log, one JSON object a line (schemas/events.schema.json)
 *   artifacts/ checkpoints/ report.json report.md
 * Invariants: every file but events.jsonl is written atomically (temp + rename); events.jsonl is only
 * appended, a whole line per write, so a run killed at any moment leaves a store that readers accept
 * (a torn last line is ignored). A lock (run-lock.ts) stops two processes writing one run; a killed
 * process's lock is free at once, and of two resumes racing for it exactly one wins. state.json names its
 * writer (pid, start time, host), so readers can tell a run whose writer died from one still running.
 * Operating-system errors on the run folder (disk full, read-only, permissions) become E_IO with the path.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { access, constants, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { EngineEvent } from '../../schemas/generated/events';
import { writerOf, type RunWriter } from '../../schemas/run-writer';
import { BbioError, ioError } from '../util/errors';
import { acquireRunLock, type RunLock } from './run-lock';
import type { StageName } from '../core/stage';
import { RUN_FILES } from '../../schemas/run-layout';
import { listDir } from '../util/fs';

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled';
export type StageStatus = 'pending' | 'running' | 'completed' | 'skipped' | 'failed' | 'cancelled';

export interface StageState {
  status: StageStatus;
  startedAt?: string;
  finishedAt?: string;
  summary?: Record<string, number>;
  message?: string;
  /** Remarks a stage recorded while running, oldest first (e.g. a checkpoint that failed verification). */
  notes?: string[];
  attempts: number;
}

export interface RunState {
  version: 1;
  runId: string;
  name: string;
  experimentFile: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  stages: Partial<Record<StageName, StageState>>;
  error?: { code: string; message: string; hint?: string };
  /** The process writing (or that last wrote) the run: with `status: running` and a dead writer, the run was interrupted. */
  writer?: RunWriter;
}

/** The run folder's file names, shared with the server and the editor (schemas/run-layout.ts). */
export { RUN_FILES };

/**
 * How the store writes whole files: atomically (temp + rename) by default. A seam for tests, which run as
 * root and so cannot provoke EACCES/EROFS/ENOSPC with chmod; they inject the error here instead.
 */
export interface StoreIo {
  writeFile(file: string, text: string): Promise<void>;
  writeFileSync(file: string, text: string): void;
}

export const atomicStoreIo: StoreIo = {
  writeFile: (file, text) => writeFileAtomic(file, text),
  writeFileSync: (file, text) => writeFileAtomic.sync(file, text),
};

/** `20261127-143012` in local time: sorts chronologically and reads naturally in a file list. */
export function timestampId(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new BbioError('E_RUNS_DIR_UNWRITABLE', `cannot write to the runs directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: dir }, 'set output.runs_dir to a writable folder', { cause: e });
  }
}

export class RunStore {
  private eventsFd: number | undefined;
  private lockHeld: RunLock | undefined;

  private constructor(
    readonly runDir: string,
    readonly runId: string,
    private state: RunState,
    private readonly io: StoreIo,
  ) {}

  /** Creates a fresh run folder and locks it. */
  static async create(opts: { runsDir: string; name: string; experimentFile: string; resolvedYaml: string; sourceText: string; manifest: Record<string, unknown>; now?: Date; io?: StoreIo }): Promise<RunStore> {
    await ensureWritableDir(opts.runsDir);
    const base = `${timestampId(opts.now ?? new Date())}-${opts.name}`;
    let runId = base;
    for (let i = 2; ; i++) {
      try {
        await mkdir(path.join(opts.runsDir, runId));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BbioError('E_RUNS_DIR_UNWRITABLE', `cannot create a run folder in ${opts.runsDir}: ${(e as Error).message}`, { file: opts.runsDir }, 'set output.runs_dir to a writable folder', { cause: e });
        runId = `${base}-${i}`;
      }
    }
    const runDir = path.join(opts.runsDir, runId);
    const now = new Date().toISOString();
    const writer = writerOf();
    const state: RunState = { version: 1, runId, name: opts.name, experimentFile: opts.experimentFile, status: 'running', createdAt: now, updatedAt: now, stages: {}, writer };
    const io = opts.io ?? atomicStoreIo;
    const store = new RunStore(runDir, runId, state, io);
    store.lockHeld = await acquireRunLock(runDir, writer);
    try {
      await Promise.all([mkdir(path.join(runDir, 'artifacts')), mkdir(path.join(runDir, 'checkpoints'))]);
      await io.writeFile(path.join(runDir, RUN_FILES.experiment), opts.resolvedYaml);
      await io.writeFile(path.join(runDir, RUN_FILES.experimentSource), opts.sourceText);
      await io.writeFile(path.join(runDir, RUN_FILES.manifest), JSON.stringify({ runId, ...opts.manifest }, null, 2) + '\n');
    } catch (e) {
      throw ioError(e, runDir, 'write the new run folder');
    }
    await store.saveState();
    store.openEvents();
    return store;
  }

  /** Opens an existing run for resuming; fails clearly when it is locked by a live process or corrupt. */
  static async open(runDir: string, opts: { io?: StoreIo } = {}): Promise<RunStore> {
    const abs = path.resolve(runDir);
    const state = await readRunState(abs);
    const store = new RunStore(abs, state.runId, state, opts.io ?? atomicStoreIo);
    const writer = writerOf();
    store.lockHeld = await acquireRunLock(abs, writer);
    store.state.status = 'running';
    store.state.writer = writer;
    delete store.state.error;
    await store.saveState();
    store.openEvents();
    return store;
  }

  private openEvents(): void {
    const file = path.join(this.runDir, RUN_FILES.events);
    try {
      this.eventsFd = openSync(file, 'a');
    } catch (e) {
      throw ioError(e, file, 'open');
    }
  }

  /** Appends one event as one line. Synchronous on purpose: the line is in the kernel before we go on. */
  appendEvent(event: EngineEvent): void {
    if (this.eventsFd === undefined) throw new BbioError('E_INTERNAL', 'events log is closed');
    try {
      writeSync(this.eventsFd, JSON.stringify(event) + '\n');
    } catch (e) {
      throw ioError(e, path.join(this.runDir, RUN_FILES.events), 'append to');
    }
  }

  get current(): Readonly<RunState> {
    return this.state;
  }

  stage(name: StageName): StageState | undefined {
    return this.state.stages[name];
  }

  async updateStage(name: StageName, patch: Partial<StageState>): Promise<void> {
    const prev = this.state.stages[name] ?? { status: 'pending', attempts: 0 };
    this.state.stages[name] = { ...prev, ...patch };
    await this.saveState();
  }

  async finish(status: RunStatus, error?: RunState['error']): Promise<void> {
    this.state.status = status;
    if (error) this.state.error = error;
    await this.saveState();
  }

  /**
   * For a process that is exiting while the run is open (a forced stop, a crash): records the final status
   * synchronously, since an 'exit' listener cannot wait for a promise. Does nothing once the store is closed.
   */
  finishSync(status: RunStatus, error: NonNullable<RunState['error']>): void {
    if (this.eventsFd === undefined) return;
    for (const st of Object.values(this.state.stages)) {
      if (st?.status === 'running') Object.assign(st, { status: status === 'cancelled' ? 'cancelled' : 'failed', finishedAt: new Date().toISOString(), message: error.message });
    }
    this.state.status = status;
    this.state.error = error;
    this.state.updatedAt = new Date().toISOString();
    this.io.writeFileSync(path.join(this.runDir, RUN_FILES.state), JSON.stringify(this.state, null, 2) + '\n');
  }

  async updateManifest(patch: Record<string, unknown>): Promise<void> {
    const file = path.join(this.runDir, RUN_FILES.manifest);
    try {
      const current = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      await this.io.writeFile(file, JSON.stringify({ ...current, ...patch }, null, 2) + '\n');
    } catch (e) {
      throw ioError(e, file, 'update');
    }
  }

  /** Sets `manifest[key][sub] = value`, keeping the other members of `manifest[key]` (one per stage, say). */
  async updateManifestMember(key: string, sub: string, value: unknown): Promise<void> {
    const file = path.join(this.runDir, RUN_FILES.manifest);
    try {
      const current = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      const prior = current[key];
      const members = prior && typeof prior === 'object' && !Array.isArray(prior) ? (prior as Record<string, unknown>) : {};
      await this.io.writeFile(file, JSON.stringify({ ...current, [key]: { ...members, [sub]: value } }, null, 2) + '\n');
    } catch (e) {
      throw ioError(e, file, 'update');
    }
  }

  private async saveState(): Promise<void> {
    this.state.updatedAt = new Date().toISOString();
    const file = path.join(this.runDir, RUN_FILES.state);
    try {
      await this.io.writeFile(file, JSON.stringify(this.state, null, 2) + '\n');
    } catch (e) {
      throw ioError(e, file, 'write');
    }
  }

  /** Closes the events log and releases the lock; both are attempted even when the first fails. */
  async close(): Promise<void> {
    const fd = this.eventsFd;
    this.eventsFd = undefined;
    const lock = this.lockHeld;
    this.lockHeld = undefined;
    let failure: unknown;
    if (fd !== undefined) {
      try {
        fsyncSync(fd);
        closeSync(fd);
      } catch (e) {
        failure = ioError(e, path.join(this.runDir, RUN_FILES.events), 'close');
      }
    }
    try {
      await lock?.release();
    } catch (e) {
      failure ??= ioError(e, lock?.file ?? this.runDir, 'release the lock');
    }
    if (failure !== undefined) throw failure;
  }
}

export async function readRunState(runDir: string): Promise<RunState> {
  const file = path.join(runDir, RUN_FILES.state);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BbioError(code === 'ENOENT' ? 'E_RUN_NOT_FOUND' : 'E_IO', code === 'ENOENT' ? `no run at ${runDir} (no ${RUN_FILES.state})` : `cannot read ${file}: ${code}`, { file }, 'list runs with `balancedbio runs list`', { cause: e });
  }
  try {
    const state = JSON.parse(text) as RunState;
    if (state.version !== 1 || typeof state.runId !== 'string' || typeof state.stages !== 'object') throw new Error('unexpected structure');
    return state;
  } catch (e) {
    throw new BbioError('E_RUN_CORRUPT', `${file} is not a valid run state: ${(e as Error).message}`, { file }, 'the run folder was edited or damaged; start a new run', { cause: e });
  }
}

export interface EventsRead {
  events: EngineEvent[];
  /** Lines that did not parse (a torn last line after a kill, or damage), with their 1-based numbers. */
  badLines: number[];
}

/** Reads events.jsonl, skipping lines that do not parse rather than failing the whole read. */
export async function readEvents(runDir: string): Promise<EventsRead> {
  const text = await readFile(path.join(runDir, RUN_FILES.events), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw new BbioError('E_IO', `cannot read events of ${runDir}: ${e.message}`, { file: runDir }, undefined, { cause: e });
  });
  const events: EngineEvent[] = [];
  const badLines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      events.push(JSON.parse(line) as EngineEvent);
    } catch {
      badLines.push(i + 1); // reported to the caller, which says so to the user
    }
  });
  return { events, badLines };
}

export interface RunListing {
  runId: string;
  runDir: string;
  state?: RunState;
  problem?: string;
}

/** Every run folder under runsDir, newest first; unreadable ones are listed with their problem. */
export async function listRuns(runsDir: string): Promise<RunListing[]> {
  const names = (await listDir(runsDir)).filter((d) => d.isDirectory()).map((d) => d.name);
  const out = await Promise.all(
    names.sort().reverse().map(async (runId): Promise<RunListing> => {
      const runDir = path.join(runsDir, runId);
      try {
        return { runId, runDir, state: await readRunState(runDir) };
      } catch (e) {
        return { runId, runDir, problem: e instanceof BbioError ? e.message : String(e) };
      }
    }),
  );
  return out.filter((r) => r.state || !r.problem?.includes('no run at'));
}
