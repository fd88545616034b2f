/**
 * MedQA (Jin et al. 2021, "What disease does this patient have?", USMLE questions). Two published JSONL
 * forms are read, record by record:
 *
 * - the 4-option form of lm-evaluation-harness's `medqa_4options` (dataset GBaker/MedQA-USMLE-4-options-hf):
 *   `{"sent1": question, "ending0".."ending3": options, "label": 0..3}`;
 * - the original release (`data_clean/questions/US/*.jsonl`, 4 or 5 options):
 *   `{"question": ..., "options": {"A": ..., "B": ..., ...}, "answer_idx": "A"}`.
 *
 * Prompt (the harness's medqa_4options doc_to_text), choices the option letters, metrics acc and acc_norm:
 *
 *     Question: <question>
 *     A. <option>
 *     B. <option>
 *     ...
 *     Answer:
 */
import { field, isInt, isObject, isText, parseJsonl, recordError, type Json, type RecordAt } from './records';
import type { McDoc } from './multiple-choice';

const FORMAT = 'MedQA JSONL: {"sent1", "ending0".."ending3", "label"} (4 options) or {"question", "options", "answer_idx"} (original)';

export function medqaText(question: string, options: readonly string[], letters: readonly string[]): string {
  return `Question: ${question}\n${options.map((o, i) => `${letters[i]}. ${o}\n`).join('')}Answer:`;
}

const LETTERS4 = ['A', 'B', 'C', 'D'];

function fourOption(rec: Json, at: RecordAt): McDoc {
  const question = field(rec, 'sent1', at, 'the question, a string', isText);
  const options = LETTERS4.map((_, i) => field(rec, `ending${i}`, at, `option ${LETTERS4[i]}, a string`, isText));
  const label = field(rec, 'label', at, 'the index of the right option, 0 to 3', (v): v is number => isInt(v) && v >= 0 && v <= 3);
  return { text: medqaText(question, options, LETTERS4), choices: LETTERS4, gold: label };
}

function original(rec: Json, at: RecordAt): McDoc {
  const question = field(rec, 'question', at, 'the question, a string', isText);
  const options = field(rec, 'options', at, 'an object of option letter → text, e.g. {"A": "...", "B": "..."}', (v): v is Record<string, string> => isObject(v) && Object.values(v).every(isText) && Object.keys(v).length >= 2);
  const letters = Object.keys(options).sort();
  const answer = field(rec, 'answer_idx', at, `the letter of the right option (${letters.join(', ')})`, (v): v is string => typeof v === 'string' && letters.includes(v));
  return { text: medqaText(question, letters.map((l) => options[l]!), letters), choices: letters, gold: letters.indexOf(answer) };
}

export function parseMedqa(text: string, file: string): McDoc[] {
  return parseJsonl(text, file, FORMAT).map(({ rec, at }) => {
    if (Object.hasOwn(rec, 'sent1') || Object.hasOwn(rec, 'ending0')) return fourOption(rec, at);
    if (Object.hasOwn(rec, 'question') || Object.hasOwn(rec, 'options')) return original(rec, at);
    throw recordError(at, 'field "sent1" missing (expected the question of the 4-option form, or "question" with "options" and "answer_idx" of the original form)');
  });
}
