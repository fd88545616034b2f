import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { decodePrompts, greedyPicker, samplingPicker, type Picker } from '../../../engine/model/decode';
import { forwardLogits, initLlama, type LlamaModel } from '../../../engine/model/llama';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { certainModel } from '../eval/helpers';
import { useWasm } from './helpers';

/** One letter per id, so stop strings can be written against the ids. */
const letters = (ids: number[]): string => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');

let model: LlamaModel;
let prompts: number[][];
before(async () => {
  await useWasm();
  const cfg = tinyLlamaConfig({ vocab_size: 30, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 40 });
  model = initLlama({ ...cfg, initializer_range: 0.6 }, makeRng(3));
  const rng = makeRng(4);
  prompts = [3, 9, 5, 14, 1, 7, 30, 38].map((n) => Array.from({ length: n }, () => 2 + rng.int(28)));
});

// Pinned on this model and seed. The ids are those of the three decode loops this one replaced
// (compute/tfjs/generate.ts, sampling.ts, model/infer.ts; checked token for token before they were deleted),
// plus the terminating token those loops dropped: EOS (id 1) and the token completing a stop string.
test('greedy decoding of batched prompts of different lengths is pinned: EOS, stop strings, max_new_tokens, a prompt that fills the context', () => {
  const rows = decodePrompts(model, prompts, { maxNewTokens: 8, pick: greedyPicker(), batchRows: 3, eosIds: [1], stop: ['ac', 'kq'], detokenize: letters }).map(([r]) => r!);
  assert.deepEqual(rows.map((r) => [r.ids, r.finishReason, r.text]), [
    [[1], 'eos', ''],
    [[0, 3, 16, 0, 12, 23, 16, 17], 'length', 'adqamxqr'],
    [[6, 27, 10, 16], 'stop', 'gb'],
    [[24, 11, 1], 'eos', 'yl'],
    [[12, 10, 24, 1], 'eos', 'mky'],
    [[27, 25, 29, 29, 8, 18, 25, 12], 'length', 'bzddiszm'],
    [[12, 10, 24, 24, 24, 11, 27, 12], 'length', 'mkyyylbm'],
    [[17, 12], 'length', 'rm'], // 38 prompt tokens in a 40-token context: room for 2
  ]);
  rows.forEach((r) => assert.equal(r.logprobs.length, r.ids.length));
  // batching changes nothing: each prompt decoded alone gives the same row
  prompts.forEach((p, i) => {
    const [alone] = decodePrompts(model, [p], { maxNewTokens: 8, pick: greedyPicker(), eosIds: [1], stop: ['ac', 'kq'], detokenize: letters })[0]!;
    assert.deepEqual(alone!.ids, rows[i]!.ids, `prompt ${i}`);
    alone!.logprobs.forEach((lp, t) => assert.ok(Math.abs(lp - rows[i]!.logprobs[t]!) < 1e-5));
  });
});

test('seeded top-p sampling of G rows of one prompt is pinned: rows finish at different steps, by EOS or a stop string', () => {
  const rows = decodePrompts(model, [prompts[2]!], { n: 6, maxNewTokens: 8, pick: samplingPicker({ temperature: 1, topP: 0.9, rng: makeRng(21) }), eosIds: [7], stop: ['b', 'kk'], detokenize: letters })[0]!;
  assert.deepEqual(rows.map((r) => [r.ids, r.finishReason, r.text]), [
    [[12, 22, 1], 'stop', 'mw'],
    [[10, 16, 7], 'eos', 'kq'],
    [[6, 1], 'stop', 'g'],
    [[2, 1], 'stop', 'c'],
    [[28, 10, 12, 13, 24, 1], 'stop', 'ckmny'],
    [[6, 1], 'stop', 'g'],
  ]);
});

test('the KV-cached loop sees the same logits at every step as a full re-forward of prompt + tokens so far (within 1e-5)', () => {
  // a picker that records what the loop gives it (rows of different prompt lengths and finish times, n = 2)
  const seen: Float32Array[] = [];
  const greedy = greedyPicker();
  const spy: Picker = (logits) => {
    seen.push(logits.slice());
    return greedy(logits);
  };
  const batch = [prompts[0]!, prompts[2]!, prompts[3]!];
  const out = decodePrompts(model, batch, { n: 2, maxNewTokens: 6, pick: spy, eosIds: [1], batchRows: 6 });
  const V = model.config.vocab_size;
  // rows in lockstep: each step calls the picker once per row past its prompt, in row order
  const rows = batch.flatMap((p, k) => out[k]!.map((r) => ({ prompt: p, ids: r.ids })));
  let worst = 0;
  let checked = 0;
  let call = 0;
  const maxLen = Math.max(...rows.map((r) => r.prompt.length)) + 6;
  for (let pos = Math.min(...rows.map((r) => r.prompt.length)); pos < maxLen && call < seen.length; pos++) {
    for (const r of rows) {
      if (pos < r.prompt.length) continue;
      const got = seen[call++]!;
      const t = pos - r.prompt.length; // this pick is the row's new token t
      if (t >= r.ids.length) continue; // the row had finished: a discarded filler pick
      const seq = [...r.prompt, ...r.ids.slice(0, t)];
      const full = forwardLogits(model, Int32Array.from(seq), 1).dataSync().subarray((seq.length - 1) * V, seq.length * V);
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(got[v]! - full[v]!));
      checked++;
    }
  }
  assert.equal(call, seen.length, 'every recorded step was matched to a row');
  assert.equal(checked, rows.reduce((s, r) => s + r.ids.length, 0), 'every kept token was checked');
  assert.ok(worst < 1e-5, `max |Δlogit| ${worst}`);
});

test('a stop string spanning two tokens stops the row: its tokens are kept, the text is cut before it', () => {
  // one token, always: its text ends with "<" and begins with "e", so only two of them spell "<e"
  const certain = certainModel({ vocab: 16, k: 3, ctx: 64 });
  const spell = (ids: number[]): string => ids.map((i) => (i === 3 ? 'e<' : '?')).join('');
  const [row] = decodePrompts(certain, [[5, 6]], { maxNewTokens: 10, pick: greedyPicker(), stop: ['<e'], detokenize: spell })[0]!;
  assert.deepEqual(row!.ids, [3, 3]);
  assert.equal(row!.finishReason, 'stop');
  assert.equal(row!.text, 'e');
  // without the stop string the row runs to max_new_tokens
  const [free] = decodePrompts(certain, [[5, 6]], { maxNewTokens: 10, pick: greedyPicker(), detokenize: spell })[0]!;
  assert.equal(free!.ids.length, 10);
  assert.equal(free!.finishReason, 'length');
});

test('a stop token id ends the row with reason stop; it is kept in the ids and left out of the text', () => {
  const certain = certainModel({ vocab: 16, k: 3, ctx: 64 });
  const [row] = decodePrompts(certain, [[5]], { maxNewTokens: 10, pick: greedyPicker(), stopIds: [3], detokenize: letters })[0]!;
  assert.deepEqual([row!.ids, row!.finishReason, row!.text], [[3], 'stop', '']);
  // greedy log-probs are the model's own (temperature 1): this model is nearly certain of token 3
  assert.ok(row!.logprobs[0]! <= 0 && row!.logprobs[0]! > -1e-3, `${row!.logprobs[0]}`);
});

test('decoding checks its signal between steps', () => {
  const ctrl = new AbortController();
  ctrl.abort();
  assert.throws(() => decodePrompts(model, [prompts[0]!], { maxNewTokens: 4, pick: greedyPicker(), signal: ctrl.signal }), /E_CANCELLED|cancelled/);
});
