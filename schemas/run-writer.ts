/**
 * Who writes a run, and whether that process still exists. The engine records its writer in state.json and
 * in the run's lock; the CLI, the language server and the editor read it to tell a running run from one
 * whose process was killed (SIGKILL, a crash, a power loss) and left `status: running` behind. It lives
 * next to the run layout because all three sides import it and none may import another's code.
 *
 * A pid alone is not an identity: the kernel reuses pids, so a long-dead writer's pid can belong to some
 * unrelated process. On Linux the process start time (/proc/<pid>/stat field 22, clock ticks since boot)
 * tells the two apart; where /proc is absent (macOS, Windows) only "a process with this pid exists" is
 * known, which errs on the side of "alive".
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface RunWriter {
  pid: number;
  /** /proc/<pid>/stat field 22 (start time in clock ticks since boot), where /proc exists. */
  startTime?: string;
  /** os.hostname() of the writer: a pid means nothing on another machine sharing the runs folder. */
  host: string;
}

/** 'unknown': the writer is on another host, or the record is malformed; treat it as possibly alive. */
export type WriterLiveness = 'alive' | 'dead' | 'unknown';

/** What the display says of a run whose state is `running` but whose writer no longer exists. */
export const INTERRUPTED_LABEL = 'interrupted (writer gone)';

/** The start time of `pid` from /proc/<pid>/stat, or undefined where there is no /proc or no such process. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // no /proc (not Linux) or the process is gone: the caller falls back to the pid
  }
  // field 2 (comm) is in parentheses and may itself hold spaces and parentheses: count from the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[22 - 3]; // rest[0] is field 3
}

/** The identity of a live process on this host (the current one by default). */
export function writerOf(pid: number = process.pid): RunWriter {
  const startTime = processStartTime(pid);
  return { pid, host: hostname(), ...(startTime !== undefined ? { startTime } : {}) };
}

export function writerLiveness(w: Partial<RunWriter> | undefined): WriterLiveness {
  if (!w || typeof w.pid !== 'number' || !Number.isInteger(w.pid) || w.pid <= 0) return 'unknown'; // kill(0 or -n) would signal a group
  if (w.host !== hostname()) return 'unknown';
  try {
    process.kill(w.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return 'dead'; // ESRCH: no such process; EPERM: exists, someone else's
  }
  if (w.startTime !== undefined) {
    const now = processStartTime(w.pid);
    if (now !== undefined && now !== w.startTime) return 'dead'; // the pid was reused by another process
  }
  return 'alive';
}

/** The status to show for a run: its recorded status, or INTERRUPTED_LABEL when it says running but its writer is dead. */
export function displayRunStatus(state: { status: string; writer?: Partial<RunWriter> }): string {
  return state.status === 'running' && writerLiveness(state.writer) === 'dead' ? INTERRUPTED_LABEL : state.status;
}
