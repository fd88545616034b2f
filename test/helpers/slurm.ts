/**
 * A throwaway single-node Slurm for tests, started exactly as /work/shared/slurm.md (Debian's slurm-wlm +
 * munge, root, no systemd): munged, slurmctld and slurmd with state, spool and logs in one temp folder.
 * Everything started here is stopped by pid in `t.after`; nothing is killed by name.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from './tmp';

const run = promisify(execFile);

async function has(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false; // not on PATH
  }
}

async function pidOf(file: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined; // not written (the daemon did not start)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 100 ms until it is true, failing with `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface LocalSlurm {
  /** SLURM_CONF for every slurm command (pass in the environment of children). */
  conf: string;
  env: NodeJS.ProcessEnv;
  dir: string;
}

/**
 * Why Slurm cannot run here (not installed, not root), or undefined when it can. Installing is
 * scripts/test-all.sh's job (apt, like Chromium); this only looks.
 */
export async function slurmUnavailable(): Promise<string | undefined> {
  for (const cmd of ['sbatch', 'slurmctld', 'slurmd', 'munged']) if (!(await has(cmd))) return `${cmd} is not installed (apt-get install slurm-wlm munge; scripts/test-all.sh does it)`;
  if (process.getuid?.() !== 0) return 'the local Slurm recipe needs root (SlurmUser=root, munged as munge)';
  return undefined;
}

/** Starts munged (unless one runs), slurmctld and slurmd on a fresh state folder; stops them after the test. */
export async function startLocalSlurm(t: TestContext): Promise<LocalSlurm> {
  const started: number[] = [];
  // stopped, and waited for, before the state folder is removed (tempDir's hook is registered after this one)
  t.after(async () => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGTERM');
    await waitFor(async () => !started.some(alive), `the Slurm daemons ${started.join(', ')} to exit`, 10_000);
  });
  // munge: one per machine; reuse a running one (its socket), else start ours
  if (!(await has('munge')) || !(await run('sh', ['-c', 'munge -n | unmunge']).then(() => true, () => false))) {
    await mkdir('/etc/munge', { recursive: true });
    await run('sh', ['-c', '[ -f /etc/munge/munge.key ] || mungekey -c; mkdir -p /run/munge /var/log/munge /var/lib/munge; chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge']);
    await run('runuser', ['-u', 'munge', '--', 'munged']);
    const pid = await pidOf('/run/munge/munged.pid');
    if (pid) started.push(pid);
  }
  const dir = await tempDir(t, 'bbio-slurm-');
  for (const d of ['state', 'spool', 'log']) await mkdir(path.join(dir, d));
  const host = os.hostname().split('.')[0]!;
  const conf = path.join(dir, 'slurm.conf');
  await writeFile(conf, [
    'ClusterName=local', `SlurmctldHost=${host}`, 'AuthType=auth/munge', 'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none',
    'SelectType=select/cons_tres', 'SelectTypeParameters=CR_Core', `StateSaveLocation=${dir}/state`, `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/ctld.pid`, `SlurmdPidFile=${dir}/d.pid`, `SlurmctldLogFile=${dir}/log/ctld.log`, `SlurmdLogFile=${dir}/log/d.log`,
    'SlurmUser=root', 'ReturnToService=2', 'MpiDefault=none', 'JobAcctGatherType=jobacct_gather/none',
    `NodeName=${host} CPUs=${os.cpus().length} RealMemory=8000 State=UNKNOWN`,
    `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
    // a partition that is down: a job sent there stays pending with reason PartitionDown
    `PartitionName=down Nodes=${host} MaxTime=INFINITE State=DOWN`, '',
  ].join('\n'));
  const env = { ...process.env, SLURM_CONF: conf };
  await run('slurmctld', ['-f', conf], { env });
  await waitFor(async () => !!(await pidOf(path.join(dir, 'ctld.pid'))), 'slurmctld to write its pid');
  started.push((await pidOf(path.join(dir, 'ctld.pid')))!);
  await run('slurmd', ['-f', conf], { env });
  await waitFor(async () => !!(await pidOf(path.join(dir, 'd.pid'))), 'slurmd to write its pid');
  started.push((await pidOf(path.join(dir, 'd.pid')))!);
  await waitFor(async () => /idle/.test((await run('sinfo', ['-h', '-o', '%T'], { env }).catch(() => ({ stdout: '' }))).stdout), 'the node to be idle');
  return { conf, env, dir };
}
