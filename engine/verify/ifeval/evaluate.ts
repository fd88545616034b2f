/**
 * IFEval scoring (Zhou et al. 2023, arXiv:2311.07911; reference: instruction_following_eval/evaluation_lib.py):
 *
 * - strict: an instruction is followed when the response is not blank and its checker accepts it;
 * - loose: followed when the checker accepts any non-blank one of eight variants: the response, with its
 *   first line removed, its last line removed, both removed, and each of those four with every markdown `*`
 *   removed (so a leading "Sure, here it is:" or bold markers do not fail a format instruction).
 *
 * Accuracies: prompt-level = the share of prompts whose every instruction is followed; instruction-level =
 * the share of all instructions (pooled over prompts) that are followed; each strict and loose.
 */
import { CHECKERS, type InstructionId, type Kwargs } from './checkers';

export interface IfevalPrompt {
  key: number | string;
  prompt: string;
  instructionIds: InstructionId[];
  /** One kwargs object per instruction (null-valued keys already dropped, as the reference does). */
  kwargs: Kwargs[];
}

export interface IfevalJudgement {
  key: number | string;
  strict: boolean[];
  loose: boolean[];
}

export function checkInstruction(id: InstructionId, response: string, kw: Kwargs): boolean {
  return response.trim() !== '' && CHECKERS[id].check(response, kw);
}

/** The eight responses loose scoring tries (the original first). */
export function looseVariants(response: string): string[] {
  const lines = response.split('\n');
  const withoutFirst = lines.slice(1).join('\n').trim();
  const withoutLast = lines.slice(0, -1).join('\n').trim();
  const withoutBoth = lines.slice(1, -1).join('\n').trim();
  const unstar = (s: string): string => s.replace(/\*/g, '');
  return [response, unstar(response), withoutFirst, withoutLast, withoutBoth, unstar(withoutFirst), unstar(withoutLast), unstar(withoutBoth)];
}

export function judgeResponse(p: IfevalPrompt, response: string): IfevalJudgement {
  const variants = looseVariants(response);
  return {
    key: p.key,
    strict: p.instructionIds.map((id, i) => checkInstruction(id, response, p.kwargs[i]!)),
    loose: p.instructionIds.map((id, i) => variants.some((v) => checkInstruction(id, v, p.kwargs[i]!))),
  };
}

/** The four IFEval accuracies as 0/1 vectors (per prompt, or per instruction pooled over prompts). */
export function ifevalVectors(judgements: readonly IfevalJudgement[]): Record<'prompt_strict' | 'prompt_loose' | 'inst_strict' | 'inst_loose', number[]> {
  return {
    prompt_strict: judgements.map((j) => Number(j.strict.every(Boolean))),
    prompt_loose: judgements.map((j) => Number(j.loose.every(Boolean))),
    inst_strict: judgements.flatMap((j) => j.strict.map(Number)),
    inst_loose: judgements.flatMap((j) => j.loose.map(Number)),
  };
}
