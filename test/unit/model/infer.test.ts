import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { greedyPicker, samplingPicker } from '../../../engine/model/decode';
import { runInfer } from '../../../engine/cli/commands/infer';
import { forwardLogits, initLlama, saveLlama } from '../../../engine/model/llama';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { useWasm } from './helpers';

before(useWasm);

async function tinyCheckpoint(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'bbio-infer-');
  const cfg = tinyLlamaConfig({ vocab_size: 9, intermediate_size: 16, max_position_embeddings: 12, eos_token_id: 100 });
  await saveLlama(initLlama({ ...cfg, initializer_range: 0.8 }, makeRng(1)), dir);
  return dir;
}

test('infer --logprobs prints a normalised log-distribution over the vocab at every prompt position', async (t) => {
  const dir = await tinyCheckpoint(t);
  const lines: string[] = [];
  const code = await runInfer({ model: dir, promptIds: [1, 5, 2], maxNewTokens: 0, logprobs: true, backend: 'wasm' }, (l) => lines.push(l));
  assert.equal(code, 0);
  assert.equal(lines.length, 1);
  const { logprobs } = JSON.parse(lines[0]!) as { logprobs: number[][] };
  assert.equal(logprobs.length, 3);
  for (const row of logprobs) {
    assert.equal(row.length, 9);
    assert.ok(Math.abs(row.reduce((s, v) => s + Math.exp(v), 0) - 1) < 1e-5);
  }
});

test('greedy generation with the KV cache equals argmax of full re-forwarding; prompt ids are validated', async (t) => {
  const dir = await tinyCheckpoint(t);
  const lines: string[] = [];
  await runInfer({ model: dir, promptIds: [3, 4], maxNewTokens: 6, logprobs: false, backend: 'wasm' }, (l) => lines.push(l));
  const got = JSON.parse(lines[0]!) as { new_ids: number[]; finish_reason: string };
  assert.equal(got.new_ids.length, 6);
  assert.equal(got.finish_reason, 'length');
  // Reference: recompute the full forward each step, no cache.
  const { loadLlama } = await import('../../../engine/model/llama');
  const model = loadLlama(dir);
  const seq = [3, 4];
  for (let i = 0; i < 6; i++) {
    const logits = forwardLogits(model, Int32Array.from(seq), 1).dataSync();
    seq.push(greedyPicker()(logits.subarray((seq.length - 1) * 9) as Float32Array).id);
  }
  assert.deepEqual(got.new_ids, seq.slice(2));
  await assert.rejects(runInfer({ model: dir, promptIds: [9], maxNewTokens: 1, logprobs: false, backend: 'wasm' }, () => {}), /outside the vocabulary/);
});

test('sampling with a temperature is seeded', () => {
  const logits = Float32Array.of(0.1, 0.5, 0.2, 0.9);
  const draw = (seed: number) => { const pick = samplingPicker({ temperature: 1, topP: 1, rng: makeRng(seed) }); return Array.from({ length: 20 }, () => pick(logits).id); };
  assert.deepEqual(draw(4), draw(4));
  assert.ok(new Set(draw(4)).size > 1);
});
