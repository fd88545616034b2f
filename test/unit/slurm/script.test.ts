import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arraySpec, buildBatchScript, PROBE_MISSING_EXIT, shellQuote, type SlurmSettings } from '../../../engine/slurm/script';

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
