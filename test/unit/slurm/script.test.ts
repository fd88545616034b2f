import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arraySpec, buildBatchScript, PROBE_MISSING_EXIT, rankLayout, shellQuote, type SlurmSettings } from '../../../engine/slurm/script';

const DEFAULTS: SlurmSettings = { gpus: 0, nodes: 1, sbatch: [], setup: [], poll_seconds: 15 };
const COMMAND = ['/usr/bin/node', '/opt/bbio/bin/balancedbio.js', 'run', '/proj/exp.bbio.yaml', '--json', '--sweep-dir', '/proj/runs/s-sweep', '--steps-scale', '1'];

test('array spec: sorted indices as ranges, then the %N throttle (never above the task count)', () => {
  assert.equal(arraySpec([0, 1, 2], 2), '0-2%2');
  assert.equal(arraySpec([8, 0, 2, 1, 5, 7], 3), '0-2,5,7-8%3');
  assert.equal(arraySpec([4], 8), '4%1');
  assert.equal(arraySpec([1, 1, 3], 1), '1,3%1');
});

test('shell quoting keeps plain words and single-quotes the rest', () => {
  assert.equal(shellQuote('/a/b-c_d.yaml'), '/a/b-c_d.yaml');
  assert.equal(shellQuote('my runs'), "'my runs'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote('$HOME'), "'$HOME'");
});

test('a sweep\'s script: one array task per variant to run, every slurm: setting as its #SBATCH line, set-up, probe, then exec of the variant command', () => {
  const script = buildBatchScript({
    jobName: 'bbio-abl', logDir: '/proj/runs/s-sweep/slurm', workDir: '/proj', probeFile: '/proj/runs/s-sweep/slurm/probe-2', command: COMMAND,
    slurm: { ...DEFAULTS, partition: 'gpu', account: 'lab42', qos: 'normal', time: '04:00:00', gpus: 1, cpus: 8, memory: '32G', sbatch: ['--constraint=a100'], setup: ['module load cuda/12.4', 'source ~/venv/bin/activate'], python: '/opt/py/bin/python3' },
    array: { variants: ['seed-1', 'seed-2', 'seed-3'], indices: [0, 2], throttle: 2 },
  });
  const lines = script.split('\n');
  assert.equal(lines[0], '#!/bin/bash');
  assert.deepEqual(lines.filter((l) => l.startsWith('#SBATCH')), [
    '#SBATCH --job-name=bbio-abl',
    '#SBATCH --array=0,2%2',
    '#SBATCH --output=/proj/runs/s-sweep/slurm/%A_%a.out',
    '#SBATCH --error=/proj/runs/s-sweep/slurm/%A_%a.err',
    '#SBATCH --chdir=/proj',
    '#SBATCH --partition=gpu',
    '#SBATCH --account=lab42',
    '#SBATCH --qos=normal',
    '#SBATCH --time=04:00:00',
    '#SBATCH --gres=gpu:1',
    '#SBATCH --cpus-per-task=8',
    '#SBATCH --mem=32G',
    '#SBATCH --constraint=a100',
  ]);
  // set-up lines run before the probe and the command, in order
  const at = (s: string): number => lines.indexOf(s);
  assert.ok(at('module load cuda/12.4') > at('set -euo pipefail') && at('source ~/venv/bin/activate') > at('module load cuda/12.4'));
  assert.ok(at('PROBE=/proj/runs/s-sweep/slurm/probe-2') > at('source ~/venv/bin/activate'));
  assert.ok(lines.includes(`  exit ${PROBE_MISSING_EXIT}`));
  assert.ok(lines.includes('export BALANCEDBIO_PYTHON=/opt/py/bin/python3'));
  assert.ok(lines.includes('VARIANTS=(seed-1 seed-2 seed-3)'));
  assert.ok(lines.includes('VARIANT="${VARIANTS[$SLURM_ARRAY_TASK_ID]}"'));
  assert.equal(lines.at(-2), `exec ${COMMAND.join(' ')} --variant "$VARIANT"`);
});

test('a single job: no array, %j output files, and the defaults leave optional #SBATCH lines out', () => {
  const script = buildBatchScript({ jobName: 'bbio-one', logDir: '/p/runs/slurm', workDir: '/p', probeFile: '/p/runs/slurm/probe-job-1', command: ['node', 'cli.js', 'run', '/p/my exp.bbio.yaml', '--json'], slurm: DEFAULTS });
  const sbatch = script.split('\n').filter((l) => l.startsWith('#SBATCH'));
  assert.deepEqual(sbatch, ['#SBATCH --job-name=bbio-one', '#SBATCH --output=/p/runs/slurm/%j.out', '#SBATCH --error=/p/runs/slurm/%j.err', '#SBATCH --chdir=/p']);
  assert.doesNotMatch(script, /VARIANT|BALANCEDBIO_PYTHON|--gres/);
  assert.match(script, /\nexec node cli\.js run '\/p\/my exp\.bbio\.yaml' --json\n$/);
});

test('model.devices 2 on slurm.nodes 2: the job asks for 2 nodes x 2 tasks and GPUs, and exports the srun line and rendezvous of the 4 ranks', () => {
  const slurm: SlurmSettings = { ...DEFAULTS, partition: 'gpu', nodes: 2, cpus: 4 };
  const ranks = rankLayout({ devices: 2, device: 'cuda' }, slurm);
  assert.deepEqual(ranks, { devices: 2, nodes: 2, gpus: 2 });
  const script = buildBatchScript({ jobName: 'bbio-multi', logDir: '/p/runs/slurm', workDir: '/p', probeFile: '/p/runs/slurm/probe-job-1', command: ['node', 'cli.js', 'run', '/p/m.bbio.yaml', '--json'], slurm, ranks });
  assert.equal(script, [
    '#!/bin/bash',
    '#SBATCH --job-name=bbio-multi',
    '#SBATCH --output=/p/runs/slurm/%j.out',
    '#SBATCH --error=/p/runs/slurm/%j.err',
    '#SBATCH --chdir=/p',
    '#SBATCH --partition=gpu',
    '#SBATCH --nodes=2',
    '#SBATCH --ntasks-per-node=2',
    '#SBATCH --gres=gpu:2',
    '#SBATCH --cpus-per-task=4',
    'set -euo pipefail',
    '',
    '# the submit host wrote this file: a task that cannot see it is on a node without the shared filesystem',
    'PROBE=/p/runs/slurm/probe-job-1',
    'if [ ! -f "$PROBE" ]; then',
    '  echo "balancedbio: shared-filesystem probe: $PROBE is not visible on $(hostname); the runs folder must be on a filesystem the compute nodes share" >&2',
    `  exit ${PROBE_MISSING_EXIT}`,
    'fi',
    '',
    '# torch data parallelism: model.devices 2 x slurm.nodes 2 = 4 ranks, started by the engine',
    '# with this srun line; rank 0 (first task, first node) is its worker and hosts the rendezvous',
    'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
    'export MASTER_ADDR',
    'export MASTER_PORT=$((29500 + SLURM_JOB_ID % 10000))',
    "export BALANCEDBIO_TORCH_SRUN='srun --nodes=2 --ntasks=4 --ntasks-per-node=2 --gres=gpu:2 --cpus-per-task=4 --input=0 --kill-on-bad-exit=1 --overlap'",
    '',
    'exec node cli.js run /p/m.bbio.yaml --json',
    '',
  ].join('\n'));
});

test('rank layout: none for one rank; CPU ranks ask for no GPU; slurm.gpus may ask for more GPUs than ranks, never fewer', () => {
  assert.equal(rankLayout({ devices: 1, device: 'cuda' }, DEFAULTS), undefined);
  assert.deepEqual(rankLayout({ devices: 2, device: 'cpu' }, DEFAULTS), { devices: 2, nodes: 1, gpus: 0 });
  assert.deepEqual(rankLayout({ devices: 1, device: 'auto' }, { ...DEFAULTS, nodes: 3 }), { devices: 1, nodes: 3, gpus: 1 });
  assert.deepEqual(rankLayout({ devices: 2, device: 'auto' }, { ...DEFAULTS, gpus: 4 }), { devices: 2, nodes: 1, gpus: 4 });
  const cpu = buildBatchScript({ jobName: 'j', logDir: '/l', workDir: '/w', probeFile: '/l/p', command: ['x'], slurm: DEFAULTS, ranks: rankLayout({ devices: 2, device: 'cpu' }, DEFAULTS)! });
  assert.doesNotMatch(cpu, /gres/);
  assert.match(cpu, /\n#SBATCH --nodes=1\n#SBATCH --ntasks-per-node=2\n/);
  assert.match(cpu, /BALANCEDBIO_TORCH_SRUN='srun --nodes=1 --ntasks=2 --ntasks-per-node=2 --input=0 --kill-on-bad-exit=1 --overlap'\n/);
});
