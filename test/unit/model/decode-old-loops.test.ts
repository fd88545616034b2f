// Equivalence of the new decode loop with the three old loops (generate.ts, sampling.ts, infer.ts), run
// before deleting them. Also prints the pinned outputs kept in decode.test.ts.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateGreedy } from '../../../engine/compute/tfjs/generate';
import { sampleGroup } from '../../../engine/compute/tfjs/sampling';
import { generate } from '../../../engine/model/infer';
import { decodePrompts, greedyPicker, samplingPicker } from '../../../engine/model/decode';
import { initLlama } from '../../../engine/model/llama';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { useWasm } from './helpers';


const cfg = tinyLlamaConfig({ vocab_size: 30, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 40 });
let model: ReturnType<typeof initLlama>;
before(async () => { await useWasm(); model = initLlama({ ...cfg, initializer_range: 0.6 }, makeRng(3)); });
const rng = makeRng(4);
const prompts = [3, 9, 5, 14, 1, 7, 30, 38].map((n) => Array.from({ length: n }, () => 2 + rng.int(28)));
const seen: Record<string, number> = {};
const detok = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');

test('greedy: new loop = old generateGreedy (ids + EOS when it ended there, text, truncated)', () => {
  for (const eosId of [undefined, 5, 7, 11]) {
    for (const stop of [[], ['b'], ['cd', 'x'], ['ab']]) {
      for (const batchRows of [1, 3, 8]) {
        const old = generateGreedy(model, prompts.map((p, i) => ({ prompt: p, maxNewTokens: 6 + i })), { batchRows, ...(eosId !== undefined ? { eosId } : {}), stop, decode: detok });
        // the new loop takes one max_new_tokens: compare per prompt
        prompts.forEach((p, i) => {
          const [row] = decodePrompts(model, [p], { maxNewTokens: 6 + i, pick: greedyPicker(), ...(eosId !== undefined ? { eosIds: [eosId] } : {}), stop, detokenize: detok })[0]!;
          const o = old[i]!;
          const want = row!.finishReason === 'eos' ? [...o.ids, eosId] : o.ids;
          assert.deepEqual(row!.ids, want, `eos ${eosId} stop ${stop} prompt ${i}`);
          assert.equal(row!.text, o.text);
          assert.equal(row!.finishReason === 'length', o.truncated);
          seen['g' + row!.finishReason] = (seen['g' + row!.finishReason] ?? 0) + 1;
        });
        const all = decodePrompts(model, prompts, { maxNewTokens: 12, pick: greedyPicker(), batchRows, ...(eosId !== undefined ? { eosIds: [eosId] } : {}), stop, detokenize: detok });
        const old12 = generateGreedy(model, prompts.map((p) => ({ prompt: p, maxNewTokens: 12 })), { batchRows, ...(eosId !== undefined ? { eosId } : {}), stop, decode: detok });
        all.forEach(([row], i) => {
          const o = old12[i]!;
          assert.deepEqual(row!.ids, row!.finishReason === 'eos' ? [...o.ids, eosId] : o.ids);
          assert.equal(row!.text, o.text);
          assert.equal(row!.finishReason === 'length', o.truncated);
        });
      }
    }
  }
});

test('sampling: new loop = old sampleGroup for the same seed (ids up to the stop, text, truncated)', () => {
  for (const [temperature, topP] of [[1, 1], [0.7, 0.9], [1.3, 0.5]] as const) {
    for (const eosId of [undefined, 5, 9]) {
      for (const stop of [[], ['b'], ['cd']]) {
        for (const p of [prompts[0]!, prompts[3]!, prompts[6]!]) {
          const old = sampleGroup(model, p, 6, { maxNewTokens: 10, temperature, topP, ...(eosId !== undefined ? { eosId } : {}), stop, decode: detok, rng: makeRng(17) });
          const got = decodePrompts(model, [p], { n: 6, maxNewTokens: 10, pick: samplingPicker({ temperature, topP, rng: makeRng(17) }), ...(eosId !== undefined ? { eosIds: [eosId] } : {}), stop, detokenize: detok })[0]!;
          got.forEach((row, g) => {
            const o = old[g]!;
            const label = `T ${temperature} p ${topP} eos ${eosId} stop ${stop} row ${g}`;
            assert.deepEqual(row.ids.slice(0, o.ids.length), o.ids, label);
            if (row.finishReason === 'eos') assert.deepEqual(row.ids, [...o.ids, eosId], label);
            if (row.finishReason === 'length') assert.deepEqual(row.ids, o.ids, label);
            assert.equal(row.text, o.text, label);
            assert.equal(row.finishReason === 'length', o.truncated, label);
            seen['s' + row.finishReason] = (seen['s' + row.finishReason] ?? 0) + 1;
          });
        }
      }
    }
  }
});

test('infer: new loop = old generate (greedy and sampled)', () => {
  for (const temperature of [0, 1, 0.6]) {
    for (const eosId of [undefined, 5]) {
      for (const p of prompts) {
        const old = generate(model, p, { maxNewTokens: 12, temperature, rng: makeRng(9), ...(eosId !== undefined ? { eosId } : {}) });
        const [row] = decodePrompts(model, [p], { maxNewTokens: 12, pick: temperature > 0 ? samplingPicker({ temperature, topP: 1, rng: makeRng(9) }) : greedyPicker(), ...(eosId !== undefined ? { eosIds: [eosId] } : {}) })[0]!;
        assert.deepEqual(row!.ids, row!.finishReason === 'eos' ? [...old, eosId] : old, `T ${temperature} eos ${eosId}`);
      }
    }
  }
});

test('print pinned outputs', () => {
  console.log('SEEN', JSON.stringify(seen));
  const greedy = decodePrompts(model, prompts, { maxNewTokens: 8, pick: greedyPicker(), batchRows: 3, eosIds: [7], stop: ['cd'], detokenize: detok }).map(([r]) => r);
  const old = generateGreedy(model, prompts.map((p) => ({ prompt: p, maxNewTokens: 8 })), { batchRows: 3, eosId: 7, stop: ['cd'], decode: detok });
  console.log('GREEDY', JSON.stringify(greedy.map((r) => [r!.ids, r!.finishReason, r!.text])));
  console.log('OLDGREEDY', JSON.stringify(old.map((r) => [r.ids, r.truncated, r.text])));
  const sampled = decodePrompts(model, [prompts[2]!], { n: 4, maxNewTokens: 8, pick: samplingPicker({ temperature: 1, topP: 0.9, rng: makeRng(21) }), eosIds: [7], stop: ['cd'], detokenize: detok })[0]!;
  const olds = sampleGroup(model, prompts[2]!, 4, { maxNewTokens: 8, temperature: 1, topP: 0.9, eosId: 7, stop: ['cd'], decode: detok, rng: makeRng(21) });
  console.log('SAMPLED', JSON.stringify(sampled.map((r) => [r.ids, r.finishReason, r.text])));
  console.log('OLDSAMPLED', JSON.stringify(olds.map((r) => [r.ids, r.truncated, r.text])));
});

test('print pinned outputs 2', () => {
  const old = generateGreedy(model, prompts.map((p) => ({ prompt: p, maxNewTokens: 8 })), { batchRows: 3, eosId: 1, stop: ['ac', 'kq'], decode: detok });
  console.log('OLDGREEDY2', JSON.stringify(old.map((r) => [r.ids, r.truncated, r.text])));
  const greedy = decodePrompts(model, prompts, { maxNewTokens: 8, pick: greedyPicker(), batchRows: 3, eosIds: [1], stop: ['ac', 'kq'], detokenize: detok }).map(([r]) => r);
  console.log('GREEDY2', JSON.stringify(greedy.map((r) => [r!.ids, r!.finishReason, r!.text])));
  const olds = sampleGroup(model, prompts[2]!, 6, { maxNewTokens: 8, temperature: 1, topP: 0.9, eosId: 1, stop: ['kk'], decode: detok, rng: makeRng(21) });
  console.log('OLDSAMPLED2', JSON.stringify(olds.map((r) => [r.ids, r.truncated, r.text])));
  const sampled = decodePrompts(model, [prompts[2]!], { n: 6, maxNewTokens: 8, pick: samplingPicker({ temperature: 1, topP: 0.9, rng: makeRng(21) }), eosIds: [1], stop: ['kk'], detokenize: detok })[0]!;
  console.log('SAMPLED2', JSON.stringify(sampled.map((r) => [r.ids, r.finishReason, r.text])));
});

test('print pinned outputs 3', () => {
  const olds = sampleGroup(model, prompts[2]!, 6, { maxNewTokens: 8, temperature: 1, topP: 0.9, eosId: 7, stop: ['b', 'kk'], decode: detok, rng: makeRng(21) });
  console.log('OLDSAMPLED3', JSON.stringify(olds.map((r) => [r.ids, r.truncated, r.text])));
  const sampled = decodePrompts(model, [prompts[2]!], { n: 6, maxNewTokens: 8, pick: samplingPicker({ temperature: 1, topP: 0.9, rng: makeRng(21) }), eosIds: [7], stop: ['b', 'kk'], detokenize: detok })[0]!;
  console.log('SAMPLED3', JSON.stringify(sampled.map((r) => [r.ids, r.finishReason, r.text])));
});
