import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExperiment } from '../../../engine/config/load';
import { createSlurmClient } from '../../../engine/slurm/client';
import { locateRejection } from '../../../engine/slurm/rejection';
import { PROBE_MISSING_MARK } from '../../../engine/slurm/script';
import { taskFailure } from '../../../engine/slurm/sweep';
import { BbioError } from '../../../engine/util/errors';

test('sbatch missing from PATH is E_SLURM_UNAVAILABLE with what to do', async () => {
  const client = createSlurmClient({ ...process.env, PATH: '/nonexistent' });
  await assert.rejects(client.submit('/tmp/x.sh', '/tmp'), (e: unknown) => e instanceof BbioError && e.code === 'E_SLURM_UNAVAILABLE' && /`sbatch` was not found/.test(e.message) && /login node/.test(e.hint ?? ''));
});

test('sbatch\'s refusal keeps Slurm\'s words and points at the slurm: line it is about', async () => {
  const client = createSlurmClient(process.env, async () => ({ code: 1, stdout: '', stderr: 'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n' }));
  const err = await client.submit('/tmp/x.sh', '/tmp').then(() => undefined, (e: unknown) => e as BbioError);
  assert.equal(err?.code, 'E_SLURM_REJECTED');
  const text = 'name: t\nexecutor: slurm\nslurm:\n  account: lab\n  partition: nope\n';
  const { sourceMap } = await parseExperiment(text, '/p/exp.bbio.yaml', { skipFileChecks: true });
  const located = locateRejection(err!, '/p/exp.bbio.yaml', sourceMap);
  assert.match(located.format(), /^\/p\/exp\.bbio\.yaml:5:14: error E_SLURM_REJECTED sbatch refused the job: sbatch: error: invalid partition specified: nope; sbatch: error: Batch job submission failed: Invalid partition name specified \(set slurm\.partition/);
});

test('an ended task that could not see the probe, or whose output never appeared here, means the folder is not shared', () => {
  const base = { what: 'variant seed-1', stderrFile: '/n/s/slurm/7_0.err', sweepDir: '/n/s' };
  const probe = taskFailure({ ...base, task: { state: 'FAILED', exitCode: '97:0', node: 'c12' }, stderrTail: `${PROBE_MISSING_MARK}: /n/s/slurm/probe-1 is not visible on c12` });
  assert.equal(probe.code, 'E_SLURM_NOT_SHARED');
  assert.match(probe.message, /variant seed-1 on c12: the job could not see the probe file/);
  const absent = taskFailure({ ...base, task: { state: 'FAILED', exitCode: '1:0', node: 'c12' }, stderrTail: undefined });
  assert.equal(absent.code, 'E_SLURM_NOT_SHARED');
  assert.match(absent.message, /7_0\.err did not appear on this host/);
  const failed = taskFailure({ ...base, task: { state: 'FAILED', exitCode: '1:0', node: 'c12' }, stderrTail: 'line a\nE_NAN loss is NaN' });
  assert.equal(failed.code, 'E_STAGE_FAILED');
  assert.match(failed.message, /Slurm FAILED \(exit 1:0\) on c12; stderr tail \(\/n\/s\/slurm\/7_0\.err\):\nline a\nE_NAN loss is NaN$/);
  assert.match(failed.hint!, /--executor slurm/);
});
