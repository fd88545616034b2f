import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { greedyPicker, samplingPicker } from '../../../engine/model/decode';
import { runInfer } from '../../../engine/cli/commands/infer';
import { forwardLogits, initLlama, saveLlama } from '../../../engine/model/llama';
import { makeRng } from '../../../engine/util/rng';
import { BbioError } from '../../../engine/util/errors';
import { trainBpe, type BpeTokenizer } from '../../../engine/model/tokenizer';
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

/** A checkpoint with a tokenizer whose end-of-turn token is id 0 and an all-zero lm_head: every logit ties, so greedy picks id 0 each step. */
async function chatCheckpoint(t: TestContext, specials: string[], files: Record<string, string> = {}): Promise<{ dir: string; tok: BpeTokenizer }> {
  const dir = await tempDir(t, 'bbio-infer-chat-');
  const tok = trainBpe(['the patient has a fever and a cough'], { vocabSize: 270, specialTokens: specials });
  await tok.save(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const model = initLlama(tinyLlamaConfig({ vocab_size: tok.vocabSize, max_position_embeddings: 64 }), makeRng(2));
  model.params.get('lm_head.weight')!.assign(tf.zerosLike(model.params.get('lm_head.weight')!));
  await saveLlama(model, dir);
  return { dir, tok };
}

test('infer --chat --show-prompt: the built-in format for a model without a chat template, printed exactly as encoded', async (t) => {
  const { dir, tok } = await chatCheckpoint(t, ['<|bos|>', '<|eos|>', '<|pad|>']);
  const lines: string[] = [];
  await runInfer({ model: dir, chat: 'fever?', showPrompt: true, maxNewTokens: 2, logprobs: false, backend: 'wasm' }, (l) => lines.push(l));
  assert.deepEqual(JSON.parse(lines[0]!), { prompt: '<|user|>\nfever?\n<|assistant|>\n', chat_format: 'built-in' });
  assert.deepEqual(JSON.parse(lines[1]!).prompt_ids, tok.encode('<|user|>\nfever?\n<|assistant|>\n', { addBos: true, splitSpecial: false }));
  await assert.rejects(runInfer({ model: dir, chat: 'a', prompt: 'b', maxNewTokens: 1, logprobs: false, backend: 'wasm' }, () => {}), /infer takes one of --prompt, --chat/);
});

test('infer --chat with a chat template: rendered by the template, no BOS added, generation stops on the end-of-turn token', async (t) => {
  // ChatML as Qwen's template writes it, without the default system turn, rendered by @huggingface/jinja
  const chatml = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const files = { 'tokenizer_config.json': JSON.stringify({ chat_template: chatml, eos_token: '<|endoftext|>' }) };
  const { dir, tok } = await chatCheckpoint(t, ['<|im_end|>', '<|endoftext|>', '<|pad|>', '<|im_start|>'], files);
  const lines: string[] = [];
  await runInfer({ model: dir, chat: 'fever?', showPrompt: true, maxNewTokens: 3, logprobs: false, backend: 'wasm' }, (l) => lines.push(l));
  const prompt = '<|im_start|>user\nfever?<|im_end|>\n<|im_start|>assistant\n';
  assert.deepEqual(JSON.parse(lines[0]!), { prompt, chat_format: path.join(dir, 'tokenizer_config.json') });
  const gen = JSON.parse(lines[1]!) as { prompt_ids: number[]; new_ids: number[]; finish_reason: string };
  assert.deepEqual(gen.prompt_ids, tok.encode(prompt, { splitSpecial: true }));
  assert.equal(gen.prompt_ids[0], tok.tokenToId('<|im_start|>'));
  assert.deepEqual(gen.new_ids, [tok.tokenToId('<|im_end|>')]);
  assert.equal(gen.finish_reason, 'stop');
  // a template that does not parse: an error naming its file, not the built-in markers
  fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{% for m in messages %}');
  await assert.rejects(runInfer({ model: dir, chat: 'fever?', maxNewTokens: 3, logprobs: false, backend: 'wasm' }, () => {}),
    (e: unknown) => e instanceof BbioError && e.code === 'E_CHAT_TEMPLATE' && e.message.includes('chat_template.jinja'));
});
