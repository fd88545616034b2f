/**
 * The file contract of run and sweep folders: the engine writes them, the CLI, the language server and
 * the editor read them. One declaration for every side (the extension may not import the engine, the
 * engine may not import the extension; both import schemas/). The formats of the files are the JSON
 * Schemas next to this file (events, report) and the types in engine/run/store.ts and engine/run/sweep.ts.
 *
 *   runs/<stamp>-<name>/                 a run
 *   runs/<stamp>-<name>-sweep/           a sweep: sweep files + one folder per variant holding its run
 */
export const RUN_FILES = {
  /** Run status per stage, rewritten atomically. */
  state: 'state.json',
  manifest: 'manifest.json',
  /** The resolved experiment (defaults filled in). */
  experiment: 'experiment.yaml',
  /** The experiment file as the user wrote it. */
  experimentSource: 'experiment.source.yaml',
  /** Append-only event log, one JSON object a line (schemas/events.schema.json). */
  events: 'events.jsonl',
  report: 'report.json',
  reportMd: 'report.md',
  /** The training set the synthesize stage writes (under the dataset output, artifacts/data). */
  trainData: 'artifacts/data/train.jsonl',
} as const;

export const SWEEP_FILES = {
  /** Variants, their overrides and status, rewritten atomically by one process. */
  sweep: 'sweep.json',
  /** On Slurm: batch scripts, the shared-filesystem probe, and each task's `<job>_<task>.out`/`.err`. */
  slurm: 'slurm',
  report: 'sweep-report.json',
  reportMd: 'sweep-report.md',
} as const;

/** A sweep variant's Slurm task in sweep.json (`variants[i].slurm`), as Slurm last reported it. */
export interface SlurmTaskRecord {
  jobId: string;
  /** The array task id: the variant's position in `variants`. */
  taskId?: number;
  /** Slurm's state name (PENDING, RUNNING, COMPLETED, CANCELLED, PREEMPTED, …). */
  state: string;
  node?: string;
  /** Why it waits, while pending. */
  reason?: string;
}

/** `Slurm 41_1 RUNNING on gpu08`, `Slurm 41_2 PENDING (Priority)`: one line for the CLI and the editor. */
export function slurmTaskLabel(t: SlurmTaskRecord): string {
  return `Slurm ${t.jobId}${t.taskId !== undefined ? `_${t.taskId}` : ''} ${t.state}${t.node ? ` on ${t.node}` : ''}${t.reason ? ` (${t.reason})` : ''}`;
}
