import assert from 'node:assert/strict';
import { test } from 'node:test';
import { variantCommand } from '../../../engine/cli/commands/sweep';

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
