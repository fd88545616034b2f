/**
 * Per-capability scorers: how one completion to one example is judged, shared by the evaluation suites
 * (engine/eval/suites.ts) and the training probes, built on the same checks as the rewards.
 */
import type { Capability } from '../core/stage';
import type { SynthExample } from '../core/example';
import { extractFinalAnswer, extractSteps } from './answers';
import { checkAll, parseJsonResponse } from './constraints';
import { answerMatches, chainValidity, REWARDS, type RewardContext } from './rewards';

/** Per-item scores of a reasoning completion. */
export function scoreReasoning(ex: SynthExample, completion: string, ctx: RewardContext): { answer: boolean; chain: number } {
  const correct = answerMatches(extractFinalAnswer(completion), ex.provenance.answerIds.slice(-1), ex.accept ?? [ex.answer], ctx);
  const { valid, total } = chainValidity(completion, ctx);
  return { answer: correct, chain: total ? valid / total : 0 };
}

const SECTION_RE = /^\s*(?:#+\s*)?(?:\*\*)?(presentation|differential|test|diagnosis|treatment)(?:\*\*)?\s*:\s*(.*)$/gimu;

const SECTION_NAMES = ['presentation', 'differential', 'test', 'diagnosis', 'treatment'];

/**
 * Workflow sections of a vignette answer, lower-cased heading → text: heading lines (`Diagnosis: …`, first
 * occurrence of each), or the keys of a JSON object answer (values that are lists joined with `; `).
 */
export function workflowSections(completion: string): Map<string, string> {
  const out = new Map<string, string>();
  const json = parseJsonResponse(completion);
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      const key = k.toLowerCase();
      if (SECTION_NAMES.includes(key) && !out.has(key)) out.set(key, Array.isArray(v) ? v.map(String).join('; ') : String(v));
    }
    return out;
  }
  for (const m of completion.matchAll(SECTION_RE)) {
    const key = m[1]!.toLowerCase();
    if (!out.has(key)) out.set(key, m[2]!);
  }
  return out;
}

export interface IntegrationScore {
  diagnosis: boolean;
  treatment: boolean;
  /** Fraction of workflow sections consistent with the stated diagnosis under the graph. */
  chain: number;
  promptStrict: boolean;
  fully: boolean;
}

/**
 * Scores one vignette answer. The stated diagnosis is the first term named under `Diagnosis:` (else in the
 * final answer line before `;`), the stated treatment the first term under `Treatment:` (else after `;`).
 * Chain validity: the differential is valid when it contains the stated diagnosis; presentation, test and
 * treatment are valid when they name a term joined to the stated diagnosis by a graph edge (a finding of
 * it, a test that confirms it, a drug that treats it); numbered steps are used instead when the answer has
 * no sections.
 */
export function scoreIntegration(ex: SynthExample, completion: string, ctx: RewardContext): IntegrationScore {
  const sections = workflowSections(completion);
  const answerLine = extractFinalAnswer(completion) ?? '';
  const [ansDiag = '', ansTreat = ''] = answerLine.split(/[;]/);
  const first = (text: string | undefined): string | undefined => (text ? ctx.lexicon.mentions(text)[0] : undefined);
  const diagnosis = first(sections.get('diagnosis')) ?? first(ansDiag);
  const treatment = first(sections.get('treatment')) ?? first(ansTreat);
  const [goldDiag, ...goldTreat] = ex.provenance.answerIds;
  const acceptParts = (ex.accept ?? []).map((a) => a.split(';').map((p) => p.trim()));
  const diagIds = new Set([goldDiag, ...acceptParts.flatMap((p) => ctx.lexicon.resolve(p[0] ?? ''))].filter((x): x is string => !!x));
  const treatIds = new Set([...goldTreat, ...acceptParts.flatMap((p) => ctx.lexicon.resolve(p[1] ?? ''))]);
  const diagOk = diagnosis !== undefined && diagIds.has(diagnosis);
  const treatOk = treatment !== undefined && treatIds.has(treatment);
  let chain = 0;
  const others = ['presentation', 'differential', 'test', 'treatment'].filter((k) => sections.has(k));
  if (others.length && diagnosis) {
    const valid = others.filter((k) => {
      const ids = ctx.lexicon.mentions(sections.get(k)!);
      return k === 'differential' ? ids.includes(diagnosis) : ids.some((id) => id !== diagnosis && ctx.edges.connected(id, diagnosis));
    }).length;
    chain = valid / others.length;
  } else if (!sections.size && extractSteps(completion).length) {
    const { valid, total } = chainValidity(completion, ctx);
    chain = valid / total;
  }
  const promptStrict = ex.constraints?.length ? checkAll(completion, ex.constraints).promptStrict : true;
  return { diagnosis: diagOk, treatment: treatOk, chain, promptStrict, fully: diagOk && treatOk && chain === 1 && promptStrict };
}

/**
 * The one number a probe reports per capability, 1 = right: the MC option for domain, the final answer
 * for reasoning, all constraints for instruction, and for integration a fully right answer under the
 * domain reward (diagnosis and treatment).
 */
export const PROBE_SCORES: Record<Capability, (ex: SynthExample, text: string, ctx: RewardContext) => number> = {
  domain: (ex, t, ctx) => REWARDS.domain(ex, t, ctx)?.score ?? 0,
  reasoning: (ex, t, ctx) => Number(REWARDS.reasoning(ex, t, ctx)?.breakdown.answer_correct ?? 0),
  instruction: (ex, t, ctx) => Number(REWARDS.instruction(ex, t, ctx)?.breakdown.prompt_strict ?? 0),
  integration: (ex, t, ctx) => ((REWARDS.domain(ex, t, ctx)?.score ?? 0) === 1 ? 1 : 0),
};
