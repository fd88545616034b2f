/**
 * `domain`: four-option multiple-choice questions about single facts in the graph. Distractors come from
 * ontology siblings and near neighbours and are rejected when any is_a relative of them could make the
 * question true (`couldBeTrue`), so a distractor is never a true answer.
 */
import type { Edge } from '../../ontology/types';
import type { SynthGraph } from '../graph';
import { nameOf, sources, targets } from '../graph';
import { sayEdgeSentence } from '../phrases';
import { capitalise, variant } from '../text';
import type { McOption } from '../../core/example';
import { DEFINITION_QUERY } from '../../core/example';
import type { BuildContext, Draft, Generator, Seed } from './common';
import { couldBeTrue, edge, neighbourDiseases, pickFromTiers, uniq } from './common';

type Stem = (subject: string) => string;

interface McFact {
  /** Relation id asked about, or DEFINITION_QUERY. */
  relation(g: SynthGraph): string;
  /** The question asks for x with relation(x, subject) instead of relation(subject, x). */
  inverse: boolean;
  /** [subject, answer, central] triples. */
  facts(g: SynthGraph): [string, string, string][];
  stems: readonly Stem[];
  /** Distractor candidates, nearest first. */
  tiers(g: SynthGraph, subject: string, answer: string): (readonly string[])[];
  /** The edge that makes the answer true (none for definitions). */
  edge(g: SynthGraph, subject: string, answer: string): Edge | undefined;
  /** How the subject appears in the stem (the definition text for definition questions). */
  subjectText?(g: SynthGraph, subject: string): string;
}

const LABELS: McOption['label'][] = ['A', 'B', 'C', 'D'];

const forward = (g: SynthGraph, role: 'disease' | 'drug', rel: (g: SynthGraph) => string, central: 'subject' | 'answer' = 'subject'): [string, string, string][] =>
  g.byRole[role].flatMap((s) => targets(g, s, rel(g)).map((t): [string, string, string] => [s, t, central === 'subject' ? s : t]));

const diseaseTargets = (g: SynthGraph, subject: string, rel: string): string[] =>
  uniq(neighbourDiseases(g, subject).flatMap((d) => targets(g, d, rel)));

const drugsOfNeighbours = (g: SynthGraph, disease: string): string[] =>
  uniq(neighbourDiseases(g, disease).flatMap((d) => targets(g, d, g.rel.firstLine)));

/** A definition long enough to ask about that does not contain the term's own name (which would give it away). */
function usableDefinition(g: SynthGraph, id: string): boolean {
  const t = g.terms.get(id)!;
  const def = t.def ?? '';
  return def.length >= 20 && !def.toLowerCase().includes(t.name.toLowerCase());
}

/** The definition with the term's own name masked, so the stem does not give the answer away. */
function maskedDefinition(g: SynthGraph, id: string): string {
  const t = g.terms.get(id)!;
  const def = (t.def ?? '').trim().replace(/\.$/, '');
  return def.replace(new RegExp(t.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), 'this term');
}

export const MC_FACTS: Record<string, McFact> = {
  finding_of: {
    relation: (g) => g.rel.hasFinding,
    inverse: false,
    facts: (g) => forward(g, 'disease', (g) => g.rel.hasFinding),
    stems: [
      (d) => `Which of the following is a characteristic finding of ${d}?`,
      (d) => `A patient with ${d} is most likely to show which of these?`,
      (d) => `Which finding is typical of ${d}?`,
      (d) => `Which of the following would you expect to find in ${d}?`,
      (d) => `${d} classically presents with which of the following?`,
      (d) => `Select the finding associated with ${d}.`,
      (d) => `Which clinical finding fits ${d}?`,
      (d) => `Of the options below, which is a recognised feature of ${d}?`,
    ],
    tiers: (g, d) => [diseaseTargets(g, d, g.rel.hasFinding), g.byRole.finding],
    edge: (g, d, f) => edge(d, g.rel.hasFinding, f),
  },
  disease_with_finding: {
    relation: (g) => g.rel.hasFinding,
    inverse: true,
    facts: (g) => g.byRole.finding.flatMap((f) => sources(g, f, g.rel.hasFinding).map((d): [string, string, string] => [f, d, d])),
    stems: [
      (f) => `Which of the following conditions has ${f} as a characteristic finding?`,
      (f) => `${f} is a typical finding in which disease?`,
      (f) => `A patient shows ${f}. Which of these diagnoses lists it as a characteristic finding?`,
      (f) => `Which disease is associated with ${f}?`,
      (f) => `In which of the following conditions is ${f} typically seen?`,
      (f) => `Select the condition in which ${f} is a recognised finding.`,
      (f) => `${f} points towards which of these diseases?`,
      (f) => `Which of these disorders commonly presents with ${f}?`,
    ],
    tiers: (g, _f, d) => [neighbourDiseases(g, d), g.byRole.disease],
    edge: (g, f, d) => edge(d, g.rel.hasFinding, f),
  },
  confirm_test: {
    relation: (g) => g.rel.diagnosedBy,
    inverse: false,
    facts: (g) => forward(g, 'disease', (g) => g.rel.diagnosedBy),
    stems: [
      (d) => `Which test can confirm a diagnosis of ${d}?`,
      (d) => `Which investigation is used to confirm ${d}?`,
      (d) => `A clinician suspects ${d}. Which test would confirm it?`,
      (d) => `Which of the following is a confirmatory test for ${d}?`,
      (d) => `${d} is diagnosed with which of these tests?`,
      (d) => `Select the test that establishes a diagnosis of ${d}.`,
      (d) => `To confirm ${d}, which investigation should be ordered?`,
      (d) => `Which diagnostic test is used for ${d}?`,
    ],
    tiers: (g, d) => [diseaseTargets(g, d, g.rel.diagnosedBy), g.byRole.test],
    edge: (g, d, t) => edge(d, g.rel.diagnosedBy, t),
  },
  first_line: {
    relation: (g) => g.rel.firstLine,
    inverse: false,
    facts: (g) => forward(g, 'disease', (g) => g.rel.firstLine),
    stems: [
      (d) => `Which drug is a first-line treatment for ${d}?`,
      (d) => `What is a first-line therapy for ${d}?`,
      (d) => `A patient is diagnosed with ${d}. Which medication is first-line?`,
      (d) => `Which of the following is used first-line in ${d}?`,
      (d) => `First-line pharmacological treatment of ${d} includes which drug?`,
      (d) => `Select the first-line drug for ${d}.`,
      (d) => `Which medicine would be started first for ${d}?`,
      (d) => `${d} is treated first-line with which of these?`,
    ],
    tiers: (g, d) => [drugsOfNeighbours(g, d), g.byRole.drug],
    edge: (g, d, x) => edge(d, g.rel.firstLine, x),
  },
  drug_class: {
    relation: (g) => g.rel.isA,
    inverse: false,
    facts: (g) => g.byRole.drug.flatMap((x) => targets(g, x, g.rel.isA).filter((c) => g.roleSets.drugClass.has(c)).map((c): [string, string, string] => [x, c, x])),
    stems: [
      (x) => `To which drug class does ${x} belong?`,
      (x) => `${x} is a member of which class?`,
      (x) => `Which class of medication is ${x}?`,
      (x) => `How is ${x} classified pharmacologically?`,
      (x) => `Select the drug class of ${x}.`,
      (x) => `${x} belongs to which of the following groups?`,
      (x) => `Which of these classes includes ${x}?`,
      (x) => `What kind of drug is ${x}?`,
    ],
    tiers: (g, _x, c) => [uniq(targets(g, c, g.rel.isA).flatMap((p) => sources(g, p, g.rel.isA))), g.byRole.drugClass],
    edge: (g, x, c) => edge(x, g.rel.isA, c),
  },
  contraindication: {
    relation: (g) => g.rel.contraindicatedIn,
    inverse: false,
    facts: (g) => forward(g, 'drug', (g) => g.rel.contraindicatedIn),
    stems: [
      (x) => `In which condition is ${x} contraindicated?`,
      (x) => `${x} should be avoided in patients with which condition?`,
      (x) => `Which of the following is a contraindication to ${x}?`,
      (x) => `A patient with which of these conditions should not receive ${x}?`,
      (x) => `Select the condition in which ${x} is contraindicated.`,
      (x) => `Which condition rules out the use of ${x}?`,
      (x) => `${x} is unsafe in which of the following?`,
      (x) => `For which of these conditions is ${x} contraindicated?`,
    ],
    tiers: (g) => [g.byRole.condition, g.byRole.disease],
    edge: (g, x, c) => edge(x, g.rel.contraindicatedIn, c),
  },
  complication: {
    relation: (g) => g.rel.complicationOf,
    inverse: true,
    facts: (g) => g.byRole.disease.flatMap((d) => sources(g, d, g.rel.complicationOf).map((k): [string, string, string] => [d, k, d])),
    stems: [
      (d) => `Which of the following is a recognised complication of ${d}?`,
      (d) => `${d} can be complicated by which condition?`,
      (d) => `Which condition may develop as a complication of ${d}?`,
      (d) => `A patient with ${d} is at risk of which complication?`,
      (d) => `Select the complication of ${d}.`,
      (d) => `Which of these is a known complication of ${d}?`,
      (d) => `What complication should be watched for in ${d}?`,
      (d) => `${d} may lead to which of the following?`,
    ],
    tiers: (g, d) => [neighbourDiseases(g, d), g.byRole.disease],
    edge: (g, d, k) => edge(k, g.rel.complicationOf, d),
  },
  interaction: {
    relation: (g) => g.rel.interactsWith,
    inverse: false,
    facts: (g) => forward(g, 'drug', (g) => g.rel.interactsWith),
    stems: [
      (x) => `Which drug interacts with ${x}?`,
      (x) => `${x} has a known interaction with which of the following?`,
      (x) => `Which medication should be used with caution alongside ${x} because of an interaction?`,
      (x) => `Select the drug that interacts with ${x}.`,
      (x) => `Which of these drugs interacts with ${x}?`,
      (x) => `Co-prescribing ${x} with which drug risks an interaction?`,
      (x) => `${x} should not be combined without care with which drug?`,
      (x) => `Which of the following has an interaction with ${x}?`,
    ],
    tiers: (g) => [g.byRole.drug],
    edge: (g, x, y) => edge(x, g.rel.interactsWith, y),
  },
  parent: {
    relation: (g) => g.rel.isA,
    inverse: false,
    facts: (g) => g.ids.filter((x) => !g.roleSets.drug.has(x)).flatMap((x) => targets(g, x, g.rel.isA).map((p): [string, string, string] => [x, p, x])),
    stems: [
      (x) => `${x} is a kind of which of the following?`,
      (x) => `What is the parent term of ${x}?`,
      (x) => `In the ontology hierarchy, ${x} is classified under which term?`,
      (x) => `Which broader term includes ${x}?`,
      (x) => `Select the direct parent class of ${x}.`,
      (x) => `${x} is a subtype of which of these?`,
      (x) => `Which term is ${x} an is_a child of?`,
      (x) => `Which category does ${x} belong to?`,
    ],
    tiers: (g, x, p) => [
      uniq(targets(g, p, g.rel.isA).flatMap((gp) => sources(g, gp, g.rel.isA))),
      uniq(sources(g, p, g.rel.isA).flatMap((s) => sources(g, s, g.rel.isA))).filter((c) => c !== x),
      g.ids,
    ],
    edge: (g, x, p) => edge(x, g.rel.isA, p),
  },
  definition: {
    relation: () => DEFINITION_QUERY,
    inverse: false,
    facts: (g) => g.ids.filter((id) => usableDefinition(g, id)).map((id): [string, string, string] => [id, id, id]),
    stems: [
      (d) => `Which term matches this definition: "${d}"?`,
      (d) => `"${d}." This describes which term?`,
      (d) => `Which of the following is defined as: ${d}?`,
      (d) => `Identify the term defined as follows: ${d}.`,
      (d) => `Which entity does this definition describe? ${d}.`,
      (d) => `Definition: ${d}. Which term is it?`,
      (d) => `Select the term whose definition is: "${d}".`,
      (d) => `What is being defined here? "${d}."`,
    ],
    tiers: (g, x) => [
      uniq(targets(g, x, g.rel.isA).flatMap((p) => sources(g, p, g.rel.isA))),
      ...(['disease', 'finding', 'test', 'drug'] as const).filter((r) => g.roleSets[r].has(x)).map((r) => g.byRole[r]),
      g.ids,
    ],
    edge: () => undefined,
    subjectText: maskedDefinition,
  },
};

const normDef = (g: SynthGraph, id: string): string => (g.terms.get(id)?.def ?? '').trim().toLowerCase();

function distractorCouldBeTrue(g: SynthGraph, fact: McFact, subject: string, candidate: string): boolean {
  const rel = fact.relation(g);
  if (rel === DEFINITION_QUERY) return normDef(g, candidate) === normDef(g, subject);
  return couldBeTrue(g, subject, rel, fact.inverse, candidate);
}

/** Singular nouns for "which of these <plural>" once the options are gone. */
const SINGULAR: Record<string, string> = {
  conditions: 'condition', diagnoses: 'diagnosis', diseases: 'disease', disorders: 'disorder', tests: 'test',
  classes: 'class', drugs: 'drug', groups: 'group',
};

/**
 * A multiple-choice stem reworded as an open question for `synthesis.domain_format: cloze`: "which of the
 * following?" → "what?", "which of these drugs" → "which drug", "Select the …" → "Name the …".
 */
export function clozeStem(stem: string): string {
  return stem
    .replace(/^Of the options below, which\b/u, 'Which')
    .replace(/\b([Ww])hich of (?:the following|these)(?=[?.])/gu, (_, w: string) => (w === 'W' ? 'What' : 'what'))
    .replace(/\b([Ww])hich of (?:the following|these) (is|would|has)\b/gu, (_, w: string, verb: string) => `${w === 'W' ? 'What' : 'what'} ${verb}`)
    .replace(/\b([Ww])hich of (?:the following|these) (\w+)/gu, (_, w: string, noun: string) => `${w}hich ${SINGULAR[noun] ?? noun}`)
    .replace(/^Select the /u, 'Name the ');
}

/**
 * Three distractors, first from the answer's own split (issue 17). Under a split by entity a held-out
 * question's answer is often a held-out entity, which no training example mentions, while distractors
 * drawn from every allowed entity were mostly training entities that SFT had seen as answers many times:
 * measured on the quickstart's data, 67 % of held-out gold answers occurred in no training example against
 * 22 % of the distractors, so a model that learnt "answers are entities I saw in training" scored below
 * chance. Options of the same split are equally (un)familiar from training; when the answer's split has
 * too few candidates the rest come from any allowed entity, as before.
 */
function pickDistractors(ctx: BuildContext, tiers: readonly (readonly string[])[], answer: string, ok: (id: string) => boolean, avoid: string[]): string[] {
  const name = (id: string): string => nameOf(ctx.g, id);
  const splitOf = ctx.splitOf;
  if (!splitOf) return pickFromTiers(ctx.rng, tiers, 3, ok, name, avoid);
  const home = splitOf(answer);
  const same = pickFromTiers(ctx.rng, tiers, 3, (id) => ok(id) && splitOf(id) === home, name, avoid);
  if (same.length === 3) return same;
  // the names already chosen are avoided, so the fill never repeats one
  return [...same, ...pickFromTiers(ctx.rng, tiers, 3 - same.length, ok, name, [...avoid, ...same.map(name)])];
}

function buildMc(seed: Seed, ctx: BuildContext): Draft | 'generation_failed' {
  const { g, rng } = ctx;
  const fact = MC_FACTS[seed.factType]!;
  const [subject, answer] = seed.ids as [string, string];
  const answerName = nameOf(g, answer);
  const ok = (id: string): boolean => id !== subject && id !== answer && ctx.allowed(id) && !distractorCouldBeTrue(g, fact, subject, id);
  const distractors = pickDistractors(ctx, fact.tiers(g, subject, answer), answer, ok, [answerName, nameOf(g, subject)]);
  if (distractors.length < 3) return 'generation_failed';
  const order = rng.shuffle([answer, ...distractors]);
  const options: McOption[] = order.map((id, i) => ({ label: LABELS[i]!, text: nameOf(g, id), id }));
  const answerLabel = options.find((o) => o.id === answer)!.label;
  const subjectText = fact.subjectText ? fact.subjectText(g, subject) : nameOf(g, subject);
  const stem = variant(fact.stems, ctx.template)(subjectText);
  const cloze = ctx.cfg.domain_format === 'cloze';
  const prompt = cloze ? clozeStem(stem) : `${stem}\n${options.map((o) => `${o.label}. ${o.text}`).join('\n')}`;
  const e = fact.edge(g, subject, answer);
  const why = e ? sayEdgeSentence(g, e, rng.int(3)) : `${capitalise(answerName)} is defined as: ${(g.terms.get(answer)!.def ?? '').trim()}`;
  return {
    capability: 'domain',
    prompt,
    response: cloze ? `Answer: ${answerName}\n${why}` : `Answer: ${answerLabel}. ${answerName}\n${why}`,
    answer: answerName,
    options,
    answerLabel,
    provenance: {
      // a cloze prompt never shows the distractors: they stay in `options` for scoring, not in what the text mentions
      entities: uniq(cloze ? [subject, answer] : [subject, answer, ...distractors]),
      edges: e ? [e] : [],
      central: seed.central,
      answerIds: [answer],
      query: { subject, relation: fact.relation(g), inverse: fact.inverse },
    },
    template: `domain/${seed.factType}/${((ctx.template % fact.stems.length) + fact.stems.length) % fact.stems.length}`,
  };
}

export const domainGenerator: Generator = {
  capability: 'domain',
  unit: 'unique questions',
  enumerate: (g) =>
    Object.entries(MC_FACTS).flatMap(([factType, fact]) =>
      fact.facts(g).map(([subject, answer, central]): Seed => ({
        key: `${factType}:${subject}:${answer}`,
        factType,
        ids: [subject, answer],
        central,
        core: uniq([subject, answer]),
      })),
    ),
  templateCount: (factType) => MC_FACTS[factType]!.stems.length,
  build: buildMc,
};
