/**
 * Multiple-choice benchmarks scored by log-likelihood, as lm-evaluation-harness's `multiple_choice` output
 * type does (Gao et al., lm-evaluation-harness): the context is the task's `doc_to_text` (after k few-shot
 * examples, each its text + " " + its gold choice, joined by "\n\n"); each choice is scored as the
 * continuation " " + choice; `acc` picks the choice with the highest Σ log p, `acc_norm` the highest
 * Σ log p / byte length of the continuation (decideMc). Through the Compute interface, like the suites.
 *
 * Few-shot examples (`--shots K`): from the task's own few-shot pool when it has one (MMLU's _dev.csv, in
 * file order); otherwise K other documents of the same file drawn with the seeded generator, never the
 * document itself (the harness's sampler when the few-shot split is the evaluated one).
 */
import { scoreMultipleChoice, type EvalModel, type EvalTokenizer, type ReportExample } from '../suites';
import { BbioError } from '../../util/errors';
import { makeRng } from '../../util/rng';

/** One document: the harness's doc_to_text, doc_to_choice and doc_to_target. */
export interface McDoc {
  /** The question as the task formats it, ending in "Answer:". */
  text: string;
  /** The choices scored as continuations (" " + choice): letters, or yes/no/maybe. */
  choices: readonly string[];
  /** Index of the gold choice. */
  gold: number;
}

/** A set of documents sharing a description and a few-shot pool (a file, or one MMLU subject). */
export interface McSet {
  /** Result name: the task, or `mmlu_<subject>`. */
  name: string;
  file: string;
  /** Printed before the few-shot examples (MMLU's "The following are multiple choice questions…"). */
  description: string;
  docs: McDoc[];
  /** Few-shot examples taken in order; absent: sampled from `docs`. */
  fewshot?: McDoc[];
}

export interface McOptions {
  shots: number;
  seed: number;
  /** Questions scored between cancellation checks. */
  chunk: number;
  examples: number;
  signal?: AbortSignal;
}

export interface McOutcome {
  /** 0/1 per document. */
  acc: number[];
  accNorm: number[];
  examples: ReportExample[];
}

function shotText(d: McDoc): string {
  return `${d.text} ${d.choices[d.gold]}`;
}

/** The context of document i: description, k solved examples, the question. */
export function mcContext(set: McSet, i: number, shots: number, seed: number): string {
  let pool: McDoc[];
  if (set.fewshot) pool = set.fewshot.slice(0, shots);
  else if (shots > 0) {
    const others = set.docs.map((_, j) => j).filter((j) => j !== i);
    pool = makeRng(seed).fork(`fewshot:${set.name}:${i}`).shuffle(others).slice(0, shots).map((j) => set.docs[j]!);
  } else pool = [];
  return set.description + pool.map((d) => `${shotText(d)}\n\n`).join('') + set.docs[i]!.text;
}

export async function scoreMcSet(model: EvalModel, tok: EvalTokenizer, set: McSet, opts: McOptions): Promise<McOutcome> {
  const out: McOutcome = { acc: [], accNorm: [], examples: [] };
  const per = Math.max(1, opts.chunk);
  for (let s = 0; s < set.docs.length; s += per) {
    if (opts.signal?.aborted) throw new BbioError('E_CANCELLED', 'evaluation cancelled');
    const idx = set.docs.slice(s, s + per).map((_, k) => s + k);
    const qs = idx.map((i) => ({ context: mcContext(set, i, opts.shots, opts.seed), continuations: set.docs[i]!.choices.map((c) => ` ${c}`) }));
    (await scoreMultipleChoice(model, tok, qs)).forEach((d, k) => {
      const doc = set.docs[idx[k]!]!;
      out.acc.push(Number(d.pick === doc.gold));
      out.accNorm.push(Number(d.pickNorm === doc.gold));
      if (out.examples.length < opts.examples) out.examples.push({ suite: set.name, model: model.name, prompt: qs[k]!.context, gold: doc.choices[doc.gold]!, output: doc.choices[d.pick]!, correct: d.pick === doc.gold });
    });
  }
  return out;
}
