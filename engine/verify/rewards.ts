/**
 * Verifiable rewards, one pure function per component: (example with provenance, completion) → a score in
 * [0, 1] with a breakdown, or `null` where the component does not apply to the example's capability
 * (e.g. the instruction checker on a multiple-choice question). GRPO weighs them into its hybrid reward
 * (engine/rl/hybrid-reward.ts); evaluation and the probes score with the same checks.
 */
import { checkAll } from './constraints';
import type { SynthExample } from '../core/example';
import { EdgeIndex, extractClaims, extractFinalAnswer, extractOptionLetter, extractSection, extractSteps, normalizeAnswer, TermLexicon } from '../verify/answers';

export type RewardName = 'domain' | 'reasoning' | 'instruction' | 'format';

export interface RewardResult {
  score: number;
  breakdown: Record<string, number | string>;
}

export interface RewardContext {
  lexicon: TermLexicon;
  edges: EdgeIndex;
}

export type RewardFn = (ex: SynthExample, completion: string, ctx: RewardContext) => RewardResult | null;

/** Does the final answer name one of `ids` (by name or synonym), or equal an accepted answer string? */
export function answerMatches(answer: string | undefined, ids: readonly string[], accept: readonly string[], ctx: RewardContext): boolean {
  if (!answer) return false;
  const norm = normalizeAnswer(answer);
  if (accept.some((a) => normalizeAnswer(a) === norm)) return true;
  const resolved = ctx.lexicon.resolve(answer);
  if (resolved.some((id) => ids.includes(id))) return true;
  return ctx.lexicon.mentions(answer).some((id) => ids.includes(id)) && ctx.lexicon.mentions(answer).length === 1;
}

/**
 * Fraction of stated claims (numbered steps, or `Heading: …` lines of a structured answer) that state a
 * true relation: they mention two terms joined by an ontology edge. Claims naming fewer than two terms
 * count as unsupported.
 */
export function chainValidity(completion: string, ctx: RewardContext): { valid: number; total: number } {
  const steps = extractClaims(completion);
  let valid = 0;
  for (const s of steps) {
    const ids = ctx.lexicon.mentions(s);
    let ok = false;
    for (let i = 0; i < ids.length && !ok; i++) for (let j = i + 1; j < ids.length && !ok; j++) ok = ctx.edges.connected(ids[i]!, ids[j]!);
    if (ok) valid++;
  }
  return { valid, total: steps.length };
}

/** The recommendation itself, before any "Avoid X: …" caveat that names a contraindicated drug. */
function firstClause(text: string): string {
  return text.split(/(?:\.\s+|;\s*)(?:avoid|do not|not)\b/i)[0] ?? text;
}

const domain: RewardFn = (ex, completion, ctx): RewardResult | null => {
  if (ex.capability === 'domain') {
    const letter = extractOptionLetter(completion);
    const answer = extractFinalAnswer(completion);
    const byLetter = ex.answerLabel !== undefined && letter === ex.answerLabel;
    const byText = !letter && answerMatches(answer, ex.provenance.answerIds, ex.accept ?? [ex.answer], ctx);
    return { score: byLetter || byText ? 1 : 0, breakdown: { extracted: letter ?? answer ?? '', gold: ex.answerLabel ?? ex.answer } };
  }
  if (ex.capability === 'integration') {
    // vignettes answer in sections (or JSON); an `Answer: <diagnosis>; <treatment>` line is accepted too
    const final = extractFinalAnswer(completion) ?? '';
    const diagText = extractSection(completion, 'diagnosis') ?? final;
    const treatText = extractSection(completion, 'treatment') ?? final;
    const [diagnosis, ...treatments] = ex.provenance.answerIds;
    const acceptIds = (ex.accept ?? []).flatMap((a) => ctx.lexicon.resolve(a));
    const diagOk = diagnosis !== undefined && ctx.lexicon.mentions(diagText).includes(diagnosis) ? 1 : 0;
    const treatMentioned = new Set(ctx.lexicon.mentions(firstClause(treatText)));
    const treatOk = [...treatments, ...acceptIds].some((id) => id !== diagnosis && treatMentioned.has(id)) ? 1 : 0;
    return { score: (diagOk + treatOk) / 2, breakdown: { diagnosis: diagOk, treatment: treatOk, extracted: `${diagText} | ${treatText}`, gold: ex.answer } };
  }
  return null;
};

const reasoning: RewardFn = (ex, completion, ctx) => {
  if (ex.capability !== 'reasoning' && ex.capability !== 'integration') return null;
  const answer = extractFinalAnswer(completion);
  const correct = answerMatches(answer, ex.provenance.answerIds.slice(-1), ex.accept ?? [ex.answer], ctx) || (ex.capability === 'integration' && answerMatches(answer, ex.provenance.answerIds, ex.accept ?? [], ctx));
  const { valid, total } = chainValidity(completion, ctx);
  const validity = total ? valid / total : 0;
  return { score: 0.5 * (correct ? 1 : 0) + 0.5 * validity, breakdown: { answer_correct: correct ? 1 : 0, chain_valid_steps: valid, chain_steps: total, chain_validity: validity, extracted: answer ?? '', gold: ex.answer } };
};

const instruction: RewardFn = (ex, completion) => {
  if (!ex.constraints?.length) return null;
  const r = checkAll(completion, ex.constraints);
  const strictFrac = r.strict.filter(Boolean).length / r.strict.length;
  const looseFrac = r.loose.filter(Boolean).length / r.loose.length;
  return { score: strictFrac, breakdown: { strict: strictFrac, loose: looseFrac, prompt_strict: r.promptStrict ? 1 : 0, prompt_loose: r.promptLoose ? 1 : 0 } };
};

/** The structure each capability's answers must have, as named checks. */
const FORMAT_CHECKS: Record<SynthExample['capability'], Record<string, (c: string) => boolean>> = {
  // an option letter (listed options) or a named term (cloze items, synthesis.domain_format: cloze)
  domain: { answer_line: (c) => extractOptionLetter(c) !== undefined || !!extractFinalAnswer(c)?.trim() },
  reasoning: { numbered_steps: (c) => extractSteps(c).length >= 1, steps_in_order: (c) => {
      // needs steps to be in order: with none, `every` is vacuously true and paid gibberish (issue 17)
      const steps = extractSteps(c);
      return steps.length > 0 && steps.every((s, i) => s.n === i + 1);
    }, answer_line: (c) => extractFinalAnswer(c) !== undefined },
  instruction: { non_empty: (c) => c.trim().length > 0 },
  integration: {
    diagnosis_stated: (c) => extractSection(c, 'diagnosis') !== undefined,
    treatment_stated: (c) => extractSection(c, 'treatment') !== undefined,
    workflow_order: (c) => {
      const at = ['presentation', 'differential', 'test', 'diagnosis', 'treatment'].map((h) => c.toLowerCase().search(new RegExp(`(^|\\n|")\\s*${h}"?\\s*:`)));
      return at.every((i) => i >= 0) && at.every((i, k) => k === 0 || i > at[k - 1]!);
    },
  },
};

const format: RewardFn = (ex, completion) => {
  const checks = FORMAT_CHECKS[ex.capability];
  const results = Object.entries(checks).map(([k, f]) => [k, f(completion) ? 1 : 0] as const);
  return { score: results.reduce((s, [, v]) => s + v, 0) / results.length, breakdown: Object.fromEntries(results) };
};

export const REWARDS: Record<RewardName, RewardFn> = { domain, reasoning, instruction, format };
