import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readEvents, readRunState } from '../../engine/run/store';
import { invalidEvents } from '../helpers/events';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';
import { REPO, tempDir } from '../helpers/tmp';

const BIN = path.join(REPO, 'bin/balancedbio.js');

/** A small but real pipeline: MKGSG on a fixture graph, then pretraining a tiny model. */
function experiment(t: import('node:test').TestContext, opts: { backend?: string } = {}): Promise<{ dir: string; file: string }> {
  return writeTinyExperiment(t, ['name: cancel-resume', 'stages: [synthesize, pretrain]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(64, opts), 'pretrain: { steps: 60, batch_size: 4, warmup_steps: 2, checkpoint_every: 4 }']);
}

/** Starts `run --json` and resolves once a pretrain progress event reaches `step`. */
function startRun(args: string[], cwd: string, step: number): { child: ChildProcess; reached: Promise<string>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const reached = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n').slice(0, -1)) {
        const e = JSON.parse(line) as { kind: string; stage?: string; status?: string; step?: number; runId: string };
        if (e.kind === 'metric' && e.stage === 'pretrain' && (e.step ?? 0) >= step) resolve(e.runId);
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.on('close', (code) => reject(new Error(`run exited (${code}) before step ${step}: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, reached, exit };
}

test('SIGTERM checkpoints and stops between steps; --resume finishes the run', async (t) => {
  const { dir, file } = await experiment(t);
  const first = startRun(['run', file, '--json'], dir, 6);
  const runId = await first.reached;
  const t0 = Date.now();
  first.child.kill('SIGTERM');
  assert.equal(await first.exit, 1);
  assert.ok(Date.now() - t0 < 15_000, `stopped ${Date.now() - t0} ms after SIGTERM`);
  const runDir = path.join(dir, 'runs', runId);
  let state = await readRunState(runDir);
  assert.equal(state.status, 'cancelled');
  assert.equal(state.stages.pretrain?.status, 'cancelled');
  assert.ok((await stat(path.join(runDir, 'checkpoints/pretrain/latest.json'))).isFile());

  const resumed = startRun(['run', file, '--json', '--resume', runDir], dir, 60);
  await resumed.reached;
  assert.equal(await resumed.exit, 0);
  state = await readRunState(runDir);
  assert.equal(state.status, 'completed');
  assert.equal(state.stages.pretrain?.attempts, 2);
  assert.equal(state.stages.synthesize?.attempts, 1, 'the finished stage is not run again');
  const { events, badLines } = await readEvents(runDir);
  assert.deepEqual(badLines, []);
  assert.deepEqual(invalidEvents(events), []);
  assert.ok(events.some((e) => e.kind === 'phase' && e.stage === 'pretrain' && e.status === 'resumed'));
  const steps = events.filter((e) => e.kind === 'metric' && e.name === 'pretrain/loss').map((e) => e.step);
  assert.equal(Math.max(...(steps as number[])), 60);
});

test('after SIGKILL the store is readable at once and --resume takes over the dead process lock', async (t) => {
  const { dir, file } = await experiment(t);
  const first = startRun(['run', file, '--json'], dir, 5);
  const runId = await first.reached;
  first.child.kill('SIGKILL');
  await first.exit;
  const runDir = path.join(dir, 'runs', runId);
  const show = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const c = spawn(process.execPath, [BIN, 'runs', 'show', runDir], { cwd: dir });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => resolve({ code, out }));
  });
  assert.equal(show.code, 0);
  assert.match(show.out, /pretrain\s+running/);
  const resumed = startRun(['run', file, '--json', '--resume', runDir], dir, 60);
  await resumed.reached;
  assert.equal(await resumed.exit, 0, 'no E_RUN_LOCKED: the killed writer no longer exists');
  assert.equal((await readRunState(runDir)).status, 'completed');
  const card = JSON.parse(await readFile(path.join(runDir, 'artifacts/data/dataset-card.json'), 'utf8')) as object;
  assert.ok(card);
});

test('BALANCEDBIO_BACKEND (the editor setting) replaces model.backend: auto, says so, and a bad value is a usage error', async (t) => {
  const { dir, file } = await experiment(t, { backend: 'auto' });
  const run = (env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [BIN, 'run', file, '--stages', 'synthesize,pretrain', '--steps-scale', '0.05', '--json'], { cwd: dir, env: { ...process.env, ...env } });
      let stderr = '';
      let stdout = '';
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.on('close', (code) => resolve({ code, stderr, stdout }));
    });
  const ok = await run({ BALANCEDBIO_BACKEND: 'cpu' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /BALANCEDBIO_BACKEND=cpu replaces model\.backend \(auto\)/);
  const runId = (JSON.parse(ok.stdout.split('\n')[0]!) as { runId: string }).runId;
  const manifest = JSON.parse(await readFile(path.join(dir, 'runs', runId, 'manifest.json'), 'utf8')) as { backend: { kind: string } };
  assert.equal(manifest.backend.kind, 'cpu');
  const bad = await run({ BALANCEDBIO_BACKEND: 'tpu' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /BALANCEDBIO_BACKEND is "tpu"/);
});

test('a second SIGTERM stops a run at once and state.json says cancelled, not running', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'stop.bbio.yaml');
  await writeFile(file, 'name: stop\nstages: [synthesize]\noutput:\n  runs_dir: runs\n');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'run-stop-child.ts'), file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (stream: NodeJS.ReadableStream, re: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`no ${re} within 30 s: ${buf}`)), 30_000);
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = buf.match(re);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
  const stderrSaid = (re: RegExp) => waitFor(child.stderr!, re);
  const runDir = (await waitFor(child.stdout!, /started (.+)\n/))[1]!;
  const firstHandled = stderrSaid(/SIGTERM received: checkpointing/);
  child.kill('SIGTERM');
  await firstHandled; // the stage ignores the abort, as a long step would
  child.kill('SIGTERM');
  assert.equal(await exit, 1);
  const state = await readRunState(runDir);
  assert.equal(state.status, 'cancelled');
  assert.equal(state.stages.synthesize?.status, 'cancelled');
  assert.match(state.error?.message ?? '', /stopped by SIGTERM/);
});
