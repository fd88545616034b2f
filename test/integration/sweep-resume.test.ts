import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readEvents, readRunState } from '../../engine/run/store';
import { readSweepState } from '../../engine/run/sweep-store';
import { invalidEvents } from '../helpers/events';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';
import { REPO } from '../helpers/tmp';

const BIN = path.join(REPO, 'bin/balancedbio.js');

/** Two variants (seeds) of a small real pipeline: MKGSG on the fixture graph, then pretraining a tiny model. */
function experiment(t: import('node:test').TestContext, extra: string[] = []): Promise<{ dir: string; file: string }> {
  return writeTinyExperiment(t, ['name: sweep-resume', 'stages: [synthesize, pretrain]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(64), 'pretrain: { steps: 30, batch_size: 4, warmup_steps: 2, checkpoint_every: 3 }', 'variants:', '  grid:', '    seed: [1, 2]', ...extra]);
}

/** Starts `run --json`; `reached` resolves once the `nth` run of the sweep has a pretrain metric at `step`. */
function startSweep(args: string[], cwd: string, nth: number, step: number): { child: ChildProcess; reached: Promise<void>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  let runs = 0;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const reached = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n').slice(0, -1)) {
        if (!line.startsWith('{')) continue; // without --json: the sweep report table
        const e = JSON.parse(line) as { kind: string; stage?: string; status?: string; step?: number };
        if (e.kind === 'phase' && e.stage === 'run' && (e.status === 'started' || e.status === 'resumed')) runs++;
        if (runs === nth && e.kind === 'metric' && e.stage === 'pretrain' && (e.step ?? 0) >= step) resolve();
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.on('close', (code) => reject(new Error(`sweep exited (${code}) before run ${nth} reached step ${step}: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, reached, exit, stderr: () => stderr };
}

test('a sweep killed during its second variant resumes as a whole: the finished variant is kept, the interrupted run continues', async (t) => {
  const { dir, file } = await experiment(t);
  const first = startSweep(['run', file, '--json'], dir, 2, 5);
  await first.reached;
  first.child.kill('SIGKILL');
  await first.exit;
  const sweepId = (await readdir(path.join(dir, 'runs'))).find((n) => n.endsWith('-sweep')); // beside it: .stage-cache
  assert.match(sweepId!, /^\d{8}-\d{6}-sweep-resume-sweep$/);
  const sweepDir = path.join(dir, 'runs', sweepId!);
  let sweep = await readSweepState(sweepDir);
  assert.deepEqual(sweep.variants.map((v) => [v.name, v.status]), [['seed-1', 'completed'], ['seed-2', 'running']]);
  const interrupted = sweep.variants[1]!.runDir!;
  assert.ok((await stat(path.join(sweepDir, interrupted, 'checkpoints/pretrain/latest.json'))).isFile());

  const resumed = startSweep(['run', file, '--json', '--resume', sweepDir], dir, 1, 30);
  await resumed.reached;
  assert.equal(await resumed.exit, 0, resumed.stderr());
  sweep = await readSweepState(sweepDir);
  assert.equal(sweep.status, 'completed');
  assert.deepEqual(sweep.variants.map((v) => [v.name, v.status, v.attempts]), [['seed-1', 'completed', 1], ['seed-2', 'completed', 2]]);
  assert.equal(sweep.variants[1]!.runDir, interrupted, 'the interrupted run was continued, not replaced');
  const state = await readRunState(path.join(sweepDir, interrupted));
  assert.equal(state.status, 'completed');
  assert.equal(state.stages.pretrain?.attempts, 2);
  assert.equal(state.stages.synthesize?.attempts, 1);
  const { events, badLines } = await readEvents(path.join(sweepDir, interrupted));
  assert.deepEqual(badLines.filter((n) => n !== events.length + badLines.length), [], 'at most a torn last line from the kill');
  assert.deepEqual(invalidEvents(events), []);
  // each variant ran with its own seed, and the report was written
  const seeds = await Promise.all(sweep.variants.map(async (v) => JSON.parse(await readFile(path.join(sweepDir, v.runDir!, 'manifest.json'), 'utf8')).seeds.master as number));
  assert.deepEqual(seeds, [1, 2]);
  assert.match(await readFile(path.join(sweepDir, 'sweep-report.md'), 'utf8'), /\| base \| 0\/2 \|/);
  assert.ok(JSON.parse(await readFile(path.join(sweepDir, 'sweep-report.json'), 'utf8')).rows.length === 1);
});

test('--parallel 2 runs variants as child processes; --resume of a finished sweep runs nothing', async (t) => {
  const { dir, file } = await experiment(t);
  const run = startSweep(['run', file, '--parallel', '2', '--steps-scale', '0.2'], dir, 0, 0);
  run.reached.catch(() => {}); // no JSON events in this mode: only the exit matters
  assert.equal(await run.exit, 0, run.stderr());
  const sweepId = (await readdir(path.join(dir, 'runs'))).find((n) => n.endsWith('-sweep')); // beside it: .stage-cache
  const sweepDir = path.join(dir, 'runs', sweepId!);
  const sweep = await readSweepState(sweepDir);
  assert.equal(sweep.parallel, 2);
  assert.deepEqual(sweep.variants.map((v) => v.status), ['completed', 'completed']);
  assert.match(run.stderr(), /\[seed-1\] started/);
  assert.match(run.stderr(), /\[seed-2\] started/);
  const again = startSweep(['run', file, '--resume', sweepDir], dir, 0, 0);
  again.reached.catch(() => {});
  assert.equal(await again.exit, 0);
  assert.match(again.stderr(), /2 variants, 0 to run/);
  assert.deepEqual((await readSweepState(sweepDir)).variants.map((v) => v.attempts), [1, 1]);
});
