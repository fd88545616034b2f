/**
 * Variants: an experiment's `variants:` block (a list of named overrides, a grid, or both) expands into
 * variants, each overriding dotted paths of the base experiment. Expansion, the check of override paths
 * and values against the schema, and applying overrides live here, below the runner, so the config
 * loader and the language server check a sweep without pulling in the sweep runner (engine/run/sweep.ts)
 * and its lock library.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';
import { BbioError } from '../util/errors';
import { EXPERIMENT_SCHEMA, type SchemaNode } from './schema-validator';
import { didYouMean } from './suggest';

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

/**
 * Paths a variant may not override: they identify the experiment or the sweep itself, or say how the sweep
 * runs (on Slurm the whole sweep is one job array, so its settings are shared by every variant).
 */
export const FIXED_PATHS: readonly string[] = ['name', 'variants', 'sweep', '$schema', 'output.runs_dir', 'executor', 'slurm'];

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

const FIXED_HINTS: Readonly<Record<string, string>> = {
  'output.runs_dir': 'the sweep puts every variant\'s run in its own folder of the sweep',
  executor: 'a sweep runs all its variants on one executor',
  slurm: 'a sweep is one Slurm job array: its variants share the slurm settings',
};

/** Whether `dotted` names a key of the experiment schema (following `properties` only). */
export function checkOverridePath(dotted: string, root: SchemaNode = EXPERIMENT_SCHEMA): PathCheck {
  const segments = splitPath(dotted);
  if (segments.some((s) => s === '')) return { ok: false, message: `\`${dotted}\` is not a dotted path`, hint: 'write keys separated by single dots, e.g. sft.projection' };
  const fixed = FIXED_PATHS.find((f) => dotted === f || dotted.startsWith(`${f}.`));
  if (fixed) return { ok: false, message: `\`${fixed}\` cannot be overridden by a variant`, hint: FIXED_HINTS[fixed] ?? 'it names the experiment or the sweep itself' };
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

