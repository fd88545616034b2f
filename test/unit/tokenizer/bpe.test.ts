import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { BpeTokenizer, trainBpe } from '../../../engine/model/tokenizer';
import { BYTE_CHARS } from '../../../engine/model/tokenizer/byte-level';
import { applyMergesHeap, applyMergesScan, type MergeTable } from '../../../engine/model/tokenizer/merge';
import { splitWithBehavior } from '../../../engine/model/tokenizer/pipeline';
import { makeClinicalText } from '../../../engine/model/tokenizer/sample-text';
import { makeRng } from '../../../engine/util/rng';
import { BbioError } from '../../../engine/util/errors';

const FIXTURES = path.join(__dirname, '../../fixtures/tokenizer');

/** Strings that exercise every pre-tokenizer branch and the byte-level edges. */
const VARIED: string[] = [
  '',
  'Patient presented with 12.5 mg/dL glucose; HbA1c 7.9%.',
  "It's the patient's 2nd visit. IT'S FINE. We'll see, they'd said, I'm sure, you've seen, we're done.",
  'Numbers: 1234567890 3.14159 -42 1e-5 10,000 ² ³ ½ ٣٤٥',
  'Punctuation!!! ??? ... --- (a) [b] {c} <d> @#$%^&*_+=|\\/~`',
  'whitespace   runs\t\ttabs\n\nnewlines\r\nCRLF   \n   trailing   ',
  '     ',
  '\n',
  ' leading space',
  'emoji 🧬💊 ZWJ 👩‍⚕️ flags 🇫🇷 skin 👍🏽 keycap 1️⃣',
  'CJK 患者の症状は改善した。病人血压升高。한국어 텍스트',
  'Arabic العربية Hebrew עברית Devanagari हिन्दी Thai ภาษาไทย',
  'combining e\u0301 vs \u00e9, Ångström Å, ﬁ ligature, µg vs μg',
  '\u0000\u0001\u007f control \u0085 nel \u00a0 nbsp \u2028 ls \u3000 ideographic',
  '\ufeffBOM at start',
  'long'.repeat(50) + ' ' + 'x'.repeat(300),
  'Ménière’s disease — “quoted” ‘single’ … ellipsis',
  'code: for (let i = 0; i < n; i++) { sum += a[i] * b[i]; }',
  '<|eos|> inside text and <|bos|><|pad|> adjacent',
];

const CORPUS: string[] = [makeClinicalText(7, 60_000), ...VARIED];

function mergesOf(t: BpeTokenizer): unknown {
  return (t.toJSON() as { model: { merges: unknown } }).model.merges;
}

async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bbio-tok-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadWithHfLibrary(dir: string): Promise<Tokenizer> {
  const json = JSON.parse(await readFile(path.join(dir, 'tokenizer.json'), 'utf8')) as object;
  const config = JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8')) as object;
  return new Tokenizer(json, config);
}

async function assertRejects(file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(BpeTokenizer.load(file), (e: unknown) => {
    assert.ok(e instanceof BbioError, `expected BbioError, got ${String(e)}`);
    assert.equal(e.code, 'E_TOKENIZER');
    assert.match(e.message, pattern);
    assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
    assert.equal(e.location.file, file);
    return true;
  });
}

const trained = trainBpe(CORPUS, { vocabSize: 1000 });

test('hand-computed training: "aaabdaaabac" merges aa, then ab (tie broken by smaller ids), then aa+ab', () => {
  // Pairs: aa×4, ab×2, bd/da/ba/ac×1. After a+a: (aa,a)×2 and (a,b)×2 tie; (a,b) has the smaller ids
  // (97,98) < (259-offset aa, 97), so ab comes next, then aa+ab×2 (Sennrich et al.'s Z=aa, Y=ab, X=ZY).
  const t = trainBpe(['aaabdaaabac'], { vocabSize: 262, minFrequency: 1 });
  assert.deepEqual(mergesOf(t), [['a', 'a'], ['a', 'b'], ['aa', 'ab']]);
  assert.equal(t.tokenToId('aa'), 3 + 256);
  assert.equal(t.tokenToId('ab'), 3 + 257);
  assert.equal(t.tokenToId('aaab'), 3 + 258);
  assert.deepEqual(t.encode('aaabdaaabac').map((id) => t.idToToken(id)), ['aaab', 'd', 'aaab', 'a', 'c']);
  // Pre-tokens are counted, spaces ride with the next word: " ab" twice beats "ab" once.
  const w = trainBpe(['ab ab ab'], { vocabSize: 261, minFrequency: 1 });
  assert.deepEqual(mergesOf(w), [['a', 'b'], ['Ġ', 'ab']]);
});

test('minFrequency stops training early; vocab is exactly vocabSize when the corpus allows', () => {
  const t = trainBpe(['aaabdaaabac'], { vocabSize: 300 }); // default minFrequency 2: only aa, ab, aaab qualify
  assert.equal(t.vocabSize, 262);
  for (const size of [260, 777, 1000]) {
    const s = size === 1000 ? trained : trainBpe(CORPUS, { vocabSize: size });
    assert.equal(s.vocabSize, size);
    const json = s.toJSON() as { model: { vocab: Record<string, number> } };
    assert.equal(Object.keys(json.model.vocab).length, size);
    assert.deepEqual(Object.values(json.model.vocab).sort((a, b) => a - b), [...Array(size).keys()]); // dense ids
  }
});

test('training is deterministic: same corpus → identical tokenizer.json bytes', () => {
  const again = trainBpe(CORPUS, { vocabSize: 1000 });
  assert.equal(JSON.stringify(again.toJSON()), JSON.stringify(trained.toJSON()));
  const other = trainBpe(CORPUS.slice(1), { vocabSize: 1000 });
  assert.notEqual(JSON.stringify(other.toJSON()), JSON.stringify(trained.toJSON())); // it does depend on the data
});

test('round trip is exact for varied unicode text, and the trained vocab actually compresses', () => {
  for (const s of [...VARIED, CORPUS[0]!]) {
    const ids = trained.encode(s);
    assert.equal(trained.decode(ids), s, JSON.stringify(s.slice(0, 40)));
  }
  const text = CORPUS[0]!;
  const bytes = Buffer.byteLength(text, 'utf8');
  assert.ok(trained.encode(text).length < bytes / 2.5, 'at least 2.5 bytes per token on in-domain text');
  // random code points, including astral ones
  const rng = makeRng(3);
  for (let k = 0; k < 50; k++) {
    let s = '';
    for (let i = 0; i < 40; i++) {
      const cp = rng.next() < 0.7 ? 32 + rng.int(95) : rng.int(0x10ffff);
      if (cp >= 0xd800 && cp <= 0xdfff) continue; // lone surrogates are not well-formed text
      s += String.fromCodePoint(cp);
    }
    assert.equal(trained.decode(trained.encode(s)), s);
  }
});

test('decoding ids that split a UTF-8 character yields U+FFFD for the cut bytes only', () => {
  const t = trainBpe(['plain ascii text only'], { vocabSize: 270, minFrequency: 1 });
  const ids = t.encode('🧬');
  assert.equal(ids.length, 4); // four byte tokens: never merged
  assert.equal(t.decode(ids), '🧬');
  assert.equal(t.decode(ids.slice(0, 2)), '\ufffd');
  assert.equal(t.decode([...t.encode('a'), ids[0]!]), 'a\ufffd');
});

test('special tokens: fixed ids, addBos/addEos, recognised in text unless splitSpecial is false, skipSpecial', () => {
  assert.deepEqual([trained.bosId, trained.eosId, trained.padId], [0, 1, 2]);
  assert.equal(trained.idToToken(0), '<|bos|>');
  assert.equal(trained.tokenToId('<|pad|>'), 2);
  assert.equal(trained.tokenToId(BYTE_CHARS[0x20]!), 3 + 0x20); // bytes follow the specials in byte order
  const ids = trained.encode('dose', { addBos: true, addEos: true });
  assert.equal(ids[0], 0);
  assert.equal(ids[ids.length - 1], 1);
  assert.equal(trained.decode(ids), '<|bos|>dose<|eos|>');
  assert.equal(trained.decode(ids, { skipSpecial: true }), 'dose');
  assert.deepEqual(trained.encode('a<|eos|>b').filter((id) => id < 3), [1]);
  const literal = trained.encode('a<|eos|>b', { splitSpecial: false });
  assert.ok(!literal.includes(1));
  assert.equal(trained.decode(literal), 'a<|eos|>b');
  // special spellings are never learned as text, even when frequent
  const spam = trainBpe(Array(50).fill('<|eos|> x <|eos|>'), { vocabSize: 300, minFrequency: 1 });
  assert.equal(spam.encode('<|eos|>').length, 1);
  const custom = trainBpe(CORPUS, { vocabSize: 400, specialTokens: ['<s>', '</s>', '<pad>', '<|user|>'] });
  assert.deepEqual([custom.bosId, custom.eosId, custom.padId, custom.tokenToId('<|user|>')], [0, 1, 2, 3]);
  assert.equal(custom.tokenToId(BYTE_CHARS[0]!), 4);
});

test('save/load round trip keeps ids, JSON and roles; files are HF-shaped', async () => {
  await withTmp(async (dir) => {
    await trained.save(dir);
    const loaded = await BpeTokenizer.load(path.join(dir, 'tokenizer.json'));
    const viaDir = await BpeTokenizer.load(dir);
    assert.equal(JSON.stringify(loaded.toJSON()), JSON.stringify(trained.toJSON()));
    assert.deepEqual([loaded.bosId, loaded.eosId, loaded.padId, loaded.vocabSize], [0, 1, 2, 1000]);
    for (const s of CORPUS) assert.deepEqual(loaded.encode(s), trained.encode(s));
    assert.deepEqual(viaDir.encode(VARIED[1]!), trained.encode(VARIED[1]!));
    const text = await readFile(path.join(dir, 'tokenizer.json'), 'utf8');
    const json = JSON.parse(text);
    assert.equal(json.model.type, 'BPE');
    // vocab written in id order, as HF writes it (plain JSON.stringify would hoist digit keys "0".."9")
    assert.ok(text.indexOf('"<|bos|>": 0') < text.indexOf('"0": 51') && text.indexOf('"0": 51') < text.indexOf('"A": 68'));
    assert.equal(json.pre_tokenizer.type, 'Sequence');
    assert.deepEqual(json.pre_tokenizer.pretokenizers.map((p: { type: string }) => p.type), ['Split', 'ByteLevel']);
    assert.equal(json.pre_tokenizer.pretokenizers[1].use_regex, false);
    assert.equal(json.decoder.type, 'ByteLevel');
    assert.deepEqual(json.added_tokens.map((t: { content: string }) => t.content), ['<|bos|>', '<|eos|>', '<|pad|>']);
    assert.ok(Array.isArray(json.model.merges[0]) && json.model.merges[0].length === 2);
    const config = JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    assert.deepEqual([config.bos_token, config.eos_token, config.pad_token], ['<|bos|>', '<|eos|>', '<|pad|>']);
    // saving again over the same files is atomic-replace, and deterministic
    const before = await readFile(path.join(dir, 'tokenizer.json'), 'utf8');
    await loaded.save(dir);
    assert.equal(await readFile(path.join(dir, 'tokenizer.json'), 'utf8'), before);
  });
});

test('@huggingface/tokenizers reads our tokenizer.json and encodes/decodes identically', async () => {
  await withTmp(async (dir) => {
    await trained.save(dir);
    const hf = await loadWithHfLibrary(dir);
    const texts = [...VARIED, ...CORPUS[0]!.split(/(?<=\.) /).slice(0, 400)];
    for (const s of texts) {
      const ours = trained.encode(s);
      assert.deepEqual(hf.encode(s, { add_special_tokens: false }).ids, ours, JSON.stringify(s.slice(0, 60)));
      if (ours.length > 0) assert.equal(hf.decode(ours, { clean_up_tokenization_spaces: false }), trained.decode(ours));
    }
    assert.deepEqual(hf.encode(CORPUS[0]!, { add_special_tokens: false }).ids, trained.encode(CORPUS[0]!));
    assert.equal(hf.token_to_id('<|eos|>'), 1);
  });
});

for (const name of ['llama3-tiny', 'qwen2-tiny']) {
  test(`real-format fixture ${name}: our loader and @huggingface/tokenizers agree`, async () => {
    const dir = path.join(FIXTURES, name);
    const ours = await BpeTokenizer.load(path.join(dir, 'tokenizer.json'));
    const hf = await loadWithHfLibrary(dir);
    const texts = [
      ...VARIED,
      'the patient with 12 mg dose, abab ababab hello Hello  hello',
      '<|im_start|>user\nI\'m ill<|im_end|> <tool_call> <|begin_of_text|>the<|eot_id|>',
      makeClinicalText(11, 3000),
    ];
    for (const s of texts) {
      assert.deepEqual(ours.encode(s), hf.encode(s, { add_special_tokens: false }).ids, JSON.stringify(s.slice(0, 60)));
    }
    const tokens = (s: string): Array<string | undefined> => ours.encode(s).map((id) => ours.idToToken(id));
    // "ab a" ranks before "a b": HF merges one occurrence at a time, so abab → aba + b (not ab + ab)
    assert.deepEqual(tokens('abab'), ['aba', 'b']);
    // "e n" ranks before "n t", so "ient" never forms by merging; Llama-3's ignore_merges finds Ġpatient whole
    assert.deepEqual(tokens(' patient'), name === 'llama3-tiny' ? ['Ġpatient'] : ['Ġpat', 'i', 'en', 't']);
  });
}

test('llama3-tiny specifics: "a b" string merges, ignore_merges, roles from tokenizer_config.json', async () => {
  const t = await BpeTokenizer.load(path.join(FIXTURES, 'llama3-tiny', 'tokenizer.json'));
  // "Ġhello" is in the vocab but no merge builds it: ignore_merges emits it whole
  assert.deepEqual(t.encode(' hello').map((id) => t.idToToken(id)), ['Ġhello']);
  // Llama-3 groups digits by three: 1212 → 121|2, so the second 12 never forms
  assert.deepEqual(t.encode('1212').map((id) => t.idToToken(id)), ['12', '1', '2']);
  assert.equal(t.idToToken(t.bosId), '<|begin_of_text|>');
  assert.equal(t.idToToken(t.eosId), '<|eot_id|>');
  assert.equal(t.padId, -1);
  const ids = t.encode('the dose', { addBos: true });
  assert.equal(ids[0], t.bosId);
  assert.equal(t.decode(ids, { skipSpecial: true }), 'the dose');
  // the library's post-processor (TemplateProcessing) adds the same BOS
  const hf = await loadWithHfLibrary(path.join(FIXTURES, 'llama3-tiny'));
  assert.deepEqual(hf.encode('the dose').ids, ids);
});

test('qwen2-tiny specifics: NFC normalizer, [a, b] merges, no BOS', async () => {
  const t = await BpeTokenizer.load(path.join(FIXTURES, 'qwen2-tiny'));
  assert.deepEqual(t.encode('e\u0301'), t.encode('\u00e9'));
  assert.equal(t.decode(t.encode('e\u0301')), '\u00e9'); // normalization is the one documented round-trip loss
  assert.equal(t.bosId, -1);
  assert.equal(t.idToToken(t.eosId), '<|im_end|>');
  assert.equal(t.idToToken(t.padId), '<|endoftext|>');
  assert.throws(() => t.encode('x', { addBos: true }), (e: unknown) => e instanceof BbioError && e.code === 'E_TOKENIZER' && /no bos token/.test(e.message));
  assert.deepEqual(t.encode('123').map((id) => t.idToToken(id)), ['1', '2', '3']); // Qwen2 splits single digits
  assert.deepEqual(t.encode('<tool_call>').length, 1);
});

test('unsupported or malformed tokenizer.json files fail with E_TOKENIZER naming the file', async () => {
  await assertRejects(path.join(FIXTURES, 'wordpiece.json'), /unsupported model type "WordPiece"/);
  await assertRejects(path.join(FIXTURES, 'unigram.json'), /unsupported model type "Unigram"/);
  await assertRejects(path.join(FIXTURES, 'malformed.json'), /malformed JSON/);
  await assertRejects(path.join(FIXTURES, 'bad-merge.json'), /merge 0 .* "ab", which is not in the vocab/);
  await assert.rejects(BpeTokenizer.load(path.join(FIXTURES, 'absent.json')), (e: unknown) => e instanceof BbioError && e.code === 'E_FILE_MISSING');
  for (const vocabSize of [259, 65537, 300.5]) {
    assert.throws(() => trainBpe(['x'], { vocabSize }), (e: unknown) => e instanceof BbioError && e.code === 'E_TOKENIZER' && /vocabSize/.test(e.message));
  }
  assert.throws(() => trainBpe(['x'], { vocabSize: 300, specialTokens: ['<s>'] }), /at least bos, eos and pad/);
});

test('Split delimiter behaviours match the HF documentation example', () => {
  const text = 'the-final--countdown';
  const dash = /-/gu;
  assert.deepEqual(splitWithBehavior(text, dash, 'Removed', false), ['the', 'final', 'countdown']);
  assert.deepEqual(splitWithBehavior(text, dash, 'Isolated', false), ['the', '-', 'final', '-', '-', 'countdown']);
  assert.deepEqual(splitWithBehavior(text, dash, 'MergedWithPrevious', false), ['the-', 'final-', '-', 'countdown']);
  assert.deepEqual(splitWithBehavior(text, dash, 'MergedWithNext', false), ['the', '-final', '-', '-countdown']);
  assert.deepEqual(splitWithBehavior(text, dash, 'Contiguous', false), ['the', '-', 'final', '--', 'countdown']);
  assert.deepEqual(splitWithBehavior(text, dash, 'Removed', true), ['-', '-', '-']);
});

test('scan and heap merge loops agree, and long pre-tokens stay fast', () => {
  // random merge tables over a 6-symbol alphabet, including non-rank-monotone ones
  const rng = makeRng(5);
  for (let trial = 0; trial < 200; trial++) {
    const ranks = new Map<number, number>();
    const mergedIds: number[] = [];
    let nextId = 6;
    for (let r = 0; r < 12; r++) {
      const key = rng.int(nextId) * 1024 + rng.int(nextId);
      if (ranks.has(key)) continue;
      ranks.set(key, mergedIds.length);
      mergedIds.push(nextId++);
    }
    const table: MergeTable = { ranks, mergedIds: Int32Array.from(mergedIds), pairBase: 1024 };
    const syms = Array.from({ length: 1 + rng.int(90) }, () => rng.int(6));
    assert.deepEqual(applyMergesHeap([...syms], table), applyMergesScan([...syms], table));
  }
  const long = 'a'.repeat(20_000) + 'b'.repeat(20_000);
  const t0 = performance.now();
  const ids = trained.encode(long);
  assert.ok(performance.now() - t0 < 1000, 'a 40 kB pre-token encodes in under a second');
  assert.equal(trained.decode(ids), long);
});
