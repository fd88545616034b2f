/**
 * The ontology an experiment reads, shared by the stages (synthesize, evaluate) and the CLI: the built-in
 * graph and the configured sources, loaded and merged, the cache downloads go to, and the files involved
 * (for the provenance record).
 */
import os from 'node:os';
import path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';
import { BbioError } from '../util/errors';
import { builtinOntologyPath } from './builtin';
import { loadOboFile, loadOboUrl, mergeOntologies, oboCachePath } from './obo';
import type { Ontology, Term } from './types';

/** Where downloaded ontologies are cached: $BALANCEDBIO_CACHE/ontologies, else ~/.cache/balancedbio/ontologies. */
export function ontologyCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env['BALANCEDBIO_CACHE'] ?? path.join(os.homedir(), '.cache', 'balancedbio'), 'ontologies');
}

/** Only the terms whose id starts with `prefix` (typedefs are kept). */
export function filterByPrefix(ont: Ontology, prefix: string): Ontology {
  return { ...ont, terms: new Map([...ont.terms].filter(([id]) => id.startsWith(prefix))) };
}

/**
 * The terms of the OBO `subsets` (seeds), every term a seed relates to in one hop (`relationship:` targets:
 * a disease's findings, tests, treatments, complications), and the `is_a` ancestors of all of them, so
 * every kept term keeps its class. Relations and `is_a` links to dropped terms are dropped, so the slice is
 * a closed graph that validation and MKGSG treat like any other. Typedefs are kept.
 */
export function filterBySubsets(ont: Ontology, subsets: readonly string[], file?: string): Ontology {
  const known = new Set([...ont.terms.values()].flatMap((t) => t.subsets));
  const unknown = subsets.filter((s) => !known.has(s));
  if (unknown.length) {
    throw new BbioError('E_ONTOLOGY_SUBSET_UNKNOWN', `ontology.subsets: ${unknown.map((s) => `"${s}"`).join(', ')} not a subset of any term`, file ? { file } : {},
      `use one of: ${[...known].sort().join(', ')}`);
  }
  const wanted = new Set(subsets);
  const seeds = [...ont.terms.values()].filter((t) => t.subsets.some((s) => wanted.has(s)));
  const keep = new Set<string>();
  for (const t of seeds) {
    keep.add(t.id);
    for (const r of t.relationships) if (ont.terms.has(r.target)) keep.add(r.target);
  }
  const queue = [...keep];
  while (queue.length) {
    for (const parent of ont.terms.get(queue.pop()!)?.isA ?? []) {
      if (!keep.has(parent) && ont.terms.has(parent)) {
        keep.add(parent);
        queue.push(parent);
      }
    }
  }
  const terms = new Map<string, Term>();
  for (const id of keep) {
    const t = ont.terms.get(id)!;
    terms.set(id, { ...t, isA: t.isA.filter((p) => keep.has(p)), relationships: t.relationships.filter((r) => keep.has(r.target)) });
  }
  return { ...ont, terms };
}

/**
 * The built-in clinical graph (when `ontology.builtin`) followed by `ontology.sources`, merged, then cut
 * to `ontology.subsets` when that lists any.
 */
export async function loadExperimentOntology(config: Experiment, experimentFile: string, opts: { cacheDir?: string } = {}): Promise<Ontology> {
  const list: Ontology[] = [];
  if (config.ontology.builtin) list.push(await loadOboFile(await builtinOntologyPath()));
  for (const src of config.ontology.sources) {
    const ont = src.path
      ? await loadOboFile(path.resolve(path.dirname(experimentFile), src.path))
      : await loadOboUrl(src.url!, { cacheDir: opts.cacheDir ?? ontologyCacheDir(), ...(src.sha256 ? { sha256: src.sha256 } : {}) });
    list.push(src.prefix ? filterByPrefix(ont, src.prefix) : ont);
  }
  if (!list.length) {
    throw new BbioError('E_ONTOLOGY_MISSING', 'no ontology to synthesize from: ontology.builtin is false and ontology.sources is empty', { file: experimentFile },
      'set ontology.builtin: true or add an OBO file under ontology.sources');
  }
  const merged = list.length === 1 ? list[0]! : mergeOntologies(list);
  return config.ontology.subsets.length ? filterBySubsets(merged, config.ontology.subsets, experimentFile) : merged;
}

/** Ontology files the experiment reads: the built-in graph, local sources, and cached downloads. */
export async function ontologyFiles(config: Experiment, experimentFile: string): Promise<string[]> {
  const files: string[] = [];
  if (config.ontology.builtin) files.push(await builtinOntologyPath());
  for (const src of config.ontology.sources) files.push(src.path ? path.resolve(path.dirname(experimentFile), src.path) : oboCachePath(src.url!, ontologyCacheDir()));
  return files;
}

