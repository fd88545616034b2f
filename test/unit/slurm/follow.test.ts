/**
 * The Slurm follower against a scripted SlurmClient: states land in sweep.json, stopping detaches (the job
 * keeps running), and a resume follows the tasks still in Slurm and resubmits only the others.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { SlurmClient } from '../../../engine/slurm/client';
import type { SlurmTaskState } from '../../../engine/slurm/state';
import { runSlurmSweep, type SlurmSweepOptions } from '../../../engine/slurm/sweep';
import { SweepStore, type SweepVariantState } from '../../../engine/run/sweep-store';
import { tempDir } from '../../helpers/tmp';

const variant = (name: string, seed: number): SweepVariantState => ({ name, group: 'base', groupKey: '{}', seed, set: { seed }, status: 'pending', attempts: 0 });

/** A client whose queue is what `states` returns at each query; records submissions. */
function fakeClient(firstJobId: number, states: (query: number) => SlurmTaskState[]): SlurmClient & { submitted: string[]; queries: number } {
  let next = firstJobId;
  const c = {
    submitted: [] as string[],
    queries: 0,
    async submit(scriptFile: string) {
      c.submitted.push(await readFile(scriptFile, 'utf8'));
      return String(next++);
    },
    async query() {
      return states(c.queries++);
    },
    async cancel() {},
  };
  return c;
}

function options(client: SlurmClient, signal: AbortSignal, lines: string[]): SlurmSweepOptions {
  return { client, slurm: { gpus: 0, nodes: 1, sbatch: [], setup: [], poll_seconds: 1 }, parallel: 2, jobName: 'bbio-t', command: ['node', 'cli.js', 'run', 'x.bbio.yaml', '--json'], workDir: '/tmp', pollMs: 1, signal, report: (l) => lines.push(l) };
}

test('stopping the follower leaves the job to Slurm; a resume follows the live task and resubmits only the ended one', async (t) => {
  const runsDir = await tempDir(t);
  let store = await SweepStore.create({ runsDir, name: 't', experimentFile: 'x.bbio.yaml', sourceText: 'name: t\n', variants: [variant('a', 1), variant('b', 2), variant('c', 3)], parallel: 2, stepsScale: 1 });
  const stop = new AbortController();
  const lines: string[] = [];
  const first = fakeClient(100, (q) => {
    if (q >= 1) stop.abort(); // the user presses Ctrl-C after one look at the queue
    return [{ jobId: '100', taskId: 0, state: 'RUNNING', node: 'n1' }, { jobId: '100', taskId: 1, state: 'RUNNING', node: 'n2' }, { jobId: '100', taskId: 2, state: 'PENDING', reason: 'JobArrayTaskLimit' }];
  });
  const out = await runSlurmSweep(store, options(first, stop.signal, lines));
  await store.close();
  assert.match(first.submitted[0]!, /#SBATCH --array=0-2%2\n/);
  assert.deepEqual(out.detached, ['a', 'b', 'c']);
  assert.equal(out.status, 'running');
  let state = store.current;
  assert.deepEqual(state.variants.map((v) => [v.status, v.slurm?.jobId, v.slurm?.taskId, v.slurm?.state, v.slurm?.node ?? v.slurm?.reason]), [
    ['running', '100', 0, 'RUNNING', 'n1'], ['running', '100', 1, 'RUNNING', 'n2'], ['pending', '100', 2, 'PENDING', 'JobArrayTaskLimit'],
  ]);
  assert.ok(lines.includes('[c] PENDING (JobArrayTaskLimit) (job 100_2)'), lines.join('\n'));

  // later: task 0 still runs, task 1 was preempted, task 2 was cancelled while pending (gone from Slurm's memory)
  store = await SweepStore.open(path.join(runsDir, state.sweepId));
  // each task's stderr as Slurm writes it into the sweep's slurm/ folder
  for (const [task, text] of [['100_0', 'a log\n'], ['101_1', 'b log\n'], ['101_2', 'c log\nerror E_NAN loss is NaN at step 3\n']] as const) await writeFile(path.join(store.sweepDir, 'slurm', `${task}.err`), text);
  const second = fakeClient(101, (q) => {
    if (q === 0) return [{ jobId: '100', taskId: 0, state: 'RUNNING', node: 'n1' }, { jobId: '100', taskId: 1, state: 'PREEMPTED', node: 'n2', exitCode: '0:15' }];
    return [{ jobId: '100', taskId: 0, state: 'PREEMPTED', node: 'n1' }, { jobId: '101', taskId: 1, state: 'PREEMPTED', node: 'n3' }, { jobId: '101', taskId: 2, state: 'FAILED', node: 'n3', exitCode: '1:0' }];
  });
  const again = await runSlurmSweep(store, options(second, new AbortController().signal, lines));
  await store.close();
  assert.equal(second.submitted.length, 1);
  assert.match(second.submitted[0]!, /#SBATCH --array=1-2%2\n/, 'task 0 is followed, not submitted again');
  assert.ok(lines.includes('following 1 task(s) still in Slurm from before: a'), lines.join('\n'));
  state = store.current;
  assert.deepEqual(state.variants.map((v) => [v.name, v.status, v.slurm?.jobId, v.slurm?.state, v.attempts]), [
    ['a', 'cancelled', '100', 'PREEMPTED', 1], ['b', 'cancelled', '101', 'PREEMPTED', 2], ['c', 'failed', '101', 'FAILED', 2],
  ]);
  // a failed task is reported with its stderr tail
  assert.match(state.variants[2]!.error!, /^variant c: Slurm FAILED \(exit 1:0\) on n3; stderr tail \(\S+101_2\.err\):\nc log\nerror E_NAN loss is NaN at step 3$/);
  assert.equal(again.status, 'cancelled', 'as a local sweep: a stopped variant makes the sweep cancelled (resumable)');
});
