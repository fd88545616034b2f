/**
 * Structural and content checks for the built-in clinical knowledge graph (engine/ontology/data/clinical.obo),
 * beyond the generic OBO checks of `checkOntology`: relation domain and range by namespace, the minimum
 * content of each disease, first-line treatments that are also contraindicated, and minimum sizes.
 * A disease, finding or test is a leaf term of its namespace; terms that others name in `is_a` are grouping
 * classes and need no findings or treatments.
 */
import { checkOntology } from './obo';
import type { Ontology, Term } from './types';

export interface ClinicalProblem {
  /** The term (or relation) the problem is about; '' for graph-wide problems such as minimum counts. */
  id: string;
  /** 1-based line of the term's stanza; 0 for graph-wide problems. */
  line: number;
  message: string;
}

export interface ClinicalCounts {
  groupingClasses: number;
  diseases: number;
  specialties: number;
  findings: number;
  tests: number;
  drugs: number;
  drugClasses: number;
  contraindications: number;
  interactions: number;
  complications: number;
}

export interface ClinicalValidation {
  problems: ClinicalProblem[];
  counts: ClinicalCounts;
}

/** Minimum sizes of the shipped graph; the synthetic-data generator needs this much variety. */
export const CLINICAL_MINIMUMS: Readonly<Partial<ClinicalCounts>> = {
  diseases: 150, specialties: 12, findings: 300, tests: 80, drugs: 150,
  contraindications: 120, interactions: 60, complications: 60,
};

const NAMESPACES: ReadonlySet<string> = new Set(['disease', 'finding', 'diagnostic_test', 'drug', 'drug_class']);

/** Relation → namespaces allowed for its source (domain) and target (range). */
const SIGNATURES: Record<string, { domain: readonly string[]; range: readonly string[] }> = {
  has_finding: { domain: ['disease'], range: ['finding'] },
  diagnosed_by: { domain: ['disease'], range: ['diagnostic_test'] },
  first_line_treatment: { domain: ['disease'], range: ['drug'] },
  complication_of: { domain: ['disease'], range: ['disease'] },
  contraindicated_in: { domain: ['drug'], range: ['disease', 'finding'] },
  interacts_with: { domain: ['drug'], range: ['drug'] },
};

/** Per-disease minimum number of outgoing edges of each relation. */
const DISEASE_MINIMUMS: readonly { relation: string; min: number; what: string }[] = [
  { relation: 'has_finding', min: 3, what: 'findings' },
  { relation: 'diagnosed_by', min: 1, what: 'diagnostic test' },
  { relation: 'first_line_treatment', min: 1, what: 'first-line treatment' },
];

export interface ValidateClinicalOptions {
  /** Minimum counts to enforce; defaults to `CLINICAL_MINIMUMS`. Pass `{}` to check structure only. */
  minimums?: Partial<ClinicalCounts>;
}

function targets(t: Term, relation: string): string[] {
  return t.relationships.filter((r) => r.relation === relation).map((r) => r.target);
}

/** Checks `ont` as the clinical graph; never throws. Problems are sorted by line. */
export function validateClinicalGraph(ont: Ontology, opts: ValidateClinicalOptions = {}): ClinicalValidation {
  const problems: ClinicalProblem[] = [];
  const report = (t: Term, message: string): void => { problems.push({ id: t.id, line: t.line, message }); };
  const parents = new Set<string>();
  for (const t of ont.terms.values()) for (const p of t.isA) parents.add(p);
  const isLeaf = (t: Term): boolean => !parents.has(t.id);

  const names = new Map<string, Term>();
  for (const t of ont.terms.values()) {
    if (!t.name || t.name === t.id) report(t, `term ${t.id} has no name`);
    if (!t.def?.trim()) report(t, `term ${t.id} (${t.name}) has no def`);
    if (!t.namespace || !NAMESPACES.has(t.namespace)) {
      report(t, `term ${t.id} has namespace "${t.namespace ?? ''}"; expected one of ${[...NAMESPACES].join(', ')}`);
    }
    const key = `${t.namespace ?? ''}\t${t.name.toLowerCase()}`;
    const prev = names.get(key);
    if (prev) report(t, `name "${t.name}" is used by both ${prev.id} (line ${prev.line}) and ${t.id} in namespace ${t.namespace}`);
    else names.set(key, t);
    for (const p of t.isA) if (!ont.terms.has(p)) report(t, `term ${t.id} has is_a ${p}, which is not defined (dangling id)`);
    checkRelationships(ont, t, report);
  }
  // is_a cycles: reuse the generic loader check and keep only its cycle errors (dangling is_a is reported above).
  for (const e of checkOntology(ont).errors) {
    if (e.code !== 'E_ONTOLOGY_CYCLE') continue;
    const id = /is_a cycle (\S+)/.exec(e.message)?.[1] ?? '';
    problems.push({ id, line: e.location.line ?? 0, message: e.message });
  }
  for (const t of ont.terms.values()) {
    if (t.namespace !== 'disease' || !isLeaf(t)) continue;
    for (const m of DISEASE_MINIMUMS) {
      const n = targets(t, m.relation).length;
      if (n < m.min) report(t, `disease ${t.id} (${t.name}) has ${n} ${m.what}; needs at least ${m.min}`);
    }
    for (const drugId of targets(t, 'first_line_treatment')) {
      const drug = ont.terms.get(drugId);
      if (drug && targets(drug, 'contraindicated_in').includes(t.id)) {
        report(t, `drug ${drugId} (${drug.name}) is both first-line for and contraindicated in ${t.id} (${t.name})`);
      }
    }
  }
  const counts = countClinical(ont, isLeaf);
  const minimums = opts.minimums ?? CLINICAL_MINIMUMS;
  for (const [k, min] of Object.entries(minimums) as [keyof ClinicalCounts, number][]) {
    if (counts[k] < min) problems.push({ id: '', line: 0, message: `only ${counts[k]} ${k}; at least ${min} required` });
  }
  problems.sort((a, b) => a.line - b.line);
  return { problems, counts };
}

function checkRelationships(ont: Ontology, t: Term, report: (t: Term, message: string) => void): void {
  const seen = new Set<string>();
  for (const r of t.relationships) {
    const pair = `${r.relation} ${r.target}`;
    if (seen.has(pair)) report(t, `relationship ${pair} is stated twice on ${t.id}`);
    seen.add(pair);
    const typedef = ont.typedefs.get(r.relation);
    if (!typedef) report(t, `relation ${r.relation} (used by ${t.id}) has no [Typedef]`);
    const target = ont.terms.get(r.target);
    if (!target) {
      report(t, `term ${t.id} has relationship ${r.relation} ${r.target}, which is not defined (dangling id)`);
      continue;
    }
    if (typedef?.isSymmetric && targets(target, r.relation).includes(t.id)) {
      if (t.id < target.id) report(t, `symmetric ${r.relation} between ${t.id} and ${target.id} is stated in both directions`);
    }
    const sig = SIGNATURES[r.relation];
    if (!sig) continue;
    if (!sig.domain.includes(t.namespace ?? '')) {
      report(t, `${r.relation} needs a source in namespace ${sig.domain.join(' or ')}; ${t.id} is in ${t.namespace ?? 'no namespace'}`);
    }
    if (!sig.range.includes(target.namespace ?? '')) {
      report(t, `${r.relation} needs a target in namespace ${sig.range.join(' or ')}; ${target.id} (${target.name}) is in ${target.namespace ?? 'no namespace'}`);
    }
  }
}

function countClinical(ont: Ontology, isLeaf: (t: Term) => boolean): ClinicalCounts {
  const counts: ClinicalCounts = {
    groupingClasses: 0, diseases: 0, specialties: 0, findings: 0, tests: 0, drugs: 0, drugClasses: 0,
    contraindications: 0, interactions: 0, complications: 0,
  };
  const specialties = new Set<string>();
  const leafCounter: Record<string, keyof ClinicalCounts> = {
    disease: 'diseases', finding: 'findings', diagnostic_test: 'tests', drug: 'drugs',
  };
  for (const t of ont.terms.values()) {
    const ns = t.namespace ?? '';
    if (ns === 'drug_class' && t.isA.length > 0) counts.drugClasses++;
    else if (!isLeaf(t) || ns === 'drug_class') counts.groupingClasses++;
    else if (leafCounter[ns]) counts[leafCounter[ns]]++;
    if (ns === 'disease' && isLeaf(t)) for (const s of t.subsets) specialties.add(s);
    for (const r of t.relationships) {
      if (r.relation === 'contraindicated_in') counts.contraindications++;
      else if (r.relation === 'interacts_with') counts.interactions++;
      else if (r.relation === 'complication_of') counts.complications++;
    }
  }
  counts.specialties = specialties.size;
  return counts;
}
