import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createConfigValidator } from '../../../engine/config/schema-validator';
import { estimateMemory, formatBytes } from '../../../engine/config/memory-estimate';
import type { Experiment, ExperimentInput } from '../../../schemas/generated/experiment';

const validator = createConfigValidator();
const resolve = (input: Partial<ExperimentInput>): Experiment => validator.resolveDefaults({ name: 'x', ...input } as ExperimentInput);

// bio-tiny defaults: V 1024, d 128, 4 layers, 4 heads, 2 kv heads (head_dim 32), SwiGLU 352, tied, context 256
const PER_LAYER = 128 * 128 + 64 * 128 + 64 * 128 + 128 * 128 + 3 * 352 * 128 + 2 * 128; // 184576
const PARAMS = 1024 * 128 + 4 * PER_LAYER + 128; // 869504
const LORA_PER_LAYER = 8 * (256 + 192 + 192 + 256 + 3 * 480); // 18688 (rank 8, all seven targets)

test('weights and LoRA of the bio-tiny preset match a hand count', () => {
  const e = estimateMemory(resolve({}));
  assert.equal(PARAMS, 869504);
  assert.equal(e.parts.weights, PARAMS * 4);
  assert.equal(e.parts.lora, LORA_PER_LAYER * 4 * 4);
  assert.equal(e.totalBytes, Object.values(e.parts).reduce((a, b) => a + b, 0));
});

test('one adapter per capability quadruples LoRA; dropping sft and grpo removes it', () => {
  const shared = estimateMemory(resolve({}));
  const per = estimateMemory(resolve({ lora: { adapters: 'per_capability' } }));
  assert.equal(per.parts.lora, shared.parts.lora * 4);
  const noLora = estimateMemory(resolve({ stages: ['synthesize', 'pretrain'] }));
  assert.equal(noLora.parts.lora, 0);
  assert.equal(noLora.parts.kvCache, 0);
  // pretrain trains every weight: gradient + two AdamW moments
  assert.equal(noLora.parts.optimizer, PARAMS * 4 * 3);
});

test('the KV cache counts every rollout of a GRPO step (2·L·kv·head_dim·prompts·G·s·4)', () => {
  const e = estimateMemory(resolve({ grpo: { prompts_per_step: 4, group_size: 8 } }));
  assert.equal(e.parts.kvCache, 2 * 4 * 2 * 32 * 32 * 256 * 4);
  const bigger = estimateMemory(resolve({ grpo: { prompts_per_step: 4, group_size: 16 } }));
  assert.equal(bigger.parts.kvCache, e.parts.kvCache * 2);
  assert.ok(bigger.parts.activations > e.parts.activations);
});

test('a Hugging Face checkpoint is sized from its config.json', () => {
  const config = resolve({ model: { path: 'models/qwen' }, stages: ['sft'] });
  const ckpt = { vocab_size: 151936, hidden_size: 896, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, intermediate_size: 4864, tie_word_embeddings: true };
  const e = estimateMemory(config, ckpt);
  // Qwen2-0.5B has ~494 M parameters (biases not counted here)
  const params = e.parts.weights / 4;
  assert.ok(params > 480e6 && params < 500e6, `params ${params}`);
  assert.equal(e.parts.kvCache, 0);
});

test('formatBytes uses binary units', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(3 * 2 ** 30), '3.0 GiB');
});

test('a Gemma or Qwen3 config.json without head_dim or tie_word_embeddings is sized with its family\'s defaults', () => {
  const config = resolve({ model: { path: './ckpt' }, stages: ['synthesize', 'sft'] });
  // Gemma-2-2B's shape: head_dim 256 (not 2304 / 8 = 288), embeddings tied — both by Gemma2Config's defaults
  const gemma = { model_type: 'gemma2', vocab_size: 256000, hidden_size: 2304, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 9216 };
  const explicit = estimateMemory(config, { ...gemma, head_dim: 256, tie_word_embeddings: true });
  assert.deepEqual(estimateMemory(config, gemma).parts, explicit.parts);
  assert.notDeepEqual(estimateMemory(config, { ...gemma, model_type: 'llama' }).parts, explicit.parts, 'a Llama of the same numbers is sized differently (head_dim 288, untied)');
  const qwen3 = { model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, intermediate_size: 3072 };
  assert.deepEqual(estimateMemory(config, qwen3).parts, estimateMemory(config, { ...qwen3, head_dim: 128, tie_word_embeddings: false }).parts);
});
