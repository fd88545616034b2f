import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../../engine/cli/main';
import type { CliIo } from '../../../engine/cli/io';
import type { SweepState } from '../../../engine/run/sweep-store';
import { tempDir } from '../../helpers/tmp';

const SWEEP: SweepState = {
  version: 1, sweepId: '20261203-120000-abl-sweep', name: 'abl', experimentFile: '/p/abl.bbio.yaml', experimentSha256: 'x', status: 'running', createdAt: '2026-12-03T12:00:00.000Z', updatedAt: '2026-12-03T12:01:00.000Z',
  parallel: 2, stepsScale: 1, executor: 'slurm',
  variants: [
    { name: 'seed-1', group: 'base', groupKey: '{}', seed: 1, set: { seed: 1 }, status: 'completed', attempts: 1, runDir: 'seed-1/20261203-120010-abl', slurm: { jobId: '41', taskId: 0, state: 'COMPLETED', node: 'gpu07' } },
    { name: 'seed-2', group: 'base', groupKey: '{}', seed: 2, set: { seed: 2 }, status: 'running', attempts: 1, slurm: { jobId: '41', taskId: 1, state: 'RUNNING', node: 'gpu08' } },
    { name: 'seed-3', group: 'base', groupKey: '{}', seed: 3, set: { seed: 3 }, status: 'pending', attempts: 1, slurm: { jobId: '41', taskId: 2, state: 'PENDING', reason: 'JobArrayTaskLimit' } },
  ],
};

test('runs list shows sweeps with their Slurm job and task states; runs show SWEEP shows job, task, state and node per variant', async (t) => {
  const dir = await tempDir(t);
  const sweepDir = path.join(dir, 'runs', SWEEP.sweepId);
  await mkdir(sweepDir, { recursive: true });
  await writeFile(path.join(sweepDir, 'sweep.json'), JSON.stringify(SWEEP));
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: () => {}, isTTY: false, cwd: dir };
  assert.equal(await main(['runs', 'list'], io), 0);
  assert.match(out.join('\n'), /SWEEP\s+STATUS\s+VARIANTS\s+SLURM/);
  assert.match(out.join('\n'), /20261203-120000-abl-sweep\s+running\s+1\/3 completed\s+job 41: 1 COMPLETED, 1 RUNNING, 1 PENDING/);
  out.length = 0;
  assert.equal(await main(['runs', 'show', `runs/${SWEEP.sweepId}`], io), 0);
  assert.equal(out[0], 'sweep 20261203-120000-abl-sweep  (running, on Slurm)');
  const rows = out.slice(2).map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows, [
    ['VARIANT', 'STATUS', 'SLURM JOB', 'STATE', 'NODE', 'RUN'],
    ['seed-1', 'completed', '41_0', 'COMPLETED', 'gpu07', 'seed-1/20261203-120010-abl'],
    ['seed-2', 'running', '41_1', 'RUNNING', 'gpu08', '-'],
    ['seed-3', 'pending', '41_2', 'PENDING (JobArrayTaskLimit)', '-', '-'],
  ]);
});
