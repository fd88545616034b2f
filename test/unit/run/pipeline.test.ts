import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment } from '../../../engine/config/load';
import { runPipeline } from '../../../engine/run/pipeline';
import { atomicStoreIo, readEvents, readRunState, RunStore } from '../../../engine/run/store';
import type { StageContext, StageDef, StageName } from '../../../engine/core/stage';
import { BbioError } from '../../../engine/util/errors';
import { silentLogger } from '../../../engine/util/log';
import { invalidEvents } from '../../helpers/events';
import { QUICKSTART, tempDir, workspaceOf } from '../../helpers/tmp';

/** An experiment in a temp folder whose runs land in that folder. */
async function setup(t: import('node:test').TestContext, stages = '[synthesize, pretrain]') {
  const dir = await tempDir(t);
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, `name: unit\nseed: 7\nstages: ${stages}\noutput:\n  runs_dir: runs\n`);
  const { config, problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems, []);
  return { dir, file, config: config! };
}

/** A test stage writing its output marker, recording its context, optionally failing once. */
function fakeStage(name: StageName, marker: string, calls: StageContext[], opts: { failFirst?: boolean; waitForAbort?: boolean } = {}): StageDef {
  let attempts = 0;
  return {
    name,
    title: `fake ${name}`,
    async run(ctx) {
      calls.push(ctx);
      attempts++;
      ctx.events.metric('system/step_ms', 12.5, { step: 1 });
      ctx.events.emit({ kind: 'phase', stage: name, status: 'progress', step: 1, total: 2 });
      if (opts.waitForAbort) {
        if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        throw new BbioError('E_CANCELLED', 'cancelled at step 1');
      }
      if (opts.failFirst && attempts === 1) throw new Error('boom');
      const out = name === 'synthesize' ? ctx.paths.dataset : ctx.paths.base_model;
      await mkdir(out, { recursive: true });
      await writeFile(path.join(out, marker), '{}');
      return { summary: { loss: 1.5 } };
    },
  };
}

test('a run writes state, manifest, resolved config and schema-valid events', async (t) => {
  const { file, config, dir } = await setup(t);
  const calls: StageContext[] = [];
  const seen: unknown[] = [];
  const out = await runPipeline({ config, experimentFile: file, stageTable: { synthesize: fakeStage('synthesize', 'dataset-card.json', calls), pretrain: fakeStage('pretrain', 'model.safetensors', calls) }, log: silentLogger, version: '0.0.0', onEvent: (e) => seen.push(e) });
  assert.equal(out.status, 'completed');
  assert.equal(path.dirname(out.runDir), path.join(dir, 'runs'));
  assert.match(out.runId, /^\d{8}-\d{6}-unit$/);
  const state = await readRunState(out.runDir);
  assert.equal(state.status, 'completed');
  assert.equal(state.stages.pretrain?.status, 'completed');
  assert.deepEqual(state.stages.pretrain?.summary, { loss: 1.5 });
  const manifest = JSON.parse(await readFile(path.join(out.runDir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.seeds.master, 7);
  assert.equal(typeof manifest.seeds.stages.sft, 'number');
  assert.match(await readFile(path.join(out.runDir, 'experiment.yaml'), 'utf8'), /projection: pcgrad/);
  const { events, badLines } = await readEvents(out.runDir);
  assert.deepEqual(badLines, []);
  assert.equal(events.length, seen.length);
  assert.deepEqual(invalidEvents(events), []);
  assert.ok(events.some((e) => e.kind === 'metric' && e.stage === 'pretrain'), 'stage sink stamps the stage');
  assert.notEqual(calls[0]!.seed, calls[1]!.seed);
  const again = await RunStore.open(out.runDir); // the lock was released at the end: it can be taken again
  await again.close();
});

test('a failed stage fails the run; --resume skips finished stages and retries the failed one', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  const table = { synthesize: fakeStage('synthesize', 'dataset-card.json', calls), pretrain: fakeStage('pretrain', 'model.safetensors', calls, { failFirst: true }) };
  const first = await runPipeline({ config, experimentFile: file, stageTable: table, log: silentLogger, version: '0' });
  assert.equal(first.status, 'failed');
  assert.equal(first.error?.code, 'E_STAGE_FAILED');
  assert.match(first.error?.message ?? '', /boom/);
  let state = await readRunState(first.runDir);
  assert.deepEqual([state.status, state.stages.synthesize?.status, state.stages.pretrain?.status], ['failed', 'completed', 'failed']);
  const { events } = await readEvents(first.runDir);
  assert.ok(events.some((e) => e.kind === 'error' && e.code === 'E_STAGE_FAILED' && e.stage === 'pretrain'));

  const again = await runPipeline({ config, experimentFile: file, stageTable: table, log: silentLogger, version: '0', resumeDir: first.runDir });
  assert.equal(again.status, 'completed');
  assert.equal(calls.length, 3, 'synthesize ran once, pretrain twice');
  assert.equal(calls[2]!.resume, true);
  state = await readRunState(first.runDir);
  assert.equal(state.stages.pretrain?.attempts, 2);
});

test('cancellation stops the stage and marks the run cancelled', async (t) => {
  const { file, config } = await setup(t, '[synthesize]');
  const controller = new AbortController();
  const calls: StageContext[] = [];
  const p = runPipeline({ config, experimentFile: file, stageTable: { synthesize: fakeStage('synthesize', 'dataset-card.json', calls, { waitForAbort: true }) }, log: silentLogger, version: '0', signal: controller.signal, onEvent: (e) => { if (e.kind === 'phase' && e.status === 'progress') controller.abort(); } });
  const out = await p;
  assert.equal(out.status, 'cancelled');
  assert.equal((await readRunState(out.runDir)).stages.synthesize?.status, 'cancelled');
});

test('stages absent from the table are reported, never faked, and block their dependants', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  const out = await runPipeline({ config, experimentFile: file, stageTable: { pretrain: fakeStage('pretrain', 'model.safetensors', calls) }, log: silentLogger, version: '0' });
  assert.equal(out.status, 'failed');
  assert.deepEqual(out.unavailable, ['synthesize']);
  assert.equal(out.error?.code, 'E_STAGE_DEPENDENCY');
  assert.equal(calls.length, 0);
});

test('a stage subset whose inputs are missing is refused before anything runs', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  const out = await runPipeline({ config, experimentFile: file, stages: ['pretrain'], stageTable: { pretrain: fakeStage('pretrain', 'model.safetensors', calls) }, log: silentLogger, version: '0' });
  assert.equal(out.error?.code, 'E_STAGE_DEPENDENCY');
  assert.equal(calls.length, 0);
});

test('the run store refuses a second writer and an unwritable runs directory', async (t) => {
  const dir = await tempDir(t);
  const store = await RunStore.create({ runsDir: path.join(dir, 'runs'), name: 'lock', experimentFile: QUICKSTART, resolvedYaml: 'name: lock\n', sourceText: 'name: lock\n', manifest: {} });
  t.after(() => store.close());
  await assert.rejects(RunStore.open(store.runDir), (e: BbioError) => e.code === 'E_RUN_LOCKED' && /another process/.test(e.message));
  await writeFile(path.join(dir, 'a-file'), 'x');
  await assert.rejects(RunStore.create({ runsDir: path.join(dir, 'a-file', 'runs'), name: 'x', experimentFile: QUICKSTART, resolvedYaml: '', sourceText: '', manifest: {} }), (e: BbioError) => e.code === 'E_RUNS_DIR_UNWRITABLE');
});

test('a torn last line in events.jsonl is skipped and reported, the rest is read', async (t) => {
  const dir = await tempDir(t);
  const runDir = path.join(dir, 'r');
  await mkdir(runDir);
  await copyFile(QUICKSTART, path.join(runDir, 'x'));
  await writeFile(path.join(runDir, 'events.jsonl'), '{"v":1,"t":1,"runId":"r","kind":"log","level":"info","msg":"a"}\n{"v":1,"t":2,"ru');
  const { events, badLines } = await readEvents(runDir);
  assert.equal(events.length, 1);
  assert.deepEqual(badLines, [2]);
  await writeFile(path.join(runDir, 'state.json'), '{"version":1,"runId":');
  await assert.rejects(readRunState(runDir), (e: BbioError) => e.code === 'E_RUN_CORRUPT');
});

/** An operating-system error as Node raises it (code, errno, syscall, path). */
function osError(code: string, syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, ${syscall} '${file}'`), { code, errno: -1, syscall, path: file });
}

test('disk full during a stage ends the run with E_IO naming the path and what to do, recorded in state.json', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  const full: StageDef = {
    name: 'pretrain',
    title: 'checkpoint on a full disk',
    async run(ctx) {
      // what saveCheckpoint meets when the disk fills (simulated: the test cannot fill the disk)
      throw osError('ENOSPC', 'write', path.join(ctx.checkpointDir, 'step-00000004', 'params.safetensors'));
    },
  };
  const out = await runPipeline({ config, experimentFile: file, stageTable: { synthesize: fakeStage('synthesize', 'dataset-card.json', calls), pretrain: full }, log: silentLogger, version: '0' });
  assert.equal(out.status, 'failed');
  assert.equal(out.error?.code, 'E_IO');
  assert.match(out.error?.message ?? '', /checkpoints\/pretrain\/step-00000004\/params\.safetensors: ENOSPC/);
  assert.match(out.error?.hint ?? '', /disk is full/);
  const state = await readRunState(out.runDir);
  assert.equal(state.status, 'failed');
  assert.equal(state.error?.code, 'E_IO');
  assert.equal(state.stages.pretrain?.status, 'failed');
});

test('a run folder that turns read-only mid-run ends with E_IO (not an internal error), the error in the events, the lock released', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  // Root ignores file permissions, so chmod cannot make the folder read-only here: the store's writes
  // fail through its I/O seam from the moment the stage runs, as they would on a remounted file system.
  let readOnly = false;
  const fail = (f: string): never => {
    throw osError('EROFS', 'open', f);
  };
  const storeIo = {
    writeFile: (f: string, text: string) => (readOnly ? Promise.reject(osError('EROFS', 'open', f)) : atomicStoreIo.writeFile(f, text)),
    writeFileSync: (f: string, text: string) => (readOnly ? fail(f) : atomicStoreIo.writeFileSync(f, text)),
  };
  const turnsReadOnly: StageDef = {
    name: 'pretrain',
    title: 'folder becomes read-only',
    async run() {
      readOnly = true;
      return { summary: { loss: 1 } };
    },
  };
  const out = await runPipeline({ config, experimentFile: file, stageTable: { synthesize: fakeStage('synthesize', 'dataset-card.json', calls), pretrain: turnsReadOnly }, log: silentLogger, version: '0', storeIo });
  assert.equal(out.status, 'failed');
  assert.equal(out.error?.code, 'E_IO');
  assert.match(out.error?.message ?? '', /state\.json: EROFS/);
  assert.match(out.error?.hint ?? '', /read-only/);
  const { events } = await readEvents(out.runDir);
  assert.ok(events.some((e) => e.kind === 'error' && e.code === 'E_IO'), 'the error reached events.jsonl, which stays appendable');
  readOnly = false;
  const again = await RunStore.open(out.runDir); // the lock was released despite the failure
  await again.close();
});
