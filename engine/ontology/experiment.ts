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
import type { Ontology } from './types';

/** Where downloaded ontologies are cached: $BALANCEDBIO_CACHE/ontologies, else ~/.cache/balancedbio/ontologies. */
export function ontologyCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env['BALANCEDBIO_CACHE'] ?? path.join(os.homedir(), '.cache', 'balancedbio'), 'ontologies');
}

/** Only the terms whose id starts with `prefix` (typedefs are kept). */
export function filterByPrefix(ont: Ontology, prefix: string): Ontology {
  return { ...ont, terms: new Map([...ont.terms].filter(([id]) => id.startsWith(prefix))) };
}

/** The built-in clinical graph (when `ontology.builtin`) followed by `ontology.sources`, merged. */
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
  return list.length === 1 ? list[0]! : mergeOntologies(list);
}

/** Ontology files the experiment reads: the built-in graph, local sources, and cached downloads. */
export async function ontologyFiles(config: Experiment, experimentFile: string): Promise<string[]> {
  const files: string[] = [];
  if (config.ontology.builtin) files.push(await builtinOntologyPath());
  for (const src of config.ontology.sources) files.push(src.path ? path.resolve(path.dirname(experimentFile), src.path) : oboCachePath(src.url!, ontologyCacheDir()));
  return files;
}

