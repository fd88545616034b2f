/**
 * IFEval in its published format (lm-evaluation-harness task `ifeval`; google-research's
 * instruction_following_eval): the input JSONL has one prompt a line,
 * `{"key": 1000, "prompt": "...", "instruction_id_list": ["punctuation:no_comma", ...], "kwargs": [{...}, ...]}`,
 * one kwargs object per instruction id (keys with null values are ignored, as the reference does). The
 * reference evaluator's responses file (`input_response_data`) has `{"prompt": "...", "response": "..."}` a
 * line and is matched to the input by the prompt text.
 *
 * Generation (as the harness does): the prompt alone, zero-shot, greedy, up to 1280 new tokens, stopped at
 * the end of turn. Metrics: prompt_level_strict_acc, inst_level_strict_acc, prompt_level_loose_acc,
 * inst_level_loose_acc (here prompt_strict, inst_strict, prompt_loose, inst_loose).
 */
import { CHECKERS, INSTRUCTION_IDS, isInstructionId, RELATIONS, type KwargType, type Kwargs } from '../../verify/ifeval/checkers';
import type { IfevalPrompt } from '../../verify/ifeval/evaluate';
import { BbioError } from '../../util/errors';
import { field, isObject, isText, parseJsonl, readText, recordError, type Json, type RecordAt } from './records';

const INPUT_FORMAT = 'the IFEval input JSONL ({"key", "prompt", "instruction_id_list", "kwargs"})';
const RESPONSE_FORMAT = 'the IFEval response JSONL ({"prompt", "response"})';

const KWARG_OK: Record<KwargType, { expected: string; ok: (v: unknown) => boolean }> = {
  string: { expected: 'a string', ok: (v) => typeof v === 'string' && v !== '' },
  integer: { expected: 'an integer', ok: (v) => typeof v === 'number' && Number.isInteger(v) },
  strings: { expected: 'a list of strings', ok: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string') },
  relation: { expected: `"${RELATIONS.join('" or "')}"`, ok: (v) => (RELATIONS as readonly unknown[]).includes(v) },
};

function checkKwargs(id: string, raw: Json, index: number, at: RecordAt): Kwargs {
  const kw = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null && v !== undefined));
  for (const [name, type] of Object.entries(CHECKERS[id as keyof typeof CHECKERS].kwargs as Record<string, KwargType>)) {
    const rule = KWARG_OK[type];
    if (!Object.hasOwn(kw, name)) throw recordError(at, `field "kwargs[${index}].${name}" missing (expected ${rule.expected} for ${id})`);
    if (!rule.ok(kw[name])) throw recordError(at, `field "kwargs[${index}].${name}" is not ${rule.expected} (for ${id})`);
  }
  return kw;
}

export function parseIfevalInput(text: string, file: string): IfevalPrompt[] {
  return parseJsonl(text, file, INPUT_FORMAT).map(({ rec, at }) => {
    const key = field(rec, 'key', at, 'an integer or string id', (v): v is number | string => typeof v === 'number' || typeof v === 'string');
    const prompt = field(rec, 'prompt', at, 'the prompt text, a string', isText);
    const ids = field(rec, 'instruction_id_list', at, 'a list of instruction ids', (v): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string'));
    const kwargs = field(rec, 'kwargs', at, 'a list of objects, one per instruction id', (v): v is Json[] => Array.isArray(v) && v.every(isObject));
    if (kwargs.length !== ids.length) throw recordError(at, `"kwargs" has ${kwargs.length} objects for ${ids.length} instruction ids (expected one per id)`);
    const unknown = ids.find((id) => !isInstructionId(id));
    if (unknown !== undefined) throw new BbioError('E_DATA_RECORD', `${file}:${at.line}: unknown instruction id "${unknown}"`, { file, line: at.line, column: 1 }, `the 25 ids are: ${INSTRUCTION_IDS.join(', ')}`);
    return { key, prompt, instructionIds: ids.filter(isInstructionId), kwargs: ids.map((id, i) => checkKwargs(id, kwargs[i]!, i, at)) };
  });
}

export async function loadIfevalInput(file: string): Promise<IfevalPrompt[]> {
  return parseIfevalInput(await readText(file, 'IFEval input file'), file);
}

/** prompt text → response, from the reference evaluator's response file. */
export function parseIfevalResponses(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { rec, at } of parseJsonl(text, file, RESPONSE_FORMAT)) {
    const prompt = field(rec, 'prompt', at, 'the prompt text as in the input file, a string', isText);
    const response = field(rec, 'response', at, "the model's response, a string", (v): v is string => typeof v === 'string');
    out.set(prompt, response);
  }
  return out;
}

export async function loadIfevalResponses(file: string): Promise<Map<string, string>> {
  return parseIfevalResponses(await readText(file, 'IFEval response file'), file);
}

/** The response of every prompt; a prompt without one is an error naming it (the reference would crash). */
export function responsesFor(prompts: readonly IfevalPrompt[], responses: ReadonlyMap<string, string>, file: string): string[] {
  return prompts.map((p) => {
    const r = responses.get(p.prompt);
    if (r === undefined) throw new BbioError('E_DATA_RECORD', `${file}: no response for the prompt of key ${p.key} (${JSON.stringify(p.prompt.slice(0, 40))}…)`, { file }, 'the response file has one {"prompt", "response"} line per input prompt, with the prompt text unchanged');
    return r;
  });
}
