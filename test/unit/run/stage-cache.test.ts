import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment } from '../../../engine/config/load';
import { runPipeline } from '../../../engine/run/pipeline';
import { canonicalJson, StageCache } from '../../../engine/run/stage-cache';
import { readEvents, readRunState } from '../../../engine/run/store';
import type { StageContext, StageDef, StageName } from '../../../engine/core/stage';
import { BbioError } from '../../../engine/util/errors';
import { silentLogger } from '../../../engine/util/log';
import { invalidEvents } from '../../helpers/events';
import { tempDir, workspaceOf } from '../../helpers/tmp';

test('canonicalJson sorts keys at every level, so equal material hashes equally', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: null } }), '{"a":{"c":null,"d":[2,{"x":0,"y":1}]},"b":1}');
  const cache = new StageCache('/nowhere', { build: 'b1' });
  assert.equal(cache.key('pretrain', { x: 1, y: { a: 1, b: 2 } }), cache.key('pretrain', { y: { b: 2, a: 1 }, x: 1 }));
  assert.notEqual(cache.key('pretrain', { x: 1 }), cache.key('pretrain', { x: 2 }));
  assert.notEqual(cache.key('pretrain', { x: 1 }), cache.key('sft', { x: 1 }));
  assert.notEqual(cache.key('pretrain', { x: 1 }), new StageCache('/nowhere', { build: 'b2' }).key('pretrain', { x: 1 }), 'another engine build never reuses');
});

test('an entry stores outputs and events whole, restores them, and a damaged one is named with a fix', async (t) => {
  const dir = await tempDir(t);
  const cache = new StageCache(path.join(dir, 'cache'), { build: 'b' });
  const out = path.join(dir, 'run1', 'model');
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'weights.bin'), 'W1');
  const key = cache.key('pretrain', { a: 1 });
  assert.equal(await cache.lookup('pretrain', key), undefined);
  const events = [{ kind: 'metric' as const, stage: 'pretrain' as const, name: 'pretrain/loss' as const, value: 2.5, step: 1 }];
  await cache.store('pretrain', key, { material: { a: 1 }, sourceRun: path.join(dir, 'run1'), summary: { loss: 2.5 }, events, outputs: { base_model: out } });
  const hit = await cache.lookup('pretrain', key);
  assert.ok(hit);
  assert.deepEqual(hit.events, events);
  assert.deepEqual(hit.entry.summary, { loss: 2.5 });
  const target = path.join(dir, 'run2', 'artifacts', 'base-model');
  await mkdir(target, { recursive: true });
  await writeFile(path.join(target, 'stale.bin'), 'old');
  await StageCache.restore(hit, { base_model: target });
  assert.equal(await readFile(path.join(target, 'weights.bin'), 'utf8'), 'W1');
  await assert.rejects(readFile(path.join(target, 'stale.bin')), /ENOENT/, 'restore replaces the folder, it does not merge into it');
  // a second store of the same key (another process finished the same stage) keeps the first, silently
  await cache.store('pretrain', key, { material: { a: 1 }, sourceRun: 'other', summary: {}, events: [], outputs: { base_model: out } });
  assert.equal((await cache.lookup('pretrain', key))?.entry.sourceRun, path.join(dir, 'run1'));
  await writeFile(path.join(cache.dir, `pretrain-${key}`, 'entry.json'), '{ not json');
  await assert.rejects(cache.lookup('pretrain', key), (e: unknown) => e instanceof BbioError && e.code === 'E_CHECKPOINT' && /damaged/.test(e.message) && /delete/.test(e.hint ?? ''));
});

test('a run that needs an entry another process is building waits for it, then reuses it', async (t) => {
  const dir = await tempDir(t);
  const cache = new StageCache(path.join(dir, 'cache'), { build: 'b', pollMs: 20 });
  const key = cache.key('sft', { a: 1 });
  const first = await cache.acquire('sft', key, new AbortController().signal, () => assert.fail('nothing to wait for'));
  assert.ok('lock' in first);
  const waits: string[] = [];
  const waiting = new AbortController();
  const second = cache.acquire('sft', key, waiting.signal, (holder) => waits.push(holder));
  const out = path.join(dir, 'adapter');
  await mkdir(out);
  await writeFile(path.join(out, 'adapter_model.safetensors'), 'A');
  await new Promise((r) => setTimeout(r, 300)); // let the second look many times while the first holds the lock
  assert.ok(getEventListeners(waiting.signal, 'abort').length <= 1, 'a waiter keeps at most one abort listener on the run\'s signal');
  await cache.store('sft', key, { material: { a: 1 }, sourceRun: 'run1', summary: {}, events: [], outputs: { sft_adapter: out } });
  await first.lock.release();
  const got = await second;
  assert.ok('hit' in got, 'the waiter reuses the stored entry instead of training');
  assert.equal(waits.length, 1);
  assert.match(waits[0]!, /being written by another process/);
  // a holder that releases without storing (its stage failed) hands the lock on: the waiter trains itself
  const key2 = cache.key('sft', { a: 2 });
  const a = await cache.acquire('sft', key2, new AbortController().signal, () => undefined);
  assert.ok('lock' in a);
  const b = cache.acquire('sft', key2, new AbortController().signal, () => undefined);
  await a.lock.release();
  const gotB = await b;
  assert.ok('lock' in gotB);
  await gotB.lock.release();
  // a cancelled run stops waiting
  const c = await cache.acquire('sft', key2, new AbortController().signal, () => undefined);
  const ac = new AbortController();
  const d = cache.acquire('sft', key2, ac.signal, () => ac.abort('SIGTERM'));
  await assert.rejects(d, (e: unknown) => e instanceof BbioError && e.code === 'E_CANCELLED');
  if ('lock' in c) await c.lock.release();
});

/** An experiment in a temp folder; its runs and stage cache land in its runs/. */
async function setup(t: import('node:test').TestContext, extra = '') {
  const dir = await tempDir(t);
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, `name: unit\nseed: 7\nstages: [synthesize, pretrain]\npretrain: { steps: 10, warmup_steps: 2 }\n${extra}output:\n  runs_dir: runs\n`);
  const { config, problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems, []);
  return { dir, file, config: config! };
}

/** A cacheable fake pretrain stage whose key is pretrain.steps and whose model records which call trained it. */
function cacheableStages(calls: StageContext[]): Partial<Record<StageName, StageDef>> {
  return {
    synthesize: { name: 'synthesize', title: 'fake synthesize', async run(ctx) { await mkdir(ctx.paths.dataset, { recursive: true }); await writeFile(path.join(ctx.paths.dataset, 'train.jsonl'), ''); return { summary: {} }; } },
    pretrain: {
      name: 'pretrain',
      title: 'fake pretrain',
      async run(ctx) {
        calls.push(ctx);
        ctx.events.metric('pretrain/loss', 3.25, { step: 1 });
        ctx.events.emit({ kind: 'phase', stage: 'pretrain', status: 'progress', step: 1, total: 1 });
        await mkdir(ctx.paths.base_model, { recursive: true });
        await writeFile(path.join(ctx.paths.base_model, 'model.safetensors'), `trained by ${ctx.runId}`);
        return { summary: { loss: 3.25 } };
      },
      cacheKey: async (ctx) => ({ steps: ctx.config.pretrain.steps, seed: ctx.seed }),
    },
  };
}

test('the pipeline reuses a cached stage: outputs copied, metrics replayed, the source recorded; a changed key trains', async (t) => {
  const { file, config, dir } = await setup(t);
  const calls: StageContext[] = [];
  const first = await runPipeline({ config, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(first.status, 'completed');
  assert.equal(calls.length, 1);
  const second = await runPipeline({ config, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(second.status, 'completed');
  assert.equal(calls.length, 1, 'the identical pretrain did not train again');
  assert.equal(await readFile(path.join(second.runDir, 'artifacts/base-model/model.safetensors'), 'utf8'), `trained by ${first.runId}`);
  const state = await readRunState(second.runDir);
  assert.equal(state.stages.pretrain?.status, 'completed');
  assert.deepEqual(state.stages.pretrain?.summary, { loss: 3.25 });
  assert.match(state.stages.pretrain?.notes?.join(' ') ?? '', new RegExp(`reused from .*${first.runId}`));
  const { events } = await readEvents(second.runDir);
  assert.deepEqual(invalidEvents(events), []);
  assert.ok(events.some((e) => e.kind === 'metric' && e.name === 'pretrain/loss' && e.value === 3.25 && e.runId === second.runId), 'the metric is replayed into this run');
  assert.ok(events.some((e) => e.kind === 'phase' && e.stage === 'pretrain' && e.status === 'completed' && /reused from the stage cache/.test(e.message ?? '')));
  assert.ok(!events.some((e) => e.kind === 'phase' && e.stage === 'pretrain' && e.status === 'progress'), 'the source run\'s phase events are not replayed');
  const manifest = JSON.parse(await readFile(path.join(second.runDir, 'manifest.json'), 'utf8')) as { stageCache: { pretrain: { reusedFrom: string } } };
  assert.equal(manifest.stageCache.pretrain.reusedFrom, first.runDir);
  assert.ok(existsSync(path.join(dir, 'runs', '.stage-cache')), 'the cache lives in the runs folder');

  const changed = await setup(t);
  changed.config.pretrain.steps = 11;
  await runPipeline({ config: changed.config, experimentFile: changed.file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(calls.length, 2, 'another folder has its own cache');
  const other = { ...config, pretrain: { ...config.pretrain, steps: 11 } };
  await runPipeline({ config: other, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(calls.length, 3, 'another setting trains');
  await runPipeline({ config, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v2' });
  assert.equal(calls.length, 4, 'another engine build trains');
});

test('output.stage_cache: false always trains; pretrain.seed replaces the experiment seed for pretrain only', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  const off = { ...config, output: { ...config.output, stage_cache: false } };
  await runPipeline({ config: off, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  await runPipeline({ config: off, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(calls.length, 2);
  const pinned = (seed: number) => ({ ...config, seed, pretrain: { ...config.pretrain, seed: 42 } });
  await runPipeline({ config: pinned(1), experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  await runPipeline({ config: pinned(2), experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(calls.length, 3, 'two experiment seeds, one pinned base model: trained once');
  assert.notEqual(calls[2]!.seed, calls[0]!.seed, 'the pinned seed is not the experiment seed\'s');
});

test('a damaged cache entry or a cache that cannot take a copy costs the reuse, never the run', async (t) => {
  const { file, config, dir } = await setup(t);
  const calls: StageContext[] = [];
  const first = await runPipeline({ config, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(first.status, 'completed');
  const cacheDir = path.join(dir, 'runs', '.stage-cache');
  const entry = readdirSync(cacheDir).find((n) => n.startsWith('pretrain-') && !n.endsWith('.building'))!;
  await writeFile(path.join(cacheDir, entry, 'entry.json'), '{ damaged');
  const second = await runPipeline({ config, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(second.status, 'completed', second.error?.message);
  assert.equal(calls.length, 2, 'trained instead of reusing the damaged entry');
  const { events } = await readEvents(second.runDir);
  assert.ok(events.some((e) => e.kind === 'log' && e.level === 'warn' && /damaged/.test(e.msg) && /training pretrain instead/.test(e.msg) && /delete/.test(e.msg)));

  // the cache folder is a file: nothing can be looked up or stored there, yet the stage trains and the run completes
  const blocked = await setup(t);
  await mkdir(path.join(blocked.dir, 'runs'), { recursive: true });
  await writeFile(path.join(blocked.dir, 'runs', '.stage-cache'), 'not a folder');
  const third = await runPipeline({ config: blocked.config, experimentFile: blocked.file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(third.status, 'completed', third.error?.message);
  assert.equal(calls.length, 3);
  const thirdEvents = (await readEvents(third.runDir)).events;
  assert.ok(thirdEvents.some((e) => e.kind === 'log' && e.level === 'warn' && /stage cache: .*stage-cache/.test(e.msg) && /training pretrain instead/.test(e.msg)));
});

test('a stage whose copy into the cache fails still completes its run, with a warning', async (t) => {
  const { file, config, dir } = await setup(t);
  const calls: StageContext[] = [];
  const table = cacheableStages(calls);
  const real = table.pretrain!;
  // the stage deletes its own output after writing it: the copy into the cache then fails, the run must not
  table.pretrain = { ...real, async run(ctx) { const r = await real.run(ctx); await rm(ctx.paths.base_model, { recursive: true }); return r; } };
  const out = await runPipeline({ config: { ...config, stages: ['synthesize', 'pretrain'] }, experimentFile: file, stageTable: table, log: silentLogger, version: 'v' });
  assert.equal(out.status, 'completed', out.error?.message);
  const { events } = await readEvents(out.runDir);
  assert.ok(events.some((e) => e.kind === 'log' && e.level === 'warn' && /could not store pretrain in the stage cache/.test(e.msg)));
  assert.ok(!readdirSync(path.join(dir, 'runs', '.stage-cache')).some((n) => n.startsWith('pretrain-') && !n.endsWith('.building')), 'nothing half-stored');
});

test('a resumed stage reuses an entry stored meanwhile, without waiting for or storing one', async (t) => {
  const { file, config } = await setup(t);
  const calls: StageContext[] = [];
  let fail = true;
  const flaky = cacheableStages(calls);
  const real = flaky.pretrain!;
  flaky.pretrain = { ...real, async run(ctx) { if (fail) { fail = false; throw new Error('killed'); } return real.run(ctx); } };
  const b = await runPipeline({ config, experimentFile: file, stageTable: flaky, log: silentLogger, version: 'v' });
  assert.equal(b.status, 'failed');
  const a = await runPipeline({ config, experimentFile: file, stageTable: cacheableStages(calls), log: silentLogger, version: 'v' });
  assert.equal(a.status, 'completed');
  assert.equal(calls.length, 1);
  const resumed = await runPipeline({ config, experimentFile: file, resumeDir: b.runDir, stageTable: flaky, log: silentLogger, version: 'v' });
  assert.equal(resumed.status, 'completed', resumed.error?.message);
  assert.equal(calls.length, 1, 'the resumed pretrain took the entry run a stored');
  assert.equal(await readFile(path.join(b.runDir, 'artifacts/base-model/model.safetensors'), 'utf8'), `trained by ${a.runId}`);
});
