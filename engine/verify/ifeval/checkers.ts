/**
 * The 25 instruction checkers of IFEval (Zhou et al. 2023, "Instruction-Following Evaluation for Large
 * Language Models", arXiv:2311.07911), one table entry per instruction id of the reference evaluator's
 * instructions_registry (google-research/google-research, instruction_following_eval), reimplemented from
 * its documented behaviour. Each entry names the kwargs it reads (the published input's `kwargs` object)
 * and checks one response; strict and loose scoring (evaluate.ts) call the same checker.
 *
 * Comparisons: a `relation` kwarg is "less than" (count < N) or "at least" (count ≥ N), as in the reference.
 * Text measures (words, sentences, capital words) are in text.ts, the language detector in language.ts.
 */
import { detectLanguage } from './language';
import { countSentences, countWords, isLower, isUpper, wordTokens } from './text';

export const RELATIONS = ['less than', 'at least'] as const;
export type Relation = (typeof RELATIONS)[number];

/** The type a kwarg must have in the input file. */
export type KwargType = 'string' | 'integer' | 'strings' | 'relation';

export type Kwargs = Record<string, unknown>;

export interface CheckerSpec {
  /** kwargs the checker reads, with their types (all required). */
  kwargs: Record<string, KwargType>;
  /** One sentence: what the response must do (docs/ifeval.md quotes it). */
  rule: string;
  check(response: string, kw: Kwargs): boolean;
}

function compare(count: number, relation: unknown, n: unknown): boolean {
  return relation === 'less than' ? count < Number(n) : count >= Number(n);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Python 3's Unicode `\b…\b` around a literal word, case-insensitive. */
function wholeWord(word: string): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{M}\\p{N}_])${escapeRe(word)}(?![\\p{L}\\p{M}\\p{N}_])`, 'iu');
}

function countMatches(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

/** Paragraphs separated by the markdown divider `***`; empty ones only allowed at the very start or end. */
function dividedParagraphs(response: string): number | null {
  const parts = response.split(/\s?\*\*\*\s?/);
  let n = parts.length;
  for (let i = 0; i < parts.length; i++) {
    if (parts[i]!.trim()) continue;
    if (i === 0 || i === parts.length - 1) n--;
    else return null;
  }
  return n;
}

const CONSTRAINED_ANSWERS = ['My answer is yes.', 'My answer is no.', 'My answer is maybe.'];

/** The response without a surrounding ``` / ```json fence: each prefix removed in turn, as the reference does. */
function unfence(response: string): string {
  let t = response.trim();
  for (const p of ['```json', '```Json', '```JSON', '```']) if (t.startsWith(p)) t = t.slice(p.length);
  if (t.endsWith('```')) t = t.slice(0, -3);
  return t.trim();
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false; // not JSON: the instruction is not followed, which is the result
  }
}

function postscriptPattern(marker: string): RegExp {
  // P.S. and P.P.S may be written with or without the space after the first dot; other markers literally
  const m = marker.trim();
  const body = m === 'P.S.' ? 'p\\.\\s?s\\.' : m === 'P.P.S' ? 'p\\.\\s?p\\.\\s?s' : escapeRe(m.toLowerCase());
  return new RegExp(`\\s*${body}.*$`, 'm');
}

/** The first word of the nth `\n\n` paragraph, lower-cased, leading quotes and trailing punctuation cut. */
function firstWordOf(paragraph: string): string {
  const word = (paragraph.split(/\s+/)[0] ?? '').replace(/^['"]+/, '');
  let out = '';
  for (const ch of word) {
    if ('.,?!\'"'.includes(ch)) break;
    out += ch.toLowerCase();
  }
  return out;
}

export const CHECKERS = {
  'keywords:existence': {
    kwargs: { keywords: 'strings' },
    rule: 'every keyword occurs (case-insensitive)',
    check: (r, kw) => (kw.keywords as string[]).every((k) => new RegExp(escapeRe(k), 'i').test(r)),
  },
  'keywords:frequency': {
    kwargs: { keyword: 'string', frequency: 'integer', relation: 'relation' },
    rule: 'the keyword occurs (case-insensitive) fewer than / at least N times',
    check: (r, kw) => compare(countMatches(r, new RegExp(escapeRe((kw.keyword as string).trim()), 'gi')), kw.relation, kw.frequency),
  },
  'keywords:forbidden_words': {
    kwargs: { forbidden_words: 'strings' },
    rule: 'none of the words occurs as a whole word (case-insensitive)',
    check: (r, kw) => !(kw.forbidden_words as string[]).some((w) => wholeWord(w).test(r)),
  },
  'keywords:letter_frequency': {
    kwargs: { letter: 'string', let_frequency: 'integer', let_relation: 'relation' },
    rule: 'the letter occurs (case-insensitive) fewer than / at least N times',
    check: (r, kw) => {
      const letter = (kw.letter as string).toLowerCase();
      return compare([...r.toLowerCase()].filter((c) => c === letter).length, kw.let_relation, kw.let_frequency);
    },
  },
  'language:response_language': {
    kwargs: { language: 'string' },
    rule: 'the whole response is in the language (ISO 639-1 code); text without letters passes',
    check: (r, kw) => {
      const lang = detectLanguage(r);
      return lang === null || lang === kw.language;
    },
  },
  'length_constraints:number_sentences': {
    kwargs: { num_sentences: 'integer', relation: 'relation' },
    rule: 'fewer than / at least N sentences',
    check: (r, kw) => compare(countSentences(r), kw.relation, kw.num_sentences),
  },
  'length_constraints:number_paragraphs': {
    kwargs: { num_paragraphs: 'integer' },
    rule: 'exactly N paragraphs separated by the markdown divider `***`',
    check: (r, kw) => dividedParagraphs(r) === Number(kw.num_paragraphs),
  },
  'length_constraints:number_words': {
    kwargs: { num_words: 'integer', relation: 'relation' },
    rule: 'fewer than / at least N words',
    check: (r, kw) => compare(countWords(r), kw.relation, kw.num_words),
  },
  'length_constraints:nth_paragraph_first_word': {
    kwargs: { num_paragraphs: 'integer', nth_paragraph: 'integer', first_word: 'string' },
    rule: 'exactly N paragraphs separated by blank lines, and paragraph i starts with the word',
    check: (r, kw) => {
      const parts = r.split(/\n\n/);
      const n = parts.filter((p) => p.trim()).length;
      const nth = Number(kw.nth_paragraph);
      if (n !== Number(kw.num_paragraphs) || nth > n) return false;
      const para = parts[nth - 1]?.trim() ?? '';
      return para !== '' && firstWordOf(para) === (kw.first_word as string).toLowerCase();
    },
  },
  'detectable_content:number_placeholders': {
    kwargs: { num_placeholders: 'integer' },
    rule: 'at least N placeholders in square brackets, like `[address]`',
    check: (r, kw) => countMatches(r, /\[.*?\]/g) >= Number(kw.num_placeholders),
  },
  'detectable_content:postscript': {
    kwargs: { postscript_marker: 'string' },
    rule: 'a postscript starting with the marker (P.S. or P.P.S) on a line of its own',
    check: (r, kw) => postscriptPattern(kw.postscript_marker as string).test(r.toLowerCase()),
  },
  'detectable_format:number_bullet_lists': {
    kwargs: { num_bullets: 'integer' },
    rule: 'exactly N markdown bullet points (lines starting with `*` or `-`)',
    check: (r, kw) => countMatches(r, /^\s*\*[^*].*$/gm) + countMatches(r, /^\s*-.*$/gm) === Number(kw.num_bullets),
  },
  'detectable_format:constrained_response': {
    kwargs: {},
    rule: 'contains one of "My answer is yes.", "My answer is no.", "My answer is maybe."',
    check: (r) => CONSTRAINED_ANSWERS.some((a) => r.trim().includes(a)),
  },
  'detectable_format:number_highlighted_sections': {
    kwargs: { num_highlights: 'integer' },
    rule: 'at least N non-empty markdown highlights (`*text*` or `**text**`, on one line)',
    check: (r, kw) => {
      // both patterns are counted, as the reference does (a **bold** span matches each once)
      const single = (r.match(/\*[^\n*]*\*/g) ?? []).filter((h) => h.replace(/^\*+|\*+$/g, '').trim());
      const double = (r.match(/\*\*[^\n*]*\*\*/g) ?? []).filter((h) => h.replace(/^\*+|\*+$/g, '').trim());
      return single.length + double.length >= Number(kw.num_highlights);
    },
  },
  'detectable_format:multiple_sections': {
    kwargs: { section_spliter: 'string', num_sections: 'integer' },
    rule: 'at least N sections, each starting with the splitter word and its number (SECTION 1, SECTION 2, …)',
    check: (r, kw) => r.split(new RegExp(`\\s?${escapeRe((kw.section_spliter as string).trim())}\\s?\\d+\\s?`)).length - 1 >= Number(kw.num_sections),
  },
  'detectable_format:json_format': {
    kwargs: {},
    rule: 'the whole response is JSON (a surrounding json or plain code fence is allowed)',
    check: (r) => isJson(unfence(r)),
  },
  'detectable_format:title': {
    kwargs: {},
    rule: 'a non-empty title in double angular brackets, like `<<title>>`',
    check: (r) => (r.match(/<<[^\n]+>>/g) ?? []).some((t) => t.replace(/^<+/, '').replace(/>+$/, '').trim() !== ''),
  },
  'combination:two_responses': {
    kwargs: {},
    rule: 'exactly two different responses separated by six asterisks `******`',
    check: (r) => {
      const parts = r.split('******');
      const kept: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (parts[i]!.trim()) kept.push(parts[i]!);
        else if (i !== 0 && i !== parts.length - 1) return false;
      }
      return kept.length === 2 && kept[0]!.trim() !== kept[1]!.trim();
    },
  },
  'combination:repeat_prompt': {
    kwargs: { prompt_to_repeat: 'string' },
    rule: 'starts by repeating the request word for word (case-insensitive)',
    check: (r, kw) => r.trim().toLowerCase().startsWith((kw.prompt_to_repeat as string).trim().toLowerCase()),
  },
  'startend:end_checker': {
    kwargs: { end_phrase: 'string' },
    rule: 'ends with the exact phrase (case-insensitive; a closing quote mark is ignored)',
    check: (r, kw) => r.trim().replace(/^"+|"+$/g, '').toLowerCase().endsWith((kw.end_phrase as string).trim().toLowerCase()),
  },
  'change_case:capital_word_frequency': {
    kwargs: { capital_frequency: 'integer', capital_relation: 'relation' },
    rule: 'fewer than / at least N words in all capital letters',
    check: (r, kw) => compare(wordTokens(r).filter(isUpper).length, kw.capital_relation, kw.capital_frequency),
  },
  'change_case:english_capital': {
    kwargs: {},
    rule: 'English, in capital letters only',
    check: (r) => isUpper(r) && [null, 'en'].includes(detectLanguage(r)),
  },
  'change_case:english_lowercase': {
    kwargs: {},
    rule: 'English, in lower-case letters only',
    check: (r) => isLower(r) && [null, 'en'].includes(detectLanguage(r)),
  },
  'punctuation:no_comma': {
    kwargs: {},
    rule: 'no comma',
    check: (r) => !r.includes(','),
  },
  'startend:quotation': {
    kwargs: {},
    rule: 'the whole response is wrapped in double quotation marks',
    check: (r) => {
      const t = r.trim();
      return t.length > 1 && t.startsWith('"') && t.endsWith('"');
    },
  },
} as const satisfies Record<string, CheckerSpec>;

export type InstructionId = keyof typeof CHECKERS;
export const INSTRUCTION_IDS = Object.keys(CHECKERS) as InstructionId[];

export function isInstructionId(id: string): id is InstructionId {
  return Object.hasOwn(CHECKERS, id);
}
