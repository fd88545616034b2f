/**
 * PubMedQA (Jin et al. 2019), the expert-labelled set `pqa_labeled` that lm-evaluation-harness's `pubmedqa`
 * task scores. Two published forms:
 *
 * - the original `ori_pqal.json`: one JSON object keyed by PubMed id,
 *   `{"<pmid>": {"QUESTION": ..., "CONTEXTS": [...], "final_decision": "yes"|"no"|"maybe", ...}}`;
 * - the Hugging Face `pqa_labeled` rows as JSONL:
 *   `{"pubid": ..., "question": ..., "context": {"contexts": [...]}, "final_decision": ...}`.
 *
 * Prompt (the harness's doc_to_text), choices yes/no/maybe, metric acc:
 *
 *     Abstract: <contexts joined by newlines>
 *     Question: <question>
 *     Answer:
 */
import { field, isObject, isText, isTexts, lineOfKey, parseJsonl, recordError, type Json, type RecordAt } from './records';
import type { McDoc } from './multiple-choice';

const FORMAT = 'PubMedQA pqa_labeled: ori_pqal.json ({"<pmid>": {"QUESTION", "CONTEXTS", "final_decision"}}) or JSONL ({"question", "context": {"contexts"}, "final_decision"})';
export const PUBMEDQA_CHOICES = ['yes', 'no', 'maybe'] as const;

const isDecision = (v: unknown): v is string => typeof v === 'string' && (PUBMEDQA_CHOICES as readonly string[]).includes(v);

function doc(question: string, contexts: readonly string[], decision: string): McDoc {
  return { text: `Abstract: ${contexts.join('\n')}\nQuestion: ${question}\nAnswer:`, choices: PUBMEDQA_CHOICES, gold: PUBMEDQA_CHOICES.indexOf(decision as 'yes') };
}

function fromOriginal(rec: Json, at: RecordAt): McDoc {
  const question = field(rec, 'QUESTION', at, 'the question, a string', isText);
  const contexts = field(rec, 'CONTEXTS', at, 'the abstract, a list of strings', isTexts);
  return doc(question, contexts, field(rec, 'final_decision', at, '"yes", "no" or "maybe"', isDecision));
}

function fromRow(rec: Json, at: RecordAt): McDoc {
  const question = field(rec, 'question', at, 'the question, a string', isText);
  const context = field(rec, 'context', at, 'an object with "contexts", a list of strings', isObject);
  const contexts = field(context, 'contexts', at, 'the abstract, a list of strings (in "context")', isTexts);
  return doc(question, contexts, field(rec, 'final_decision', at, '"yes", "no" or "maybe"', isDecision));
}

/** A whole-file JSON object keyed by id (ori_pqal.json), or undefined for JSONL rows. */
function keyedObject(text: string): Json | undefined {
  try {
    const whole: unknown = JSON.parse(text);
    // a one-line JSONL file is one row object: rows have "question"/"pubid", the keyed file has ids
    return isObject(whole) && !Object.hasOwn(whole, 'question') && !Object.hasOwn(whole, 'pubid') ? whole : undefined;
  } catch {
    return undefined; // several lines of JSON: JSONL, parsed (and reported) line by line below
  }
}

export function parsePubmedqa(text: string, file: string): McDoc[] {
  const whole = keyedObject(text);
  if (whole) {
    // file order: JavaScript lists integer-like keys (PubMed ids) in numeric order, so sort by line
    const entries = Object.entries(whole).map(([pmid, rec]) => ({ pmid, rec, line: lineOfKey(text, pmid) })).sort((a, b) => a.line - b.line);
    return entries.map(({ pmid, rec, line }) => {
      const at = { file, line, format: FORMAT };
      if (!isObject(rec)) throw recordError(at, `record "${pmid}" is not an object (expected {"QUESTION", "CONTEXTS", "final_decision"})`);
      return fromOriginal(rec, at);
    });
  }
  return parseJsonl(text, file, FORMAT).map(({ rec, at }) => fromRow(rec, at));
}
