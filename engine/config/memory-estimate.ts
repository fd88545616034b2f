/**
 * A rough pre-launch estimate of a run's peak memory, shown by the language server (code lens / hover on
 * `model` and `grpo`) and compared with the machine's memory. Rough by design: it counts the big tensors
 * and ignores allocator slack, framework overhead and temporaries of single ops.
 *
 * Units: bytes. The engine trains in float32 on every backend (tfjs), so every value is 4 bytes, whatever
 * a checkpoint's `torch_dtype` says on disk.
 *
 *   weights      = P · 4, P from the dimensions (Llama layout: embeddings, per layer q/k/v/o + SwiGLU
 *                  gate/up/down + 2 RMSNorms, final norm, an untied LM head when not tied)
 *   lora         = Σ_targets r · (in + out) · layers · adapters · 4  (adapters = 4 when per capability)
 *   optimizer    = max over the listed training stages of trainable · 4 · (1 gradient + 2 AdamW moments)
 *                  + for sft/grpo, one extra LoRA-sized gradient per capability (the projection keeps
 *                  each capability's gradient until it combines them)
 *   activations  = max over training stages of L · s · b · h · (34 + 5·a·s/h) · 2
 *                  (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
 *                  Models", §4.1: bytes per layer at 2 bytes a value; ×2 for float32), plus the logits
 *                  s · b · V · 4 · 2 (values and their gradient)
 *   kvCache      = GRPO rollouts: 2 · L · kv_heads · head_dim · (prompts_per_step · group_size) · s · 4
 *
 * s is the context length (rollouts: the context length as well, since prompts + max_new_tokens fill it
 * at most), b the sequences in one forward pass: pretrain `batch_size`, sft `batch_per_capability`
 * (capabilities are processed one after another), grpo `prompts_per_step · group_size`.
 */
import { sizeDefaults } from '../core/model-families';
import { targetShapes } from './semantic';
import type { Experiment } from '../../schemas/generated/experiment';

/** The fields of a Hugging Face `config.json` the estimate reads (Llama/Qwen2 names). */
export interface CheckpointConfig {
  /** Decides the defaults of the fields below that the file leaves out (core/model-families.ts). */
  model_type?: string;
  vocab_size?: number;
  hidden_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  intermediate_size?: number;
  head_dim?: number;
  max_position_embeddings?: number;
  tie_word_embeddings?: boolean;
}

export interface MemoryParts {
  weights: number;
  lora: number;
  optimizer: number;
  activations: number;
  kvCache: number;
}

export interface MemoryEstimate {
  totalBytes: number;
  parts: MemoryParts;
}

const BYTES = 4; // float32
const CAPABILITY_COUNT = 4;

interface Dims {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  context: number;
  tied: boolean;
}

function dimsOf(config: Experiment, ckpt: CheckpointConfig | undefined): Dims {
  if ((config.model.path || config.model.hub) && ckpt) {
    const hidden = ckpt.hidden_size ?? 0;
    const heads = ckpt.num_attention_heads ?? 1;
    const family = sizeDefaults(ckpt.model_type);
    return {
      vocab: ckpt.vocab_size ?? 0,
      hidden,
      layers: ckpt.num_hidden_layers ?? 0,
      heads,
      kvHeads: ckpt.num_key_value_heads ?? heads,
      headDim: ckpt.head_dim ?? family.head_dim ?? hidden / heads,
      intermediate: ckpt.intermediate_size ?? 0,
      // rollouts and training batches are capped by the preset's context setting, not the model's maximum
      context: Math.min(config.model.dims.context_length, ckpt.max_position_embeddings ?? Infinity),
      tied: ckpt.tie_word_embeddings ?? family.tie_word_embeddings,
    };
  }
  const d = config.model.dims;
  return { vocab: d.vocab_size, hidden: d.hidden_size, layers: d.layers, heads: d.heads, kvHeads: d.kv_heads, headDim: d.hidden_size / d.heads, intermediate: d.intermediate_size, context: d.context_length, tied: d.tie_embeddings };
}

/** [out, in] of each LoRA-targetable matrix (the loader's rank check uses the same shapes). */
function matrixShapes(d: Dims): Record<string, [number, number]> {
  return targetShapes({ hidden_size: d.hidden, heads: d.heads, kv_heads: d.kvHeads, intermediate_size: d.intermediate, head_dim: d.headDim });
}

/** Parameter count of the base model. */
function parameterCount(d: Dims): number {
  const perLayer = Object.values(matrixShapes(d)).reduce((s, [o, i]) => s + o * i, 0) + 2 * d.hidden;
  return d.vocab * d.hidden * (d.tied ? 1 : 2) + d.layers * perLayer + d.hidden;
}

/** Korthikanti et al. 2022 activations of one forward+backward at float32, plus logits and their gradient. */
function activationBytes(d: Dims, batch: number, seq: number): number {
  const perLayer = seq * batch * d.hidden * (34 + (5 * d.heads * seq) / d.hidden) * 2;
  return d.layers * perLayer + seq * batch * d.vocab * BYTES * 2;
}

export function estimateMemory(config: Experiment, checkpointConfig?: CheckpointConfig): MemoryEstimate {
  const d = dimsOf(config, checkpointConfig);
  const stages = new Set(config.stages);
  const params = parameterCount(d);
  const weights = params * BYTES;

  const shapes = matrixShapes(d);
  const adapters = config.lora.adapters === 'per_capability' ? CAPABILITY_COUNT : 1;
  const loraParams = config.lora.target_modules.reduce((s, t) => s + config.lora.rank * (shapes[t]![0] + shapes[t]![1]), 0) * d.layers * adapters;
  const usesLora = stages.has('sft') || stages.has('grpo');
  const lora = usesLora ? loraParams * BYTES : 0;

  // gradient + AdamW m and v for whatever a stage trains; sft/grpo also hold one gradient per capability
  const optimizerPretrain = stages.has('pretrain') && !config.model.path && !config.model.hub ? params * BYTES * 3 : 0;
  const optimizerLora = usesLora ? loraParams * BYTES * (3 + CAPABILITY_COUNT) : 0;
  const optimizer = Math.max(optimizerPretrain, optimizerLora);

  const seq = d.context;
  const rolloutBatch = config.grpo.prompts_per_step * config.grpo.group_size;
  const activations = Math.max(
    stages.has('pretrain') && !config.model.path && !config.model.hub ? activationBytes(d, config.pretrain.batch_size, seq) : 0,
    stages.has('sft') ? activationBytes(d, config.sft.batch_per_capability, seq) : 0,
    stages.has('grpo') ? activationBytes(d, rolloutBatch, seq) : 0,
  );
  const kvCache = stages.has('grpo') ? 2 * d.layers * d.kvHeads * d.headDim * rolloutBatch * seq * BYTES : 0;

  const parts: MemoryParts = { weights, lora, optimizer, activations, kvCache };
  const totalBytes = weights + lora + optimizer + activations + kvCache;
  return { totalBytes, parts };
}

/** `1.2 GiB`, `340 MiB`, `12 KiB`: binary units, about three significant digits. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 || u === 0 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}
