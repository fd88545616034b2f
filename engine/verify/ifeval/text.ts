/**
 * Text measures of the IFEval checkers (Zhou et al. 2023, arXiv:2311.07911; reference evaluator:
 * google-research/google-research, instruction_following_eval/instructions_util.py), in TypeScript:
 * words as runs of word characters (Python's `\w+`, Unicode-aware), tokens for the capital-word count
 * (nltk's word_tokenize splits punctuation off words; only tokens with letters can be upper case), and
 * sentences as the reference counts them with nltk's Punkt English model, approximated by rules: a break
 * after `.`, `!` or `?` followed by space and a word that does not start in lower case, with the dots of
 * abbreviations, decimals, initials and web addresses protected (those of the reference's
 * split_into_sentences).
 */

/** Python's `\w`: letters, marks, digits, connector punctuation (underscore). */
const WORD_RE = /[\p{L}\p{M}\p{N}\p{Pc}]+/gu;

/** The number of `\w+` runs (the reference's count_words with nltk's RegexpTokenizer(r"\w+")). */
export function countWords(text: string): number {
  return text.match(WORD_RE)?.length ?? 0;
}

/**
 * Word tokens for the capital-word count: hyphenated words stay one token and a contraction is cut at its
 * apostrophe (nltk's word_tokenize: DON'T → DO + N'T, here DON + 'T: the same count of upper-case tokens);
 * punctuation tokens are dropped, having no cased letters.
 */
export function wordTokens(text: string): string[] {
  return text.match(/['’]?[\p{L}\p{M}\p{N}\p{Pc}]+(?:-[\p{L}\p{M}\p{N}\p{Pc}]+)*/gu) ?? [];
}

/** Python's str.isupper(): at least one cased character and no lower-case one. */
export function isUpper(s: string): boolean {
  return s !== s.toLowerCase() && s === s.toUpperCase();
}

/** Python's str.islower(): at least one cased character and no upper-case one. */
export function isLower(s: string): boolean {
  return s !== s.toUpperCase() && s === s.toLowerCase();
}

const PROTECT = '\u0000';
const PREFIXES = /\b(Mr|St|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|Mt|Jr|Sr|vs|etc|Inc|Ltd|Co|Corp)\./g;
const WEBSITES = /\.(com|net|org|io|gov|edu|me)\b/g;

/**
 * Sentences of `text`: the dots of abbreviations (Mr., Dr., e.g., i.e., Ph.D.), of decimals (3.5), of
 * single initials (J. Smith), of web addresses and of ellipses are protected, then the text is cut after
 * each `.`, `!` or `?` (and any closing quote or bracket) that is followed by white space and then not by a
 * lower-case letter (Punkt's orthographic rule: "etc. and" continues the sentence).
 */
export function splitSentences(text: string): string[] {
  const t = ` ${text.replace(/\n/g, ' ')} `
    .replace(PREFIXES, `$1${PROTECT}`)
    .replace(WEBSITES, `${PROTECT}$1`)
    .replace(/(\d)\.(\d)/g, `$1${PROTECT}$2`)
    .replace(/\.{2,}/g, (m) => PROTECT.repeat(m.length))
    .replace(/\b(e\.g|i\.e|Ph\.D|a\.m|p\.m|U\.S)\./gi, (m) => m.replace(/\./g, PROTECT))
    .replace(/(\s[A-Za-z])\.(?= )/g, `$1${PROTECT}`); // a lone letter and a dot is an initial, as in the reference
  return t
    .split(/(?<=[.!?]["'”’)\]]?)\s+(?!\p{Ll})/u)
    .map((s) => s.replace(new RegExp(PROTECT, 'g'), '.').trim())
    .filter((s) => s.length > 0);
}

export function countSentences(text: string): number {
  return splitSentences(text).length;
}
