/**
 * The stage cache: a stage that ran before with exactly the same inputs is reused instead of trained again.
 *
 * A sweep's variants usually differ downstream of their most expensive stage: a projection ablation trains
 * the same base model for every variant, a reward-weighting sweep the same SFT adapter. Each cacheable stage
 * (StageDef.cacheKey) states what its result depends on: the config blocks it reads, its seed, --steps-scale
 * and the sha-256 of every input file. The cache key is the sha-256 of that material plus the engine build,
 * so a changed setting, input or engine misses. Layout, under `<runs_dir>/.stage-cache/`:
 *
 *   <stage>-<key>/            an entry, renamed into place whole (never seen half-written)
 *     entry.json              stage, key, the key material (the backend's identity included), the run that trained it,
 *                             its summary
 *     events.jsonl            the stage's events in that run (metrics, logs), replayed into a reusing run
 *     outputs/<output>/       copies of the stage's outputs (OUTPUT_PATHS), copied into a reusing run
 *   <stage>-<key>.building/   the lock of the process training that entry (engine/run/run-lock.ts)
 *
 * Concurrency: the first run to miss takes the entry's lock and trains; another run that needs the same entry
 * meanwhile waits for it (polling: the runs folder may be a network filesystem shared with Slurm nodes) and
 * reuses it, or trains itself when the holder died on this host without storing it. A holder on another host
 * cannot be seen to die (run-writer.ts): its waiters say so, with the lock file to delete if it is gone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EventInput } from '../core/stage';
import { writerOf } from '../../schemas/run-writer';
import { BbioError, ioError } from '../util/errors';
import { acquireRunLock, type RunLock } from './run-lock';

export const STAGE_CACHE_DIR = '.stage-cache';
const ENTRY_FILE = 'entry.json';
const EVENTS_FILE = 'events.jsonl';
const OUTPUTS_DIR = 'outputs';

/** What a stage's result depends on, as plain JSON (config blocks, seeds, input digests). */
export type CacheMaterial = Record<string, unknown>;

export interface CacheEntry {
  stage: string;
  key: string;
  createdAt: string;
  /** The run folder that trained it (absolute at the time), for the log line of a reusing run. */
  sourceRun: string;
  summary: Record<string, unknown>;
  material: CacheMaterial;
}

export interface CacheHit {
  entry: CacheEntry;
  events: EventInput[];
  /** Absolute folder of each cached output. */
  outputs: Record<string, string>;
}

/** JSON with object keys sorted at every level, so equal material always hashes equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export interface StageCacheOptions {
  /** The engine build: part of every key, so a changed engine never reuses another's result. */
  build: string;
  /** How often a run waiting for another's entry looks again. */
  pollMs?: number;
}

export class StageCache {
  private readonly pollMs: number;

  constructor(readonly dir: string, private readonly o: StageCacheOptions) {
    this.pollMs = o.pollMs ?? 2000;
  }

  key(stage: string, material: CacheMaterial): string {
    return createHash('sha256').update(canonicalJson({ stage, build: this.o.build, material })).digest('hex').slice(0, 32);
  }

  private entryDir(stage: string, key: string): string {
    return path.join(this.dir, `${stage}-${key}`);
  }

  /** The entry, or undefined when absent. A damaged entry (not written by this cache) is an error naming it. */
  async lookup(stage: string, key: string): Promise<CacheHit | undefined> {
    const dir = this.entryDir(stage, key);
    let text: string;
    try {
      text = await readFile(path.join(dir, ENTRY_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError(e, path.join(dir, ENTRY_FILE), 'read');
    }
    try {
      const entry = JSON.parse(text) as CacheEntry;
      if (entry.key !== key || entry.stage !== stage) throw new Error(`it records ${entry.stage}-${entry.key}`);
      const events = (await readFile(path.join(dir, EVENTS_FILE), 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EventInput);
      const names = await readdir(path.join(dir, OUTPUTS_DIR));
      if (!names.length) throw new Error('it holds no outputs');
      return { entry, events, outputs: Object.fromEntries(names.map((n) => [n, path.join(dir, OUTPUTS_DIR, n)])) };
    } catch (e) {
      throw new BbioError('E_CHECKPOINT', `stage cache entry ${dir} is damaged (${e instanceof Error ? e.message : String(e)})`, { file: dir }, `delete ${dir}; the stage then trains again`);
    }
  }

  /**
   * Waits until the entry exists or nobody is building it; then returns the hit, or the lock to build it under.
   * `signal` ends the wait (a cancelled run).
   */
  async acquire(stage: string, key: string, signal: AbortSignal, onWait: (holder: string, hint?: string) => void): Promise<{ hit: CacheHit } | { lock: RunLock }> {
    await mkdir(this.dir, { recursive: true });
    let announced = false;
    for (;;) {
      if (signal.aborted) throw new BbioError('E_CANCELLED', `cancelled while waiting for stage cache entry ${stage}-${key}`);
      const hit = await this.lookup(stage, key);
      if (hit) return { hit };
      try {
        const lock = await acquireRunLock(`${this.entryDir(stage, key)}.building`, writerOf(), 'stage cache entry');
        // stored between our lookup and the lock: reuse it
        const late = await this.lookup(stage, key);
        if (late) {
          await lock.release();
          return { hit: late };
        }
        return { lock };
      } catch (e) {
        if (!(e instanceof BbioError) || e.code !== 'E_RUN_LOCKED') throw e;
        if (!announced) onWait(e.message, e.hint);
        announced = true;
      }
      // one listener per wait, removed when the wait ends: a long wait must not pile them up on the run's signal
      await new Promise<void>((resolve) => {
        const onAbort = (): void => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, this.pollMs);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Stores a finished stage's outputs and events as one entry, renamed into place whole; false when one was there. */
  async store(stage: string, key: string, o: { material: CacheMaterial; sourceRun: string; summary: Record<string, unknown>; events: EventInput[]; outputs: Record<string, string> }): Promise<boolean> {
    const final = this.entryDir(stage, key);
    const tmp = path.join(this.dir, `.tmp-${stage}-${key}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(path.join(tmp, OUTPUTS_DIR), { recursive: true });
      for (const [name, src] of Object.entries(o.outputs)) {
        if (!(await stat(src)).isDirectory()) throw new BbioError('E_IO', `${src} is not a folder`, { file: src }, 'the stage did not write its output');
        await cp(src, path.join(tmp, OUTPUTS_DIR, name), { recursive: true });
      }
      await writeFile(path.join(tmp, EVENTS_FILE), o.events.map((e) => JSON.stringify(e)).join('\n') + (o.events.length ? '\n' : ''));
      const entry: CacheEntry = { stage, key, createdAt: new Date().toISOString(), sourceRun: o.sourceRun, summary: o.summary, material: o.material };
      await writeFile(path.join(tmp, ENTRY_FILE), JSON.stringify(entry, null, 2) + '\n');
      await rename(tmp, final);
      return true;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') return false; // another process stored the same entry first: same content
      throw e instanceof BbioError ? e : ioError(e, final, 'write');
    }
  }

  /** Copies a hit's outputs over `targets` (output name → absolute folder), replacing whatever is there. */
  static async restore(hit: CacheHit, targets: Record<string, string>): Promise<void> {
    for (const [name, dst] of Object.entries(targets)) {
      const src = hit.outputs[name];
      if (!src) throw new BbioError('E_CHECKPOINT', `stage cache entry ${hit.entry.stage}-${hit.entry.key} has no ${name}`, {}, 'delete the entry; the stage then trains again');
      await rm(dst, { recursive: true, force: true });
      await mkdir(path.dirname(dst), { recursive: true });
      await cp(src, dst, { recursive: true });
    }
  }
}
