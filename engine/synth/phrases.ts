/**
 * Sentences that state one ontology edge, several phrasings per relation. Generators use them for
 * explanations, reasoning steps and reference responses, so every stated fact maps to exactly one edge.
 */
import type { Edge } from '../ontology/types';
import type { RelationKey, SynthGraph } from './graph';
import { nameOf } from './graph';
import { capitalise, variant } from './text';

type Say = (s: string, t: string) => string;

export const EDGE_PHRASES: Record<RelationKey, readonly Say[]> = {
  hasFinding: [
    (d, f) => `${f} is a characteristic finding of ${d}`,
    (d, f) => `${d} typically presents with ${f}`,
    (d, f) => `patients with ${d} commonly show ${f}`,
    (d, f) => `${f} is seen in ${d}`,
  ],
  diagnosedBy: [
    (d, t) => `${t} can confirm ${d}`,
    (d, t) => `${d} is diagnosed with ${t}`,
    (d, t) => `${t} is used to confirm a diagnosis of ${d}`,
  ],
  firstLine: [
    (d, x) => `${x} is a first-line treatment for ${d}`,
    (d, x) => `first-line therapy for ${d} includes ${x}`,
    (d, x) => `${d} is treated first-line with ${x}`,
  ],
  contraindicatedIn: [
    (x, c) => `${x} is contraindicated in ${c}`,
    (x, c) => `${x} should be avoided in patients with ${c}`,
    (x, c) => `${c} is a contraindication to ${x}`,
  ],
  interactsWith: [
    (x, y) => `${x} interacts with ${y}`,
    (x, y) => `${x} and ${y} have a known interaction`,
    (x, y) => `combining ${x} with ${y} risks a drug interaction`,
  ],
  complicationOf: [
    (k, d) => `${k} is a complication of ${d}`,
    (k, d) => `${d} can be complicated by ${k}`,
    (k, d) => `${k} may develop as a complication of ${d}`,
  ],
  isA: [
    (x, p) => `${x} is a kind of ${p}`,
    (x, p) => `${x} is classified under ${p}`,
    (x, p) => `${x} belongs to ${p}`,
  ],
};

function relationKey(g: SynthGraph, relation: string): RelationKey | undefined {
  return (Object.keys(g.rel) as RelationKey[]).find((k) => g.rel[k] === relation);
}

/** One sentence (no final period, lower-case start unless the name is capitalised) stating the edge. */
export function sayEdge(g: SynthGraph, e: Edge, index = 0): string {
  const key = relationKey(g, e.relation);
  const s = nameOf(g, e.source);
  const t = nameOf(g, e.target);
  if (!key) return `${s} ${(g.ont.typedefs.get(e.relation)?.name ?? e.relation).replaceAll('_', ' ')} ${t}`;
  return variant(EDGE_PHRASES[key], index)(s, t);
}

/** The same, as a capitalised sentence with a period. */
export function sayEdgeSentence(g: SynthGraph, e: Edge, index = 0): string {
  return `${capitalise(sayEdge(g, e, index))}.`;
}
