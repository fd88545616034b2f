/**
 * Tokenizer benchmark: training time on ~1 MB of deterministic synthetic clinical text, and encode/decode
 * throughput on one core (cold = fresh tokenizer, empty word cache; warm = second pass). For reference it
 * also times `@huggingface/tokenizers` encoding the same text from our saved tokenizer.json, which is the
 * measurement behind the "encode ourselves" decision in engine/model/tokenizer.ts.
 *
 * Run: npx tsx bench/tokenizer.ts
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { trainBpe } from '../engine/model/tokenizer';
import { makeClinicalText } from '../engine/model/tokenizer/sample-text';

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

export function benchTokenizer(): Record<string, number> {
  const corpus = makeClinicalText(1, 1_000_000);
  const lines = corpus.split(/(?<=\.) /); // ~sentences, as a data loader would feed them
  const corpusBytes = Buffer.byteLength(corpus, 'utf8');

  let t0 = performance.now();
  const tok = trainBpe(lines, { vocabSize: 8192, minFrequency: 1 });
  const trainS = seconds(t0);

  const heldOut = makeClinicalText(2, 1_000_000).split(/(?<=\.) /);
  t0 = performance.now();
  let tokens = 0;
  for (const s of heldOut) tokens += tok.encode(s).length;
  const coldS = seconds(t0);
  t0 = performance.now();
  const encoded: number[][] = [];
  for (const s of heldOut) encoded.push(tok.encode(s));
  const warmS = seconds(t0);

  t0 = performance.now();
  for (const ids of encoded) tok.decode(ids);
  const decodeS = seconds(t0);

  const hf = new Tokenizer(tok.toJSON(), { clean_up_tokenization_spaces: false });
  for (const s of heldOut) hf.encode(s, { add_special_tokens: false }); // warm its cache too
  t0 = performance.now();
  for (const s of heldOut) hf.encode(s, { add_special_tokens: false });
  const hfS = seconds(t0);

  return {
    corpus_bytes: corpusBytes,
    train_vocab_size: tok.vocabSize,
    train_s: round(trainS),
    train_mb_per_s: round(corpusBytes / 1e6 / trainS),
    heldout_tokens: tokens,
    bytes_per_token: round(corpusBytes / tokens),
    encode_cold_tokens_per_s: Math.round(tokens / coldS),
    encode_warm_tokens_per_s: Math.round(tokens / warmS),
    decode_tokens_per_s: Math.round(tokens / decodeS),
    hf_lib_encode_warm_tokens_per_s: Math.round(tokens / hfS),
  };
}

if (typeof require !== 'undefined' && require.main === module) {
  process.stdout.write(JSON.stringify(benchTokenizer(), null, 2) + '\n');
}
