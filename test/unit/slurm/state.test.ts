import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { expandArraySpec, isFinished, parseSacct, parseScontrol, parseSqueue, stuckPendingHint, variantStatusOf } from '../../../engine/slurm/state';
import { culpritOf } from '../../../engine/slurm/rejection';
import { slurmTaskLabel } from '../../../schemas/run-layout';
import { REPO } from '../../helpers/tmp';

/** Output captured from a real Slurm 22.05 (Debian slurm-wlm, test/helpers/slurm.ts): a 4-task array `--array=0-3%2`. */
const fixture = (name: string): Promise<string> => readFile(path.join(REPO, 'test/fixtures/slurm', name), 'utf8');

test('squeue --array: one state per task, node and reason when there are some', async () => {
  assert.deepEqual(parseSqueue(await fixture('squeue-array-pending.txt')).map((s) => [s.jobId, s.taskId, s.state, s.node, s.reason]), [
    ['1', 0, 'PENDING', undefined, undefined], ['1', 1, 'PENDING', undefined, undefined], ['1', 2, 'PENDING', undefined, undefined], ['1', 3, 'PENDING', undefined, undefined],
  ]);
  assert.deepEqual(parseSqueue(await fixture('squeue-array-running.txt')), [{ jobId: '1', taskId: 3, state: 'RUNNING', node: 'vm' }]);
  assert.deepEqual(parseSqueue(await fixture('squeue-begin-time.txt')), [{ jobId: '5', state: 'PENDING', reason: 'BeginTime' }]);
});

test('scontrol show job -o: finished tasks with exit code and stderr file; the unstarted rest of an array expands to its tasks', async () => {
  const done = parseScontrol(await fixture('scontrol-array-mixed.txt'));
  assert.deepEqual(done.map((s) => [s.taskId, s.state, s.exitCode, s.node]), [[3, 'RUNNING', '0:0', 'vm'], [2, 'FAILED', '3:0', 'vm'], [0, 'COMPLETED', '0:0', 'vm']]);
  assert.equal(done[1]!.reason, 'NonZeroExitCode');
  assert.match(done[1]!.stdErr!, /out-1_2\.txt$/);
  const pending = parseScontrol(await fixture('scontrol-array-pending.txt'));
  assert.deepEqual(pending.map((s) => [s.jobId, s.taskId, s.state, s.stdErr]), [['1', 0, 'PENDING', undefined], ['1', 1, 'PENDING', undefined], ['1', 2, 'PENDING', undefined], ['1', 3, 'PENDING', undefined]]);
  assert.deepEqual(parseScontrol(await fixture('scontrol-begin-time.txt')).map((s) => [s.jobId, s.taskId, s.state, s.reason]), [['5', undefined, 'PENDING', 'BeginTime']]);
});

test('sacct -P lines (accounting on): tasks, skipping the not-yet-started `[…]` record', () => {
  const text = '12_0|COMPLETED|node7|0:0\n12_1|CANCELLED by 1000|node8|0:15\n12_[2-3%2]|PENDING|None assigned|0:0\n13|PREEMPTED|node2|0:0\n';
  assert.deepEqual(parseSacct(text), [
    { jobId: '12', taskId: 0, state: 'COMPLETED', node: 'node7', exitCode: '0:0' },
    { jobId: '12', taskId: 1, state: 'CANCELLED by 1000', node: 'node8', exitCode: '0:15' },
    { jobId: '13', state: 'PREEMPTED', node: 'node2', exitCode: '0:0' },
  ]);
});

test('array ranges expand, with or without a throttle', () => {
  assert.deepEqual(expandArraySpec('0-3%2'), [0, 1, 2, 3]);
  assert.deepEqual(expandArraySpec('1,4-5'), [1, 4, 5]);
  assert.deepEqual(expandArraySpec('7'), [7]);
});

test('Slurm states map onto sweep.json variant states; preempted and timed-out tasks resume like cancelled ones', () => {
  const cases: [string, string][] = [
    ['PENDING', 'pending'], ['REQUEUED', 'pending'], ['CONFIGURING', 'pending'], ['RUNNING', 'running'], ['COMPLETING', 'running'], ['SUSPENDED', 'running'],
    ['COMPLETED', 'completed'], ['FAILED', 'failed'], ['NODE_FAIL', 'failed'], ['OUT_OF_MEMORY', 'failed'],
    ['CANCELLED', 'cancelled'], ['CANCELLED by 1000', 'cancelled'], ['PREEMPTED', 'cancelled'], ['TIMEOUT', 'cancelled'],
  ];
  assert.deepEqual(cases.map(([s]) => [s, variantStatusOf(s)]), cases);
  assert.equal(isFinished('RUNNING'), false);
  assert.equal(isFinished('PREEMPTED'), true);
});

test('a pending reason that will not clear is explained; ordinary waiting is not', () => {
  assert.match(stuckPendingHint('PartitionDown')!, /partition is down/);
  assert.match(stuckPendingHint('(ReqNodeNotAvail)')!, /nodes/);
  assert.match(stuckPendingHint('PartitionTimeLimit')!, /slurm\.time/);
  for (const r of ['Priority', 'Resources', 'JobArrayTaskLimit', 'BeginTime', 'QOSMaxJobsPerUserLimit', undefined]) assert.equal(stuckPendingHint(r), undefined, String(r));
});

test('sbatch refusals name the slurm: key they are about', async () => {
  assert.equal(culpritOf(await fixture('sbatch-invalid-partition.txt'))?.key, 'partition');
  assert.equal(culpritOf('sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified')?.key, 'account');
  assert.equal(culpritOf('sbatch: error: Batch job submission failed: Invalid qos specification')?.key, 'qos');
  assert.equal(culpritOf('sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)')?.key, 'time');
  assert.equal(culpritOf('sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification')?.key, 'gpus');
  assert.equal(culpritOf('sbatch: error: Batch job submission failed: Socket timed out'), undefined);
});

test('the one-line label of a variant\'s Slurm task (CLI and editor)', () => {
  assert.equal(slurmTaskLabel({ jobId: '41', taskId: 1, state: 'RUNNING', node: 'gpu08' }), 'Slurm 41_1 RUNNING on gpu08');
  assert.equal(slurmTaskLabel({ jobId: '41', taskId: 2, state: 'PENDING', reason: 'Priority' }), 'Slurm 41_2 PENDING (Priority)');
  assert.equal(slurmTaskLabel({ jobId: '7', state: 'COMPLETED' }), 'Slurm 7 COMPLETED');
});
