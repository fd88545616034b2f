/**
 * The batch script a Slurm submission runs: a pure function from the experiment's `slurm:` block and the
 * command of one variant to the text of the script, so `balancedbio slurm script FILE` prints exactly what
 * `run --executor slurm` submits. A sweep is one job array: task i runs the variant at position i of
 * sweep.json (positions are stable across resumes, so a resubmitted variant keeps its task id).
 */
import path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';

export type SlurmSettings = Experiment['slurm'];

/** Exit code of a task that cannot see the submit host's probe file (the folder is not shared). */
export const PROBE_MISSING_EXIT = 97;
/** The first words of the task's message in that case; the follower looks for them in the task's stderr. */
export const PROBE_MISSING_MARK = 'balancedbio: shared-filesystem probe';

export interface BatchScriptInput {
  jobName: string;
  slurm: SlurmSettings;
  /** For a sweep: each variant's name by array index, the indices to run, and how many run at once. */
  array?: { variants: readonly string[]; indices: readonly number[]; throttle: number };
  /** Folder of Slurm's output files (`%A_%a.out`/`.err` for an array, `%j.out`/`.err` for one job). */
  logDir: string;
  /** The job's working folder (`--chdir`). */
  workDir: string;
  /** A file the submit host wrote; the job checks it sees it before running anything. */
  probeFile: string;
  /** The command of the task: node, its options, the CLI and its arguments. For an array, `--variant NAME` is appended. */
  command: readonly string[];
}

/** A word for bash: single-quoted unless it is plainly safe. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `--array` value: sorted indices as ranges, then the `%N` throttle (Slurm runs at most N tasks at once).
 * [0, 1, 2, 5, 7, 8] with 2 → `0-2,5,7-8%2`.
 */
export function arraySpec(indices: readonly number[], throttle: number): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return `${parts.join(',')}%${Math.max(1, Math.min(throttle, sorted.length))}`;
}

/** The `#SBATCH` option lines of the `slurm:` block, in a fixed order. */
function settingLines(s: SlurmSettings): string[] {
  const lines: string[] = [];
  if (s.partition) lines.push(`--partition=${s.partition}`);
  if (s.account) lines.push(`--account=${s.account}`);
  if (s.qos) lines.push(`--qos=${s.qos}`);
  if (s.time) lines.push(`--time=${s.time}`);
  if (s.gpus > 0) lines.push(`--gres=gpu:${s.gpus}`);
  if (s.cpus) lines.push(`--cpus-per-task=${s.cpus}`);
  if (s.memory) lines.push(`--mem=${s.memory}`);
  return [...lines, ...s.sbatch];
}

/**
 * The `slurm:` block a submission uses: `python` defaults to the submitting process's BALANCEDBIO_PYTHON (the
 * editor passes its `balancedbio.python` setting so), so Slurm tasks start the torch worker with the
 * interpreter a local run would use; `slurm.python` names another one for the compute nodes.
 */
export function slurmSettings(s: SlurmSettings, env: NodeJS.ProcessEnv): SlurmSettings {
  const python = s.python ?? (env['BALANCEDBIO_PYTHON']?.trim() || undefined);
  return python ? { ...s, python } : s;
}

export function buildBatchScript(o: BatchScriptInput): string {
  const out = (suffix: string): string => path.join(o.logDir, o.array ? `%A_%a.${suffix}` : `%j.${suffix}`);
  const sbatch = [
    `--job-name=${o.jobName}`,
    ...(o.array ? [`--array=${arraySpec(o.array.indices, o.array.throttle)}`] : []),
    `--output=${out('out')}`,
    `--error=${out('err')}`,
    `--chdir=${o.workDir}`,
    ...settingLines(o.slurm),
  ];
  const lines = [
    '#!/bin/bash',
    ...sbatch.map((l) => `#SBATCH ${l}`),
    'set -euo pipefail',
    '',
    ...(o.slurm.setup.length ? ['# set-up (slurm.setup)', ...o.slurm.setup, ''] : []),
    '# the submit host wrote this file: a task that cannot see it is on a node without the shared filesystem',
    `PROBE=${shellQuote(o.probeFile)}`,
    'if [ ! -f "$PROBE" ]; then',
    `  echo "${PROBE_MISSING_MARK}: $PROBE is not visible on $(hostname); the runs folder must be on a filesystem the compute nodes share" >&2`,
    `  exit ${PROBE_MISSING_EXIT}`,
    'fi',
    ...(o.slurm.python ? [`export BALANCEDBIO_PYTHON=${shellQuote(o.slurm.python)}`] : []),
  ];
  const command = o.command.map(shellQuote).join(' ');
  if (o.array) {
    lines.push(
      '',
      '# variant of each array task: its position in sweep.json',
      `VARIANTS=(${o.array.variants.map(shellQuote).join(' ')})`,
      'VARIANT="${VARIANTS[$SLURM_ARRAY_TASK_ID]}"',
      // exec: scancel's SIGTERM reaches the engine, which checkpoints before it stops
      `exec ${command} --variant "$VARIANT"`,
    );
  } else {
    lines.push('', `exec ${command}`);
  }
  return `${lines.join('\n')}\n`;
}
