/**
 * The batch script a Slurm submission runs: a pure function from the experiment's `slurm:` block and the
 * command of one variant to the text of the script, so `balancedbio slurm script FILE` prints exactly what
 * `run --executor slurm` submits. A sweep is one job array: task i runs the variant at position i of
 * sweep.json (positions are stable across resumes, so a resubmitted variant keeps its task id).
 */
import path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';
import { SRUN_ENV } from '../compute/torch/worker-process';

export type SlurmSettings = Experiment['slurm'];

/**
 * The torch backend's data-parallel ranks in one job: `devices` (model.devices) on each of `nodes`
 * (slurm.nodes), and the GPUs each node asks for. Undefined for one rank.
 */
export interface RankLayout {
  devices: number;
  nodes: number;
  gpus: number;
}

export function rankLayout(model: Pick<Experiment['model'], 'devices' | 'device'>, slurm: SlurmSettings): RankLayout | undefined {
  if (model.devices * slurm.nodes <= 1) return undefined;
  // each rank on CUDA takes one GPU of its node (bbio_worker/compute.py _rank_device): ask for at least that
  // many; `device: cpu` ranks need none, so only slurm.gpus asks for any
  return { devices: model.devices, nodes: slurm.nodes, gpus: model.device === 'cpu' ? slurm.gpus : Math.max(slurm.gpus, model.devices) };
}

/**
 * The experiment's torch ranks per job as script options (none for one rank). A sweep's tasks share one
 * script, so its layout is the base file's: a variant that overrides model.devices keeps the base's count of
 * tasks and GPUs.
 */
function withRanks(config: Pick<Experiment, 'model' | 'slurm'>): { ranks?: RankLayout } {
  const ranks = rankLayout(config.model, config.slurm);
  return ranks ? { ranks } : {};
}

/** What every submission takes from an experiment: its `slurm:` block as submitted (slurmSettings) and its rank layout. */
export function submissionSettings(config: Pick<Experiment, 'model' | 'slurm'>, env: NodeJS.ProcessEnv): { slurm: SlurmSettings; ranks?: RankLayout } {
  return { slurm: slurmSettings(config.slurm, env), ...withRanks(config) };
}

/** torch.distributed's default rendezvous port; each job adds its id modulo PORT_SPREAD, so jobs sharing a node do not meet. */
const BASE_PORT = 29500;
const PORT_SPREAD = 10000;

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
  /** Data-parallel torch ranks (rankLayout), started through srun; absent for one rank. */
  ranks?: RankLayout;
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

/** The `#SBATCH` option lines of the `slurm:` block (and of the rank layout), in a fixed order. */
function settingLines(s: SlurmSettings, ranks: RankLayout | undefined): string[] {
  const lines: string[] = [];
  if (s.partition) lines.push(`--partition=${s.partition}`);
  if (s.account) lines.push(`--account=${s.account}`);
  if (s.qos) lines.push(`--qos=${s.qos}`);
  if (s.time) lines.push(`--time=${s.time}`);
  if (ranks) lines.push(`--nodes=${ranks.nodes}`, `--ntasks-per-node=${ranks.devices}`);
  const gpus = ranks ? ranks.gpus : s.gpus;
  if (gpus > 0) lines.push(`--gres=gpu:${gpus}`);
  if (s.cpus) lines.push(`--cpus-per-task=${s.cpus}`);
  if (s.memory) lines.push(`--mem=${s.memory}`);
  return [...lines, ...s.sbatch];
}

/**
 * The srun line of the torch ranks and their rendezvous (bbio_worker/ranks.py join_slurm). The engine, running
 * in the batch step, starts every rank with it for each stage's worker; rank 0 (SLURM_PROCID 0, first on the
 * first node) answers the engine over srun's stdin (`--input=0`: the other ranks get none) and stdout, and hosts
 * the rendezvous at MASTER_ADDR:MASTER_PORT. `--kill-on-bad-exit` ends every rank when one dies; `--overlap`
 * lets a step share the allocation with another step of the job (two workers open at once); srun does not
 * inherit `--cpus-per-task` from the job since Slurm 22.05, so it is repeated.
 */
function rankLines(r: RankLayout, s: SlurmSettings): string[] {
  const srun = [
    'srun', `--nodes=${r.nodes}`, `--ntasks=${r.nodes * r.devices}`, `--ntasks-per-node=${r.devices}`,
    ...(r.gpus > 0 ? [`--gres=gpu:${r.gpus}`] : []), ...(s.cpus ? [`--cpus-per-task=${s.cpus}`] : []),
    '--input=0', '--kill-on-bad-exit=1', '--overlap',
  ];
  return [
    '',
    `# torch data parallelism: model.devices ${r.devices} x slurm.nodes ${r.nodes} = ${r.nodes * r.devices} ranks, started by the engine`,
    '# with this srun line; rank 0 (first task, first node) is its worker and hosts the rendezvous',
    'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
    'export MASTER_ADDR',
    `export MASTER_PORT=$((${BASE_PORT} + SLURM_JOB_ID % ${PORT_SPREAD}))`,
    `export ${SRUN_ENV}='${srun.join(' ')}'`,
  ];
}

/**
 * The `slurm:` block a submission uses: `python` defaults to the submitting process's BALANCEDBIO_PYTHON (the
 * editor passes its `balancedbio.python` setting so), so Slurm tasks start the torch worker with the
 * interpreter a local run would use; `slurm.python` names another one for the compute nodes.
 */
function slurmSettings(s: SlurmSettings, env: NodeJS.ProcessEnv): SlurmSettings {
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
    ...settingLines(o.slurm, o.ranks),
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
    ...(o.ranks ? rankLines(o.ranks, o.slurm) : []),
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
