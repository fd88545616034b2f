/**
 * Variants and sweeps. An experiment's `variants:` block (a list of named overrides, a grid, or both)
 * expands into variants; each overrides dotted paths of the base experiment and runs as its own run in a
 * sweep folder:
 *
 *   runs/<yyyymmdd-hhmmss>-<name>-sweep/
 *     sweep.json            variants, their overrides and status (rewritten atomically by one process)
 *     <variant>/<run>/      an ordinary run store (engine/run/store.ts) per variant
 *     sweep-report.md/.json the table across variants (engine/eval/sweep-report.ts)
 *
 * The scheduler here is independent of how a variant runs: the CLI passes an executor (in process, or a
 * child process of the CLI for `--parallel N`). A killed sweep resumes as a whole: finished variants are
 * kept, an interrupted variant's run continues from its checkpoint, pending ones start.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import lockfile from 'proper-lockfile';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';
import { EXPERIMENT_SCHEMA, type SchemaNode } from '../config/schema-validator';
import { didYouMean } from '../config/suggest';
import { BbioError } from '../util/errors';
import { processAlive } from '../util/process';
import type { Logger } from '../util/log';
import { listRuns, timestampId, writeJsonAtomic, type RunState } from './store';
import { SWEEP_FILES } from '../../schemas/run-layout';

// ------------------------------------------------------------------------------------------ variants

/** Dotted path → value, e.g. { 'sft.projection': 'none', seed: 2 }. */
export type Overrides = Record<string, unknown>;

export interface VariantEntry {
  name: string;
  set?: Overrides;
}

/** The `variants:` block as written: a list, or `{ list?, grid? }`. */
export type VariantsBlock = NonNullable<ExperimentInput['variants']>;

export interface VariantSpec {
  name: string;
  /** Overrides in application order: the list entry's, then the grid point's. */
  set: Overrides;
  /** Row label in the sweep report: the name without its seed part. */
  group: string;
  /** Variants whose overrides are equal but for `seed` share this key (one report row). */
  groupKey: string;
  /** Where the variant comes from, for problems: its list entry and grid indices. */
  origin: { list?: number; grid?: Record<string, number> };
}

/** Paths a variant may not override: they identify the experiment or the sweep itself. */
export const FIXED_PATHS: readonly string[] = ['name', 'variants', 'sweep', '$schema', 'output.runs_dir'];

/** Most variants one file may expand to; a bigger grid is almost certainly a mistake. */
export const MAX_VARIANTS = 1000;

export interface NormalizedVariants {
  list: VariantEntry[];
  grid: Record<string, unknown[]>;
  /** YAML path of the list (`variants` or `variants.list`), for problems. */
  listPath: (string | number)[];
}

export function normalizeVariants(block: VariantsBlock): NormalizedVariants {
  if (Array.isArray(block)) return { list: block as VariantEntry[], grid: {}, listPath: ['variants'] };
  const b = block as { list?: VariantEntry[]; grid?: Record<string, unknown[]> };
  return { list: b.list ?? [], grid: b.grid ?? {}, listPath: ['variants', 'list'] };
}

export function splitPath(dotted: string): string[] {
  return dotted.split('.');
}

/** A value as a folder-name fragment: scalars as written, mappings and lists by 1-based position. */
function valueLabel(v: unknown, index: number): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
    const s = String(v).toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '');
    if (s) return s;
  }
  return String(index + 1);
}

/** JSON with sorted keys, so equal overrides compare equal whatever order they were written in. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/**
 * Every variant of the block: each list entry (or the base experiment when there is no list) at each
 * grid point (the Cartesian product, first grid key slowest). Grid names are `<last segment>-<value>`
 * joined by `_`; clashing names get `-2`, `-3`.
 */
export function expandVariants(block: VariantsBlock): VariantSpec[] {
  const { list, grid } = normalizeVariants(block);
  const keys = Object.keys(grid);
  type Point = { key: string; index: number; value: unknown }[];
  let points: Point[] = [[]];
  for (const key of keys) points = points.flatMap((p) => (grid[key] ?? []).map((value, index) => [...p, { key, index, value }]));
  const entries: (VariantEntry & { index?: number })[] = list.length ? list.map((e, index) => ({ ...e, index })) : [{ name: '' }];
  const used = new Map<string, number>();
  const out: VariantSpec[] = [];
  for (const entry of entries) {
    for (const point of points) {
      const set: Overrides = { ...(entry.set ?? {}) };
      for (const p of point) set[p.key] = p.value;
      const part = (p: Point[number]): string => `${splitPath(p.key).at(-1)!.toLowerCase()}-${valueLabel(p.value, p.index)}`;
      const parts = [entry.name, ...point.map(part)].filter(Boolean);
      const groupParts = [entry.name, ...point.filter((p) => p.key !== 'seed').map(part)].filter(Boolean);
      let name = parts.join('_') || 'base';
      const seen = used.get(name) ?? 0;
      used.set(name, seen + 1);
      if (seen) name = `${name}-${seen + 1}`;
      const { seed: _seed, ...withoutSeed } = set;
      out.push({
        name,
        set,
        group: groupParts.join('_') || 'base',
        groupKey: canonicalJson(withoutSeed),
        origin: { ...(entry.index !== undefined ? { list: entry.index } : {}), ...(point.length ? { grid: Object.fromEntries(point.map((p) => [p.key, p.index])) } : {}) },
      });
    }
  }
  return out;
}

/** How many variants a block expands to, without building them (for the size guard). */
export function countVariants(block: VariantsBlock): number {
  const { list, grid } = normalizeVariants(block);
  return Math.max(1, list.length) * Object.values(grid).reduce((n, values) => n * values.length, 1);
}

export type PathCheck =
  | { ok: true; node: SchemaNode; segments: string[] }
  | { ok: false; message: string; hint?: string; replacement?: string };

/** Every dotted path the schema declares (sections and keys), for suggestions. */
export function schemaPaths(root: SchemaNode = EXPERIMENT_SCHEMA): string[] {
  const out: string[] = [];
  const visit = (n: SchemaNode, at: string): void => {
    for (const [k, v] of Object.entries(n.properties ?? {})) {
      const p = at ? `${at}.${k}` : k;
      out.push(p);
      visit(v, p);
    }
  };
  visit(root, '');
  return out;
}

/** Whether `dotted` names a key of the experiment schema (following `properties` only). */
export function checkOverridePath(dotted: string, root: SchemaNode = EXPERIMENT_SCHEMA): PathCheck {
  const segments = splitPath(dotted);
  if (segments.some((s) => s === '')) return { ok: false, message: `\`${dotted}\` is not a dotted path`, hint: 'write keys separated by single dots, e.g. sft.projection' };
  const fixed = FIXED_PATHS.find((f) => dotted === f || dotted.startsWith(`${f}.`));
  if (fixed) return { ok: false, message: `\`${fixed}\` cannot be overridden by a variant`, hint: fixed === 'output.runs_dir' ? 'the sweep puts every variant\'s run in its own folder of the sweep' : 'it names the experiment or the sweep itself' };
  let node: SchemaNode = root;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const next = node.properties?.[seg];
    if (next) {
      node = next;
      continue;
    }
    const parent = segments.slice(0, i).join('.');
    if (/^\d+$/.test(seg) && node.items) {
      return { ok: false, message: `\`${dotted}\` indexes into the list \`${parent}\`; a variant overrides whole lists only`, hint: `set \`${parent}\` to the whole list` };
    }
    const where = parent ? `\`${parent}\`` : 'the experiment';
    const keys = Object.keys(node.properties ?? {});
    const guess = didYouMean(seg, keys);
    let replacement = guess ? [...segments.slice(0, i), guess, ...segments.slice(i + 1)].join('.') : undefined;
    if (replacement && !checkOverridePath(replacement, root).ok) replacement = [...segments.slice(0, i), guess].join('.');
    if (!replacement) {
      // `projection` alone, or a key under the wrong section: suggest the paths that end the same way
      const all = schemaPaths(root);
      const tail = all.filter((p) => p.endsWith(`.${dotted}`));
      if (tail.length === 1) replacement = tail[0];
      else if (tail.length > 1) return { ok: false, message: `unknown path \`${dotted}\`: ${where} has no key \`${seg}\``, hint: `did you mean ${tail.map((p) => `\`${p}\``).join(' or ')}?` };
      else replacement = didYouMean(dotted, all);
    }
    return {
      ok: false,
      message: `unknown path \`${dotted}\`: ${where} has no key \`${seg}\``,
      hint: replacement ? `did you mean \`${replacement}\`?` : keys.length ? `keys of ${where}: ${keys.join(', ')}` : `${where} has no keys`,
      ...(replacement ? { replacement } : {}),
    };
  }
  return { ok: true, node, segments };
}

export interface OverrideValidator {
  /** Schema errors of `value` at `dotted` (paths relative to the value), and a copy with defaults filled. */
  check(dotted: string, value: unknown): { errors: ErrorObject[]; value: unknown };
}

/** Validates override values against their key's own schema; compiled validators are cached per path. */
export function createOverrideValidator(root: SchemaNode = EXPERIMENT_SCHEMA): OverrideValidator {
  // strict: false for `markdownDescription`; defaults filled so a mapping override resolves like the file would
  const ajv = new Ajv2020({ allErrors: true, verbose: true, useDefaults: true, strict: false, validateFormats: false, code: { optimize: false } });
  const cache = new Map<string, ValidateFunction>();
  return {
    check(dotted, value) {
      const found = checkOverridePath(dotted, root);
      if (!found.ok) throw new BbioError('E_SCHEMA_UNKNOWN_KEY', found.message, {}, found.hint);
      let validate = cache.get(dotted);
      if (!validate) {
        validate = ajv.compile(found.node);
        cache.set(dotted, validate);
      }
      const copy = structuredClone(value);
      return validate(copy) ? { errors: [], value: copy } : { errors: [...(validate.errors ?? [])], value: copy };
    },
  };
}

function setAt(root: Record<string, unknown>, segments: readonly string[], value: unknown): void {
  let node = root;
  for (const seg of segments.slice(0, -1)) {
    const next = node[seg];
    if (!next || typeof next !== 'object' || Array.isArray(next)) node[seg] = {};
    node = node[seg] as Record<string, unknown>;
  }
  node[segments.at(-1)!] = value;
}

/** Whether the overrides give `grpo.epsilon_high` (directly or inside a `grpo` mapping). */
function setsEpsilonHigh(set: Overrides): boolean {
  if ('grpo.epsilon_high' in set) return true;
  const g = set.grpo;
  return !!g && typeof g === 'object' && 'epsilon_high' in g;
}

/**
 * The variant's input and resolved config: each override replaces the value at its path (defaults filled
 * inside a mapping value). `variants` and `sweep` are dropped: a variant is one run.
 */
export function applyOverrides(input: ExperimentInput, config: Experiment, set: Overrides, validator: OverrideValidator): { input: ExperimentInput; config: Experiment } {
  const vin = structuredClone(input) as unknown as Record<string, unknown>;
  const vcfg = structuredClone(config) as unknown as Record<string, unknown>;
  for (const [dotted, value] of Object.entries(set)) {
    const { errors, value: filled } = validator.check(dotted, value);
    if (errors.length) throw new BbioError('E_SCHEMA', `override \`${dotted}\`: ${errors.map((e) => `${e.instancePath || 'value'} ${e.message ?? 'is invalid'}`).join('; ')}`);
    setAt(vin, splitPath(dotted), structuredClone(value));
    setAt(vcfg, splitPath(dotted), filled);
  }
  for (const k of ['variants', 'sweep'] as const) {
    delete vin[k];
    delete vcfg[k];
  }
  const out = vcfg as unknown as Experiment;
  // the loader defaults epsilon_high to clip_epsilon; keep that link when a variant changes clip_epsilon
  if (input.grpo?.epsilon_high === undefined && !setsEpsilonHigh(set)) out.grpo.epsilon_high = out.grpo.clip_epsilon;
  return { input: vin as unknown as ExperimentInput, config: out };
}

/** The seed a variant runs with: its override, else the base experiment's. */
export function variantSeed(v: VariantSpec, base: Experiment): number {
  return typeof v.set.seed === 'number' ? v.set.seed : base.seed;
}

// ------------------------------------------------------------------------------------------- the sweep store

export const SWEEP_FILE = SWEEP_FILES.sweep;
export type VariantStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export type SweepStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface SweepVariantState {
  name: string;
  group: string;
  groupKey: string;
  seed: number;
  set: Overrides;
  status: VariantStatus;
  /** The variant's run folder, relative to the sweep folder, once it exists. */
  runDir?: string;
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
}

export interface SweepState {
  version: 1;
  sweepId: string;
  name: string;
  experimentFile: string;
  /** SHA-256 of the experiment file when the sweep started (a resume warns when it changed). */
  experimentSha256: string;
  status: SweepStatus;
  createdAt: string;
  updatedAt: string;
  parallel: number;
  stepsScale: number;
  stages?: string[];
  /** Process writing the sweep; lets a resume take over the lock of a killed one at once. */
  pid?: number;
  variants: SweepVariantState[];
}

const LOCK_STALE_MS = 10_000;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function readSweepState(sweepDir: string): Promise<SweepState> {
  const file = path.join(sweepDir, SWEEP_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BbioError(code === 'ENOENT' ? 'E_RUN_NOT_FOUND' : 'E_IO', code === 'ENOENT' ? `no sweep at ${sweepDir} (no ${SWEEP_FILE})` : `cannot read ${file}: ${code}`, { file }, 'give the sweep folder, runs/<stamp>-<name>-sweep', { cause: e });
  }
  try {
    const s = JSON.parse(text) as SweepState;
    if (s.version !== 1 || !Array.isArray(s.variants)) throw new Error('unexpected structure');
    return s;
  } catch (e) {
    throw new BbioError('E_RUN_CORRUPT', `${file} is not a valid sweep state: ${(e as Error).message}`, { file }, 'the sweep folder was edited or damaged; start a new sweep', { cause: e });
  }
}

export class SweepStore {
  private releaseLock: (() => Promise<void>) | undefined;
  /** Writes are chained so concurrent variant updates never interleave. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly sweepDir: string,
    private state: SweepState,
  ) {}

  static async create(opts: { runsDir: string; name: string; experimentFile: string; sourceText: string; variants: SweepVariantState[]; parallel: number; stepsScale: number; stages?: string[]; now?: Date }): Promise<SweepStore> {
    try {
      await mkdir(opts.runsDir, { recursive: true });
    } catch (e) {
      throw new BbioError('E_RUNS_DIR_UNWRITABLE', `cannot write to the runs directory ${opts.runsDir}: ${(e as Error).message}`, { file: opts.runsDir }, 'set output.runs_dir to a writable folder', { cause: e });
    }
    const base = `${timestampId(opts.now ?? new Date())}-${opts.name}-sweep`;
    let sweepId = base;
    for (let i = 2; ; i++) {
      try {
        await mkdir(path.join(opts.runsDir, sweepId));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BbioError('E_RUNS_DIR_UNWRITABLE', `cannot create a sweep folder in ${opts.runsDir}: ${(e as Error).message}`, { file: opts.runsDir }, undefined, { cause: e });
        sweepId = `${base}-${i}`;
      }
    }
    const now = new Date().toISOString();
    const state: SweepState = {
      version: 1, sweepId, name: opts.name, experimentFile: opts.experimentFile, experimentSha256: sha256(opts.sourceText), status: 'running', createdAt: now, updatedAt: now,
      parallel: opts.parallel, stepsScale: opts.stepsScale, ...(opts.stages ? { stages: opts.stages } : {}), pid: process.pid, variants: opts.variants,
    };
    const store = new SweepStore(path.join(opts.runsDir, sweepId), state);
    await store.lock();
    await store.save();
    return store;
  }

  static async open(sweepDir: string): Promise<SweepStore> {
    const abs = path.resolve(sweepDir);
    const store = new SweepStore(abs, await readSweepState(abs));
    await store.lock();
    store.state.status = 'running';
    store.state.pid = process.pid;
    await store.save();
    return store;
  }

  get current(): Readonly<SweepState> {
    return this.state;
  }

  private async lock(): Promise<void> {
    const options = { lockfilePath: path.join(this.sweepDir, '.lock'), stale: LOCK_STALE_MS, update: LOCK_STALE_MS / 2, retries: 0, realpath: false };
    try {
      this.releaseLock = await lockfile.lock(this.sweepDir, options);
    } catch (e) {
      const locked = (e as NodeJS.ErrnoException).code === 'ELOCKED';
      if (locked && this.state.pid !== undefined && this.state.pid !== process.pid && !processAlive(this.state.pid)) {
        // the sweep's process was killed: its lock is stale even if its mtime is recent
        await rm(options.lockfilePath, { recursive: true, force: true });
        this.releaseLock = await lockfile.lock(this.sweepDir, options);
        return;
      }
      if (locked) throw new BbioError('E_RUN_LOCKED', `sweep ${this.state.sweepId} is being run by another process`, { file: this.sweepDir }, `wait for it or cancel it; a killed sweep's lock expires after ${LOCK_STALE_MS / 1000} s`, { cause: e });
      throw new BbioError('E_IO', `cannot lock sweep ${this.sweepDir}: ${(e as Error).message}`, { file: this.sweepDir }, undefined, { cause: e });
    }
  }

  private save(): Promise<void> {
    this.writing = this.writing.then(() => {
      this.state.updatedAt = new Date().toISOString();
      return writeJsonAtomic(path.join(this.sweepDir, SWEEP_FILE), this.state);
    });
    return this.writing;
  }

  variant(name: string): SweepVariantState | undefined {
    return this.state.variants.find((v) => v.name === name);
  }

  async updateVariant(name: string, patch: Partial<SweepVariantState>): Promise<void> {
    const v = this.variant(name);
    if (!v) throw new BbioError('E_INTERNAL', `sweep has no variant ${name}`);
    Object.assign(v, patch);
    if (patch.status && patch.status !== 'failed' && patch.status !== 'cancelled') delete v.error;
    await this.save();
  }

  async finish(status: SweepStatus): Promise<void> {
    this.state.status = status;
    await this.save();
  }

  async close(): Promise<void> {
    await this.writing;
    const release = this.releaseLock;
    this.releaseLock = undefined;
    if (release) await release();
  }
}

/** The sweep.json entries of freshly expanded variants. */
export function initialVariantStates(variants: readonly VariantSpec[], base: Experiment): SweepVariantState[] {
  return variants.map((v) => ({ name: v.name, group: v.group, groupKey: v.groupKey, seed: variantSeed(v, base), set: v.set, status: 'pending', attempts: 0 }));
}

/**
 * Checks that a sweep being resumed has the variants the experiment file expands to now; a changed list
 * would mix results of different experiments in one report.
 */
export function checkResumable(state: SweepState, variants: readonly VariantSpec[]): void {
  const before = new Map(state.variants.map((v) => [v.name, canonicalJson(v.set)]));
  const now = new Map(variants.map((v) => [v.name, canonicalJson(v.set)]));
  const added = [...now.keys()].filter((n) => !before.has(n));
  const removed = [...before.keys()].filter((n) => !now.has(n));
  const changed = [...now.keys()].filter((n) => before.has(n) && before.get(n) !== now.get(n));
  if (added.length || removed.length || changed.length) {
    const what = [added.length ? `added ${added.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : '', changed.length ? `changed ${changed.join(', ')}` : ''].filter(Boolean).join('; ');
    throw new BbioError('E_CONFLICT', `the experiment's variants differ from those of sweep ${state.sweepId}: ${what}`, { file: state.experimentFile }, 'restore the variants block, or start a new sweep (run without --resume)');
  }
}

/** The newest run folder inside a variant's folder, if any. */
export async function findVariantRun(variantDir: string): Promise<{ runDir: string; state: RunState } | undefined> {
  const runs = await listRuns(variantDir);
  const found = runs.find((r) => r.state);
  return found?.state ? { runDir: found.runDir, state: found.state } : undefined;
}

// ------------------------------------------------------------------------------------------- the scheduler

export interface VariantJob {
  variant: SweepVariantState;
  /** 0-based position among all variants, and their count (for progress lines). */
  index: number;
  total: number;
  /** Absolute folder of the variant inside the sweep; its run folder goes inside. */
  variantDir: string;
  /** An unfinished run of this variant to continue. */
  resumeRunDir?: string;
  /** Call as soon as the run folder exists, so a kill after that point resumes it. */
  onRunDir(runDir: string): Promise<void>;
}

export interface VariantOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  runDir?: string;
  error?: string;
}

export type VariantExecutor = (job: VariantJob, signal: AbortSignal) => Promise<VariantOutcome>;

export interface SweepRunOptions {
  parallel: number;
  execute: VariantExecutor;
  signal: AbortSignal;
  log: Logger;
}

export interface SweepOutcome {
  status: SweepStatus;
  counts: Record<VariantStatus, number>;
}

/**
 * Runs every variant not yet completed, at most `parallel` at once. A failed variant does not stop the
 * others; cancelling stops starting new ones and lets running ones checkpoint.
 */
export async function runSweep(store: SweepStore, opts: SweepRunOptions): Promise<SweepOutcome> {
  const all = store.current.variants;
  const queue = all.filter((v) => v.status !== 'completed');
  const total = all.length;
  const runOne = async (v: SweepVariantState): Promise<void> => {
    const variantDir = path.join(store.sweepDir, v.name);
    const existing = await findVariantRun(variantDir);
    const rel = (dir: string): string => path.relative(store.sweepDir, dir);
    if (existing?.state.status === 'completed') {
      // finished after the last sweep.json update (the sweep was killed in between)
      await store.updateVariant(v.name, { status: 'completed', runDir: rel(existing.runDir), finishedAt: existing.state.updatedAt });
      return;
    }
    await store.updateVariant(v.name, { status: 'running', attempts: v.attempts + 1, startedAt: new Date().toISOString(), ...(existing ? { runDir: rel(existing.runDir) } : {}) });
    opts.log.info(`variant ${all.indexOf(v) + 1}/${total}: ${v.name}${existing ? ' (resuming its run)' : ''}`);
    let outcome: VariantOutcome;
    try {
      outcome = await opts.execute(
        { variant: v, index: all.indexOf(v), total, variantDir, ...(existing ? { resumeRunDir: existing.runDir } : {}), onRunDir: (dir) => store.updateVariant(v.name, { runDir: rel(dir) }) },
        opts.signal,
      );
    } catch (e) {
      outcome = { status: 'failed', error: e instanceof BbioError ? e.format() : e instanceof Error ? e.message : String(e) };
    }
    await store.updateVariant(v.name, {
      status: outcome.status,
      finishedAt: new Date().toISOString(),
      ...(outcome.runDir ? { runDir: rel(outcome.runDir) } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
    });
    opts.log.info(`variant ${v.name}: ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`);
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queue.length && !opts.signal.aborted) await runOne(queue[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel, queue.length)) }, () => worker()));
  const counts: Record<VariantStatus, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const v of store.current.variants) counts[v.status]++;
  const status: SweepStatus = counts.completed === total ? 'completed' : opts.signal.aborted || counts.cancelled ? 'cancelled' : 'failed';
  await store.finish(status);
  return { status, counts };
}
