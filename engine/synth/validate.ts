/**
 * Ontology validation of finished examples, independent of the generators: it re-derives every fact from
 * the Ontology itself (not from the generators' graph view) and re-checks each entity id, each stated
 * edge, the gold answer and, for multiple choice, that no distractor is a true answer.
 *
 * `strict`: any unknown entity, any stated edge missing from the graph, or an entity whose name (or a
 * synonym) does not appear in the text rejects the example. `lenient`: only unknown entities, wrong
 * answers (including the edge the answer rests on) and unmet constraints reject it.
 */
import type { Edge, Ontology } from '../ontology/types';
import { checkAll } from '../verify/constraints';
import type { SynthExample } from '../core/example';
import type { RejectReason } from './types';
import { DEFINITION_QUERY } from '../core/example';

export type ValidationMode = 'strict' | 'lenient';

export interface ValidationIndex {
  ids: Set<string>;
  /** Lower-cased name and synonyms per id. */
  labels: Map<string, string[]>;
  names: Map<string, string>;
  defs: Map<string, string>;
  edges: Set<string>;
  parents: Map<string, string[]>;
  children: Map<string, string[]>;
  /** Relation ids for the relations whose meaning validation needs (a Typedef id, or the name itself). */
  rel: { has_finding: string; first_line_treatment: string };
}

/** The relation id an ontology uses for a relation name: a Typedef with that id, or one with that name. */
function relationId(ont: Ontology, name: string): string {
  if (ont.typedefs.has(name)) return name;
  for (const d of ont.typedefs.values()) if (d.name.trim().toLowerCase().replace(/[\s-]+/g, '_') === name) return d.id;
  return name;
}

const key = (s: string, r: string, t: string): string => `${s}\u0000${r}\u0000${t}`;

export function buildValidationIndex(ont: Ontology): ValidationIndex {
  const ids = new Set<string>();
  const labels = new Map<string, string[]>();
  const names = new Map<string, string>();
  const defs = new Map<string, string>();
  for (const t of ont.terms.values()) {
    if (t.isObsolete) continue;
    ids.add(t.id);
    names.set(t.id, t.name);
    labels.set(t.id, [t.name, ...t.synonyms.map((s) => s.text)].map((s) => s.toLowerCase()));
    if (t.def) defs.set(t.id, t.def.trim().toLowerCase());
  }
  const symmetric = new Set([...ont.typedefs.values()].filter((d) => d.isSymmetric).map((d) => d.id));
  symmetric.add(relationId(ont, 'interacts_with'));
  const edges = new Set<string>();
  const parents = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  for (const t of ont.terms.values()) {
    if (t.isObsolete) continue;
    for (const p of t.isA) {
      if (!ids.has(p)) continue;
      edges.add(key(t.id, 'is_a', p));
      parents.set(t.id, [...(parents.get(t.id) ?? []), p]);
      children.set(p, [...(children.get(p) ?? []), t.id]);
    }
    for (const r of t.relationships) {
      if (!ids.has(r.target)) continue;
      edges.add(key(t.id, r.relation, r.target));
      if (symmetric.has(r.relation)) edges.add(key(r.target, r.relation, t.id));
    }
  }
  const rel = { has_finding: relationId(ont, 'has_finding'), first_line_treatment: relationId(ont, 'first_line_treatment') };
  return { ids, labels, names, defs, edges, parents, children, rel };
}

function reach(start: string, next: Map<string, string[]>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(next.get(start) ?? [])];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(next.get(id) ?? []));
  }
  return seen;
}

/** The term and all its is_a ancestors and descendants. */
function relatives(idx: ValidationIndex, id: string): Set<string> {
  return new Set([id, ...reach(id, idx.parents), ...reach(id, idx.children)]);
}

export function edgeExists(idx: ValidationIndex, e: Edge): boolean {
  return idx.edges.has(key(e.source, e.relation, e.target));
}

/** Whether option `o` is a true (or arguably true) answer to `relation(subject, o)` / `relation(o, subject)`. */
function optionIsTrue(idx: ValidationIndex, q: NonNullable<SynthExample['provenance']['query']>, o: string): boolean {
  if (q.relation === DEFINITION_QUERY) return o === q.subject || (idx.defs.get(o) ?? '\u0000a') === (idx.defs.get(q.subject) ?? '\u0000b');
  if (q.relation === 'is_a') return o === q.subject || reach(q.subject, idx.parents).has(o) || reach(o, idx.parents).has(q.subject);
  const subj = relatives(idx, q.subject);
  const opt = relatives(idx, o);
  for (const s of subj) for (const t of opt) if (q.inverse ? idx.edges.has(key(t, q.relation, s)) : idx.edges.has(key(s, q.relation, t))) return true;
  return false;
}

function answerEdge(q: NonNullable<SynthExample['provenance']['query']>, answer: string): Edge {
  return q.inverse ? { source: answer, relation: q.relation, target: q.subject } : { source: q.subject, relation: q.relation, target: answer };
}

function referencedIds(ex: SynthExample): string[] {
  const p = ex.provenance;
  const c = ex.clinical;
  return [
    ...p.entities, p.central, ...p.answerIds,
    ...p.edges.flatMap((e) => [e.source, e.target]),
    ...(ex.steps ?? []).flatMap((s) => [s.edge.source, s.edge.target]),
    ...(ex.options ?? []).map((o) => o.id),
    ...(c ? [...c.findings, ...c.differential, ...c.comorbidities, ...c.treatments, ...(c.test ? [c.test] : []), ...(c.diagnosis ? [c.diagnosis] : [])] : []),
    ...(p.query && p.query.relation !== DEFINITION_QUERY ? [p.query.subject] : []),
  ];
}

function mcAnswerProblems(ex: SynthExample, idx: ValidationIndex): RejectReason[] {
  const q = ex.provenance.query;
  const opts = ex.options ?? [];
  const gold = ex.provenance.answerIds[0];
  const chosen = opts.find((o) => o.label === ex.answerLabel);
  const labelsOk = opts.length === 4 && opts.map((o) => o.label).join('') === 'ABCD' && new Set(opts.map((o) => o.text.toLowerCase())).size === 4;
  if (!q || !gold || !chosen || !labelsOk || chosen.id !== gold || chosen.text !== idx.names.get(gold) || ex.answer !== chosen.text) return ['wrong_answer'];
  const answerTrue = q.relation === DEFINITION_QUERY ? gold === q.subject : edgeExists(idx, answerEdge(q, gold));
  if (!answerTrue) return ['wrong_answer'];
  if (opts.some((o) => o.id !== gold && optionIsTrue(idx, q, o.id))) return ['distractor_is_answer'];
  return [];
}

function chainProblems(ex: SynthExample, idx: ValidationIndex): RejectReason[] {
  const steps = ex.steps ?? [];
  const gold = ex.provenance.answerIds[0];
  if (!steps.length || !gold) return ['broken_chain'];
  const numbered = steps.every((s, i) => s.n === i + 1 && ex.response.includes(s.text));
  const seen = new Set([steps[0]!.edge.source, steps[0]!.edge.target]);
  let connected = true;
  for (const s of steps.slice(1)) {
    if (!seen.has(s.edge.source) && !seen.has(s.edge.target)) connected = false;
    seen.add(s.edge.source);
    seen.add(s.edge.target);
  }
  if (!numbered || !connected) return ['broken_chain'];
  const last = steps.at(-1)!.edge;
  const lastLine = ex.response.trimEnd().split('\n').at(-1) ?? '';
  const answerOk = ex.answer === idx.names.get(gold) && (last.source === gold || last.target === gold) && lastLine === `Answer: ${ex.answer}` && edgeExists(idx, last);
  return answerOk ? [] : ['wrong_answer'];
}

function vignetteProblems(ex: SynthExample, idx: ValidationIndex): RejectReason[] {
  const c = ex.clinical;
  const steps = ex.steps ?? [];
  if (!steps.every((s, i) => s.n === i + 1 && ex.response.length > 0)) return ['broken_chain'];
  const [d, y] = ex.provenance.answerIds;
  if (!c || !d || !y || c.diagnosis !== d || !c.treatments.includes(y)) return ['wrong_answer'];
  const findingsOk = c.findings.length > 0 && c.findings.every((f) => idx.edges.has(key(d, idx.rel.has_finding, f)));
  const treatOk = idx.edges.has(key(d, idx.rel.first_line_treatment, y));
  const answerOk = ex.answer === `${idx.names.get(d)}; ${idx.names.get(y)}`;
  return findingsOk && treatOk && answerOk ? [] : ['wrong_answer'];
}

/** Per-capability answer checks; instruction examples are judged by their constraints. */
const ANSWER_CHECKS: Record<SynthExample['capability'], (ex: SynthExample, idx: ValidationIndex) => RejectReason[]> = {
  domain: mcAnswerProblems,
  reasoning: chainProblems,
  integration: vignetteProblems,
  instruction: () => [],
};

function mentioned(idx: ValidationIndex, text: string, id: string): boolean {
  return (idx.labels.get(id) ?? []).some((l) => text.includes(l));
}

/** Every reason the example fails (empty: valid). */
export function validateExample(ex: SynthExample, idx: ValidationIndex, mode: ValidationMode): RejectReason[] {
  const reasons: RejectReason[] = [];
  if (referencedIds(ex).some((id) => !idx.ids.has(id))) return ['unknown_entity'];
  if (mode === 'strict') {
    const stated = [...ex.provenance.edges, ...(ex.steps ?? []).map((s) => s.edge)];
    if (stated.some((e) => !edgeExists(idx, e))) reasons.push('unknown_edge');
    const text = `${ex.prompt}\n${ex.response}`.toLowerCase();
    if (ex.provenance.entities.some((id) => !mentioned(idx, text, id))) reasons.push('entity_not_mentioned');
  }
  reasons.push(...ANSWER_CHECKS[ex.capability](ex, idx));
  if (ex.constraints?.length && !checkAll(ex.response, ex.constraints).promptStrict) reasons.push('constraint_unsatisfied');
  return [...new Set(reasons)];
}
