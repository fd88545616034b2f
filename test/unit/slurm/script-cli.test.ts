import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../../engine/cli/main';
import type { CliIo } from '../../../engine/cli/io';
import { tempDir } from '../../helpers/tmp';

async function script(t: import('node:test').TestContext, lines: string[], args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ out: string; code: number; dir: string }> {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'exp.bbio.yaml'), lines.join('\n'));
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: () => {}, isTTY: false, cwd: dir, env };
  const code = await main(['slurm', 'script', 'exp.bbio.yaml', ...args], io);
  return { out: out.join('\n'), code, dir };
}

test('balancedbio slurm script FILE prints the job array a sweep would submit: one task per variant, the variant command, the slurm: lines', async (t) => {
  const { out, code, dir } = await script(t, ['name: abl', 'executor: slurm', 'slurm: { partition: gpu, gpus: 2, time: "02:00:00", setup: ["module load cuda"] }', 'sweep: { parallel: 2 }', 'variants:', '  grid:', '    seed: [1, 2, 3]'], ['--steps-scale', '0.1']);
  assert.equal(code, 0);
  assert.match(out, /^#!\/bin\/bash\n/);
  assert.match(out, /\n#SBATCH --job-name=bbio-abl\n#SBATCH --array=0-2%2\n/);
  assert.match(out, /\n#SBATCH --partition=gpu\n#SBATCH --time=02:00:00\n#SBATCH --gres=gpu:2\n/);
  assert.match(out, /\nmodule load cuda\n/);
  assert.match(out, /\nVARIANTS=\(seed-1 seed-2 seed-3\)\n/);
  const exec = out.split('\n').at(-1)!;
  assert.ok(exec.startsWith(`exec ${process.execPath} `), exec);
  assert.match(exec, new RegExp(` run ${path.join(dir, 'exp.bbio.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} --json --sweep-dir ${path.join(dir, 'runs').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/\\d{8}-\\d{6}-abl-sweep --steps-scale 0\\.1 .*--variant "\\$VARIANT"$`));
});

test('a single experiment\'s script is one job running `run FILE --json`', async (t) => {
  const { out, code } = await script(t, ['name: one', 'slurm: { cpus: 4, memory: 8G, sbatch: ["--constraint=a100"] }']);
  assert.equal(code, 0);
  assert.doesNotMatch(out, /--array|VARIANT/);
  assert.match(out, /\n#SBATCH --output=\S+\/runs\/slurm\/%j\.out\n/);
  assert.match(out, /\n#SBATCH --cpus-per-task=4\n#SBATCH --mem=8G\n#SBATCH --constraint=a100\n/);
  assert.match(out.split('\n').at(-1)!, / run \S+exp\.bbio\.yaml --json --steps-scale 1 /);
});

test('--backend and the submitter\'s BALANCEDBIO_PYTHON reach every task: the command passes --backend, the script exports the interpreter', async (t) => {
  const sweep = ['name: abl', 'variants:', '  grid:', '    seed: [1, 2]'];
  const { out } = await script(t, sweep, ['--backend', 'torch'], { BALANCEDBIO_PYTHON: '/opt/py/bin/python3' });
  assert.match(out, /\nexport BALANCEDBIO_PYTHON=\/opt\/py\/bin\/python3\n/);
  assert.match(out.split('\n').at(-1)!, / --backend torch --variant "\$VARIANT"$/);
  const single = await script(t, ['name: one'], ['--backend', 'torch'], { BALANCEDBIO_PYTHON: '/opt/py/bin/python3' });
  assert.match(single.out, /\nexport BALANCEDBIO_PYTHON=\/opt\/py\/bin\/python3\n/);
  assert.match(single.out.split('\n').at(-1)!, / run \S+exp\.bbio\.yaml --json --steps-scale 1 .*--backend torch$/);
  // slurm.python names the compute nodes' interpreter and wins over the submitter's
  const own = await script(t, ['name: one', 'slurm: { python: /cluster/py3 }'], [], { BALANCEDBIO_PYTHON: '/opt/py/bin/python3' });
  assert.match(own.out, /\nexport BALANCEDBIO_PYTHON=\/cluster\/py3\n/);
  assert.doesNotMatch(own.out, /--backend/);
});

test('a variant may not override executor or slurm settings: the sweep is one array', async (t) => {
  const { code } = await script(t, ['name: bad', 'variants:', '  - { name: big, set: { slurm.gpus: 4 } }']);
  assert.equal(code, 2);
});
