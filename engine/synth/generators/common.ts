/**
 * The generator contract and helpers shared by the four capability generators.
 *
 * Source2Synth-style flow (Lupidi et al., 2024): a generator enumerates *seeds* (an entity or a relation
 * path in the graph) up front, so capacity is known before anything is generated; `build` turns one seed
 * plus a template index into a grounded draft, drawing every random choice from the Rng it is given and
 * only using entities the split allows.
 */
import type { Capability } from '../../core/stage';
import type { Edge } from '../../ontology/types';
import type { Rng } from '../../util/rng';
import type { SynthGraph } from '../graph';
import { isARelated, nameOf, sources, targets } from '../graph';
import type { SynthExample, Split } from '../../core/example';
import type { RejectReason, SynthConfig } from '../types';
import type { WorkflowRule } from '../workflow';

export interface Seed {
  /** Unique and stable: `<factType>:<ids>`. */
  key: string;
  factType: string;
  /** Ordered ids whose meaning the fact type defines. */
  ids: string[];
  /** The entity the example is about (decides the split). */
  central: string;
  /** Entities the example cannot do without: all must be allowed in the central entity's split. */
  core: string[];
  /** Relative sampling weight before specialty balancing and focus (default 1). */
  weight?: number;
}

export interface BuildContext {
  g: SynthGraph;
  cfg: SynthConfig;
  rng: Rng;
  /** Surface template index for this example. */
  template: number;
  /** Whether an entity may appear in this example (split policy). */
  allowed(id: string): boolean;
  /** The split an entity belongs to as a split unit (undefined: not a unit); absent when the split is not by entity. */
  splitOf?(id: string): Split | undefined;
  rules: ReadonlySet<WorkflowRule>;
}

/** An example before the pipeline adds id, text, split and specialty. */
export type Draft = Omit<SynthExample, 'id' | 'text' | 'split' | 'specialty'>;

export interface Generator {
  capability: Capability;
  /** Noun for the shortfall message: "unique chains". */
  unit: string;
  enumerate(g: SynthGraph, cfg: SynthConfig): Seed[];
  /** Number of surface templates for a fact type (≥ 8). */
  templateCount(factType: string): number;
  build(seed: Seed, ctx: BuildContext): Draft | RejectReason;
}

export const edge = (source: string, relation: string, target: string): Edge => ({ source, relation, target });

export function uniq<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/**
 * Whether `candidate` could be read as a true answer for `relation(subject, ·)` (or `relation(·, subject)`
 * when inverse): an edge between any is_a relative of the subject and any is_a relative of the candidate.
 * Conservative on purpose: a distractor must be clearly false.
 */
export function couldBeTrue(g: SynthGraph, subject: string, relation: string, inverse: boolean, candidate: string): boolean {
  if (relation === g.rel.isA) return isARelated(g, subject, candidate);
  const subj = [subject, ...g.ancestors(subject), ...g.descendants(subject)];
  const cand = new Set([candidate, ...g.ancestors(candidate), ...g.descendants(candidate)]);
  const step = inverse ? sources : targets;
  return subj.some((s) => step(g, s, relation).some((t) => cand.has(t)));
}

/**
 * Up to k candidates, nearest tiers first, each accepted by `ok`, with distinct names (case-insensitive)
 * that differ from `avoidNames`. Large tiers are sampled rather than shuffled whole.
 */
export function pickFromTiers(
  rng: Rng,
  tiers: readonly (readonly string[])[],
  k: number,
  ok: (id: string) => boolean,
  nameOfId: (id: string) => string,
  avoidNames: readonly string[],
): string[] {
  const chosen: string[] = [];
  const seen = new Set(avoidNames.map((n) => n.toLowerCase()));
  const consider = (id: string): void => {
    const n = nameOfId(id).toLowerCase();
    if (chosen.length >= k || seen.has(n) || !ok(id)) return;
    seen.add(n);
    chosen.push(id);
  };
  for (const tier of tiers) {
    if (chosen.length >= k) break;
    if (tier.length <= 512) {
      for (const id of rng.shuffle([...tier])) consider(id);
    } else {
      for (let tries = 0; tries < 256 && chosen.length < k; tries++) consider(tier[rng.int(tier.length)]!);
    }
  }
  return chosen;
}

/** Diseases that share an is_a parent or a specialty with `id` (nearest neighbours for distractors). */
export function neighbourDiseases(g: SynthGraph, id: string): string[] {
  const siblings = targets(g, id, g.rel.isA).flatMap((p) => sources(g, p, g.rel.isA));
  const spec = g.specialty.get(id);
  const sameSpecialty = spec ? g.byRole.disease.filter((d) => g.specialty.get(d) === spec) : [];
  return uniq([...siblings, ...sameSpecialty]).filter((d) => d !== id);
}

export function names(g: SynthGraph, ids: readonly string[]): string[] {
  return ids.map((id) => nameOf(g, id));
}
