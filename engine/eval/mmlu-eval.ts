/**
 * Scoring MMLU-format subjects (Hendrycks et al., ICLR 2021) by log-likelihood, as lm-evaluation-harness's
 * original `hendrycksTest` task does: the prompt ends in `Answer:` and the four continuations are ` A` … ` D`;
 * the pick is the letter with the highest log-likelihood (acc). k few-shot examples come from the subject's
 * _dev.csv, in file order. A context longer than the model's window is cut from the left (as lm-eval does).
 * Per-subject accuracy and `overall` (micro-average over all items), each with its bootstrap error.
 */
import { LETTERS, mmluPrompt, type MmluSubject } from './mmlu';
import { scoreMultipleChoice, selectItems, type EvalModel, type EvalTokenizer } from './suites';
import { score, type Score } from './stats';
import { BbioError } from '../util/errors';

export interface MmluEvalOptions {
  shots: number;
  resamples: number;
  seed: number;
  /** Items per subject; 0 = all. */
  maxItems: number;
  mcChunk: number;
  signal?: AbortSignal;
}

export interface MmluEvalResult {
  /** subject → accuracy, plus `overall`. */
  scores: Record<string, Score>;
  items: number;
  seconds: number;
}

export async function evaluateMmlu(model: EvalModel, tok: EvalTokenizer, subjects: readonly MmluSubject[], opts: MmluEvalOptions): Promise<MmluEvalResult> {
  const t0 = performance.now();
  const scores: Record<string, Score> = {};
  const all: number[] = [];
  for (const s of subjects) {
    const items = selectItems(s.items, opts.maxItems, opts.seed, `mmlu:${s.subject}`);
    const shots = s.dev.slice(0, opts.shots);
    const correct: number[] = [];
    const perChunk = Math.max(1, opts.mcChunk);
    for (let i = 0; i < items.length; i += perChunk) {
      if (opts.signal?.aborted) throw new BbioError('E_CANCELLED', 'evaluation cancelled');
      const chunk = items.slice(i, i + perChunk);
      const qs = chunk.map((it) => ({ context: mmluPrompt(s.subject, it, shots), continuations: LETTERS.map((l) => ` ${l}`) }));
      (await scoreMultipleChoice(model, tok, qs)).forEach((d, k) => correct.push(LETTERS[d.pick] === chunk[k]!.answer ? 1 : 0));
    }
    if (!correct.length) continue;
    scores[s.subject] = score(correct, opts.resamples, opts.seed);
    all.push(...correct);
  }
  if (all.length) scores.overall = score(all, opts.resamples, opts.seed);
  return { scores, items: all.length, seconds: (performance.now() - t0) / 1000 };
}
