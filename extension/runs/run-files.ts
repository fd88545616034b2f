/**
 * Reads run and sweep folders (layout: schemas/run-layout.ts) with vscode.workspace.fs, so it works on remote and
 * virtual file systems too. The extension never imports the engine; these are the file contracts only.
 */
import * as vscode from 'vscode';
import { RUN_FILES, SWEEP_FILES, type SlurmTaskRecord } from '../../schemas/run-layout';
import type { RunWriter } from '../../schemas/run-writer';

export { RUN_FILES, SWEEP_FILES };

/** sweep.json as the engine writes it; read defensively. */
export interface SweepStateFile {
  version: 1;
  sweepId: string;
  name?: string;
  experimentFile?: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  createdAt?: string;
  variants: { name: string; group?: string; seed?: number; status: string; runDir?: string; error?: { code?: string; message?: string }; slurm?: SlurmTaskRecord }[];
}

export interface SweepEntry {
  sweepId: string;
  dir: vscode.Uri;
  state?: SweepStateFile;
  problem?: string;
}

export type StageStatus = 'pending' | 'running' | 'completed' | 'skipped' | 'failed' | 'cancelled';

/** state.json as the engine writes it; fields read defensively (a hand-edited file may lack some). */
export interface RunStateFile {
  version: 1;
  runId: string;
  name?: string;
  experimentFile?: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  createdAt?: string;
  updatedAt?: string;
  stages: Record<string, { status: StageStatus; summary?: Record<string, number>; message?: string; startedAt?: string; finishedAt?: string } | undefined>;
  error?: { code: string; message: string; hint?: string };
  /** The process writing the run (engine/run/store.ts); with status running and a dead writer, the run was interrupted. */
  writer?: Partial<RunWriter>;
}

export interface RunRef {
  runId: string;
  dir: vscode.Uri;
}

export interface RunEntry extends RunRef {
  state?: RunStateFile;
  problem?: string;
  /** The sweep variant this run belongs to, if any. */
  variant?: string;
  /** The variant's Slurm array task, when the sweep went to Slurm (sweep.json, updated by the submitting process). */
  slurm?: SlurmTaskRecord;
}

const decoder = new TextDecoder();

export async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch (e) {
    if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return false;
    throw e;
  }
}

export async function readText(uri: vscode.Uri): Promise<string> {
  return decoder.decode(await vscode.workspace.fs.readFile(uri));
}

export async function readBytes(uri: vscode.Uri): Promise<Uint8Array> {
  return vscode.workspace.fs.readFile(uri);
}

export async function readJson<T>(uri: vscode.Uri): Promise<T> {
  return JSON.parse(await readText(uri)) as T;
}

export async function readRunState(dir: vscode.Uri): Promise<RunStateFile> {
  const state = await readJson<RunStateFile>(vscode.Uri.joinPath(dir, RUN_FILES.state));
  if (state.version !== 1 || typeof state.runId !== 'string' || typeof state.stages !== 'object' || state.stages === null) {
    throw new Error(`${RUN_FILES.state} has an unexpected structure`);
  }
  return state;
}

/**
 * The folders directly under `runsDir` that hold `marker`, newest first (names start with their creation
 * time), each read with `read`; a folder whose file does not read keeps the reason as its problem.
 */
async function listFoldersWith<T>(runsDir: vscode.Uri, marker: string, read: (id: string, dir: vscode.Uri) => Promise<T>, unreadable: (id: string, dir: vscode.Uri, problem: string) => T): Promise<T[]> {
  let entries: [string, vscode.FileType][];
  try {
    entries = await vscode.workspace.fs.readDirectory(runsDir);
  } catch (e) {
    if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return [];
    throw e;
  }
  const ids = entries.filter(([, t]) => t & vscode.FileType.Directory).map(([n]) => n).sort().reverse();
  const out = await Promise.all(
    ids.map(async (id): Promise<T | undefined> => {
      const dir = vscode.Uri.joinPath(runsDir, id);
      if (!(await exists(vscode.Uri.joinPath(dir, marker)))) return undefined;
      try {
        return await read(id, dir);
      } catch (e) {
        return unreadable(id, dir, e instanceof Error ? e.message : String(e));
      }
    }),
  );
  return out.filter((r): r is Awaited<T> => r !== undefined);
}

/** Every run folder (one with a state.json) under `runsDir`, newest first; unreadable ones keep their problem. */
export async function listRunFolders(runsDir: vscode.Uri): Promise<RunEntry[]> {
  return listFoldersWith<RunEntry>(runsDir, RUN_FILES.state, async (runId, dir) => ({ runId, dir, state: await readRunState(dir) }), (runId, dir, problem) => ({ runId, dir, problem }));
}

export async function readSweepState(dir: vscode.Uri): Promise<SweepStateFile> {
  const state = await readJson<SweepStateFile>(vscode.Uri.joinPath(dir, SWEEP_FILES.sweep));
  if (state.version !== 1 || typeof state.sweepId !== 'string' || !Array.isArray(state.variants)) throw new Error(`${SWEEP_FILES.sweep} has an unexpected structure`);
  return state;
}

/** Every sweep folder (one with a sweep.json) under `runsDir`, newest first. */
export async function listSweepFolders(runsDir: vscode.Uri): Promise<SweepEntry[]> {
  return listFoldersWith<SweepEntry>(runsDir, SWEEP_FILES.sweep, async (sweepId, dir) => ({ sweepId, dir, state: await readSweepState(dir) }), (sweepId, dir, problem) => ({ sweepId, dir, problem }));
}

/** The run folders of a sweep's variants that have started (a variant's runDir is relative to the sweep). */
export async function sweepRuns(sweep: SweepEntry): Promise<RunEntry[]> {
  const variants = sweep.state?.variants ?? [];
  const out = await Promise.all(
    variants.map(async (v): Promise<RunEntry | undefined> => {
      if (!v.runDir) return undefined;
      const dir = vscode.Uri.joinPath(sweep.dir, v.runDir);
      const runId = v.runDir.split('/').pop() ?? v.name;
      if (!(await exists(vscode.Uri.joinPath(dir, RUN_FILES.state)))) return undefined;
      try {
        return { runId, dir, state: await readRunState(dir), variant: v.name, ...(v.slurm ? { slurm: v.slurm } : {}) };
      } catch (e) {
        return { runId, dir, problem: e instanceof Error ? e.message : String(e), variant: v.name, ...(v.slurm ? { slurm: v.slurm } : {}) };
      }
    }),
  );
  return out.filter((r): r is RunEntry => r !== undefined);
}

/**
 * The Slurm task of a sweep variant's run (`<sweep>/<variant>/<run>`), from the sweep's sweep.json; undefined
 * for a run that is no variant of a Slurm sweep (or whose sweep.json cannot be read).
 */
export async function slurmTaskOfRun(run: RunRef): Promise<{ variant: string; slurm: SlurmTaskRecord } | undefined> {
  const sweepDir = vscode.Uri.joinPath(run.dir, '..', '..');
  let state: SweepStateFile;
  try {
    state = await readJson<SweepStateFile>(vscode.Uri.joinPath(sweepDir, SWEEP_FILES.sweep));
  } catch (e) {
    if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return undefined; // a plain run, not a sweep variant
    throw e;
  }
  const v = (state.variants ?? []).find((x) => x.runDir !== undefined && vscode.Uri.joinPath(sweepDir, x.runDir).toString() === run.dir.toString());
  return v?.slurm ? { variant: v.name, slurm: v.slurm } : undefined;
}

/** Files and folders directly under artifacts/, for the runs tree. */
export async function listArtifacts(dir: vscode.Uri): Promise<{ name: string; uri: vscode.Uri; isDir: boolean }[]> {
  const artifacts = vscode.Uri.joinPath(dir, 'artifacts');
  try {
    const entries = await vscode.workspace.fs.readDirectory(artifacts);
    return entries.sort(([a], [b]) => a.localeCompare(b)).map(([name, t]) => ({ name, uri: vscode.Uri.joinPath(artifacts, name), isDir: (t & vscode.FileType.Directory) !== 0 }));
  } catch (e) {
    if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return [];
    throw e;
  }
}
