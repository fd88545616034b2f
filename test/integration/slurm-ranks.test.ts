/**
 * Issue 19 on a real Slurm: a job whose batch script was built for model.devices 2 (CPU ranks, gloo) starts the
 * torch worker's two ranks through the srun line it exports, as `run --executor slurm` does for each stage, and
 * trains to one rank's losses on the same global batches.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createSlurmClient } from '../../engine/slurm/client';
import { buildBatchScript, rankLayout, type SlurmSettings } from '../../engine/slurm/script';
import { isFinished } from '../../engine/slurm/state';
import { openForSft, PYTHON, sftInput } from '../helpers/ranks';
import { slurmUnavailable, startLocalSlurm, waitFor } from '../helpers/slurm';
import { REPO, tempDir } from '../helpers/tmp';

const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
/** N ranks equal one rank up to float32 summation order (issue 16: 1e-5 relative). */
const REL = 1e-5;
/** The job imports tsx and torch in three processes on a loaded 2-core machine: seconds, a minute at worst. */
const JOB_TIMEOUT_MS = 120_000;

test('a job built for model.devices 2 starts both torch ranks through srun and trains to one rank\'s losses', { skip: needsTorch }, async (t) => {
  const why = await slurmUnavailable();
  if (why) {
    t.skip(`Slurm cannot run here: ${why}`);
    return;
  }
  const slurm = await startLocalSlurm(t);
  const dir = await tempDir(t, 'bbio-slurm-ranks-');
  const probeFile = path.join(dir, 'probe');
  await writeFile(probeFile, 'written before submission\n');
  const settings: SlurmSettings = { gpus: 0, nodes: 1, sbatch: [], setup: [], poll_seconds: 1, python: PYTHON };
  const ranks = rankLayout({ devices: 2, device: 'cpu' }, settings);
  assert.ok(ranks);
  const script = path.join(dir, 'job.sh');
  // the batch step runs the engine side (TorchCompute) from the repository, so `--import tsx` resolves
  await writeFile(script, buildBatchScript({
    jobName: 'bbio-ranks', logDir: dir, workDir: REPO, probeFile, slurm: settings, ranks,
    command: [process.execPath, '--import', 'tsx', path.join(REPO, 'test/fixtures/slurm-ranks/train.ts')],
  }));
  const client = createSlurmClient(slurm.env);
  const jobId = await client.submit(script, REPO);
  let state = '';
  await waitFor(async () => {
    state = (await client.query([jobId])).find((s) => s.jobId === jobId)?.state ?? '';
    return isFinished(state);
  }, `job ${jobId} to finish`, JOB_TIMEOUT_MS);
  const err = await readFile(path.join(dir, `${jobId}.err`), 'utf8');
  assert.equal(state, 'COMPLETED', err.slice(-3000));
  const got = JSON.parse((await readFile(path.join(dir, `${jobId}.out`), 'utf8')).trim()) as { reason: string; losses: number[][] };
  // started by srun, not by rank 0 on the batch host (which would train the same numbers)
  assert.match(got.reason, /2 data-parallel ranks \(gloo, started by srun\)$/);

  const one = await openForSft(1);
  t.after(() => one.dispose());
  for (let n = 0; n < got.losses.length; n++) {
    const want = (await one.sftStep(sftInput(n))).losses;
    got.losses[n]!.forEach((g, c) => assert.ok(Math.abs(g - want[c]!) <= REL * Math.abs(want[c]!), `step ${n + 1}, capability ${c}: srun ranks ${g} vs one rank ${want[c]}`));
  }
  assert.equal(got.losses.length, 2);
});
