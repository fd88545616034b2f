/**
 * Verifiable format constraints in the style of IFEval (Zhou et al., 2023, "Instruction-Following
 * Evaluation for Large Language Models", arXiv:2311.07911). One closed set of constraint kinds, each a
 * table entry with the instruction text shown to the model and a checker. MKGSG uses it to build and
 * check reference responses; evaluation and the GRPO instruction reward reuse the same table, so a
 * constraint means the same thing everywhere.
 */

import type { Constraint, ConstraintKind, ConstraintOf } from '../core/example';

export type { Constraint, ConstraintKind, ConstraintOf };
export type CheckMode = 'strict' | 'loose';

export interface ConstraintSpec<K extends ConstraintKind> {
  /** Instruction phrasings shown to the model; `describeConstraint` picks one by variant index. */
  describe: readonly ((c: ConstraintOf<K>) => string)[];
  /** Strict check of one response. */
  check(response: string, c: ConstraintOf<K>): boolean;
}

const WORD_RE = /[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*/g;

/** Words as the checkers count them: runs of letters/digits, with inner apostrophes and hyphens. */
export function countWords(text: string): number {
  return text.match(WORD_RE)?.length ?? 0;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Case-insensitive whole-word (or whole-phrase) occurrence. */
export function containsWord(text: string, word: string): boolean {
  return new RegExp(`(?<![A-Za-z0-9])${escapeRe(word.trim())}(?![A-Za-z0-9])`, 'i').test(text);
}

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** IFEval's JSON check: strip a surrounding ``` / ```json fence, then parse. */
export function parseJsonResponse(response: string): unknown {
  const body = response
    .trim()
    .replace(/^```(?:json|Json|JSON)?/, '')
    .replace(/```$/, '')
    .trim();
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined; // not JSON: the checker answers false, which is the report
  }
}

const BULLET_RE = /^\s*(?:\*[^*]|-\s)/;
const NUMBERED_RE = /^\s*(\d+)[.)]\s+\S/;

function headingIndex(lines: string[], heading: string): number[] {
  const re = new RegExp(`^\\s*(?:#+\\s*)?(?:\\*\\*)?${escapeRe(heading)}(?:\\*\\*)?\\s*:`, 'i');
  return lines.flatMap((l, i) => (re.test(l) ? [i] : []));
}

const list = (xs: string[]): string => xs.map((x) => `"${x}"`).join(', ');

export const CONSTRAINTS: { [K in ConstraintKind]: ConstraintSpec<K> } = {
  bullet_count: {
    describe: [
      (c) => `Your answer must contain exactly ${c.n} bullet points, using markdown bullets such as "* item".`,
      (c) => `Format the answer as exactly ${c.n} markdown bullet points.`,
      (c) => `Use exactly ${c.n} bullet points (lines starting with "* ").`,
    ],
    check: (r, c) => r.split('\n').filter((l) => BULLET_RE.test(l)).length === c.n,
  },
  numbered_steps: {
    describe: [
      (c) => `Answer in exactly ${c.n} numbered steps (1., 2., ...).`,
      (c) => `Write your answer as a numbered list of exactly ${c.n} steps.`,
      (c) => `Give exactly ${c.n} steps, numbered from 1 to ${c.n}.`,
    ],
    check: (r, c) => {
      const nums = r.split('\n').flatMap((l) => {
        const m = NUMBERED_RE.exec(l);
        return m ? [Number(m[1])] : [];
      });
      return nums.length === c.n && nums.every((v, i) => v === i + 1);
    },
  },
  required_keywords: {
    describe: [
      (c) => `Include the keywords ${list(c.words)} in the response.`,
      (c) => `Your response must mention ${list(c.words)}.`,
      (c) => `Make sure the words ${list(c.words)} appear in your answer.`,
    ],
    check: (r, c) => c.words.every((w) => containsWord(r, w)),
  },
  forbidden_words: {
    describe: [
      (c) => `Do not include the words ${list(c.words)} in the response.`,
      (c) => `Avoid using the words ${list(c.words)}.`,
      (c) => `Your answer must not contain ${list(c.words)}.`,
    ],
    check: (r, c) => c.words.every((w) => !containsWord(r, w)),
  },
  json_keys: {
    describe: [
      (c) => `Wrap your entire output in JSON: one object with ${c.exact ? 'exactly' : 'at least'} the keys ${list(c.keys)}.`,
      (c) => `Respond only with a JSON object that has ${c.exact ? 'exactly' : 'at least'} these keys: ${list(c.keys)}.`,
      (c) => `Return JSON (a single object) whose keys are ${c.exact ? 'exactly' : 'at least'} ${list(c.keys)}.`,
    ],
    check: (r, c) => {
      const v = parseJsonResponse(r);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
      const keys = Object.keys(v);
      const hasAll = c.keys.every((k) => keys.includes(k));
      return hasAll && (!c.exact || keys.length === c.keys.length);
    },
  },
  max_words: {
    describe: [
      (c) => `Answer in at most ${c.n} words.`,
      (c) => `Keep your response under ${c.n + 1} words.`,
      (c) => `Use no more than ${c.n} words.`,
    ],
    check: (r, c) => countWords(r) <= c.n,
  },
  min_words: {
    describe: [
      (c) => `Answer with at least ${c.n} words.`,
      (c) => `Your response should be ${c.n} words or longer.`,
      (c) => `Write no fewer than ${c.n} words.`,
    ],
    check: (r, c) => countWords(r) >= c.n,
  },
  ends_with: {
    describe: [
      (c) => `Finish your response with the exact phrase "${c.phrase}". No other words should follow it.`,
      (c) => `End your answer with "${c.phrase}".`,
      (c) => `The last words of your response must be "${c.phrase}".`,
    ],
    check: (r, c) => r.trim().toLowerCase().endsWith(c.phrase.trim().toLowerCase()),
  },
  starts_with: {
    describe: [
      (c) => `Begin your response with the exact phrase "${c.phrase}".`,
      (c) => `Start your answer with "${c.phrase}".`,
      (c) => `The first words of your response must be "${c.phrase}".`,
    ],
    check: (r, c) => r.trim().toLowerCase().startsWith(c.phrase.trim().toLowerCase()),
  },
  no_commas: {
    describe: [
      () => 'Do not use any commas in your response.',
      () => 'Your entire response must be free of commas.',
      () => 'Refrain from using commas.',
    ],
    check: (r) => !r.includes(','),
  },
  lowercase: {
    describe: [
      () => 'Your entire response must be in lowercase letters; no capital letters are allowed.',
      () => 'Write everything in lowercase.',
      () => 'Use only lowercase letters in your answer.',
    ],
    check: (r) => r === r.toLowerCase(),
  },
  uppercase_words_max: {
    describe: [
      (c) => `Use at most ${c.n} ${c.n === 1 ? 'word' : 'words'} written entirely in capital letters.`,
      (c) => `No more than ${c.n} ${c.n === 1 ? 'word' : 'words'} in your answer may be in all capitals.`,
      (c) => `Limit fully capitalised words to ${c.n} or fewer.`,
    ],
    check: (r, c) => (r.match(WORD_RE) ?? []).filter((w) => /[A-Z]/.test(w) && w === w.toUpperCase()).length <= c.n,
  },
  sections: {
    describe: [
      (c) => `Your response must have exactly ${c.n} sections. Mark the beginning of each section with "${c.marker} X", where X is its number.`,
      (c) => `Divide your answer into exactly ${c.n} sections, each starting with "${c.marker} 1", "${c.marker} 2" and so on.`,
      (c) => `Organise the answer in exactly ${c.n} sections labelled "${c.marker} 1" to "${c.marker} ${c.n}".`,
    ],
    // IFEval's splitter: re.split(r"\s?" + marker + r"\s?\d+\s?", response); sections = parts - 1.
    check: (r, c) => r.split(new RegExp(`\\s?${escapeRe(c.marker)}\\s?\\d+\\s?`)).length - 1 === c.n,
  },
  ordered_sections: {
    describe: [
      (c) => `Structure your answer under the headings ${c.headings.map((h) => `"${h}:"`).join(', ')}, each on its own line, in this order.`,
      (c) => `Use these section headings, in this order, each once at the start of a line: ${c.headings.map((h) => `${h}:`).join(' ')}`,
      (c) => `Answer in the order ${c.headings.join(' → ')}, starting each part with its heading followed by a colon.`,
    ],
    check: (r, c) => {
      const lines = r.split('\n');
      const at = c.headings.map((h) => headingIndex(lines, h));
      return at.every((idx) => idx.length === 1) && at.every((idx, i) => i === 0 || idx[0]! > at[i - 1]![0]!);
    },
  },
  final_answer_line: {
    describe: [
      (c) => `End with a final line of the form "${c.prefix} <your answer>".`,
      (c) => `Put your final answer on the last line, starting with "${c.prefix}".`,
      (c) => `Conclude with one line that begins "${c.prefix}" and gives the answer.`,
    ],
    check: (r, c) => {
      const last = nonEmptyLines(r).at(-1);
      return last !== undefined && new RegExp(`^\\s*${escapeRe(c.prefix)}\\s*\\S`).test(last);
    },
  },
  title: {
    describe: [
      () => 'Give your answer a title wrapped in double angular brackets, such as <<title>>.',
      () => 'Start with a title in double angle brackets, like <<my title>>.',
      () => 'Include a title inside << and >>.',
    ],
    check: (r) => /<<[^\n]+>>/.test(r),
  },
};

export const CONSTRAINT_KINDS = Object.keys(CONSTRAINTS) as ConstraintKind[];

function specOf<K extends ConstraintKind>(kind: K): ConstraintSpec<K> {
  return CONSTRAINTS[kind];
}

/** The instruction text for one constraint; `variant` picks among its phrasings. */
export function describeConstraint(c: Constraint, variant = 0): string {
  const phrasings = specOf(c.kind).describe as readonly ((c: Constraint) => string)[];
  return phrasings[((variant % phrasings.length) + phrasings.length) % phrasings.length]!(c);
}

/**
 * A constraint is satisfied only by an answer: a response without a single word passes none of them.
 * Negative constraints (max_words, no_commas, forbidden_words, lowercase, …) are otherwise vacuously
 * true on an empty completion, which paid GRPO about a quarter of the instruction reward per constraint
 * for writing nothing (issue 17). IFEval itself does not need this rule because it scores finished models.
 */
function checkStrict(response: string, c: Constraint): boolean {
  if (countWords(response) === 0) return false;
  return (specOf(c.kind).check as (r: string, c: Constraint) => boolean)(response, c);
}

/**
 * IFEval's loose transformations: the response as is, without its first line, last line or both, and
 * each of those with markdown `*` removed. Loose passes if any non-empty variant passes.
 */
export function looseVariants(response: string): string[] {
  const lines = response.split('\n');
  const first = lines.slice(1).join('\n').trim();
  const last = lines.slice(0, -1).join('\n').trim();
  const both = lines.slice(1, -1).join('\n').trim();
  const bare = (s: string): string => s.replaceAll('*', '');
  return [response, bare(response), first, last, both, bare(first), bare(last), bare(both)];
}

export function check(response: string, constraint: Constraint, mode: CheckMode): boolean {
  if (mode === 'strict') return checkStrict(response, constraint);
  return looseVariants(response).some((r) => r.trim() !== '' && checkStrict(r, constraint));
}

export interface CheckAllResult {
  strict: boolean[];
  loose: boolean[];
  /** Every constraint passes strictly (IFEval's prompt-level strict accuracy). */
  promptStrict: boolean;
  promptLoose: boolean;
}

export function checkAll(response: string, constraints: readonly Constraint[]): CheckAllResult {
  const strict = constraints.map((c) => check(response, c, 'strict'));
  const loose = constraints.map((c, i) => strict[i]! || check(response, c, 'loose'));
  return { strict, loose, promptStrict: strict.every(Boolean), promptLoose: loose.every(Boolean) };
}
