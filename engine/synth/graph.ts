/**
 * A read-only view of an Ontology shaped for generation: adjacency by relation in both directions, entity
 * roles inferred from the relations a term takes part in (so any OBO file with these relations works,
 * whatever its namespaces), is_a ancestry, and a specialty per entity for balancing.
 * Validation (validate.ts) deliberately does not use this view: it re-derives truth from the Ontology.
 */
import type { Ontology, Term } from '../ontology/types';

/** The relations MKGSG understands, by meaning. The ontology may spell them as ids or Typedef names. */
export type RelationKey = 'isA' | 'hasFinding' | 'diagnosedBy' | 'firstLine' | 'contraindicatedIn' | 'interactsWith' | 'complicationOf';

export const RELATION_NAMES: Record<RelationKey, string> = {
  isA: 'is_a',
  hasFinding: 'has_finding',
  diagnosedBy: 'diagnosed_by',
  firstLine: 'first_line_treatment',
  contraindicatedIn: 'contraindicated_in',
  interactsWith: 'interacts_with',
  complicationOf: 'complication_of',
};

export type Role = 'disease' | 'finding' | 'test' | 'drug' | 'drugClass' | 'condition';

export interface SynthGraph {
  ont: Ontology;
  /** Non-obsolete terms only. */
  terms: Map<string, Term>;
  /** Their ids, sorted. */
  ids: string[];
  /** Relation id as spelled in this ontology, per meaning. */
  rel: Record<RelationKey, string>;
  /** source → relation id → targets (symmetric relations are stored both ways; is_a included). */
  out: Map<string, Map<string, string[]>>;
  /** target → relation id → sources. */
  inc: Map<string, Map<string, string[]>>;
  /** Entities per role, sorted by id (deterministic iteration). */
  byRole: Record<Role, string[]>;
  roleSets: Record<Role, Set<string>>;
  /** Specialty (or top-level branch) per entity, where one can be inferred. */
  specialty: Map<string, string>;
  /** Memoised is_a ancestors (excluding the term itself). */
  ancestors(id: string): ReadonlySet<string>;
  /** Memoised is_a descendants (excluding the term itself). */
  descendants(id: string): ReadonlySet<string>;
}

const EMPTY: readonly string[] = [];

function normaliseRelName(s: string): string {
  return s.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/** Maps each meaning to the relation id the ontology uses: the id itself, or a Typedef whose name matches. */
function resolveRelations(ont: Ontology): Record<RelationKey, string> {
  const byName = new Map<string, string>();
  for (const td of ont.typedefs.values()) byName.set(normaliseRelName(td.name), td.id);
  const entries = Object.entries(RELATION_NAMES).map(([key, name]) => {
    const id = ont.typedefs.has(name) ? name : (byName.get(name) ?? name);
    return [key, id] as const;
  });
  return Object.fromEntries(entries) as Record<RelationKey, string>;
}

function push(map: Map<string, Map<string, string[]>>, a: string, rel: string, b: string): void {
  let byRel = map.get(a);
  if (!byRel) map.set(a, (byRel = new Map()));
  const list = byRel.get(rel);
  if (!list) byRel.set(rel, [b]);
  else if (!list.includes(b)) list.push(b);
}

export function targets(g: SynthGraph, id: string, relation: string): readonly string[] {
  return g.out.get(id)?.get(relation) ?? EMPTY;
}

export function sources(g: SynthGraph, id: string, relation: string): readonly string[] {
  return g.inc.get(id)?.get(relation) ?? EMPTY;
}

export function hasEdge(g: SynthGraph, source: string, relation: string, target: string): boolean {
  return targets(g, source, relation).includes(target);
}

export function nameOf(g: SynthGraph, id: string): string {
  return g.terms.get(id)?.name ?? id;
}

const GENERIC_NAMESPACES = new Set([
  'disease', 'diseases', 'finding', 'findings', 'test', 'tests', 'drug', 'drugs', 'drug_class', 'condition',
  'symptom', 'sign', 'lab', 'clinical', 'medication', 'diagnostic_test',
]);

/** A `property_value: specialty X` style tag, if the ontology states the specialty explicitly. */
function explicitSpecialty(t: Term): string | undefined {
  for (const v of t.other['property_value'] ?? []) {
    const m = /(?:^|[:/#])specialty\s+"?([^"\s]+(?:\s[^"\s]+)*)"?/i.exec(v);
    if (m) return m[1]!.replace(/\s+xsd:\S+$/, '');
  }
  return t.other['specialty']?.[0];
}

function inferSpecialty(g: Omit<SynthGraph, 'specialty'>, t: Term): string | undefined {
  const explicit = explicitSpecialty(t);
  if (explicit) return explicit;
  if (t.subsets.length) return t.subsets[0];
  if (t.namespace && !GENERIC_NAMESPACES.has(t.namespace.toLowerCase())) return t.namespace;
  // the top of the is_a tree below the root: "cardiovascular disease" for "atrial fibrillation"
  let cur = t.id;
  for (let hops = 0; hops < 32; hops++) {
    const parents = targets(g as SynthGraph, cur, g.rel.isA).filter((p) => g.terms.has(p));
    if (!parents.length) break;
    const next = parents[0]!;
    if (!targets(g as SynthGraph, next, g.rel.isA).some((p) => g.terms.has(p))) return g.terms.get(cur)!.name;
    cur = next;
  }
  return undefined;
}

function closure(step: (id: string) => readonly string[]): (id: string) => ReadonlySet<string> {
  const memo = new Map<string, Set<string>>();
  const visit = (id: string, onPath: Set<string>): Set<string> => {
    const hit = memo.get(id);
    if (hit) return hit;
    const acc = new Set<string>();
    onPath.add(id);
    for (const p of step(id)) {
      if (onPath.has(p)) continue; // a cycle is the loader's error to report; never loop here
      acc.add(p);
      for (const a of visit(p, onPath)) acc.add(a);
    }
    onPath.delete(id);
    memo.set(id, acc);
    return acc;
  };
  return (id) => visit(id, new Set());
}

export function buildSynthGraph(ont: Ontology): SynthGraph {
  const terms = new Map<string, Term>();
  for (const [id, t] of ont.terms) if (!t.isObsolete) terms.set(id, t);
  const rel = resolveRelations(ont);
  const symmetric = new Set([rel.interactsWith, ...[...ont.typedefs.values()].filter((t) => t.isSymmetric).map((t) => t.id)]);
  const out = new Map<string, Map<string, string[]>>();
  const inc = new Map<string, Map<string, string[]>>();
  const add = (s: string, r: string, t: string): void => {
    if (!terms.has(s) || !terms.has(t)) return;
    push(out, s, r, t);
    push(inc, t, r, s);
  };
  const ids = [...terms.keys()].sort();
  for (const id of ids) {
    const t = terms.get(id)!;
    for (const p of t.isA) add(id, rel.isA, p);
    for (const r of t.relationships) {
      add(id, r.relation, r.target);
      if (symmetric.has(r.relation)) add(r.target, r.relation, id);
    }
  }
  const roleSets: Record<Role, Set<string>> = {
    disease: new Set(), finding: new Set(), test: new Set(), drug: new Set(), drugClass: new Set(), condition: new Set(),
  };
  for (const id of ids) {
    const o = out.get(id);
    if (o && (o.has(rel.hasFinding) || o.has(rel.diagnosedBy) || o.has(rel.firstLine))) roleSets.disease.add(id);
    const i = inc.get(id);
    if (i?.has(rel.hasFinding)) roleSets.finding.add(id);
    if (i?.has(rel.diagnosedBy)) roleSets.test.add(id);
    if (i?.has(rel.firstLine) || o?.has(rel.contraindicatedIn) || o?.has(rel.interactsWith)) roleSets.drug.add(id);
    if (i?.has(rel.contraindicatedIn)) roleSets.condition.add(id);
  }
  for (const d of roleSets.drug) for (const c of out.get(d)?.get(rel.isA) ?? EMPTY) if (!roleSets.drug.has(c)) roleSets.drugClass.add(c);
  const byRole = Object.fromEntries(Object.entries(roleSets).map(([k, s]) => [k, [...s].sort()])) as Record<Role, string[]>;
  const ancestors = closure((id) => out.get(id)?.get(rel.isA) ?? EMPTY);
  const descendants = closure((id) => inc.get(id)?.get(rel.isA) ?? EMPTY);
  const partial = { ont, terms, ids, rel, out, inc, byRole, roleSets, ancestors, descendants };
  const specialty = new Map<string, string>();
  for (const id of [...byRole.disease, ...byRole.condition]) {
    const s = inferSpecialty(partial, terms.get(id)!);
    if (s) specialty.set(id, s);
  }
  // drugs take the specialty of the first disease they treat; other terms their own inference
  for (const id of byRole.drug) {
    const treated = inc.get(id)?.get(rel.firstLine)?.[0];
    const s = (treated && specialty.get(treated)) ?? inferSpecialty(partial, terms.get(id)!);
    if (s) specialty.set(id, s);
  }
  return { ...partial, specialty };
}

/** is_a related (ancestor, descendant or the same term). */
export function isARelated(g: SynthGraph, a: string, b: string): boolean {
  return a === b || g.ancestors(a).has(b) || g.descendants(a).has(b);
}

/** Specialty for balancing, falling back to the term's namespace. */
export function specialtyOf(g: SynthGraph, id: string): string | undefined {
  return g.specialty.get(id) ?? g.terms.get(id)?.namespace;
}
