/**
 * The four capability suites, scored on the held-out test split (its entities never occur in training):
 *
 * - domain: multiple choice by log-likelihood (Gao et al., lm-evaluation-harness). Context = the chat prompt
 *   in the model's chat format (the built-in one up to `<|assistant|>\n`, or its template's generation
 *   prompt) followed by `Answer:`. `acc`: when the prompt lists the options (`A. text` lines,
 *   as MKGSG and the real-data loaders write them) the continuations are the letters ` A` … ` D` and the pick
 *   is the letter with the highest log-likelihood, as lm-evaluation-harness's MMLU and mmlu-eval.ts score;
 *   summing over ` B. <entity name>` instead measured option length (the shortest text won on every item,
 *   issue 17). `acc_norm`, the secondary score: argmax of Σ log p / bytes of the full option ` {label}. {text}`
 *   (lm-eval's length-normalised acc_norm). Prompts that do not list their options (`synthesis.domain_format:
 *   cloze`, the cloze formulation OLMES (Gu et al. 2024) recommends for small models) rank the option texts
 *   themselves: `acc` by domain-conditional PMI, log p(text | question) − log p(text | neutral `Answer:`
 *   context) (Holtzman et al. 2021, "Surface Form Competition"), which cancels the preference for short and
 *   frequent terms that the raw sum has; `acc_norm` per byte as above.
 * - reasoning: greedy completion; `answer_acc` (the final `Answer:` line names the gold entity, as the GRPO
 *   reasoning reward reads it) and `chain_validity` (mean over items of the fraction of numbered steps that
 *   state a true ontology relation; an item with no steps scores 0).
 * - instruction: greedy completion; IFEval's four accuracies (Zhou et al. 2023, arXiv:2311.07911):
 *   prompt-level strict/loose (every constraint of the prompt passes) and instruction-level strict/loose
 *   (each constraint counted on its own, pooled over prompts).
 * - integration: greedy completion on the clinical vignettes; diagnosis and treatment correctness, chain
 *   validity of the workflow sections, the prompt's constraints, and `fully_correct` = all of them at once.
 *
 * Every score carries a bootstrap standard error (Efron & Tibshirani 1993) from `score()`, seeded with the
 * same seed for every model, so the resampled item sets are paired across models.
 */
import type { EvalReport } from '../../schemas/generated/report';
import type { Completion, Compute, LoglikResult } from '../compute/types';
import { builtinChatFormat, promptPrefix, type ChatFormat } from '../core/chat';
import type { SynthExample } from '../core/example';
import type { Capability } from '../core/stage';
import { checkAll } from '../verify/constraints';
import type { RewardContext } from '../verify/rewards';
import { scoreIntegration, scoreReasoning } from '../verify/scorers';
import { BbioError } from '../util/errors';
import { makeRng } from '../util/rng';
import { decideMc, type LoglikRequest } from '../compute/tfjs/loglik';
import { score, type Score } from './stats';

export type ModelName = EvalReport['models'][number]['name'];
export type ReportExample = NonNullable<EvalReport['examples']>[number];

/** What evaluation needs from a tokenizer (BpeTokenizer has it; tests pass a character-level one). */
export interface EvalTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  encode(text: string, opts?: { addBos?: boolean; splitSpecial?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecial?: boolean }): string;
}

/** A model under evaluation: the backend's base model plus an optional adapter slot. */
export interface EvalModel {
  name: ModelName;
  compute: Compute;
  adapters?: string;
}

/** A greedy completion: token ids, text cut before the first stop string, and why it ended. */
export type GreedyCompletion = Completion;

export interface SuiteOptions {
  /** Bootstrap resamples for standard errors (eval.bootstrap). */
  resamples: number;
  /** Seed of the bootstrap and of the item sample (the stage seed). */
  seed: number;
  /** Items per suite; 0 = all (eval.max_items). */
  maxItems: number;
  /** Questions scored between cancellation checks. */
  mcChunk: number;
  /** Prompts decoded together by greedy generation. */
  generateBatchRows: number;
  /** Max new tokens per generative suite; default: 1.5 × the longest reference response of the suite + 8. */
  maxNewTokens?: Partial<Record<Capability, number>>;
  /** Upper bound of the default max new tokens. */
  maxNewTokensCap: number;
  /** Example items kept per suite for the report. */
  examplesPerSuite: number;
  signal?: AbortSignal;
}

export const DEFAULT_SUITE_OPTIONS: Omit<SuiteOptions, 'seed'> = {
  resamples: 1000,
  maxItems: 0,
  mcChunk: 8,
  generateBatchRows: 8,
  maxNewTokensCap: 192,
  examplesPerSuite: 5,
};

export interface SuiteInput {
  model: EvalModel;
  tokenizer: EvalTokenizer;
  /** Test-split examples of this suite's capability (already capped by selectItems). */
  examples: readonly SynthExample[];
  /** The model's chat format (its template, else the built-in one, the default). */
  chat?: ChatFormat;
  /** Ontology lexicon and edges, for answers and chain validity. */
  ctx: RewardContext;
  opts: SuiteOptions;
}

export interface SuiteResult {
  suite: Capability;
  /** `suite/metric` → score. */
  scores: Record<string, Score>;
  headline: Score;
  /** `suite/metric` → item id → the item's score (instruction-level metrics: `<id>#<k>` per constraint). */
  perItem: Record<string, Record<string, number>>;
  /** The headline score of guessing: 1/options averaged over the items (multiple choice), 0 (generation). */
  chance: number;
  examples: ReportExample[];
  items: number;
  seconds: number;
}

/** The one number per capability (report headline, balance figure, code lens). */
export const HEADLINE_METRIC: Record<Capability, string> = {
  domain: 'domain/acc',
  reasoning: 'reasoning/answer_acc',
  instruction: 'instruction/prompt_strict',
  integration: 'integration/fully_correct',
};

/** How a context is encoded: a chat format's (a template's markers are special tokens, written with its own BOS). */
export interface ContextEncoding {
  addBos: boolean;
  splitSpecial: boolean;
}

/** The encoding of a chat format's prompts: BOS when the format adds it and the tokenizer has one. */
export function chatEncoding(tok: Pick<EvalTokenizer, 'bosId'>, chat: ChatFormat): ContextEncoding {
  return { addBos: chat.addBos && tok.bosId >= 0, splitSpecial: chat.splitSpecial };
}

/**
 * lm-evaluation-harness's `_encode_pair`: trailing whitespace of the context moves to the continuation,
 * then the continuation's tokens are the tail of encode(context + continuation), so the split falls on
 * the tokenizer's own boundary. BOS (when the tokenizer has one) starts the context, unless `encoding`
 * (a chat template's) says otherwise.
 */
export function encodePair(tok: EvalTokenizer, context: string, continuation: string, encoding: ContextEncoding = { addBos: tok.bosId >= 0, splitSpecial: false }): LoglikRequest {
  const trimmed = context.replace(/\s+$/u, '');
  const cont = context.slice(trimmed.length) + continuation;
  const whole = tok.encode(trimmed + cont, encoding);
  const ctxIds = tok.encode(trimmed, encoding);
  const isPrefix = ctxIds.every((id, i) => whole[i] === id);
  if (isPrefix && whole.length > ctxIds.length) return { context: ctxIds, continuation: whole.slice(ctxIds.length) };
  return { context: ctxIds, continuation: tok.encode(cont, { splitSpecial: encoding.splitSpecial }) };
}

/** Up to maxItems examples, a seeded sample (the same for every model), kept in file order. */
export function selectItems<T>(items: readonly T[], maxItems: number, seed: number, label: string): T[] {
  if (!maxItems || items.length <= maxItems) return [...items];
  const keep = new Set(makeRng(seed).fork(`items:${label}`).shuffle(items.map((_, i) => i)).slice(0, maxItems));
  return items.filter((_, i) => keep.has(i));
}

function scoreOf(xs: readonly number[], opts: SuiteOptions): Score {
  return score(xs, opts.resamples, opts.seed);
}

/** Per-item scores keyed by item id, for pairing models and runs on the items they share. */
function byId(ids: readonly string[], xs: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  // a repeated id (hand-made test files) keeps every item: later copies get a `~k` suffix
  ids.forEach((id, i) => {
    let key = id;
    for (let k = 1; key in out; k++) key = `${id}~${k}`;
    out[key] = xs[i]!;
  });
  return out;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BbioError('E_CANCELLED', 'evaluation cancelled');
}

function clip(s: string, max = 1000): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

// ---------------------------------------------------------------------------------------------- domain

/**
 * Multiple-choice decisions: the options of a question are scored against its context computed once
 * (scoreSharedContext: one prefill, then all options as one batch from the tiled KV cache). On the wasm
 * backend this beat batching (context, option) rows of many questions (bench/eval.ts), because the
 * context, which is most of the tokens, is not repeated per option.
 */
export async function scoreMultipleChoice(model: Pick<EvalModel, 'compute' | 'adapters'>, tok: EvalTokenizer, questions: readonly { context: string; continuations: readonly string[] }[], encoding?: ContextEncoding): Promise<{ pick: number; pickNorm: number; logprobs: number[] }[]> {
  const out: { pick: number; pickNorm: number; logprobs: number[] }[] = [];
  for (const q of questions) {
    const results = await scoreOptions(model, tok, q.context, q.continuations, encoding);
    out.push({ ...decideMc(results, q.continuations), logprobs: results.map((r) => r.logprob) });
  }
  return out;
}

/** Each continuation's log-likelihood after one context (encodePair's split), the context computed once. */
function scoreOptions(model: Pick<EvalModel, 'compute' | 'adapters'>, tok: EvalTokenizer, context: string, continuations: readonly string[], encoding?: ContextEncoding): Promise<LoglikResult[]> {
  const reqs = continuations.map((c) => encodePair(tok, context, c, encoding));
  return model.compute.scoreContinuations(reqs[0]?.context ?? [], reqs.map((r) => r.continuation), model.adapters ? { adapters: model.adapters } : {});
}

/** Does the prompt list every option as an `A. text` line (so the letter alone names the answer)? */
export function listsOptions(ex: SynthExample): boolean {
  const lines = new Set(ex.prompt.split('\n').map((l) => l.trim()));
  return !!ex.options?.length && ex.options.every((o) => lines.has(`${o.label}. ${o.text}`));
}

/**
 * The full option texts the way reference responses begin (acc_norm): ` {label}. {text}` when the prompt
 * lists the options, the bare ` {text}` when it does not (cloze); the context is the chat prompt then `Answer: `.
 */
export function domainTextQuestion(ex: SynthExample, chat?: ChatFormat): { context: string; continuations: string[]; gold: number } {
  const options = ex.options ?? [];
  const listed = listsOptions(ex);
  return {
    context: `${chat ? chat.prompt(ex.prompt) : promptPrefix(ex.prompt)}Answer: `,
    continuations: options.map((o) => (listed ? `${o.label}. ${o.text}` : o.text)),
    gold: options.findIndex((o) => o.label === ex.answerLabel),
  };
}

/** The calibration context of cloze items: the answer slot of an empty question (Holtzman et al. 2021's domain premise). */
export function neutralContext(chat?: ChatFormat): string {
  return `${chat ? chat.prompt('') : promptPrefix('')}Answer: `;
}

/** argmax_i of log p(option_i | question) − log p(option_i | neutral context): domain-conditional PMI. */
export function pmiPick(conditional: readonly number[], unconditional: readonly number[]): number {
  let best = 0;
  conditional.forEach((c, i) => {
    if (c - unconditional[i]! > conditional[best]! - unconditional[best]!) best = i;
  });
  return best;
}

/** The question `acc` scores: the letters when the prompt lists the options, else the full option texts. */
export function domainQuestion(ex: SynthExample, chat?: ChatFormat): { context: string; continuations: string[]; gold: number } {
  const text = domainTextQuestion(ex, chat);
  return listsOptions(ex) ? { ...text, continuations: (ex.options ?? []).map((o) => o.label) } : text;
}

async function runDomain(input: SuiteInput): Promise<Omit<SuiteResult, 'seconds'>> {
  const { model, tokenizer, opts } = input;
  const chat = input.chat ?? builtinChatFormat(tokenizer);
  const encoding = chatEncoding(tokenizer, chat);
  const items = input.examples.filter((e) => e.options?.length && e.answerLabel);
  const acc: number[] = [];
  const accNorm: number[] = [];
  const examples: ReportExample[] = [];
  // chunks of whole questions so cancellation is honoured between forward passes
  const perChunk = Math.max(1, opts.mcChunk);
  // log p(text | neutral context) per option text, once per model: the same term recurs across items
  const neutral = new Map<string, number>();
  const unconditional = async (texts: readonly string[]): Promise<number[]> => {
    const missing = [...new Set(texts.filter((t) => !neutral.has(t)))];
    if (missing.length) {
      const results = await scoreOptions(model, tokenizer, neutralContext(chat), missing, encoding);
      missing.forEach((t, i) => neutral.set(t, results[i]!.logprob));
    }
    return texts.map((t) => neutral.get(t)!);
  };
  for (let s = 0; s < items.length; s += perChunk) {
    checkAborted(opts.signal);
    const chunk = items.slice(s, s + perChunk);
    const listed = chunk.map(listsOptions);
    const byLetter = await scoreMultipleChoice(model, tokenizer, chunk.filter((_, k) => listed[k]).map((e) => domainQuestion(e, chat)), encoding);
    const texts = chunk.map((e) => domainTextQuestion(e, chat));
    const byText = await scoreMultipleChoice(model, tokenizer, texts, encoding);
    let letterAt = 0;
    for (const [k, ex] of chunk.entries()) {
      const q = texts[k]!;
      const pick = listed[k] ? byLetter[letterAt++]!.pick : pmiPick(byText[k]!.logprobs, await unconditional(q.continuations));
      acc.push(pick === q.gold ? 1 : 0);
      accNorm.push(byText[k]!.pickNorm === q.gold ? 1 : 0);
      if (examples.length < opts.examplesPerSuite) {
        examples.push({ suite: 'domain', model: model.name, prompt: ex.prompt, gold: q.continuations[q.gold] ?? '', output: q.continuations[pick] ?? '', correct: pick === q.gold });
      }
    }
  }
  const scores = { 'domain/acc': scoreOf(acc, opts), 'domain/acc_norm': scoreOf(accNorm, opts) };
  const ids = items.map((e) => e.id);
  const perItem = { 'domain/acc': byId(ids, acc), 'domain/acc_norm': byId(ids, accNorm) };
  // guessing picks the gold option with probability 1/k on a k-option item
  const chance = items.length ? items.reduce((sum, e) => sum + 1 / e.options!.length, 0) / items.length : 0;
  return { suite: 'domain', scores, headline: scores['domain/acc'], perItem, chance, examples, items: items.length };
}

// ---------------------------------------------------------------------------------- generative suites

/** Greedy completions of the examples' prompts in the model's chat format, stopped at EOS or its end of turn. */
export async function completeExamples(input: SuiteInput, suite: Capability): Promise<GreedyCompletion[]> {
  const { tokenizer: tok, opts } = input;
  const chat = input.chat ?? builtinChatFormat(tok);
  const encoding = chatEncoding(tok, chat);
  const prompts = input.examples.map((e) => tok.encode(chat.prompt(e.prompt), encoding));
  let maxNew = opts.maxNewTokens?.[suite];
  if (maxNew === undefined) {
    const longest = Math.max(0, ...input.examples.map((e) => tok.encode(chat.response(e.prompt, e.response), { splitSpecial: chat.splitSpecial }).length));
    maxNew = Math.min(opts.maxNewTokensCap, Math.ceil(1.5 * longest) + 8);
  }
  const limit = maxNew;
  const completions = await input.model.compute.generate({
    prompts, n: 1, temperature: 0, topP: 1, maxNewTokens: limit,
    batchRows: opts.generateBatchRows,
    stop: chat.stop,
    ...(chat.stopIds.length ? { stopIds: chat.stopIds } : {}),
    ...(input.model.adapters ? { adapters: input.model.adapters } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return completions.map(([c]) => ({ ...c!, text: c!.text.replace(/\s+$/u, '') }));
}

async function runReasoning(input: SuiteInput): Promise<Omit<SuiteResult, 'seconds'>> {
  const completions = await completeExamples(input, 'reasoning');
  const answer: number[] = [];
  const chain: number[] = [];
  const examples: ReportExample[] = [];
  input.examples.forEach((ex, i) => {
    const text = completions[i]!.text;
    const r = scoreReasoning(ex, text, input.ctx);
    answer.push(r.answer ? 1 : 0);
    chain.push(r.chain);
    if (examples.length < input.opts.examplesPerSuite) examples.push({ suite: 'reasoning', model: input.model.name, prompt: ex.prompt, gold: ex.answer, output: clip(text), correct: r.answer });
  });
  const scores = { 'reasoning/answer_acc': scoreOf(answer, input.opts), 'reasoning/chain_validity': scoreOf(chain, input.opts) };
  const ids = input.examples.map((e) => e.id);
  const perItem = { 'reasoning/answer_acc': byId(ids, answer), 'reasoning/chain_validity': byId(ids, chain) };
  return { suite: 'reasoning', scores, headline: scores['reasoning/answer_acc'], perItem, chance: 0, examples, items: input.examples.length };
}

async function runInstruction(input: SuiteInput): Promise<Omit<SuiteResult, 'seconds'>> {
  const items = input.examples.filter((e) => e.constraints?.length);
  const completions = await completeExamples({ ...input, examples: items }, 'instruction');
  const promptStrict: number[] = [];
  const promptLoose: number[] = [];
  const instStrict: number[] = [];
  const instLoose: number[] = [];
  const instIds: string[] = [];
  const examples: ReportExample[] = [];
  items.forEach((ex, i) => {
    const text = completions[i]!.text;
    const r = checkAll(text, ex.constraints!);
    promptStrict.push(r.promptStrict ? 1 : 0);
    promptLoose.push(r.promptLoose ? 1 : 0);
    instStrict.push(...r.strict.map(Number));
    instLoose.push(...r.loose.map(Number));
    instIds.push(...r.strict.map((_, k) => `${ex.id}#${k}`));
    if (examples.length < input.opts.examplesPerSuite) examples.push({ suite: 'instruction', model: input.model.name, prompt: ex.prompt, gold: ex.constraints!.map((c) => c.kind).join(', '), output: clip(text), correct: r.promptStrict });
  });
  const o = input.opts;
  // instruction-level scores pool constraints over prompts (IFEval); their bootstrap resamples constraints
  const scores = {
    'instruction/prompt_strict': scoreOf(promptStrict, o),
    'instruction/prompt_loose': scoreOf(promptLoose, o),
    'instruction/inst_strict': scoreOf(instStrict, o),
    'instruction/inst_loose': scoreOf(instLoose, o),
  };
  const ids = items.map((e) => e.id);
  const perItem = {
    'instruction/prompt_strict': byId(ids, promptStrict),
    'instruction/prompt_loose': byId(ids, promptLoose),
    'instruction/inst_strict': byId(instIds, instStrict),
    'instruction/inst_loose': byId(instIds, instLoose),
  };
  return { suite: 'instruction', scores, headline: scores['instruction/prompt_strict'], perItem, chance: 0, examples, items: items.length };
}

async function runIntegration(input: SuiteInput): Promise<Omit<SuiteResult, 'seconds'>> {
  const completions = await completeExamples(input, 'integration');
  const cols = { diagnosis: [] as number[], treatment: [] as number[], chain: [] as number[], promptStrict: [] as number[], fully: [] as number[] };
  const examples: ReportExample[] = [];
  input.examples.forEach((ex, i) => {
    const text = completions[i]!.text;
    const r = scoreIntegration(ex, text, input.ctx);
    cols.diagnosis.push(Number(r.diagnosis));
    cols.treatment.push(Number(r.treatment));
    cols.chain.push(r.chain);
    cols.promptStrict.push(Number(r.promptStrict));
    cols.fully.push(Number(r.fully));
    if (examples.length < input.opts.examplesPerSuite) examples.push({ suite: 'integration', model: input.model.name, prompt: ex.prompt, gold: ex.answer, output: clip(text), correct: r.fully });
  });
  const o = input.opts;
  const scores = {
    'integration/diagnosis_acc': scoreOf(cols.diagnosis, o),
    'integration/treatment_acc': scoreOf(cols.treatment, o),
    'integration/chain_validity': scoreOf(cols.chain, o),
    'integration/prompt_strict': scoreOf(cols.promptStrict, o),
    'integration/fully_correct': scoreOf(cols.fully, o),
  };
  const ids = input.examples.map((e) => e.id);
  const perItem = {
    'integration/diagnosis_acc': byId(ids, cols.diagnosis),
    'integration/treatment_acc': byId(ids, cols.treatment),
    'integration/chain_validity': byId(ids, cols.chain),
    'integration/prompt_strict': byId(ids, cols.promptStrict),
    'integration/fully_correct': byId(ids, cols.fully),
  };
  return { suite: 'integration', scores, headline: scores['integration/fully_correct'], perItem, chance: 0, examples, items: input.examples.length };
}

export type SuiteFn = (input: SuiteInput) => Promise<Omit<SuiteResult, 'seconds'>>;

/** The suites, keyed by the schema's `eval.suites` enum. */
export const SUITES: Record<Capability, SuiteFn> = { domain: runDomain, reasoning: runReasoning, instruction: runInstruction, integration: runIntegration };

/** Runs one suite on the test examples of its capability (capped by maxItems) and times it. */
export async function runSuite(suite: Capability, input: Omit<SuiteInput, 'examples'> & { testExamples: readonly SynthExample[] }): Promise<SuiteResult> {
  const pool = input.testExamples.filter((e) => e.capability === suite);
  const examples = selectItems(pool, input.opts.maxItems, input.opts.seed, suite);
  const t0 = performance.now();
  const r = await SUITES[suite]({ model: input.model, tokenizer: input.tokenizer, ctx: input.ctx, opts: input.opts, examples, ...(input.chat ? { chat: input.chat } : {}) });
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}
