/**
 * Slurm's commands (sbatch, squeue, sacct, scontrol, scancel) run as child processes. Everything about the
 * cluster comes from Slurm's own environment (SLURM_CONF, SBATCH_* variables) or the experiment's `slurm:`
 * block; nothing is assumed here.
 */
import { execFile } from 'node:child_process';
import { BbioError } from '../util/errors';
import { parseSacct, parseScontrol, parseSqueue, SACCT_ARGS, squeueArgs, type SlurmTaskState } from './state';

/** A Slurm command that has not answered in this long is treated as failed (slurmctld busy or unreachable). */
const COMMAND_TIMEOUT_MS = 60_000;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command; `ENOENT` (not installed) is the caller's to explain. */
export type CommandRunner = (cmd: string, args: readonly string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }) => Promise<CommandResult>;

export const runCommand: CommandRunner = (cmd, args, opts) =>
  new Promise((resolve, reject) => {
    execFile(cmd, [...args], { env: opts.env, cwd: opts.cwd, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') {
        reject(new BbioError('E_SLURM_UNAVAILABLE', `\`${cmd}\` was not found: Slurm's commands are not on PATH on this machine`, {}, 'run on the cluster\'s login node (where `sbatch` works), load Slurm\'s module (`module load slurm`), or use executor: local', { cause: err }));
        return;
      }
      resolve({ code: err ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr });
    });
  });

export interface SlurmClient {
  /** Submits a batch script file; returns the job id. Slurm's refusal is thrown as E_SLURM_REJECTED with its message. */
  submit(scriptFile: string, cwd: string): Promise<string>;
  /** The state of every known task of `jobIds`: live ones from squeue, finished ones from sacct or scontrol. */
  query(jobIds: readonly string[]): Promise<SlurmTaskState[]>;
  /** `scancel` each id (`123` or `123_4`). */
  cancel(ids: readonly string[]): Promise<void>;
}

export function createSlurmClient(env: NodeJS.ProcessEnv = process.env, exec: CommandRunner = runCommand): SlurmClient {
  let accounting: boolean | undefined; // learned on the first sacct call
  const finished = async (jobIds: readonly string[]): Promise<SlurmTaskState[]> => {
    if (accounting !== false) {
      const r = await exec('sacct', ['-j', jobIds.join(','), ...SACCT_ARGS], { env });
      if (r.code === 0) {
        accounting = true;
        return parseSacct(r.stdout);
      }
      // "Slurm accounting storage is disabled": fall back to the controller's memory of recent jobs
      accounting = false;
    }
    const out: SlurmTaskState[] = [];
    for (const id of jobIds) {
      const r = await exec('scontrol', ['show', 'job', '-o', id], { env });
      // a job older than MinJobAge is gone: "Invalid job id specified"; the caller then reads the run's own state
      if (r.code === 0) out.push(...parseScontrol(r.stdout));
    }
    return out;
  };
  return {
    async submit(scriptFile, cwd) {
      const r = await exec('sbatch', ['--parsable', scriptFile], { env, cwd });
      if (r.code !== 0) throw new BbioError('E_SLURM_REJECTED', `sbatch refused the job: ${r.stderr.trim().replace(/\n+/g, '; ') || `exit code ${r.code}`}`, { file: scriptFile });
      // --parsable prints `jobid` or `jobid;cluster`
      const id = r.stdout.trim().split(';')[0]!;
      if (!/^\d+$/.test(id)) throw new BbioError('E_SLURM_REJECTED', `sbatch printed no job id: ${r.stdout.trim()}`, { file: scriptFile });
      return id;
    },
    async query(jobIds) {
      if (!jobIds.length) return [];
      const q = await exec('squeue', squeueArgs(jobIds), { env });
      // squeue fails ("Invalid job id") once every listed job has left the queue: nothing is live then
      const live = q.code === 0 ? parseSqueue(q.stdout) : [];
      const key = (s: SlurmTaskState): string => `${s.jobId}_${s.taskId ?? ''}`;
      const seen = new Set(live.map(key));
      const rest = (await finished(jobIds)).filter((s) => !seen.has(key(s)));
      return [...live, ...rest];
    },
    async cancel(ids) {
      if (!ids.length) return;
      const r = await exec('scancel', [...ids], { env });
      if (r.code !== 0) throw new BbioError('E_SLURM_REJECTED', `scancel ${ids.join(' ')} failed: ${r.stderr.trim()}`);
    },
  };
}
