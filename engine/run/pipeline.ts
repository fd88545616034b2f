/**
 * The pipeline runner: creates or reopens a run store, runs the requested stages in pipeline order,
 * streams every event to events.jsonl and to an optional sink (CLI progress, stdout JSON, the language
 * server), and records each stage's state so a killed run resumes where it stopped.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import writeFileAtomic from 'write-file-atomic';
import type { EngineEvent, MetricName } from '../../schemas/generated/events';
import type { Experiment } from '../../schemas/generated/experiment';
import { BbioError, toBbioError } from '../util/errors';
import type { Logger } from '../util/log';
import { gitState, sha256 } from '../util/provenance';
import { checkStageDependencies } from '../config/semantic';
import { resolveHubModel } from '../model/hub';
import { RunStore, type StoreIo } from './store';
import { OUTPUT_PATHS, STAGE_IO, STAGE_ORDER, type EventInput, type EventSink, type StageContext, type StageDef, type StageName, type StageOutput, stageSeed, stageSeedOf } from '../core/stage';
import { outputExists } from '../core/outputs';
import { workerFiles } from '../compute/torch/worker-process';
import { digestTree } from '../util/provenance';
import type { RunLock } from './run-lock';
import { StageCache, STAGE_CACHE_DIR, type CacheHit } from './stage-cache';

export interface RunOptions {
  config: Experiment;
  experimentFile: string;
  /** Stages to run (default: config.stages), always in pipeline order. */
  stages?: StageName[];
  /** Continue this run folder instead of creating a new one. */
  resumeDir?: string;
  stepsScale?: number;
  stageTable: Partial<Record<StageName, StageDef>>;
  log: Logger;
  /** Receives every event after it is stamped and stored. */
  onEvent?: (event: EngineEvent) => void;
  signal?: AbortSignal;
  /** Package version for the manifest. */
  version: string;
  /** How the run store writes files (default: atomically); tests inject I/O failures here. */
  storeIo?: StoreIo;
  /** The run's compute session (the torch worker its stages share: compute/index.ts), closed when the run ends. */
  compute?: { close(): Promise<void> };
  /**
   * The stage cache's folder (engine/run/stage-cache.ts); default `<runs_dir>/.stage-cache`. A sweep passes its
   * experiment's, so that its variants (each with its own runs_dir) share one. Unused when output.stage_cache is false.
   */
  stageCacheDir?: string;
}

export interface RunOutcome {
  runId: string;
  runDir: string;
  status: 'completed' | 'failed' | 'cancelled';
  error?: BbioError;
  unavailable: StageName[];
}

export { stageSeed, stageSeedOf } from '../core/stage';

async function buildManifest(opts: RunOptions, sourceText: string): Promise<Record<string, unknown>> {
  const seeds = Object.fromEntries(STAGE_ORDER.map((s) => [s, stageSeedOf(opts.config, s)]));
  const state = await gitState(opts.experimentFile);
  // the manifest keeps only commit and dirty, and no entry outside a repository
  const git = state.inRepository ? { commit: state.commit, dirty: state.dirty } : undefined;
  return {
    createdAt: new Date().toISOString(),
    experiment: { file: opts.experimentFile, sha256: sha256(sourceText), ...(git ? { git } : {}) },
    versions: { balancedbio: opts.version, node: process.versions.node, v8: process.versions.v8 },
    platform: { os: `${os.platform()} ${os.release()}`, arch: os.arch(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    // pretrain.seed also seeds the knowledge corpus that synthesize writes (synth-stage.ts): record it beside the stages'
    seeds: { master: opts.config.seed, stages: seeds, ...(opts.config.pretrain.seed !== undefined ? { pretrain: opts.config.pretrain.seed, knowledgeCorpus: stageSeed(opts.config.pretrain.seed, 'synthesize') } : {}) },
  };
}

function makeSink(store: RunStore, onEvent: ((e: EngineEvent) => void) | undefined): EventSink {
  const emit = (input: EventInput): void => {
    const event = { v: 1, t: Date.now(), runId: store.runId, ...input } as EngineEvent;
    if (event.kind === 'metric' && !Number.isFinite(event.value)) {
      // a NaN/Inf metric would break JSON consumers; record it as a warning the user can see instead
      const warn: EngineEvent = { v: 1, t: event.t, runId: store.runId, kind: 'log', level: 'warn', msg: `metric ${event.name} is ${String(event.value)}`, ...(event.stage ? { stage: event.stage } : {}), ...(event.step !== undefined ? { step: event.step } : {}) };
      store.appendEvent(warn);
      onEvent?.(warn);
      return;
    }
    store.appendEvent(event);
    onEvent?.(event);
  };
  return {
    emit,
    metric(name: MetricName, value: number, o?: { step?: number; labels?: Record<string, string>; stage?: StageName }) {
      emit({ kind: 'metric', name, value, ...(o?.step !== undefined ? { step: o.step } : {}), ...(o?.labels ? { labels: o.labels } : {}), ...(o?.stage ? { stage: o.stage } : {}) });
    },
  };
}

/** A sink that stamps every event with the stage, so stages need not repeat it; `record` also receives each one. */
function stageSink(sink: EventSink, stage: StageName, record?: (e: EventInput) => void): EventSink {
  const emit = (e: EventInput): void => {
    record?.(e);
    sink.emit(e);
  };
  return {
    emit: (e) => emit({ stage, ...e } as EventInput),
    metric: (name, value, o) => emit({ kind: 'metric', stage, name, value, ...(o?.step !== undefined ? { step: o.step } : {}), ...(o?.labels ? { labels: o.labels } : {}) }),
  };
}

const engineBuildIds = new Map<string, Promise<string>>();

/**
 * The engine build, for the stage cache's keys, so a changed engine never reuses an older one's result: from the
 * bundle, the digest of every script and wasm binary beside it (the CLI, the tfjs data-parallel worker, the
 * kernels); from source (tsx), the digest of engine/ and schemas/; either way the torch worker's files, Node's
 * version and the package version.
 */
export function engineBuild(version: string): Promise<string> {
  let id = engineBuildIds.get(version);
  if (id) return id;
  const code = (rel: string): boolean => rel.includes('__pycache__') || rel.endsWith('.pyc');
  id = (async () => {
    const fromBundle = __filename.endsWith('.js');
    const root = path.resolve(__dirname, '../..');
    const engine = fromBundle
      ? await digestTree(__dirname, (rel) => rel.includes('/') || !/\.(js|wasm)$/.test(rel))
      : { engine: await digestTree(path.join(root, 'engine'), code), schemas: await digestTree(path.join(root, 'schemas'), code) };
    let worker: Record<string, string> = {};
    try {
      worker = await digestTree(workerFiles().dir, code);
    } catch (e) {
      if (!(e instanceof BbioError)) throw e; // no worker files: this build has no torch backend to tell apart
    }
    return sha256(JSON.stringify({ version, node: process.version, engine, worker }));
  })();
  engineBuildIds.set(version, id);
  return id;
}

/**
 * Downloads `model.hub` into the Hugging Face cache before the first stage that reads the base model, so a
 * stage never waits on the network half-way and `--resume` finds it cached. Progress goes out as `run`
 * progress events (step and total in bytes of the file named in the message: `fields.unit`), which the CLI and the
 * editor's status bar show.
 */
async function fetchHubModel(opts: RunOptions, ordered: readonly StageName[], sink: EventSink, signal: AbortSignal): Promise<void> {
  const { hub, revision = 'main' } = opts.config.model;
  if (!hub || !ordered.some((s) => STAGE_IO[s].needs.includes('base_model'))) return;
  const dir = await resolveHubModel(hub, revision, {
    log: opts.log, signal,
    onProgress: (p) => sink.emit({ kind: 'phase', stage: 'run', status: 'progress', step: p.bytes, ...(Number.isFinite(p.total) ? { total: p.total } : {}), message: `downloading ${p.repo}/${p.file}`, fields: { unit: 'bytes' } }),
  });
  sink.emit({ kind: 'log', level: 'info', msg: `model ${hub}@${revision}: ${dir}` });
}

export async function runPipeline(opts: RunOptions): Promise<RunOutcome> {
  const requested = opts.stages ?? opts.config.stages;
  const ordered = STAGE_ORDER.filter((s) => requested.includes(s));
  const sourceText = await readFile(opts.experimentFile, 'utf8');
  const runsDir = path.resolve(path.dirname(opts.experimentFile), opts.config.output.runs_dir);
  const io = opts.storeIo ? { io: opts.storeIo } : {};
  const store = opts.resumeDir
    ? await RunStore.open(opts.resumeDir, io)
    : await RunStore.create({ runsDir, name: opts.config.name, experimentFile: opts.experimentFile, resolvedYaml: stringify(opts.config), sourceText, manifest: await buildManifest(opts, sourceText), ...io });
  // A process that exits while the run is open (a forced second SIGTERM/SIGINT, a crash) would leave
  // state.json saying `running`; record how it ended instead. Only synchronous work runs in 'exit'.
  const onExit = (code: number): void => {
    const reason: unknown = opts.signal?.aborted ? opts.signal.reason : undefined;
    if (reason !== undefined) store.finishSync('cancelled', { code: 'E_CANCELLED', message: `stopped by ${String(reason)} before the stage could checkpoint`, hint: 'resume with run --resume; the stage continues from its last checkpoint' });
    else store.finishSync('failed', { code: 'E_INTERNAL', message: `the engine exited (code ${code}) while the run was running`, hint: 'resume with run --resume' });
  };
  process.on('exit', onExit);
  try {
    return await runStages(opts, store, ordered);
  } finally {
    process.off('exit', onExit);
    await opts.compute?.close();
  }
}

async function runStages(opts: RunOptions, store: RunStore, ordered: StageName[]): Promise<RunOutcome> {
  const sink = makeSink(store, opts.onEvent);
  let cache: StageCache | undefined;
  const paths = Object.fromEntries(Object.entries(OUTPUT_PATHS).map(([k, rel]) => [k, path.join(store.runDir, rel)])) as Record<StageOutput, string>;
  const unavailable: StageName[] = [];
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  sink.emit({ kind: 'phase', stage: 'run', status: opts.resumeDir ? 'resumed' : 'started', message: `${opts.resumeDir ? 'resuming' : 'starting'} ${ordered.join(' → ')}`, fields: { experiment: opts.experimentFile, stages: ordered, stepsScale: opts.stepsScale ?? 1 } });

  // outputs already on disk (resume) or external (model.path, model.hub) count as available
  const available = new Set<StageOutput>();
  if (opts.config.model.path || opts.config.model.hub) available.add('base_model');
  for (const out of Object.keys(OUTPUT_PATHS) as StageOutput[]) if (await outputExists(out, paths[out])) available.add(out);
  const missing = checkStageDependencies(ordered, available);
  if (missing.length) {
    const m = missing[0]!;
    const err = new BbioError('E_STAGE_DEPENDENCY', `stage \`${m.stage}\` needs ${m.missing.replace('_', ' ')}, which neither an earlier stage nor this run provides`, { file: opts.experimentFile }, 'add the producing stage to --stages, or resume a run that has it');
    return finishFailed(store, sink, err, unavailable, opts);
  }

  try {
    await fetchHubModel(opts, ordered, sink, controller.signal);
    if (opts.config.output.stage_cache) {
      const dir = opts.stageCacheDir ?? path.join(path.resolve(path.dirname(opts.experimentFile), opts.config.output.runs_dir), STAGE_CACHE_DIR);
      cache = new StageCache(dir, { build: await engineBuild(opts.version) });
    }
    for (const name of ordered) {
      const def = opts.stageTable[name];
      if (!def) {
        unavailable.push(name);
        sink.emit({ kind: 'phase', stage: name, status: 'skipped', message: `stage ${name} is not available in this build` });
        await store.updateStage(name, { status: 'skipped', message: 'not available in this build' });
        continue;
      }
      const prev = store.stage(name);
      const outputsDone = (await Promise.all(STAGE_IO[name].produces.map((o) => outputExists(o, paths[o])))).every(Boolean);
      if (prev?.status === 'completed' && outputsDone) {
        sink.emit({ kind: 'phase', stage: name, status: 'skipped', message: 'completed in an earlier attempt' });
        continue;
      }
      const unmet = STAGE_IO[name].needs.filter((n) => !available.has(n));
      if (unmet.length) {
        throw new BbioError('E_STAGE_DEPENDENCY', `stage \`${name}\` needs ${unmet.join(', ')}, which no available stage produced`, { file: opts.experimentFile }, `this build lacks: ${unavailable.join(', ') || 'nothing'}`);
      }
      if (controller.signal.aborted) throw new BbioError('E_CANCELLED', 'run cancelled');
      const resume = prev !== undefined && prev.status !== 'completed' && prev.status !== 'skipped' && prev.attempts > 0;
      const recorded: EventInput[] = [];
      const caching = cache !== undefined && def.cacheKey !== undefined;
      const ctx: StageContext = {
        config: opts.config,
        experimentFile: opts.experimentFile,
        runId: store.runId,
        runDir: store.runDir,
        paths,
        checkpointDir: path.join(store.runDir, 'checkpoints', name),
        events: stageSink(sink, name, caching ? (e) => recorded.push(e) : undefined),
        log: opts.log,
        signal: controller.signal,
        stepsScale: opts.stepsScale ?? 1,
        seed: stageSeedOf(opts.config, name),
        resume,
        updateManifest: (patch) => store.updateManifest(patch),
        note: (message) => store.updateStage(name, { notes: [...(store.stage(name)?.notes ?? []), message] }),
      };
      // the stage cache: reuse the result of an identical earlier stage, or train under the entry's lock and store it
      let cached: { cache: StageCache; key: string; material: Record<string, unknown>; lock: RunLock } | undefined;
      if (cache && def.cacheKey) {
        const material = await def.cacheKey(ctx);
        const key = cache.key(name, material);
        let got: Awaited<ReturnType<StageCache['acquire']>> | undefined;
        try {
          // a resumed stage reuses an entry another run stored meanwhile, but trains on from its own checkpoint
          // rather than wait for one, and stores nothing (its events before the resume are not in this process)
          const hit = resume ? await cache.lookup(name, key) : undefined;
          got = resume ? (hit ? { hit } : undefined) : await cache.acquire(name, key, controller.signal, (holder, hint) => sink.emit({ kind: 'log', level: 'info', stage: name, msg: `waiting for stage cache entry ${name}-${key}, which another run is training: ${holder}${hint ? ` (${hint})` : ''}` }));
        } catch (e) {
          // a damaged entry or an unusable cache folder costs the reuse, not the run: train, and say how to clear it
          const err = toBbioError(e);
          if (err.code === 'E_CANCELLED') throw err;
          sink.emit({ kind: 'log', level: 'warn', stage: name, msg: `stage cache: ${err.message}; training ${name} instead${err.hint ? ` (${err.hint})` : ''}` });
        }
        if (got && 'hit' in got) {
          try {
            await reuseStage(store, sink, name, got.hit, paths, def.notReused, material);
            for (const o of STAGE_IO[name].produces) available.add(o);
            continue;
          } catch (e) {
            const err = toBbioError(e);
            if (err.code === 'E_CANCELLED') throw err;
            sink.emit({ kind: 'log', level: 'warn', stage: name, msg: `stage cache: could not reuse entry ${name}-${key} (${err.message}); training ${name} instead` });
          }
        }
        if (got && 'lock' in got) cached = { cache, key, material, lock: got.lock };
      }
      await store.updateStage(name, { status: 'running', startedAt: new Date().toISOString(), attempts: (prev?.attempts ?? 0) + 1 });
      sink.emit({ kind: 'phase', stage: name, status: resume ? 'resumed' : 'started', message: def.title });
      const t0 = Date.now();
      let result: Awaited<ReturnType<StageDef['run']>>;
      try {
        result = await def.run(ctx);
        if (cached) {
          const outputs = Object.fromEntries(STAGE_IO[name].produces.map((o) => [o, paths[o]]));
          try {
            const stored = await cached.cache.store(name, cached.key, { material: cached.material, sourceRun: store.runDir, summary: result.summary, events: recorded, outputs });
            await store.updateManifestMember('stageCache', name, { key: cached.key, stored });
          } catch (e) {
            // the stage's own outputs are complete in the run: a cache that cannot take a copy (disk full) costs reuse only
            sink.emit({ kind: 'log', level: 'warn', stage: name, msg: `could not store ${name} in the stage cache (${toBbioError(e).message}); this run is complete, later runs will train ${name} again` });
          }
        }
      } finally {
        await cached?.lock.release();
      }
      for (const o of STAGE_IO[name].produces) available.add(o);
      await store.updateStage(name, { status: 'completed', finishedAt: new Date().toISOString(), summary: result.summary });
      sink.emit({ kind: 'phase', stage: name, status: 'completed', message: `${name} finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`, fields: { summary: result.summary } });
    }
  } catch (e) {
    return finishFailed(store, sink, toBbioError(e, 'E_STAGE_FAILED'), unavailable, opts);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  try {
    sink.emit({ kind: 'phase', stage: 'run', status: 'completed', message: unavailable.length ? `done; not in this build: ${unavailable.join(', ')}` : 'done' });
    await store.finish('completed');
    await store.close();
  } catch (e) {
    return finishFailed(store, sink, toBbioError(e, 'E_STAGE_FAILED'), unavailable, opts);
  }
  return { runId: store.runId, runDir: store.runDir, status: 'completed', unavailable };
}

/**
 * Completes stage `name` from a stage cache hit: its outputs copied in, its events replayed (phase events aside:
 * the runner announces this stage itself), and state.json and the manifest saying where the result came from.
 */
async function reuseStage(store: RunStore, sink: EventSink, name: StageName, hit: CacheHit, paths: Record<StageOutput, string>, notReused: StageDef['notReused'], material: Record<string, unknown>): Promise<void> {
  await store.updateStage(name, { status: 'running', startedAt: new Date().toISOString() });
  await StageCache.restore(hit, Object.fromEntries(STAGE_IO[name].produces.map((o) => [o, paths[o]])));
  await repointAdapters(STAGE_IO[name].produces.map((o) => paths[o]), path.join(hit.entry.sourceRun, OUTPUT_PATHS.base_model), paths.base_model);
  const from = `${hit.entry.sourceRun} (stage cache entry ${name}-${hit.entry.key})`;
  const omitted = new Set(notReused?.metrics ?? []);
  sink.emit({ kind: 'log', level: 'info', stage: name, msg: `${name}: reusing the result of an identical ${name} in ${from}; its metrics below are replayed from that run${omitted.size ? ` (not ${[...omitted].join(', ')}, which that run measured on its own data)` : ''}` });
  for (const e of hit.events) if (e.kind !== 'phase' && !(e.kind === 'metric' && omitted.has(e.name))) sink.emit({ ...e, stage: name } as EventInput);
  await store.updateManifestMember('stageCache', name, { key: hit.entry.key, reusedFrom: hit.entry.sourceRun, compute: material.compute ?? null });
  const summary = Object.fromEntries(Object.entries(hit.entry.summary as Record<string, number>).filter(([k]) => !(notReused?.summary ?? []).includes(k)));
  await store.updateStage(name, { status: 'completed', finishedAt: new Date().toISOString(), summary, notes: [`reused from ${from}`] });
  sink.emit({ kind: 'phase', stage: name, status: 'completed', message: `${name} reused from the stage cache (trained in ${path.basename(hit.entry.sourceRun)})`, fields: { summary, cacheKey: hit.entry.key } });
}

/**
 * PEFT's adapter_config.json names the base model it was trained on (base_model_name_or_path): an adapter copied
 * from another run names that run's base model, which may be deleted; point it at this run's, which is identical.
 */
async function repointAdapters(dirs: readonly string[], from: string, to: string): Promise<void> {
  for (const dir of dirs) {
    for (const rel of Object.keys(await digestTree(dir)).filter((r) => path.basename(r) === 'adapter_config.json')) {
      const file = path.join(dir, rel);
      const cfg = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      if (cfg.base_model_name_or_path !== from) continue;
      await writeFileAtomic(file, JSON.stringify({ ...cfg, base_model_name_or_path: to }, null, 2) + '\n');
    }
  }
}

/**
 * Records a failed or cancelled run: the error in the event log and state.json, then closes the store.
 * When the run folder itself has become unwritable these writes fail too; the run still ends with the
 * original error, extended by what could not be recorded, and the lock is released when possible.
 */
async function finishFailed(store: RunStore, sink: EventSink, err: BbioError, unavailable: StageName[], opts: RunOptions): Promise<RunOutcome> {
  const cancelled = err.code === 'E_CANCELLED';
  const unrecorded: BbioError[] = [];
  const attempt = async (write: () => void | Promise<void>): Promise<void> => {
    try {
      await write();
    } catch (e) {
      unrecorded.push(toBbioError(e));
    }
  };
  const running = (Object.entries(store.current.stages) as [StageName, { status: string }][]).find(([, s]) => s.status === 'running')?.[0];
  if (running) await attempt(() => store.updateStage(running, { status: cancelled ? 'cancelled' : 'failed', finishedAt: new Date().toISOString(), message: err.message }));
  await attempt(() => sink.emit({ kind: 'error', code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), ...(err.location.file ? { file: err.location.file } : {}), ...(err.location.line ? { line: err.location.line } : {}), ...(running ? { stage: running } : {}) }));
  await attempt(() => sink.emit({ kind: 'phase', stage: 'run', status: cancelled ? 'cancelled' : 'failed', message: err.message }));
  if (!cancelled && err.code === 'E_STAGE_FAILED' && err.cause instanceof Error && err.cause.stack) opts.log.debug(err.cause.stack);
  await attempt(() => store.finish(cancelled ? 'cancelled' : 'failed', { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) }));
  await attempt(() => store.close());
  const first = unrecorded[0];
  const error = first
    ? new BbioError(err.code, `${err.message}; the run folder could not record it either (${first.message})`, err.location, err.hint ?? first.hint, { cause: err })
    : err;
  return { runId: store.runId, runDir: store.runDir, status: cancelled ? 'cancelled' : 'failed', error, unavailable };
}
