import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childThreadEnv, variantCommand } from '../../../engine/cli/commands/sweep';

const PARTS = { cliEntry: '/opt/bbio/bin/balancedbio.js', execArgv: [], file: '/proj/exp.bbio.yaml', sweepDir: '/proj/runs/s-sweep', stepsScale: 0.5, workspaceArgs: ['--workspace', '/proj'] };

test('a sweep child\'s command passes the parent\'s --backend on, so every variant runs on it', () => {
  const argv = variantCommand({ ...PARTS, stages: ['pretrain', 'sft'], backend: 'torch' });
  assert.deepEqual(argv.slice(1), [
    '/opt/bbio/bin/balancedbio.js', 'run', '/proj/exp.bbio.yaml', '--json', '--sweep-dir', '/proj/runs/s-sweep', '--steps-scale', '0.5', '--workspace', '/proj',
    '--stages', 'pretrain,sft', '--backend', 'torch',
  ]);
  // without --backend the children use the file's model.backend, as the parent does
  assert.ok(!variantCommand(PARTS).includes('--backend'));
});

test('parallel variants split the cores among their math libraries, unless the user sized them', () => {
  const env = { PATH: '/bin' };
  assert.equal(childThreadEnv(env, 1, 2), env, 'one at a time: the whole machine');
  assert.deepEqual(childThreadEnv(env, 2, 2), { PATH: '/bin', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' });
  assert.equal(childThreadEnv(env, 2, 16).OMP_NUM_THREADS, '8');
  assert.equal(childThreadEnv(env, 4, 2).OPENBLAS_NUM_THREADS, '1', 'never below one thread');
  const mine = { OPENBLAS_NUM_THREADS: '2' };
  assert.equal(childThreadEnv(mine, 2, 2), mine, 'a user\'s setting is kept as it is');
});
