import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { readRunState } from '../../engine/run/store';
import { readSweepState } from '../../engine/run/sweep-store';
import { createSlurmClient } from '../../engine/slurm/client';
import { buildBatchScript, rankLayout, type SlurmSettings } from '../../engine/slurm/script';
import { isFinished } from '../../engine/slurm/state';
import { openForSft, PYTHON, sftInput } from '../helpers/ranks';
import { slurmUnavailable, startLocalSlurm, waitFor } from '../helpers/slurm';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';
import { REPO, tempDir } from '../helpers/tmp';

const BIN = path.join(REPO, 'bin/balancedbio.js');

/** Runs the CLI (the built bundle, as a user and the Slurm tasks run it) to its exit. */
function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv): { exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  return { exit: new Promise((resolve) => child.on('close', (code) => resolve(code))), stderr: () => stderr };
}

/** A local Slurm for this test, or undefined after marking the test skipped with the reason Slurm cannot run. */
async function localSlurmOrSkip(t: TestContext): Promise<Awaited<ReturnType<typeof startLocalSlurm>> | undefined> {
  const why = await slurmUnavailable();
  if (why) {
    t.skip(`Slurm cannot run here: ${why}`);
    return undefined;
  }
  assert.ok(existsSync(path.join(REPO, 'dist/cli.js')), 'the Slurm tasks run the built CLI: npx tsx scripts/build.ts first (scripts/test-all.sh does)');
  return startLocalSlurm(t);
}

test('a 3-variant sweep runs as one Slurm job array; a task cancelled mid-run is resubmitted alone and continues from its checkpoint', async (t) => {
  const slurm = await localSlurmOrSkip(t);
  if (!slurm) return;
  // b trains long enough to be cancelled between checkpoints (400 steps: at 60 a loaded machine let it finish before
  // `slurm cancel` had started, and the sweep exited 0); a and c finish in a step or two
  const { dir, file } = await writeTinyExperiment(t, [
    'name: on-slurm', 'stages: [synthesize, pretrain]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(64),
    'pretrain: { steps: 2, batch_size: 4, warmup_steps: 1, checkpoint_every: 1 }',
    'executor: slurm', 'slurm: { poll_seconds: 0.3, setup: ["echo set-up ran on $(hostname) >&2"] }', 'sweep: { parallel: 3 }',
    'variants:', '  - { name: a, set: { seed: 1 } }', '  - { name: b, set: { seed: 2, pretrain.steps: 400, pretrain.checkpoint_every: 4 } }', '  - { name: c, set: { seed: 3 } }',
  ]);

  const first = cli(['run', file], dir, slurm.env);
  let sweepDir = '';
  await waitFor(async () => {
    const names = await readdir(path.join(dir, 'runs')).catch(() => [] as string[]);
    sweepDir = names.find((n) => n.endsWith('-sweep')) ? path.join(dir, 'runs', names.find((n) => n.endsWith('-sweep'))!) : '';
    if (!sweepDir) return false;
    const b = (await readSweepState(sweepDir)).variants[1]!;
    return !!b.runDir && existsSync(path.join(sweepDir, b.runDir, 'checkpoints/pretrain/latest.json'));
  }, 'variant b to write a pretrain checkpoint', 45_000);
  const running = await readSweepState(sweepDir);
  const jobId = running.variants[1]!.slurm!.jobId;
  assert.equal(running.executor, 'slurm');
  assert.deepEqual(running.variants.map((v) => [v.slurm?.jobId, v.slurm?.taskId]), [[jobId, 0], [jobId, 1], [jobId, 2]], 'one array job, task i = variant i');
  assert.equal(running.variants[1]!.slurm!.state, 'RUNNING');
  assert.equal(running.variants[1]!.slurm!.node, os.hostname().split('.')[0]);
  const cancel = cli(['slurm', 'cancel', `${jobId}_1`], dir, slurm.env);
  assert.equal(await cancel.exit, 0, cancel.stderr());

  assert.equal(await first.exit, 1, first.stderr());
  assert.match(first.stderr(), new RegExp(`submitted job ${jobId}: 3 array task\\(s\\), at most 3 at once`));
  assert.match(first.stderr(), /\[b\] RUNNING on \S+ \(job \d+_1\)/);
  assert.match(first.stderr(), /resume with: balancedbio run \S+ --resume \S+ --executor slurm/);
  let sweep = await readSweepState(sweepDir);
  assert.deepEqual(sweep.variants.map((v) => [v.name, v.status, v.slurm?.state]), [['a', 'completed', 'COMPLETED'], ['b', 'cancelled', 'CANCELLED'], ['c', 'completed', 'COMPLETED']]);
  assert.equal(sweep.status, 'cancelled');
  const interrupted = sweep.variants[1]!.runDir!;
  // Slurm's own output files: each task's events (JSON lines) and logs, with the set-up line's output
  const slurmFiles = await readdir(path.join(sweepDir, 'slurm'));
  for (const task of [0, 1, 2]) assert.ok(slurmFiles.includes(`${jobId}_${task}.out`) && slurmFiles.includes(`${jobId}_${task}.err`), slurmFiles.join(' '));
  assert.match((await readFile(path.join(sweepDir, 'slurm', `${jobId}_0.out`), 'utf8')).split('\n')[0]!, /^\{"v":1,/);
  assert.match(await readFile(path.join(sweepDir, 'slurm', `${jobId}_2.err`), 'utf8'), /set-up ran on /);
  assert.match(await readFile(path.join(sweepDir, 'slurm/submit-1.sh'), 'utf8'), /#SBATCH --array=0-2%3\n/);

  const resumed = cli(['run', file, '--resume', sweepDir, '--executor', 'slurm'], dir, slurm.env);
  assert.equal(await resumed.exit, 0, resumed.stderr());
  assert.match(resumed.stderr(), /3 variants, 1 to run/);
  assert.match(await readFile(path.join(sweepDir, 'slurm/submit-2.sh'), 'utf8'), /#SBATCH --array=1%1\n/);
  sweep = await readSweepState(sweepDir);
  assert.equal(sweep.status, 'completed');
  const again = sweep.variants[1]!;
  assert.notEqual(again.slurm!.jobId, jobId, 'b ran in a new job');
  assert.deepEqual([again.status, again.slurm!.taskId, again.slurm!.state, again.attempts], ['completed', 1, 'COMPLETED', 2]);
  assert.deepEqual(sweep.variants.map((v) => v.attempts), [1, 2, 1], 'a and c were not submitted again');
  assert.equal(again.runDir, interrupted, 'the cancelled run was continued, not replaced');
  const state = await readRunState(path.join(sweepDir, interrupted));
  assert.equal(state.status, 'completed');
  assert.equal(state.stages.pretrain?.attempts, 2);
  // the sweep report, as a local sweep writes it: a and c differ only in seed (one row), b is its own row
  assert.equal(JSON.parse(await readFile(path.join(sweepDir, 'sweep-report.json'), 'utf8')).rows.length, 2);
});

test('a single experiment is one Slurm job; sbatch\'s refusal points at the slurm: line; a job stuck pending says why and Ctrl-C leaves it queued', async (t) => {
  const slurm = await localSlurmOrSkip(t);
  if (!slurm) return;
  const base = ['stages: [synthesize]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(64), 'output: { runs_dir: runs }'];
  const { dir, file } = await writeTinyExperiment(t, ['name: one-job', ...base.slice(0, -1), 'slurm: { poll_seconds: 0.3 }']);

  const one = cli(['run', file, '--executor', 'slurm'], dir, slurm.env);
  assert.equal(await one.exit, 0, one.stderr());
  const outFile = path.join(dir, 'runs/slurm');
  const jobId = /submitted job (\d+)/.exec(one.stderr())![1]!;
  const runId = (await readdir(path.join(dir, 'runs'))).find((n) => n.endsWith('-one-job'))!;
  assert.equal((await readRunState(path.join(dir, 'runs', runId))).status, 'completed');
  assert.match(await readFile(path.join(outFile, `${jobId}.out`), 'utf8'), new RegExp(`"runId":"${runId}"`));

  await writeFile(path.join(dir, 'bad.bbio.yaml'), ['name: bad', ...base, 'slurm:', '  partition: nope', ''].join('\n'));
  const bad = cli(['run', 'bad.bbio.yaml', '--executor', 'slurm'], dir, slurm.env);
  assert.equal(await bad.exit, 2, bad.stderr());
  assert.match(bad.stderr(), /bad\.bbio\.yaml:\d+:14: error E_SLURM_REJECTED sbatch refused the job: sbatch: error: invalid partition specified: nope.*\(set slurm\.partition/);
  assert.equal(bad.stderr().split('\n').find((l) => l.includes('E_SLURM_REJECTED'))!.split(':')[1], String(base.length + 3), 'the line of slurm.partition');

  await writeFile(path.join(dir, 'down.bbio.yaml'), ['name: down', ...base, 'slurm: { partition: down, poll_seconds: 0.3 }', ''].join('\n'));
  const child = spawn(process.execPath, [BIN, 'run', 'down.bbio.yaml', '--executor', 'slurm'], { cwd: dir, env: slurm.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/pending because of PartitionDown: the partition is down/.test(stderr)) resolve();
    });
    child.on('close', () => reject(new Error(`exited before the pending warning: ${stderr}`)));
  });
  child.kill('SIGINT');
  assert.equal(await exit, 1, stderr);
  assert.match(stderr, /no longer following the Slurm job, which keeps running/);
  const pending = /submitted job (\d+)/.exec(stderr)![1]!;
  assert.match(stderr, new RegExp(`cancel with: balancedbio slurm cancel ${pending}`));
  const cancel = cli(['slurm', 'cancel', pending], dir, slurm.env);
  assert.equal(await cancel.exit, 0, cancel.stderr());
});

// Issue 19 on a real Slurm: a job whose batch script was built for model.devices 2 (CPU ranks, gloo) starts the
// torch worker's two ranks through the srun line it exports, as `run --executor slurm` does for each stage, and
// trains to one rank's losses on the same global batches.
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
/** N ranks equal one rank up to float32 summation order (issue 16: 1e-5 relative). */
const REL = 1e-5;
/** The job imports tsx and torch in three processes on a loaded 2-core machine: seconds, a minute at worst. */
const JOB_TIMEOUT_MS = 120_000;

// in this file, not its own: node runs test files concurrently, and two local Slurms on one machine share its
// ports and state folder (a sweep test beside it timed out waiting for slurmd)
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
