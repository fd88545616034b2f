/**
 * MedMCQA (Pal et al. 2022, Indian medical entrance exam questions), the JSONL of the Hugging Face dataset
 * openlifescienceai/medmcqa that lm-evaluation-harness's `medmcqa` task reads:
 * `{"question": ..., "opa": ..., "opb": ..., "opc": ..., "opd": ..., "cop": 0..3}` (cop: the correct option,
 * 0-based as in that dataset; the raw release numbers them 1..4 — subtract one). Test rows without answers
 * (cop -1) are not scorable and are refused. Prompt (the harness's doc_to_text), choices A–D, metrics acc
 * and acc_norm:
 *
 *     Question: <question>
 *     Choices:
 *     A. <opa>
 *     B. <opb>
 *     C. <opc>
 *     D. <opd>
 *     Answer:
 */
import { field, isInt, isText, parseJsonl } from './records';
import type { McDoc } from './multiple-choice';

const FORMAT = 'MedMCQA JSONL: {"question", "opa", "opb", "opc", "opd", "cop"}';
const LETTERS = ['A', 'B', 'C', 'D'];
const OPTION_FIELDS = ['opa', 'opb', 'opc', 'opd'];

export function parseMedmcqa(text: string, file: string): McDoc[] {
  return parseJsonl(text, file, FORMAT).map(({ rec, at }) => {
    const question = field(rec, 'question', at, 'the question, a string', isText);
    const options = OPTION_FIELDS.map((f, i) => field(rec, f, at, `option ${LETTERS[i]}, a string`, (v): v is string => typeof v === 'string'));
    const cop = field(rec, 'cop', at, 'the index of the right option, 0 to 3', (v): v is number => isInt(v) && v >= 0 && v <= 3);
    return { text: `Question: ${question}\nChoices:\n${options.map((o, i) => `${LETTERS[i]}. ${o}\n`).join('')}Answer:`, choices: LETTERS, gold: cop };
  });
}
