/**
 * The text → pre-token half of a Hugging Face `tokenizer.json`: the `normalizer` and `pre_tokenizer`
 * nodes compiled into plain functions. We support what byte-level BPE models (GPT-2, Llama-3, Qwen2,
 * DeepSeek, SmolLM, ...) use; anything else is an `E_TOKENIZER` naming the node, never a silent fallback.
 *
 * Regexes in tokenizer.json are Oniguruma syntax (the Rust crate's engine). Translating them to JS `RegExp`
 * is fiddly (`(?i:...)` groups, `\s` = White_Space, POSIX classes), so we borrow the translation of
 * `@huggingface/tokenizers` (its `SplitPreTokenizer` exposes the compiled `pattern`) and keep the
 * splitting itself, including the Rust crate's delimiter behaviours, here. Known gap, inherited: `(?i:...)`
 * folds ASCII case only, so a contraction spelled with U+017F (ſ) splits differently than in Rust.
 */
import { SplitPreTokenizer } from '@huggingface/tokenizers';
import { BbioError } from '../../util/errors';

/** GPT-2's pre-tokenizer regex (Radford et al. 2019), the one `ByteLevel` applies when `use_regex` is true. */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Llama-3's pre-tokenizer regex (Meta 2024, as written in its tokenizer.json): case-insensitive English
 * contractions, a letter run with at most one leading non-letter (so " the" and "(the" stay one piece),
 * digit groups of at most three (numbers like doses and years do not explode the vocab), punctuation runs
 * with trailing newlines, and whitespace runs that leave one space for the next word.
 */
export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const SPLIT_BEHAVIORS: readonly SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

export type Normalize = (text: string) => string;
export type PreTokenize = (text: string) => string[];

type JsonObject = Record<string, unknown>;

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function unsupported(file: string, what: string, detail: string): BbioError {
  return new BbioError(
    'E_TOKENIZER',
    `${file}: unsupported ${what} ${detail}`,
    { file },
    'BalancedBio reads byte-level BPE tokenizers (GPT-2, Llama-3, Qwen2 style)',
  );
}

const NORMALIZATION_FORMS: Record<string, 'NFC' | 'NFD' | 'NFKC' | 'NFKD'> = {
  NFC: 'NFC',
  NFD: 'NFD',
  NFKC: 'NFKC',
  NFKD: 'NFKD',
};

/** `normalizer` node → function; `null` when the node is null (the identity, as in Llama-3). */
export function compileNormalizer(node: unknown, file: string): Normalize | null {
  if (node === null || node === undefined) return null;
  if (!isObject(node)) throw unsupported(file, 'normalizer', JSON.stringify(node));
  const type = String(node.type);
  const form = NORMALIZATION_FORMS[type];
  if (form) return (text) => text.normalize(form);
  if (type === 'Sequence' && Array.isArray(node.normalizers)) {
    const parts = node.normalizers.map((n) => compileNormalizer(n, file)).filter((f): f is Normalize => f !== null);
    return (text) => parts.reduce((t, f) => f(t), text);
  }
  throw unsupported(file, 'normalizer type', `"${type}" (supported: NFC, NFD, NFKC, NFKD, Sequence)`);
}

/** Compiles an Oniguruma pattern from tokenizer.json to a global unicode JS RegExp. */
export function compileHfRegex(pattern: string, file: string): RegExp {
  let compiled: RegExp | null;
  try {
    compiled = new SplitPreTokenizer({ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false })
      .pattern;
  } catch (e) {
    throw new BbioError('E_TOKENIZER', `${file}: cannot compile pre-tokenizer regex ${JSON.stringify(pattern)}: ${String(e)}`, { file }, undefined, { cause: e });
  }
  if (!compiled) throw new BbioError('E_TOKENIZER', `${file}: empty pre-tokenizer regex`, { file });
  return compiled;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Splits `text` at the matches of `regex` and groups the pieces as the Rust crate's
 * `SplitDelimiterBehavior` does; `invert` swaps which pieces count as delimiters.
 */
export function splitWithBehavior(text: string, regex: RegExp, behavior: SplitBehavior, invert: boolean): string[] {
  // [start, end, isDelimiter] covering text, empty pieces dropped
  let prev = 0;
  regex.lastIndex = 0;
  if (behavior === 'Isolated') {
    // hot path of every Llama-3/Qwen2-style encode: no grouping needed, invert is irrelevant
    const out: string[] = [];
    for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
      if (m[0].length === 0) {
        regex.lastIndex = m.index + 1;
        continue;
      }
      if (m.index > prev) out.push(text.slice(prev, m.index));
      out.push(m[0]);
      prev = m.index + m[0].length;
    }
    if (prev < text.length) out.push(text.slice(prev));
    return out;
  }
  const pieces: Array<[number, number, boolean]> = [];
  for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      regex.lastIndex = start + 1; // an empty match delimits nothing; step over it
      continue;
    }
    if (start > prev) pieces.push([prev, start, invert]);
    pieces.push([start, end, !invert]);
    prev = end;
  }
  if (prev < text.length) pieces.push([prev, text.length, invert]);

  const out: Array<[number, number]> = [];
  switch (behavior) {
    case 'Removed':
      for (const [s, e, d] of pieces) if (!d) out.push([s, e]);
      break;
    case 'MergedWithPrevious': {
      let prevDelim = false;
      for (const [s, e, d] of pieces) {
        const last = out[out.length - 1];
        if (d && !prevDelim && last) last[1] = e;
        else out.push([s, e]);
        prevDelim = d;
      }
      break;
    }
    case 'MergedWithNext': {
      let nextDelim = false;
      for (let i = pieces.length - 1; i >= 0; i--) {
        const [s, e, d] = pieces[i]!;
        const first = out[out.length - 1];
        if (d && !nextDelim && first) first[0] = s;
        else out.push([s, e]);
        nextDelim = d;
      }
      out.reverse();
      break;
    }
    case 'Contiguous': {
      let prevDelim: boolean | null = null;
      for (const [s, e, d] of pieces) {
        const last = out[out.length - 1];
        if (d === prevDelim && last) last[1] = e;
        else out.push([s, e]);
        prevDelim = d;
      }
      break;
    }
  }
  return out.map(([s, e]) => text.slice(s, e));
}

/** One step of the pre-tokenizer; the byte-level mapping itself happens in the BPE model. */
type Step = (pieces: string[]) => string[];

function compileStep(node: unknown, file: string, isLast: boolean, sawByteLevel: { value: boolean }): Step[] {
  if (!isObject(node)) throw unsupported(file, 'pre_tokenizer', JSON.stringify(node));
  const type = String(node.type);
  if (type === 'Sequence') {
    const list = node.pretokenizers;
    if (!Array.isArray(list)) throw unsupported(file, 'pre_tokenizer', 'Sequence without "pretokenizers"');
    return list.flatMap((n, i) => compileStep(n, file, isLast && i === list.length - 1, sawByteLevel));
  }
  if (type === 'Split') {
    const pattern = node.pattern;
    let regex: RegExp;
    if (isObject(pattern) && typeof pattern.Regex === 'string') regex = compileHfRegex(pattern.Regex, file);
    else if (isObject(pattern) && typeof pattern.String === 'string') regex = new RegExp(escapeRegex(pattern.String), 'gu');
    else throw unsupported(file, 'Split pattern', JSON.stringify(pattern));
    const behavior = String(node.behavior ?? 'Isolated') as SplitBehavior;
    if (!SPLIT_BEHAVIORS.includes(behavior)) throw unsupported(file, 'Split behavior', `"${behavior}"`);
    const invert = node.invert === true;
    if (sawByteLevel.value) throw unsupported(file, 'pre_tokenizer', 'Split after ByteLevel');
    return [(pieces) => pieces.flatMap((p) => splitWithBehavior(p, regex, behavior, invert))];
  }
  if (type === 'ByteLevel') {
    if (!isLast) throw unsupported(file, 'pre_tokenizer', 'ByteLevel must be the last pre-tokenizer');
    sawByteLevel.value = true;
    const steps: Step[] = [];
    if (node.add_prefix_space === true) steps.push((pieces) => pieces.map((p) => (p.startsWith(' ') ? p : ' ' + p)));
    if (node.use_regex !== false) {
      const regex = compileHfRegex(GPT2_PATTERN, file);
      steps.push((pieces) => pieces.flatMap((p) => splitWithBehavior(p, regex, 'Isolated', false)));
    }
    return steps;
  }
  throw unsupported(file, 'pre_tokenizer type', `"${type}" (supported: ByteLevel, Split, Sequence)`);
}

/**
 * `pre_tokenizer` node → function from (normalized) text to pre-tokens. Requires a final ByteLevel step,
 * which is what makes the vocab byte-level.
 */
export function compilePreTokenizer(node: unknown, file: string): PreTokenize {
  const sawByteLevel = { value: false };
  const steps = compileStep(node, file, true, sawByteLevel);
  if (!sawByteLevel.value) throw unsupported(file, 'pre_tokenizer', 'without a final ByteLevel step (not a byte-level BPE)');
  if (steps.length === 1) {
    const only = steps[0]!;
    return (text) => only([text]);
  }
  return (text) => steps.reduce((pieces, step) => step(pieces), [text]);
}
