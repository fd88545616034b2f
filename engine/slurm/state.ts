/**
 * Slurm's view of a job, parsed from its own commands, and mapped onto sweep.json's variant states.
 * Live tasks come from `squeue --array --format=%i|%T|%N|%r`; finished ones from `sacct` when accounting
 * is on, else `scontrol show job -o` (which keeps a finished job for MinJobAge, 300 s by default).
 * Samples captured from a real Slurm 22.05 are in test/fixtures/slurm/.
 */
import type { VariantStatus } from '../run/sweep-store';

export interface SlurmTaskState {
  /** The job id as sbatch printed it (the array's id for an array task). */
  jobId: string;
  /** The array task id; absent for a job that is not an array. */
  taskId?: number;
  /** Slurm's state name, e.g. PENDING, RUNNING, COMPLETED, CANCELLED, PREEMPTED. */
  state: string;
  node?: string;
  /** Why a pending job waits (squeue's %r, scontrol's Reason), or why it ended. */
  reason?: string;
  /** `exit:signal`, as Slurm prints it. */
  exitCode?: string;
  /** The task's stderr file, where Slurm reports it. */
  stdErr?: string;
}

/**
 * Slurm job states (man squeue, "JOB STATE CODES") → variant states. Preempted, cancelled and timed-out
 * tasks are `cancelled`: stopped from outside, their runs resume from the last checkpoint.
 */
const STATE_MAP: Readonly<Record<string, VariantStatus>> = {
  PENDING: 'pending', REQUEUED: 'pending', REQUEUE_HOLD: 'pending', REQUEUE_FED: 'pending', CONFIGURING: 'pending', RESV_DEL_HOLD: 'pending',
  RUNNING: 'running', COMPLETING: 'running', SUSPENDED: 'running', STAGE_OUT: 'running', SIGNALING: 'running', RESIZING: 'running', STOPPED: 'running',
  COMPLETED: 'completed',
  CANCELLED: 'cancelled', PREEMPTED: 'cancelled', TIMEOUT: 'cancelled', DEADLINE: 'cancelled', REVOKED: 'cancelled',
  FAILED: 'failed', NODE_FAIL: 'failed', BOOT_FAIL: 'failed', OUT_OF_MEMORY: 'failed', SPECIAL_EXIT: 'failed',
};

/** The variant state of a Slurm state; an unknown state counts as running (it has not ended as far as we know). */
export function variantStatusOf(slurmState: string): VariantStatus {
  // sacct prints `CANCELLED by 0`; the first word is the state
  return STATE_MAP[slurmState.split(/\s/)[0]!.toUpperCase()] ?? 'running';
}

export function isFinished(slurmState: string): boolean {
  const s = variantStatusOf(slurmState);
  return s === 'completed' || s === 'failed' || s === 'cancelled';
}

/**
 * Pending reasons that do not clear by waiting for other jobs to end: the job is stuck until someone
 * changes the request or the cluster (man squeue, "JOB REASON CODES"). Each with what to do.
 */
const STUCK_REASONS: Readonly<Record<string, string>> = {
  PartitionDown: 'the partition is down: ask the cluster admins, or choose another slurm.partition',
  PartitionInactive: 'the partition is inactive: choose another slurm.partition',
  PartitionNodeLimit: 'the job asks for more nodes than the partition allows',
  PartitionTimeLimit: 'slurm.time is above the partition\'s limit: lower it',
  ReqNodeNotAvail: 'the nodes the job needs are down, drained or reserved',
  InvalidAccount: 'slurm.account is not valid for you',
  InvalidQOS: 'slurm.qos is not valid for you',
  QOSNotAllowed: 'slurm.qos is not allowed on this partition',
  AccountNotAllowed: 'slurm.account is not allowed on this partition',
  BadConstraints: 'the constraints (slurm.sbatch) cannot be met by any node',
  DependencyNeverSatisfied: 'a dependency of the job can never be satisfied',
  JobHeldAdmin: 'an administrator holds the job',
  JobHeldUser: 'the job is held: release it with scontrol release',
};

/** What to do about a pending reason that will not clear on its own; undefined for ordinary waiting (Priority, Resources, …). */
export function stuckPendingHint(reason: string | undefined): string | undefined {
  if (!reason) return undefined;
  // limits of an association or a QOS (AssocGrpGRES, QOSMaxJobsPerUserLimit, …) clear when other jobs end: ordinary waiting
  return STUCK_REASONS[reason.replace(/^\(|\)$/g, '')];
}

function taskOf(id: string): { jobId: string; taskId?: number } {
  const m = /^(\d+)(?:_(\d+))?$/.exec(id.trim());
  if (!m) return { jobId: id.trim() };
  return { jobId: m[1]!, ...(m[2] !== undefined ? { taskId: Number(m[2]) } : {}) };
}

const SQUEUE_FORMAT = '%i|%T|%N|%r';
/** squeue arguments for one line per task of `jobIds` in the format parseSqueue reads. */
export function squeueArgs(jobIds: readonly string[]): string[] {
  return ['--noheader', '--array', `--jobs=${jobIds.join(',')}`, `--format=${SQUEUE_FORMAT}`];
}

/** `squeue --array --format=%i|%T|%N|%r` lines → one state per task. */
export function parseSqueue(text: string): SlurmTaskState[] {
  const out: SlurmTaskState[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [id, state, node, reason] = line.split('|');
    if (!id || !state) continue;
    out.push({ ...taskOf(id), state: state.trim(), ...(node?.trim() ? { node: node.trim() } : {}), ...(reason?.trim() && reason.trim() !== 'None' ? { reason: reason.trim() } : {}) });
  }
  return out;
}

/** `0-3%2` or `1,4-5` (the pending part of an array in scontrol) → its indices. */
export function expandArraySpec(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.replace(/%\d+$/, '').split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a)) continue;
    for (let i = a!; i <= (Number.isInteger(b) ? b! : a!); i++) out.push(i);
  }
  return out;
}

/** `scontrol show job -o ID` (one line of `Key=Value` fields per job record) → one state per task. */
export function parseScontrol(text: string): SlurmTaskState[] {
  const out: SlurmTaskState[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('JobState=')) continue;
    const f = new Map<string, string>();
    for (const m of line.matchAll(/(\S+?)=(\S*)/g)) if (!f.has(m[1]!)) f.set(m[1]!, m[2]!);
    const jobId = f.get('ArrayJobId') ?? f.get('JobId')!;
    const base = {
      jobId, state: f.get('JobState')!,
      ...(f.get('NodeList') ? { node: f.get('NodeList')! } : {}),
      ...(f.get('Reason') && f.get('Reason') !== 'None' ? { reason: f.get('Reason')! } : {}),
      ...(f.get('ExitCode') ? { exitCode: f.get('ExitCode')! } : {}),
    };
    const stdErr = f.get('StdErr') ? { stdErr: f.get('StdErr')! } : {};
    const tasks = f.get('ArrayTaskId');
    // the not-yet-started rest of an array is one record whose ArrayTaskId is a range; its StdErr names no task
    if (tasks === undefined) out.push({ ...base, ...stdErr });
    else if (/^\d+$/.test(tasks)) out.push({ ...base, ...stdErr, taskId: Number(tasks) });
    else for (const i of expandArraySpec(tasks)) out.push({ ...base, taskId: i });
  }
  return out;
}

/** `sacct -X -n -P -o JobID,State,NodeList,ExitCode` lines → one state per task. */
export const SACCT_ARGS = ['-X', '-n', '-P', '-o', 'JobID,State,NodeList,ExitCode'];
export function parseSacct(text: string): SlurmTaskState[] {
  const out: SlurmTaskState[] = [];
  for (const line of text.split('\n')) {
    const [id, state, node, exitCode] = line.split('|');
    if (!id || !state || /\[/.test(id)) continue; // `12_[3-5]`: tasks not started yet, which squeue shows
    out.push({ ...taskOf(id), state: state.trim(), ...(node && node !== 'None assigned' ? { node } : {}), ...(exitCode ? { exitCode } : {}) });
  }
  return out;
}
