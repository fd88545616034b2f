/**
 * The knowledge corpus for pretraining (issue 17 item 11). Q/A examples are split by entity, so a model
 * pretrained on train.jsonl alone never saw the facts its held-out questions ask about and can only guess.
 * This corpus states what the ontology knows about EVERY entity (its definition, synonyms, is_a parents and
 * each relation edge in both directions) as encyclopaedia-style prose, lists, glossary cards and JSON
 * records (LAYOUTS): several passages per entity, with phrasings drawn per passage from the tables below and
 * engine/synth/phrases.ts, and never in a question format (no question marks, option lists, "Answer:" lines
 * or chat markers). The model can then learn the facts in pretraining while SFT and the test still see disjoint entities' questions, the paper's setting
 * (a pretrained base model aligned on synthetic data).
 */
import type { SynthGraph } from './graph';
import { nameOf } from './graph';
import { sayEdge } from './phrases';
import { capitalise, joinAnd, variant } from './text';
import type { Rng } from '../util/rng';

/** The corpus file in the run's dataset folder (written by the synthesize stage, read by pretrain). */
export const KNOWLEDGE_FILE = 'knowledge.jsonl';

/** One corpus line of knowledge.jsonl: the entity it is about and its prose. */
export interface CorpusDoc {
  entity: string;
  text: string;
}

type Say = (name: string, x: string) => string;

const DEFINITION: readonly Say[] = [
  (n, d) => `${capitalise(n)}: ${d}`,
  (n, d) => `In medicine, ${n} refers to the following. ${capitalise(d)}`,
  (n, d) => `The term ${n} describes this: ${d}`,
  (n, d) => `${capitalise(n)} is defined as follows. ${capitalise(d)}`,
];

const SYNONYMS: readonly Say[] = [
  (n, s) => `${capitalise(n)} is also known as ${s}.`,
  (n, s) => `Other names for ${n} include ${s}.`,
  (n, s) => `Clinicians may call ${n} ${s}.`,
  (n, s) => `${capitalise(s)} is another name used for ${n}.`,
];

const OPENING: readonly ((n: string) => string)[] = [
  (n) => `About ${n}.`,
  (n) => `Notes on ${n}.`,
  (n) => `${capitalise(n)} in brief.`,
  (n) => `Clinical summary: ${n}.`,
];

type Layout = (name: string, facts: readonly string[], rng: Rng) => string;

/**
 * How a passage is laid out. A base model pretrained on prose alone never sees a newline, a quote, a brace,
 * a bracket, a parenthesis, `*` or `<`/`>` (measured on the four-specialty slice: 2,304 newlines and 2,242
 * quotes in the SFT responses, none in the corpus), so those tokens keep their random initial embeddings,
 * which LoRA does not train, and SFT on numbered steps, JSON, bullets or `<<titles>>` produced garbled
 * bytes. Real pretraining text has these layouts everywhere (lists, data files, glossaries), so the corpus
 * states the same facts in them too, still never as a question: no question marks, options, `Answer:`
 * lines or chat markers, and none of the instruction prompts' key names.
 */
const LAYOUTS: readonly Layout[] = [
  // encyclopaedia prose
  (n, f, rng) => `${variant(OPENING, rng.int(OPENING.length))(n)} ${f.join(' ')}`,
  // a markdown section: a heading and one bullet per fact
  (n, f) => `## ${capitalise(n)}\n${f.map((x) => `- ${x}`).join('\n')}`,
  // a numbered fact sheet
  (n, f) => `Fact sheet for ${n}\n${f.map((x, i) => `${i + 1}. ${x}`).join('\n')}`,
  // a glossary card: a title in double angle brackets, the name in bold, a parenthesised gloss
  (n, f) => `<<${capitalise(n)}>>\n**${capitalise(n)}** (entry of the clinical glossary)\n${f.join(' ')}`,
  // a JSON record, as data files hold such facts
  (n, f) => JSON.stringify({ entry: n, facts: f }, null, 2),
];

/** Without a definition or relations an entity still gets a line naming it, so coverage is complete. */
const BARE: readonly ((n: string) => string)[] = [
  (n) => `${capitalise(n)} is a term of this ontology.`,
  (n) => `${capitalise(n)} is a recognised clinical entity.`,
];

/** Strips what would make a line read like a question: final question marks become periods. */
function asStatement(s: string): string {
  return s.replace(/\?/g, '.');
}

/** Every fact about one entity, each as one sentence (ends with a period), phrased by `rng`. */
function factsAbout(g: SynthGraph, id: string, rng: Rng): string[] {
  const t = g.terms.get(id)!;
  const name = nameOf(g, id);
  const facts: string[] = [];
  if (t.def) facts.push(asStatement(variant(DEFINITION, rng.int(DEFINITION.length))(name, t.def.replace(/\.?\s*$/, '.'))));
  const syns = [...new Set(t.synonyms.map((s) => s.text).filter((s) => s && s !== name))];
  if (syns.length) facts.push(variant(SYNONYMS, rng.int(SYNONYMS.length))(name, joinAnd(syns, 'or')));
  // each edge once from each end, so a passage about either entity states it
  const edges: { source: string; relation: string; target: string }[] = [];
  for (const [relation, ts] of g.out.get(id) ?? []) for (const target of ts) edges.push({ source: id, relation, target });
  for (const [relation, ss] of g.inc.get(id) ?? []) for (const source of ss) edges.push({ source, relation, target: id });
  for (const e of edges) facts.push(`${capitalise(sayEdge(g, e, rng.int(8)))}.`);
  return facts;
}

/**
 * `passages` documents per entity (at least 1), each the entity's facts in a fresh order and phrasing,
 * and long facts lists split into passages of at most `maxFacts` sentences so one fits a short context.
 */
export function buildKnowledgeCorpus(g: SynthGraph, rng: Rng, o: { passages: number; maxFacts: number }): CorpusDoc[] {
  const docs: CorpusDoc[] = [];
  for (const id of g.ids) {
    const name = nameOf(g, id);
    for (let p = 0; p < Math.max(1, o.passages); p++) {
      const facts = rng.shuffle(factsAbout(g, id, rng));
      if (!facts.length) {
        docs.push({ entity: id, text: variant(BARE, rng.int(BARE.length))(name) });
        continue;
      }
      for (let i = 0; i < facts.length; i += o.maxFacts) {
        const layout = LAYOUTS[rng.int(LAYOUTS.length)]!;
        docs.push({ entity: id, text: layout(name, facts.slice(i, i + o.maxFacts), rng) });
      }
    }
  }
  return rng.shuffle(docs);
}
