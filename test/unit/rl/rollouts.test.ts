import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { TfjsCompute } from '../../../engine/compute/tfjs/compute';
import { completionMask } from '../../../engine/compute/tfjs/policy';
import { initLlama } from '../../../engine/model/llama';
import { silentLogger } from '../../../engine/util/log';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { useWasm } from '../model/helpers';

const EOS = 1;
/** Letters for ordinary ids; EOS spells a marker that must never reach the reward's text. */
const tokenizer = {
  eosId: EOS,
  padId: 2,
  decode: (ids: number[]) => ids.map((i) => (i === EOS ? '<|eos|>' : String.fromCharCode(97 + (i % 26)))).join(''),
};

let compute: TfjsCompute;
before(async () => {
  await useWasm();
  const cfg = tinyLlamaConfig({ vocab_size: 30, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 40 });
  compute = new TfjsCompute({ backend: { name: 'wasm', kind: 'wasm', reason: 'test', threads: 1, simd: true }, log: silentLogger, tokenizer });
  compute.useModel(initLlama({ ...cfg, initializer_range: 0.6 }, makeRng(3)));
});

test('a GRPO rollout that ends with EOS keeps EOS as its last completion token, with loss mask 1 (issue 17: the policy can learn to stop)', async () => {
  // seeded: on this model EOS is likely enough that some of the 8 rows end with it within 8 tokens
  const [group] = await compute.generate({ prompts: [[5, 9, 13, 4, 22]], n: 8, temperature: 1, topP: 0.9, maxNewTokens: 8, stop: [], seed: 21 });
  const ended = group!.filter((c) => c.finishReason === 'eos');
  assert.ok(ended.length >= 1, `some rollout ends with EOS: ${JSON.stringify(group!.map((c) => c.ids))}`);
  const maxLen = 8;
  const mask = completionMask(group!.map((c) => c.ids), group!.map(() => true), maxLen);
  group!.forEach((c, i) => {
    assert.equal(c.logprobs.length, c.ids.length, 'one log-prob per completion token');
    assert.deepEqual(mask[i], Array.from({ length: maxLen }, (_, t) => (t < c.ids.length ? 1 : 0)), `row ${i}: every completion token is in the loss`);
    assert.ok(!c.text.includes('<|eos|>'), 'the reward text leaves the EOS marker out');
    if (c.finishReason !== 'eos') return;
    assert.equal(c.ids.at(-1), EOS, `row ${i} ends with the EOS id`);
    assert.equal(mask[i]![c.ids.length - 1], 1, `row ${i}: EOS is in the loss mask`);
    assert.equal(c.text, tokenizer.decode(c.ids.slice(0, -1)));
  });
});

test('rollout log-probs are the ones the GRPO loss receives for π_old: log softmax(logits / T) of each token, before top-p (within 1e-5)', async () => {
  const prompt = [5, 9, 13, 4, 22];
  const [group] = await compute.generate({ prompts: [prompt], n: 6, temperature: 0.7, topP: 0.8, maxNewTokens: 8, stop: [], seed: 5 });
  const [lossLogps] = await compute.logprobs([{ prompt, completions: group!.map((c) => c.ids) }], { temperature: 0.7 });
  let worst = 0;
  group!.forEach((c, i) => {
    assert.equal(c.logprobs.length, c.ids.length);
    c.logprobs.forEach((lp, t) => (worst = Math.max(worst, Math.abs(lp - lossLogps![i]![t]!))));
  });
  assert.ok(worst < 1e-5, `max |Δ log p| ${worst}`);
});
