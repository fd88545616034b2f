/**
 * Byte-level BPE tokenizer: training (Sennrich et al. 2016, over UTF-8 bytes as in GPT-2, Radford et al.
 * 2019), encoding/decoding, and Hugging Face `tokenizer.json` I/O.
 *
 * Id layout of a trained tokenizer: special tokens first (`<|bos|>`=0, `<|eos|>`=1, `<|pad|>`=2 by
 * default), then the 256 byte tokens in byte order, then one token per merge in merge order.
 *
 * Why we encode ourselves instead of delegating to `@huggingface/tokenizers` (installed, pure JS, and
 * in agreement with our encoder on every file the tests feed it): one code path serves the tokenizers we train and the real models' files
 * we load; the library stays an *independent* oracle in the tests (delegating would make the
 * compatibility check circular); and it is slower: on bench/tokenizer.ts (one core, warm caches) it
 * encodes 5-10× fewer tokens/s than our loop (0.1-0.4 M vs 0.85-2.8 M across runs on a shared machine;
 * it JSON-stringifies every pair it looks up).
 * We do borrow its Oniguruma → JS regex translation for `Split` patterns (tokenizer/pipeline.ts), the part
 * most easily got subtly wrong. Static `import` works under tsx and in the esbuild CJS bundle (the
 * package's `exports` has a `require` → dist/tokenizers.cjs entry; bundled or external both run).
 *
 * Round trip: `decode(encode(s)) === s` for every well-formed string (emoji, CJK, control characters,
 * whitespace runs, a leading BOM), provided the tokenizer has no normalizer (ours has none; Qwen2's NFC
 * changes non-NFC input). Decoding a *slice* of ids that cuts a multi-byte UTF-8 character yields U+FFFD
 * for the cut bytes: ids are bytes, not characters. JS strings with lone surrogates are not well formed;
 * they encode as U+FFFD (TextEncoder's rule), so they do not round-trip.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { BbioError } from '../util/errors';
import { BYTE_CHARS, byteLevelToBytes, bytesToByteLevel } from './tokenizer/byte-level';
import { LLAMA3_PATTERN, compileNormalizer, compilePreTokenizer, type Normalize, type PreTokenize } from './tokenizer/pipeline';
import { applyMerges, type MergeTable } from './tokenizer/merge';
import { learnMerges } from './tokenizer/train';

export { BYTE_CHARS } from './tokenizer/byte-level';
export { GPT2_PATTERN, LLAMA3_PATTERN } from './tokenizer/pipeline';

export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ['<|bos|>', '<|eos|>', '<|pad|>'];
export const MIN_VOCAB_SIZE = 260;
export const MAX_VOCAB_SIZE = 65536;

/** An entry of tokenizer.json `added_tokens`, camel-cased. */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  /** Swallow whitespace on the left / right of the token when matching it in text. */
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  singleWord: boolean;
}

/** Everything a BpeTokenizer is built from; what `load` parses and `trainBpe` learns. */
export interface BpeParts {
  /** Where it came from, for error messages ("<trained>" for trainBpe). */
  source: string;
  /** `model.vocab`: byte-level token string → id. */
  vocab: Map<string, number>;
  /** `model.merges` in rank order. */
  merges: Array<[string, string]>;
  addedTokens: AddedToken[];
  /** Raw tokenizer.json nodes, compiled here and written back verbatim by toJSON. */
  normalizer: unknown;
  preTokenizer: unknown;
  postProcessor: unknown;
  decoder: unknown;
  /** Llama-3: a pre-token that is itself in the vocab is emitted whole, merges skipped. */
  ignoreMerges: boolean;
  unkToken: string | null;
  /** Contents of the bos/eos/pad tokens (tokenizer_config.json or well-known names). */
  roles: { bos?: string; eos?: string; pad?: string };
}

export interface EncodeOptions {
  addBos?: boolean;
  addEos?: boolean;
  /**
   * Recognise added/special token spellings (e.g. "<|eos|>") in the text, as HF does. Default true;
   * pass false for untrusted text so it cannot inject control tokens.
   */
  splitSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked special (bos/eos/pad, chat markers). */
  skipSpecial?: boolean;
}

export interface TrainOptions {
  /** Final vocab size including special and byte tokens; 260..65,536. */
  vocabSize: number;
  /** Full list; the first three are bos, eos, pad. Default `<|bos|>`, `<|eos|>`, `<|pad|>`. */
  specialTokens?: string[];
  /** Pairs seen fewer times are never merged (default 2: a pair seen once only memorises). */
  minFrequency?: number;
}

/** Pair keys pack (left, right) ids as left * 2^21 + right: exact in a double for ids < 2^21. */
const PAIR_BASE = 2097152;
/** Pre-tokens longer than this are not cached (HF caps too); they are rare and would crowd the cache. */
const MAX_CACHED_PIECE = 256;
const CACHE_CAPACITY = 1 << 16;

/** tokenizer.json nodes for what we train: Llama-3's regex split, then a regex-free ByteLevel. */
function defaultPreTokenizerNode(): object {
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: LLAMA3_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}
const byteLevelNode = (): object => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true });

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function tokenizerError(source: string, message: string, hint?: string, cause?: unknown): BbioError {
  return new BbioError('E_TOKENIZER', `${source}: ${message}`, { file: source }, hint, cause === undefined ? undefined : { cause });
}

export class BpeTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;

  private readonly parts: BpeParts;
  /** id → token string (byte-level for model tokens, raw text for added tokens); holes are undefined. */
  private readonly tokens: Array<string | undefined> = [];
  private readonly ids = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** pair key → merge rank, rank → merged id. */
  private readonly mergeTable: MergeTable;
  private readonly added = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly addedRegex: RegExp | null;
  private readonly normalize: Normalize | null;
  private readonly preTokenize: PreTokenize;
  private readonly unkId: number;
  private readonly encoder = new TextEncoder();
  // ignoreBOM keeps a leading U+FEFF, so text starting with a BOM still round-trips
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  /** Per-instance caches (no module state): pre-token → ids, and id → bytes for decode. */
  private readonly pieceCache = new Map<string, number[]>();
  private readonly bytesCache: Array<Uint8Array | undefined> = [];

  constructor(parts: BpeParts) {
    this.parts = parts;
    const src = parts.source;
    for (const [tok, id] of parts.vocab) {
      if (!Number.isInteger(id) || id < 0 || id >= PAIR_BASE) throw tokenizerError(src, `vocab id ${id} of ${JSON.stringify(tok)} is not an integer in [0, ${PAIR_BASE})`);
      if (this.tokens[id] !== undefined && this.tokens[id] !== tok) throw tokenizerError(src, `vocab id ${id} is used by both ${JSON.stringify(this.tokens[id])} and ${JSON.stringify(tok)}`);
      this.tokens[id] = tok;
      this.ids.set(tok, id);
    }
    for (const t of parts.addedTokens) {
      if (!Number.isInteger(t.id) || t.id < 0 || t.id >= PAIR_BASE) throw tokenizerError(src, `added token ${JSON.stringify(t.content)} has invalid id ${t.id}`);
      if (t.content.length === 0) throw tokenizerError(src, `added token ${t.id} has empty content`);
      this.tokens[t.id] = t.content;
      this.ids.set(t.content, t.id);
      this.added.set(t.id, t);
      this.addedByContent.set(t.content, t);
    }
    for (let b = 0; b < 256; b++) this.byteIds[b] = parts.vocab.get(BYTE_CHARS[b]!) ?? -1;

    const ranks = new Map<number, number>();
    const mergedIds = new Int32Array(parts.merges.length);
    parts.merges.forEach(([l, r], rank) => {
      const li = parts.vocab.get(l);
      const ri = parts.vocab.get(r);
      const mi = parts.vocab.get(l + r);
      if (li === undefined || ri === undefined || mi === undefined) {
        const missing = li === undefined ? l : ri === undefined ? r : l + r;
        throw tokenizerError(src, `merge ${rank} (${JSON.stringify(l)} ${JSON.stringify(r)}) uses ${JSON.stringify(missing)}, which is not in the vocab`);
      }
      ranks.set(li * PAIR_BASE + ri, rank); // a repeated pair keeps its last rank, as HF does
      mergedIds[rank] = mi;
    });
    this.mergeTable = { ranks, mergedIds, pairBase: PAIR_BASE };

    // Leftmost-longest matching of added tokens: at each position the regex tries longer spellings first.
    const spellings = [...this.addedByContent.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.addedRegex = spellings.length > 0 ? new RegExp(spellings.map(escapeRegex).join('|'), 'g') : null;
    this.normalize = compileNormalizer(parts.normalizer, src);
    this.preTokenize = compilePreTokenizer(parts.preTokenizer, src);
    this.unkId = parts.unkToken !== null ? (this.ids.get(parts.unkToken) ?? -1) : -1;
    const roleId = (name: string | undefined): number => (name === undefined ? -1 : (this.ids.get(name) ?? -1));
    this.bosId = roleId(parts.roles.bos);
    this.eosId = roleId(parts.roles.eos);
    this.padId = roleId(parts.roles.pad);
  }

  /** One more than the largest id (ids may have holes in foreign files). */
  get vocabSize(): number {
    return this.tokens.length;
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Whether `id` is an added token marked special (what decode's skipSpecial drops). */
  isSpecial(id: number): boolean {
    return this.added.get(id)?.special === true;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos) out.push(this.requireRole(this.bosId, 'bos'));
    if (this.addedRegex === null || opts.splitSpecial === false) {
      this.encodeOrdinary(text, out);
    } else {
      for (const seg of this.splitAdded(text)) {
        if (typeof seg === 'number') out.push(seg);
        else this.encodeOrdinary(seg, out);
      }
    }
    if (opts.addEos) out.push(this.requireRole(this.eosId, 'eos'));
    return out;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    let text = '';
    const run: Uint8Array[] = [];
    let runLength = 0;
    const flush = (): void => {
      if (run.length === 0) return;
      const buf = new Uint8Array(runLength);
      let o = 0;
      for (const b of run) {
        buf.set(b, o);
        o += b.length;
      }
      text += this.decoder.decode(buf);
      run.length = 0;
      runLength = 0;
    };
    for (const id of ids) {
      const added = this.added.get(id);
      if (added !== undefined) {
        if (opts.skipSpecial && added.special) continue;
        flush(); // added tokens are raw text, not byte-level; bytes on either side decode separately (as HF)
        text += added.content;
        continue;
      }
      const bytes = this.tokenBytes(id);
      run.push(bytes);
      runLength += bytes.length;
    }
    flush();
    return text;
  }

  /** The Hugging Face `tokenizer.json` object (tokenizers ≥ 0.20 layout, merges as pairs). */
  toJSON(): object {
    const p = this.parts;
    const vocab: Record<string, number> = {};
    for (const [tok, id] of [...p.vocab].sort((a, b) => a[1] - b[1])) vocab[tok] = id;
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: p.addedTokens.map((t) => ({
        id: t.id,
        content: t.content,
        single_word: t.singleWord,
        lstrip: t.lstrip,
        rstrip: t.rstrip,
        normalized: t.normalized,
        special: t.special,
      })),
      normalizer: p.normalizer ?? null,
      pre_tokenizer: p.preTokenizer ?? null,
      post_processor: p.postProcessor ?? null,
      decoder: p.decoder ?? null,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: p.unkToken,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: p.ignoreMerges,
        vocab,
        merges: p.merges.map(([l, r]) => [l, r]),
      },
    };
  }

  /**
   * tokenizer.json text with the vocab in id order, as HF writes it. `JSON.stringify` alone would hoist
   * integer-like keys ("0".."9") to the front of the vocab object; harmless to readers, but ugly to diff.
   */
  serialize(): string {
    const json = this.toJSON() as { model: { vocab: unknown } };
    const marker = '\u0000vocab\u0000';
    json.model.vocab = marker;
    const entries = [...this.parts.vocab].sort((a, b) => a[1] - b[1]);
    const body = entries.map(([tok, id]) => `      ${JSON.stringify(tok)}: ${id}`).join(',\n');
    return JSON.stringify(json, null, 2).replace(JSON.stringify(marker), entries.length ? `{\n${body}\n    }` : '{}') + '\n';
  }

  /** `tokenizer_config.json` as transformers reads it. */
  toConfigJSON(): object {
    const role = (id: number): string | null => (id >= 0 ? (this.tokens[id] ?? null) : null);
    const addedTokensDecoder: Record<string, object> = {};
    for (const t of this.parts.addedTokens) {
      addedTokensDecoder[String(t.id)] = { content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.singleWord, special: t.special };
    }
    return {
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: role(this.bosId),
      eos_token: role(this.eosId),
      pad_token: role(this.padId),
      unk_token: this.parts.unkToken,
      // decoding must not "clean up" spaces before punctuation, or round trips break
      clean_up_tokenization_spaces: false,
      added_tokens_decoder: addedTokensDecoder,
    };
  }

  /** Writes `tokenizer.json` and `tokenizer_config.json` into `dir` (created if needed), each atomically. */
  async save(dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path.join(dir, 'tokenizer.json'), this.serialize());
      await writeFileAtomic(path.join(dir, 'tokenizer_config.json'), JSON.stringify(this.toConfigJSON(), null, 2) + '\n');
    } catch (e) {
      throw new BbioError('E_IO', `cannot write tokenizer to ${dir}: ${e instanceof Error ? e.message : String(e)}`, { file: dir }, undefined, { cause: e });
    }
  }

  /**
   * Reads a `tokenizer.json` (or a directory holding one): ours, or a real model's byte-level BPE
   * (Llama-3, Qwen2, GPT-2 style). bos/eos/pad come from a sibling tokenizer_config.json when present,
   * else from well-known spellings; a role the file does not define has id -1.
   */
  static async load(file: string): Promise<BpeTokenizer> {
    let target = file;
    try {
      if ((await stat(file)).isDirectory()) target = path.join(file, 'tokenizer.json');
    } catch (e) {
      throw new BbioError('E_FILE_MISSING', `tokenizer file ${file} not found`, { file }, undefined, { cause: e });
    }
    const root = await readJson(target, { required: true });
    const config = await readJson(path.join(path.dirname(target), 'tokenizer_config.json'), { required: false });
    return new BpeTokenizer(parseHfTokenizer(root, target, config));
  }

  private requireRole(id: number, role: string): number {
    if (id < 0) throw tokenizerError(this.parts.source, `the tokenizer defines no ${role} token`, `set ${role}_token in tokenizer_config.json`);
    return id;
  }

  /**
   * Text → ordinary segments and added-token ids, honouring lstrip/rstrip. All added tokens are matched
   * in the raw text; HF matches `normalized: true` ones after normalizing, which differs only if the
   * normalizer changes a token's spelling (NFC/NFKC leave ASCII chat markers alone). `single_word` is
   * not enforced.
   */
  private splitAdded(text: string): Array<string | number> {
    const re = this.addedRegex!;
    const out: Array<string | number> = [];
    let prev = 0;
    let stripNext = false;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const tok = this.addedByContent.get(m[0])!;
      let before = text.slice(prev, m.index);
      if (stripNext) before = before.trimStart();
      if (tok.lstrip) before = before.trimEnd();
      if (before.length > 0) out.push(before);
      out.push(tok.id);
      stripNext = tok.rstrip;
      prev = m.index + m[0].length;
    }
    let rest = text.slice(prev);
    if (stripNext) rest = rest.trimStart();
    if (rest.length > 0) out.push(rest);
    return out;
  }

  private encodeOrdinary(text: string, out: number[]): void {
    const normalized = this.normalize ? this.normalize(text) : text;
    for (const piece of this.preTokenize(normalized)) {
      let ids = this.pieceCache.get(piece);
      if (ids === undefined) {
        ids = this.encodePiece(piece);
        if (piece.length <= MAX_CACHED_PIECE) {
          if (this.pieceCache.size >= CACHE_CAPACITY) this.pieceCache.clear();
          this.pieceCache.set(piece, ids);
        }
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  /** BPE on one pre-token (see tokenizer/merge.ts for the merge order). */
  private encodePiece(piece: string): number[] {
    const bytes = this.encoder.encode(piece);
    if (this.parts.ignoreMerges) {
      const whole = this.ids.get(bytesToByteLevel(bytes));
      if (whole !== undefined && !this.added.has(whole)) return [whole];
    }
    const syms: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const id = this.byteIds[bytes[i]!]!;
      if (id >= 0) syms.push(id);
      else if (this.unkId >= 0) syms.push(this.unkId); // a vocab without this byte; HF skips it without unk
    }
    return applyMerges(syms, this.mergeTable);
  }

  private tokenBytes(id: number): Uint8Array {
    const cached = this.bytesCache[id];
    if (cached !== undefined) return cached;
    const tok = Number.isInteger(id) ? this.tokens[id] : undefined;
    if (tok === undefined) throw tokenizerError(this.parts.source, `cannot decode id ${id}: not in the vocab (size ${this.vocabSize})`);
    const bytes = byteLevelToBytes(tok, this.encoder);
    this.bytesCache[id] = bytes;
    return bytes;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Training

/**
 * Trains a byte-level BPE tokenizer on `texts`. Deterministic: the same texts and options give the same
 * merges and the same tokenizer.json, byte for byte. The vocab reaches `vocabSize` unless the corpus runs
 * out of pairs seen at least `minFrequency` times.
 */
export function trainBpe(texts: string[], opts: TrainOptions): BpeTokenizer {
  const src = '<trained>';
  const specials = opts.specialTokens ?? [...DEFAULT_SPECIAL_TOKENS];
  const { vocabSize } = opts;
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE) {
    throw new BbioError('E_TOKENIZER', `vocabSize must be an integer in [${MIN_VOCAB_SIZE}, ${MAX_VOCAB_SIZE}], got ${vocabSize}`);
  }
  if (specials.length < 3) throw new BbioError('E_TOKENIZER', `specialTokens needs at least bos, eos and pad (3 entries), got ${specials.length}`);
  if (new Set(specials).size !== specials.length) throw new BbioError('E_TOKENIZER', `specialTokens has duplicates: ${JSON.stringify(specials)}`);
  const byteSet = new Set(BYTE_CHARS);
  for (const s of specials) {
    if (s.length === 0 || byteSet.has(s)) throw new BbioError('E_TOKENIZER', `special token ${JSON.stringify(s)} is empty or collides with a byte token`);
  }
  if (specials.length + 256 > vocabSize) {
    throw new BbioError('E_TOKENIZER', `vocabSize ${vocabSize} leaves no room for ${specials.length} special + 256 byte tokens`);
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 0) throw new BbioError('E_TOKENIZER', `minFrequency must be a non-negative integer, got ${minFrequency}`);

  // Pre-token counts, with special-token spellings cut out so they are never learned as text.
  const preTokenize = compilePreTokenizer(defaultPreTokenizerNode(), src);
  const specialRe = new RegExp([...specials].sort((a, b) => b.length - a.length).map(escapeRegex).join('|'), 'g');
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const seg of text.split(specialRe)) {
      if (seg.length === 0) continue;
      for (const piece of preTokenize(seg)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
    }
  }
  const encoder = new TextEncoder();
  const words: Uint8Array[] = [];
  const freqs: number[] = [];
  for (const [piece, n] of counts) {
    words.push(encoder.encode(piece));
    freqs.push(n);
  }
  const learned = learnMerges(words, freqs, {
    newTokens: vocabSize - specials.length - 256,
    minFrequency,
    forbidden: new Set(specials),
    byteChars: BYTE_CHARS,
  });

  const offset = specials.length;
  const vocab = new Map<string, number>();
  specials.forEach((s, i) => vocab.set(s, i));
  learned.tokens.forEach((t, i) => vocab.set(t, offset + i));
  return new BpeTokenizer({
    source: src,
    vocab,
    merges: learned.merges.map(([l, r]) => [learned.tokens[l]!, learned.tokens[r]!]),
    addedTokens: specials.map((content, id) => ({ id, content, special: true, lstrip: false, rstrip: false, normalized: false, singleWord: false })),
    normalizer: null,
    preTokenizer: defaultPreTokenizerNode(),
    postProcessor: byteLevelNode(),
    decoder: byteLevelNode(),
    ignoreMerges: false,
    unkToken: null,
    roles: { bos: specials[0], eos: specials[1], pad: specials[2] },
  });
}

// ---------------------------------------------------------------------------------------------------------
// tokenizer.json parsing

type JsonObject = Record<string, unknown>;
const isObject = (x: unknown): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x);

async function readJson(file: string, opts: { required: boolean }): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (!opts.required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BbioError('E_FILE_MISSING', `cannot read tokenizer file ${file}: ${e instanceof Error ? e.message : String(e)}`, { file }, undefined, { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw tokenizerError(file, `malformed JSON: ${e instanceof Error ? e.message : String(e)}`, 'the file must be a Hugging Face tokenizer.json', e);
  }
}

/** Spellings tried, in order, when tokenizer_config.json does not name a role. */
const ROLE_FALLBACKS: Record<'bos' | 'eos' | 'pad', string[]> = {
  bos: ['<|bos|>', '<|begin_of_text|>', '<s>', '<|startoftext|>'],
  eos: ['<|eos|>', '<|end_of_text|>', '<|endoftext|>', '</s>'],
  pad: ['<|pad|>', '<pad>', '<|finetune_right_pad_id|>'],
};

/** A config role may be a string or an AddedToken dict `{content: ...}`. */
function roleName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

/** Validates a parsed tokenizer.json and converts it to BpeParts; errors name `file`. */
export function parseHfTokenizer(root: unknown, file: string, config?: unknown): BpeParts {
  const fail = (msg: string): BbioError => tokenizerError(file, msg, 'the file must be a Hugging Face tokenizer.json with a BPE model');
  if (!isObject(root)) throw fail('top level is not a JSON object');
  const model = root.model;
  if (!isObject(model)) throw fail('missing "model" object');
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined); // very old files omit "type"
  if (type !== 'BPE') {
    throw tokenizerError(file, `unsupported model type ${JSON.stringify(type)}; only byte-level BPE is supported`, 'WordPiece (BERT) and Unigram (T5, SentencePiece) tokenizers cannot be used');
  }
  if (!isObject(model.vocab)) throw fail('"model.vocab" is not an object of token → id');
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(model.vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw fail(`vocab entry ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    vocab.set(tok, id);
  }
  if (!Array.isArray(model.merges)) throw fail('"model.merges" is not an array');
  const merges: Array<[string, string]> = model.merges.map((m: unknown, i: number) => {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw fail(`merge ${i} ${JSON.stringify(m)} is not "left right"`);
      return [parts[0]!, parts[1]!];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw fail(`merge ${i} ${JSON.stringify(m)} is neither "left right" nor ["left", "right"]`);
  });
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (typeof model[key] === 'string' && model[key] !== '') throw fail(`model.${key} is not supported in a byte-level BPE`);
  }
  const rawAdded = root.added_tokens ?? [];
  if (!Array.isArray(rawAdded)) throw fail('"added_tokens" is not an array');
  const addedTokens: AddedToken[] = rawAdded.map((t: unknown, i: number) => {
    if (!isObject(t) || typeof t.id !== 'number' || typeof t.content !== 'string') throw fail(`added_tokens[${i}] needs a numeric "id" and a string "content"`);
    return {
      id: t.id,
      content: t.content,
      special: t.special === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      normalized: t.normalized === true,
      singleWord: t.single_word === true,
    };
  });
  const unkToken = typeof model.unk_token === 'string' ? model.unk_token : null;

  const known = new Set<string>([...vocab.keys(), ...addedTokens.map((t) => t.content)]);
  const cfg = isObject(config) ? config : {};
  const pick = (role: 'bos' | 'eos' | 'pad'): string | undefined => {
    const named = roleName(cfg[`${role}_token`]);
    if (named !== undefined && known.has(named)) return named;
    return ROLE_FALLBACKS[role].find((s) => known.has(s));
  };
  return {
    source: file,
    vocab,
    merges,
    addedTokens,
    normalizer: root.normalizer ?? null,
    preTokenizer: root.pre_tokenizer ?? null,
    postProcessor: root.post_processor ?? null,
    decoder: root.decoder ?? null,
    ignoreMerges: model.ignore_merges === true,
    unkToken,
    roles: { bos: pick('bos'), eos: pick('eos'), pad: pick('pad') },
  };
}
