/**
 * One Llama-style decoder (Touvron et al. 2023) used by the bio-tiny preset and by local Hugging Face
 * checkpoints: RMSNorm (Zhang & Sennrich 2019), rotary positions (Su et al. 2021), SwiGLU MLP
 * (Shazeer 2020), grouped-query attention (Ainslie et al. 2023), optional q/k/v bias (Qwen2), tied or
 * untied embeddings, rope_scaling (linear, llama3); and the variations of Qwen3, Mistral and Gemma 2/3
 * as rows of ARCHITECTURES. Parameter names, layouts ([out, in] for projections) and config.json keys
 * follow Hugging Face's <Type>Config classes so checkpoints move both ways.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import writeFileAtomic from 'write-file-atomic';
import type { Experiment } from '../../schemas/generated/experiment';
import { SIZE_DEFAULTS } from '../core/model-families';
import { BbioError } from '../util/errors';
import type { Rng } from '../util/rng';
import { attentionCore, crossEntropy, embedding, geluTanh, linear, linearFrozen, rmsNorm, rope, ropeTablesFrom, silu, softcap } from './ops';
import { readCheckpointWeights, writeSafetensors, type TensorMap } from './safetensors';

/** The Hugging Face `model_type`s this decoder runs (one row each in ARCHITECTURES). */
export const MODEL_TYPES = ['llama', 'qwen2', 'qwen3', 'mistral', 'gemma2', 'gemma3_text'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** config.json of a supported model (the keys we read and write; others are kept verbatim). */
export interface LlamaConfig {
  architectures: string[];
  model_type: ModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  /** Llama, Qwen3, Gemma: bias on q, k, v and o. Qwen2 always has q/k/v bias and no o bias (key absent). */
  attention_bias?: boolean;
  mlp_bias?: boolean;
  hidden_act: string;
  /** Gemma's name for the MLP activation (it wins over hidden_act there, as in Gemma2MLP). */
  hidden_activation?: string;
  initializer_range?: number;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  torch_dtype?: string;
  rope_scaling?: RopeScaling | null;
  /** Attention span of sliding layers: key j is seen from query i when i − window < j ≤ i. null: none. */
  sliding_window?: number | null;
  /** Qwen2/3: sliding attention only when true, and then only from layer max_window_layers on. */
  use_sliding_window?: boolean;
  max_window_layers?: number;
  /** Explicit per-layer attention kinds (newer transformers write it); else derived per family. */
  layer_types?: LayerType[];
  /** Gemma: queries scaled by query_pre_attn_scalar^−½ instead of head_dim^−½. */
  query_pre_attn_scalar?: number;
  /** Gemma 2: cap·tanh(x / cap) on attention scores and on the output logits (null: off). */
  attn_logit_softcapping?: number | null;
  final_logit_softcapping?: number | null;
  /** Gemma 3: RoPE base of the sliding layers (the global ones use rope_theta and rope_scaling). */
  rope_local_base_freq?: number;
  /** Gemma 3: every sliding_window_pattern-th layer is global. */
  sliding_window_pattern?: number;
  [key: string]: unknown;
}

export type LayerType = 'full_attention' | 'sliding_attention';

/** Hugging Face `rope_scaling` (ROPE_INIT_FUNCTIONS); `type` is the older spelling of `rope_type`. */
export interface RopeScaling {
  rope_type?: string;
  type?: string;
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

/**
 * What differs between the families, read off Hugging Face's modeling_<type>.py and <Type>Config:
 * - Llama (Touvron et al. 2023): the baseline below.
 * - Qwen2 (Yang et al. 2024): q/k/v bias, no o bias.
 * - Qwen3 (Yang et al. 2025): no biases by default; RMSNorm over each head of q and k before RoPE.
 * - Mistral (Jiang et al. 2023): sliding-window attention on every layer when `sliding_window` is set.
 * - Gemma 2 (Team et al. 2024): RMSNorm scaling by (1 + w), norms after attention and around the MLP,
 *   embeddings × √D, GELU-tanh MLP, queries scaled by query_pre_attn_scalar^−½, soft-capped attention
 *   scores and logits, sliding (even) and global (odd) layers alternating.
 * - Gemma 3 (Team et al. 2025): Gemma 2 without soft-capping, with (1 + w) q/k norms, five sliding layers
 *   per global one, and a separate RoPE base (rope_local_base_freq) on the sliding layers.
 */
interface Architecture {
  className: string;
  /** Bias of q/k/v and of o, given the config. */
  qkvBias: (c: LlamaConfig) => boolean;
  oBias: (c: LlamaConfig) => boolean;
  /** RMSNorm over head_dim of every q and k head, before RoPE. */
  qkNorm: boolean;
  /** The Gemma block: (1 + w) norms, sandwich norms, √D embeddings, query_pre_attn_scalar, GELU-tanh. */
  gemma: boolean;
  /** Keys filled when config.json lacks them: the <Type>Config defaults (null is kept: "off"). */
  defaults: Partial<LlamaConfig>;
  /** Per-layer attention kind when config.json has no layer_types (the <Type>Config rule). */
  layerTypes: (c: LlamaConfig) => LayerType[];
}

const allFull = (c: LlamaConfig): LayerType[] => new Array<LayerType>(c.num_hidden_layers).fill('full_attention');
/** Qwen2Config/Qwen3Config: sliding from layer max_window_layers on, only with use_sliding_window. */
const qwenLayers = (c: LlamaConfig): LayerType[] =>
  allFull(c).map((t, i) => (c.use_sliding_window && c.sliding_window != null && i >= (c.max_window_layers ?? 0) ? 'sliding_attention' : t));
/** Every layer (i + 1) % pattern ≠ 0 is sliding: Gemma 2 alternates (pattern 2), Gemma 3 uses 6. */
const patternLayers = (pattern: (c: LlamaConfig) => number) => (c: LlamaConfig): LayerType[] =>
  allFull(c).map((_, i) => ((i + 1) % pattern(c) !== 0 ? 'sliding_attention' : 'full_attention'));

const GEMMA_DEFAULTS: Partial<LlamaConfig> = {
  ...SIZE_DEFAULTS['gemma2'], query_pre_attn_scalar: 256, sliding_window: 4096,
  hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 8192,
};

const ARCHITECTURES: Record<ModelType, Architecture> = {
  llama: {
    className: 'LlamaForCausalLM', qkvBias: (c) => Boolean(c.attention_bias), oBias: (c) => Boolean(c.attention_bias),
    qkNorm: false, gemma: false, defaults: {}, layerTypes: allFull,
  },
  qwen2: {
    className: 'Qwen2ForCausalLM', qkvBias: () => true, oBias: () => false,
    qkNorm: false, gemma: false, defaults: { use_sliding_window: false, sliding_window: 4096, max_window_layers: 28 }, layerTypes: qwenLayers,
  },
  qwen3: {
    className: 'Qwen3ForCausalLM', qkvBias: (c) => Boolean(c.attention_bias), oBias: (c) => Boolean(c.attention_bias),
    qkNorm: true, gemma: false, defaults: { ...SIZE_DEFAULTS['qwen3'], use_sliding_window: false, sliding_window: 4096, max_window_layers: 28 }, layerTypes: qwenLayers,
  },
  mistral: {
    className: 'MistralForCausalLM', qkvBias: () => false, oBias: () => false,
    qkNorm: false, gemma: false, defaults: { sliding_window: 4096 },
    layerTypes: (c) => allFull(c).map((t) => (c.sliding_window != null ? 'sliding_attention' : t)),
  },
  gemma2: {
    className: 'Gemma2ForCausalLM', qkvBias: (c) => Boolean(c.attention_bias), oBias: (c) => Boolean(c.attention_bias),
    qkNorm: false, gemma: true, defaults: { ...GEMMA_DEFAULTS, attn_logit_softcapping: 50, final_logit_softcapping: 30 },
    layerTypes: patternLayers(() => 2),
  },
  gemma3_text: {
    className: 'Gemma3ForCausalLM', qkvBias: (c) => Boolean(c.attention_bias), oBias: (c) => Boolean(c.attention_bias),
    qkNorm: true, gemma: true,
    defaults: {
      ...GEMMA_DEFAULTS, max_position_embeddings: 131072, rope_theta: 1_000_000, rope_local_base_freq: 10_000,
      attn_logit_softcapping: null, final_logit_softcapping: null, sliding_window_pattern: 6,
    },
    layerTypes: patternLayers((c) => c.sliding_window_pattern ?? 6),
  },
};

/** MLP activations by Hugging Face ACT2FN name. */
const ACTIVATIONS: Record<string, <R extends tf.Rank>(x: tf.Tensor<R>) => tf.Tensor<R>> = {
  silu,
  gelu_pytorch_tanh: geluTanh,
};

export function architectureOf(c: LlamaConfig): Architecture {
  return ARCHITECTURES[c.model_type];
}

/** The activation the MLP applies to its gate (Gemma reads hidden_activation first). */
function activationName(c: LlamaConfig): string {
  return (architectureOf(c).gemma ? c.hidden_activation ?? c.hidden_act : c.hidden_act) ?? 'silu';
}

export interface LayerPlan {
  /** Sliding-window span, or null for full causal attention. */
  window: number | null;
  /** Which RoPE tables the layer uses: Gemma 3's sliding layers have their own base. */
  rope: 'global' | 'local';
}

/** Attention kind, window and RoPE table of every layer. */
export function layerPlans(c: LlamaConfig): LayerPlan[] {
  const types = c.layer_types ?? architectureOf(c).layerTypes(c);
  return types.map((t) => {
    const sliding = t === 'sliding_attention' && c.sliding_window != null;
    return { window: sliding ? c.sliding_window! : null, rope: sliding && c.rope_local_base_freq != null ? 'local' : 'global' };
  });
}

/**
 * Rotary inverse frequencies inv_freq_i = θ^(−2i/hd) (Su et al. 2021) after rope_scaling, as Hugging Face's
 * ROPE_INIT_FUNCTIONS compute them: `linear` divides every frequency by `factor` (Chen et al. 2023, position
 * interpolation); `llama3` divides the low frequencies by `factor`, keeps the high ones, and blends linearly
 * between `low_freq_factor` and `high_freq_factor` (Meta's Llama 3.1). → [hd/2], float64
 */
export function ropeInvFreq(hd: number, theta: number, scaling: RopeScaling | null | undefined, file = 'config.json'): Float64Array {
  const inv = new Float64Array(hd / 2).map((_, i) => Math.pow(theta, (-2 * i) / hd)); // [hd/2]
  if (scaling == null) return inv;
  const kind = scaling.rope_type ?? scaling.type;
  const factor = scaling.factor ?? 1;
  if (kind === 'default') return inv;
  if (kind === 'linear') return inv.map((f) => f / factor);
  if (kind === 'llama3') {
    const low = Number(scaling.low_freq_factor), high = Number(scaling.high_freq_factor);
    const oldCtx = Number(scaling.original_max_position_embeddings);
    if (![low, high, oldCtx].every(Number.isFinite)) {
      throw new BbioError('E_CHECKPOINT', `${file}: rope_scaling of type "llama3" needs low_freq_factor, high_freq_factor and original_max_position_embeddings`, { file });
    }
    return inv.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      const scaled = wavelen > oldCtx / low ? f / factor : f; // long wavelengths: interpolated
      if (wavelen < oldCtx / high || wavelen > oldCtx / low) return scaled;
      const smooth = (oldCtx / wavelen - low) / (high - low); // 0 at the low band edge, 1 at the high one
      return (1 - smooth) * scaled / factor + smooth * scaled;
    });
  }
  throw new BbioError('E_CHECKPOINT', `${file}: rope_scaling type "${kind}" is not supported (linear, llama3)`, { file },
    'use a checkpoint without this rope_scaling, or ask for the type in an issue');
}

export interface LlamaModel {
  config: LlamaConfig;
  /** Hugging Face parameter name → variable. A tied model has no `lm_head.weight` entry. */
  params: Map<string, tf.Variable>;
  /** RoPE tables for every position: [max_position_embeddings, head_dim]. */
  ropeCos: tf.Tensor2D;
  ropeSin: tf.Tensor2D;
  /** Gemma 3's sliding layers: tables with rope_local_base_freq and no scaling (else absent). */
  ropeLocal?: { cos: tf.Tensor2D; sin: tf.Tensor2D };
  /** Window and RoPE table of each layer. */
  layers: LayerPlan[];
}

/** Adds the LoRA delta (or anything else) to the output of a projection. */
export type LinearHook = (module: string, x: tf.Tensor2D, y: tf.Tensor2D) => tf.Tensor2D;

export interface ForwardOptions {
  /** Base weights get no gradient (LoRA training, inference): skips the dW matmuls. */
  freezeBase?: boolean;
  /** Called after every target projection with its input and output (LoRA). */
  hook?: LinearHook;
  /**
   * Attention kernel layout: `grouped` runs one 2-D matmul per (batch, kv-head) group with a hand-written
   * backward; `batched` uses tfjs's batched matmul and autodiff (slow path on wasm, but no per-group call
   * overhead). Default: grouped when a group has ≥ 32 query rows (training, prompts), batched otherwise
   * (one-token decoding steps).
   */
  attention?: 'grouped' | 'batched';
}

/** Per-layer key/value cache for incremental decoding. Tensors are kept; call disposeKvCache. */
export interface KvCache {
  k: tf.Tensor4D[]; // each [B, KV, L, hd]
  v: tf.Tensor4D[]; // each [B, KV, L, hd]
  length: number;
}

export function headDim(c: LlamaConfig): number {
  return c.head_dim ?? c.hidden_size / c.num_attention_heads;
}

/** Validates a config and fills defaults; throws E_CHECKPOINT / E_MODEL_DIMS naming the field. */
export function normalizeConfig(raw: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const c = { ...raw } as LlamaConfig;
  const type = String(c.model_type ?? 'llama');
  if (!(MODEL_TYPES as readonly string[]).includes(type)) {
    const hint = type === 'gemma3' ? 'gemma3 is the vision-language wrapper: use its language model (model_type gemma3_text)' : undefined;
    throw new BbioError('E_CHECKPOINT', `${file}: model_type "${type}" is not supported (${MODEL_TYPES.join(', ')})`, { file }, hint);
  }
  c.model_type = type as ModelType;
  const arch = ARCHITECTURES[c.model_type];
  for (const [key, value] of Object.entries(arch.defaults)) if (!(key in c)) c[key] = value;
  for (const key of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'] as const) {
    if (!Number.isInteger(c[key]) || (c[key] as number) <= 0) {
      throw new BbioError('E_CHECKPOINT', `${file}: ${key} must be a positive integer`, { file });
    }
  }
  c.num_key_value_heads ??= c.num_attention_heads;
  c.max_position_embeddings ??= 2048;
  c.rms_norm_eps ??= 1e-6;
  c.rope_theta ??= 10000;
  c.tie_word_embeddings ??= false;
  c.hidden_act ??= 'silu';
  c.architectures ??= [arch.className];
  const act = activationName(c);
  if (!(act in ACTIVATIONS)) {
    const key = arch.gemma && c.hidden_activation != null ? 'hidden_activation' : 'hidden_act';
    throw new BbioError('E_CHECKPOINT', `${file}: ${key} "${act}" is not supported (${Object.keys(ACTIVATIONS).join(', ')})`, { file });
  }
  ropeInvFreq(2, c.rope_theta, c.rope_scaling, file); // rejects an unknown rope_scaling at load time
  if (c.mlp_bias) throw new BbioError('E_CHECKPOINT', `${file}: mlp_bias is not supported`, { file });
  if (c.sliding_window != null && !(Number.isInteger(c.sliding_window) && c.sliding_window > 0)) {
    throw new BbioError('E_CHECKPOINT', `${file}: sliding_window must be a positive integer or null`, { file });
  }
  if (c.layer_types != null) {
    const ok = Array.isArray(c.layer_types) && c.layer_types.length === c.num_hidden_layers
      && c.layer_types.every((t) => t === 'full_attention' || t === 'sliding_attention');
    if (!ok) {
      throw new BbioError('E_CHECKPOINT', `${file}: layer_types must list "full_attention" or "sliding_attention" for each of the ${c.num_hidden_layers} layers`, { file });
    }
  }
  for (const key of ['attn_logit_softcapping', 'final_logit_softcapping'] as const) {
    if (c[key] != null && !arch.gemma) throw new BbioError('E_CHECKPOINT', `${file}: ${key} is not supported for model_type ${type}`, { file });
  }
  if (c.num_attention_heads % c.num_key_value_heads !== 0) {
    throw new BbioError('E_MODEL_DIMS', `${file}: num_key_value_heads (${c.num_key_value_heads}) must divide num_attention_heads (${c.num_attention_heads})`, { file });
  }
  const hd = headDim(c);
  if (!Number.isInteger(hd) || hd % 2 !== 0) {
    throw new BbioError('E_MODEL_DIMS', `${file}: head dimension ${hd} must be an even integer`, { file });
  }
  return c;
}

/** The bio-tiny preset: `model.dims` of the experiment as a Hugging Face LlamaConfig. */
export function bioTinyConfig(
  dims: Experiment['model']['dims'],
  special: { bosId: number; eosId: number; padId: number },
): LlamaConfig {
  return normalizeConfig({
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: dims.vocab_size,
    hidden_size: dims.hidden_size,
    intermediate_size: dims.intermediate_size,
    num_hidden_layers: dims.layers,
    num_attention_heads: dims.heads,
    num_key_value_heads: dims.kv_heads,
    max_position_embeddings: dims.context_length,
    rms_norm_eps: 1e-5,
    rope_theta: dims.rope_theta,
    tie_word_embeddings: dims.tie_embeddings,
    attention_bias: false,
    mlp_bias: false,
    hidden_act: 'silu',
    initializer_range: 0.02,
    bos_token_id: special.bosId,
    eos_token_id: special.eosId,
    pad_token_id: special.padId,
    torch_dtype: 'float32',
  });
}


/** Every parameter the config implies, with its shape, in a stable order. */
export function parameterShapes(c: LlamaConfig): Array<[string, number[]]> {
  const arch = architectureOf(c);
  const d = c.hidden_size;
  const hd = headDim(c);
  const qOut = c.num_attention_heads * hd;
  const kvOut = c.num_key_value_heads * hd;
  const out: Array<[string, number[]]> = [['model.embed_tokens.weight', [c.vocab_size, d]]];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [d]]);
    out.push([`${p}.self_attn.q_proj.weight`, [qOut, d]]);
    out.push([`${p}.self_attn.k_proj.weight`, [kvOut, d]]);
    out.push([`${p}.self_attn.v_proj.weight`, [kvOut, d]]);
    if (arch.qkvBias(c)) {
      out.push([`${p}.self_attn.q_proj.bias`, [qOut]]);
      out.push([`${p}.self_attn.k_proj.bias`, [kvOut]]);
      out.push([`${p}.self_attn.v_proj.bias`, [kvOut]]);
    }
    if (arch.qkNorm) {
      out.push([`${p}.self_attn.q_norm.weight`, [hd]]);
      out.push([`${p}.self_attn.k_norm.weight`, [hd]]);
    }
    out.push([`${p}.self_attn.o_proj.weight`, [d, qOut]]);
    if (arch.oBias(c)) out.push([`${p}.self_attn.o_proj.bias`, [d]]);
    out.push([`${p}.post_attention_layernorm.weight`, [d]]);
    if (arch.gemma) {
      out.push([`${p}.pre_feedforward_layernorm.weight`, [d]]);
      out.push([`${p}.post_feedforward_layernorm.weight`, [d]]);
    }
    out.push([`${p}.mlp.gate_proj.weight`, [c.intermediate_size, d]]);
    out.push([`${p}.mlp.up_proj.weight`, [c.intermediate_size, d]]);
    out.push([`${p}.mlp.down_proj.weight`, [d, c.intermediate_size]]);
  }
  out.push(['model.norm.weight', [d]]);
  if (!c.tie_word_embeddings) out.push(['lm_head.weight', [c.vocab_size, d]]);
  return out;
}

function makeModel(config: LlamaConfig, values: Map<string, { shape: number[]; data: Float32Array }>): LlamaModel {
  const hd = headDim(config);
  const P = config.max_position_embeddings;
  const tables = ropeTablesFrom(P, ropeInvFreq(hd, config.rope_theta, config.rope_scaling));
  const layers = layerPlans(config);
  // HF Gemma 3 builds its local rotary embedding from a copy of the config with rope_local_base_freq and "default" rope.
  const local = layers.some((l) => l.rope === 'local') ? ropeTablesFrom(P, ropeInvFreq(hd, config.rope_local_base_freq!, null)) : null;
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const v = values.get(name)!;
    // tfjs variable names are process-global, so let tfjs number them; the map holds the HF name.
    params.set(name, tf.variable(tf.tensor(v.data, shape), true));
  }
  return {
    config,
    params,
    ropeCos: tf.keep(tf.tensor2d(tables.cos, [P, hd])),
    ropeSin: tf.keep(tf.tensor2d(tables.sin, [P, hd])),
    ...(local ? { ropeLocal: { cos: tf.keep(tf.tensor2d(local.cos, [P, hd])), sin: tf.keep(tf.tensor2d(local.sin, [P, hd])) } } : {}),
    layers,
  };
}

/**
 * A freshly initialised model: weights ~ N(0, initializer_range²) as in Hugging Face's
 * `_init_weights`, with the residual output projections (o_proj, down_proj) scaled by 1/√(2·layers)
 * (GPT-2, Radford et al. 2019), norms the identity (w = 1, or w = 0 for Gemma's (1 + w)), biases 0.
 */
export function initLlama(config: LlamaConfig, rng: Rng): LlamaModel {
  const std = config.initializer_range ?? 0.02;
  const residualStd = std / Math.sqrt(2 * config.num_hidden_layers);
  const identityNorm = architectureOf(config).gemma ? 0 : 1;
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) data.fill(identityNorm);
    else if (name.endsWith('.weight')) {
      const s = /o_proj|down_proj/.test(name) ? residualStd : std;
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * s;
    }
    values.set(name, { shape, data });
  }
  return makeModel(config, values);
}

/** Builds a model from a config and host tensors (checks every name and shape). */
export function modelFromTensors(config: LlamaConfig, tensors: TensorMap, where = 'checkpoint'): LlamaModel {
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(config)) {
    const t = tensors.get(name);
    if (!t) throw new BbioError('E_CHECKPOINT', `${where}: missing tensor "${name}"`, { file: where });
    if (t.shape.join(',') !== shape.join(',')) {
      throw new BbioError('E_CHECKPOINT', `${where}: tensor "${name}" has shape [${t.shape}], config implies [${shape}]`, { file: where });
    }
    values.set(name, t);
  }
  return makeModel(config, values);
}

/** Loads a Hugging Face checkpoint directory (config.json + model.safetensors or a sharded index). */
export function loadLlama(dir: string): LlamaModel {
  const cfgFile = path.join(dir, 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new BbioError('E_CHECKPOINT', `cannot read ${cfgFile}`, { file: cfgFile }, 'a checkpoint directory needs config.json', { cause: e });
  }
  const config = normalizeConfig(raw, cfgFile);
  return modelFromTensors(config, readCheckpointWeights(dir), dir);
}

/** Host copies of all parameters, by Hugging Face name. */
export function modelTensors(model: LlamaModel): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, v] of model.params) out.set(name, { shape: [...v.shape], data: v.dataSync() as Float32Array });
  return out;
}

/** Writes config.json and model.safetensors (F32; a tied model stores no lm_head.weight, as HF does). */
export async function saveLlama(model: LlamaModel, dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  await writeSafetensors(path.join(dir, 'model.safetensors'), modelTensors(model), { format: 'pt' });
  await writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(model.config, null, 2) + '\n');
}

export function disposeModel(model: LlamaModel): void {
  for (const v of model.params.values()) v.dispose();
  model.ropeCos.dispose();
  model.ropeSin.dispose();
  model.ropeLocal?.cos.dispose();
  model.ropeLocal?.sin.dispose();
}

export function countParameters(model: LlamaModel): number {
  let n = 0;
  for (const v of model.params.values()) n += v.size;
  return n;
}

function param(model: LlamaModel, name: string): tf.Variable {
  const v = model.params.get(name);
  if (!v) throw new BbioError('E_INTERNAL', `model has no parameter "${name}"`);
  return v;
}

/** A projection `module` (e.g. model.layers.0.self_attn.q_proj) applied to x: [N, in] → [N, out]. */
function project(model: LlamaModel, module: string, x: tf.Tensor2D, opts: ForwardOptions): tf.Tensor2D {
  const w = param(model, `${module}.weight`) as unknown as tf.Tensor2D;
  let y = opts.freezeBase ? linearFrozen(x, w) : linear(x, w); // [N, out]
  const bias = model.params.get(`${module}.bias`);
  if (bias) y = tf.add(y, bias); // [N, out]
  return opts.hook ? opts.hook(module, x, y) : y;
}

/**
 * Additive mask for queries at absolute positions past..past+tq−1 over keys 0..past+tq−1, repeated `rep`
 * times: causal, and with a window w also key j > i − w (Hugging Face's sliding_window_overlay).
 */
function attentionMask(tq: number, past: number, rep: number, window: number | null): tf.Tensor2D {
  const tk = past + tq;
  const m = new Float32Array(rep * tq * tk);
  for (let r = 0; r < rep; r++) {
    for (let i = 0; i < tq; i++) {
      const row = (r * tq + i) * tk;
      const pos = past + i;
      for (let j = 0; j < tk; j++) if (j > pos || (window !== null && j <= pos - window)) m[row + j] = -1e9;
    }
  }
  return tf.tensor2d(m, [rep * tq, tk]); // [rep·Tq, Tk]
}

/** The model's RMSNorm `name` on x: w ⊙ x̂, or (1 + w) ⊙ x̂ for Gemma (its weights are stored as w). x: [N, d] → [N, d] */
function norm(model: LlamaModel, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const w = param(model, name) as unknown as tf.Tensor1D;
  return rmsNorm(x, architectureOf(model.config).gemma ? tf.add(w, 1) : w, model.config.rms_norm_eps);
}

/** Per-head RMSNorm over head_dim (Qwen3, Gemma 3 q_norm / k_norm). x: [B, T, heads, hd] → same */
function headNorm(model: LlamaModel, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const [b, t, h, hd] = x.shape;
  return tf.reshape(norm(model, name, tf.reshape(x, [b * t * h, hd]) as tf.Tensor2D), [b, t, h, hd]) as tf.Tensor4D; // [B, T, heads, hd]
}

/**
 * Decoder trunk. ids: row-major [B, T]; positions start at `cache.length` when a cache is given (the
 * cache is then extended in place with kept tensors). Returns the final hidden states after model.norm.
 * → [B·T, D]
 */
export function forwardHidden(
  model: LlamaModel,
  ids: Int32Array,
  batch: number,
  opts: ForwardOptions & { cache?: KvCache } = {},
): tf.Tensor2D {
  const c = model.config;
  const arch = architectureOf(c);
  const seq = ids.length / batch;
  if (!Number.isInteger(seq) || seq < 1) throw new BbioError('E_INTERNAL', `ids length ${ids.length} is not a multiple of batch ${batch}`);
  const past = opts.cache?.length ?? 0;
  if (past + seq > c.max_position_embeddings) {
    throw new BbioError('E_USAGE', `sequence of ${past + seq} tokens exceeds the context length ${c.max_position_embeddings}`);
  }
  const H = c.num_attention_heads;
  const KV = c.num_key_value_heads;
  const rep = H / KV;
  const hd = headDim(c);
  const N = batch * seq;
  const tables = (which: LayerPlan['rope']) => {
    const t = which === 'local' ? model.ropeLocal! : { cos: model.ropeCos, sin: model.ropeSin };
    return {
      cos: tf.reshape(tf.slice(t.cos, [past, 0], [seq, hd]), [seq, 1, hd]) as tf.Tensor3D, // [T, 1, hd]
      sin: tf.reshape(tf.slice(t.sin, [past, 0], [seq, hd]), [seq, 1, hd]) as tf.Tensor3D, // [T, 1, hd]
    };
  };
  const ropes = { global: tables('global'), ...(model.ropeLocal ? { local: tables('local') } : {}) };
  // One mask per distinct window (full layers: null).
  const masks = new Map<number | null, tf.Tensor2D>();
  for (const plan of model.layers) if (!masks.has(plan.window)) masks.set(plan.window, attentionMask(seq, past, rep, plan.window)); // [rep·T, Tk]
  // Gemma scales queries by query_pre_attn_scalar^−½, the others by head_dim^−½ (Vaswani et al. 2017).
  const qScale = 1 / Math.sqrt(arch.gemma ? c.query_pre_attn_scalar ?? hd : hd);
  const cap = c.attn_logit_softcapping ?? undefined;
  const act = ACTIVATIONS[activationName(c)]!;

  let x = embedding(ids, param(model, 'model.embed_tokens.weight') as unknown as tf.Tensor2D); // [N, D]
  // Gemma multiplies embeddings by √D, rounded to the activations' dtype (HF's `normalizer`).
  if (arch.gemma) x = tf.mul(x, Math.fround(Math.sqrt(c.hidden_size))); // [N, D]
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const plan = model.layers[l]!;
    const { cos, sin } = ropes[plan.rope]!;
    const mask = masks.get(plan.window)!;
    // Attention block (pre-norm).
    const h = norm(model, `${p}.input_layernorm.weight`, x); // [N, D]
    let q0 = tf.reshape(project(model, `${p}.self_attn.q_proj`, h, opts), [batch, seq, H, hd]) as tf.Tensor4D; // [B, T, H, hd]
    let k0 = tf.reshape(project(model, `${p}.self_attn.k_proj`, h, opts), [batch, seq, KV, hd]) as tf.Tensor4D; // [B, T, KV, hd]
    const v0 = tf.reshape(project(model, `${p}.self_attn.v_proj`, h, opts), [batch, seq, KV, hd]) as tf.Tensor4D; // [B, T, KV, hd]
    if (arch.qkNorm) {
      q0 = headNorm(model, `${p}.self_attn.q_norm.weight`, q0); // [B, T, H, hd]
      k0 = headNorm(model, `${p}.self_attn.k_norm.weight`, k0); // [B, T, KV, hd]
    }
    // Scaled dot-product attention (Vaswani et al. 2017); the scale folded into q (fewer elements than scores).
    const q = tf.mul(tf.transpose(rope(q0, cos, sin), [0, 2, 1, 3]), qScale) as tf.Tensor4D; // [B, H, T, hd]
    let k = tf.transpose(rope(k0, cos, sin), [0, 2, 1, 3]) as tf.Tensor4D; // [B, KV, T, hd]
    let v = tf.transpose(v0, [0, 2, 1, 3]) as tf.Tensor4D; // [B, KV, T, hd]
    if (opts.cache) {
      const cache = opts.cache;
      if (past > 0) {
        k = tf.concat([cache.k[l]!, k], 2); // [B, KV, Tk, hd]
        v = tf.concat([cache.v[l]!, v], 2); // [B, KV, Tk, hd]
        cache.k[l]!.dispose();
        cache.v[l]!.dispose();
      }
      cache.k[l] = tf.keep(k);
      cache.v[l] = tf.keep(v);
    }
    // GQA (Ainslie et al. 2023): heads kv·rep … kv·rep+rep−1 share kv head `kv` (HF repeat_kv order), so
    // grouping q as [B, KV, rep·T, hd] attends without copying k and v rep times.
    const tk = past + seq;
    let att: tf.Tensor; // [B, H, T, hd]
    const grouped = opts.attention ? opts.attention === 'grouped' : rep * seq >= 32;
    if (!grouped) {
      const qg = tf.reshape(q, [batch, KV, rep * seq, hd]) as tf.Tensor4D; // [B, KV, rep·T, hd]
      const scores = tf.matMul(qg, k, false, true); // [B, KV, rep·T, Tk]
      const probs = tf.softmax(tf.add(cap === undefined ? scores : softcap(scores, cap), mask)); // [B, KV, rep·T, Tk]
      att = tf.reshape(tf.matMul(probs, v), [batch, H, seq, hd]); // [B, H, T, hd]
    } else {
      const qg = tf.reshape(q, [batch * KV, rep * seq, hd]) as tf.Tensor3D; // [B·KV, rep·T, hd]
      const kg = tf.reshape(k, [batch * KV, tk, hd]) as tf.Tensor3D; // [B·KV, Tk, hd]
      const vg = tf.reshape(v, [batch * KV, tk, hd]) as tf.Tensor3D; // [B·KV, Tk, hd]
      att = tf.reshape(attentionCore(qg, kg, vg, mask, cap), [batch, H, seq, hd]); // [B, H, T, hd]
    }
    const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [N, H * hd]) as tf.Tensor2D; // [N, H·hd]
    let attnOut = project(model, `${p}.self_attn.o_proj`, merged, opts); // [N, D]
    // Gemma's sandwich: a norm after attention and after the MLP; its MLP input norm is pre_feedforward_layernorm.
    if (arch.gemma) attnOut = norm(model, `${p}.post_attention_layernorm.weight`, attnOut); // [N, D]
    x = tf.add(x, attnOut); // [N, D]
    // Gated MLP (Shazeer 2020): down(act(gate(h)) ⊙ up(h)); SwiGLU with silu, GeGLU with gelu.
    const h2 = norm(model, arch.gemma ? `${p}.pre_feedforward_layernorm.weight` : `${p}.post_attention_layernorm.weight`, x); // [N, D]
    const gate = project(model, `${p}.mlp.gate_proj`, h2, opts); // [N, I]
    const up = project(model, `${p}.mlp.up_proj`, h2, opts); // [N, I]
    let mlpOut = project(model, `${p}.mlp.down_proj`, tf.mul(act(gate), up), opts); // [N, D]
    if (arch.gemma) mlpOut = norm(model, `${p}.post_feedforward_layernorm.weight`, mlpOut); // [N, D]
    x = tf.add(x, mlpOut); // [N, D]
  }
  if (opts.cache) opts.cache.length = past + seq;
  return norm(model, 'model.norm.weight', x); // [N, D]
}

/**
 * Output projection of hidden states: [N, D] → logits [N, V] (tied models reuse embed_tokens), soft-capped
 * when the config says so (Gemma 2's final_logit_softcapping).
 */
export function lmHead(model: LlamaModel, hidden: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  const name = model.config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const w = param(model, name) as unknown as tf.Tensor2D;
  const logits = opts.freezeBase ? linearFrozen(hidden, w) : linear(hidden, w); // [N, V]
  const cap = model.config.final_logit_softcapping;
  return cap == null ? logits : softcap(logits, cap); // [N, V]
}

/** Logits for every position. ids: row-major [B, T] → [B·T, V] */
export function forwardLogits(model: LlamaModel, ids: Int32Array, batch: number, opts: ForwardOptions = {}): tf.Tensor2D {
  return lmHead(model, forwardHidden(model, ids, batch, opts), opts);
}

/** A batch for next-token training: inputs and targets row-major [B, T]; weights [B·T] sum to 1 (masked mean). */
export interface LmBatch {
  inputs: Int32Array;
  targets: Int32Array;
  weights: Float32Array;
  batch: number;
}

/** Builds an LmBatch from token rows of equal length T+1 (inputs = row[:-1], targets = row[1:]) and an optional loss mask [B, T]. */
export function makeLmBatch(rows: number[][] | Int32Array[], lossMask?: Float32Array): LmBatch {
  const B = rows.length;
  const T = rows[0]!.length - 1;
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  let total = 0;
  for (let b = 0; b < B; b++) {
    const r = rows[b]!;
    if (r.length !== T + 1) throw new BbioError('E_INTERNAL', `batch rows must have equal length (${r.length} vs ${T + 1})`);
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = r[t]!;
      targets[b * T + t] = r[t + 1]!;
      const m = lossMask ? lossMask[b * T + t]! : 1;
      weights[b * T + t] = m;
      total += m;
    }
  }
  if (total > 0) for (let i = 0; i < weights.length; i++) weights[i]! /= total;
  return { inputs, targets, weights, batch: B };
}

/** Mean next-token cross-entropy of a batch (weights as in LmBatch). → scalar */
export function lmLoss(model: LlamaModel, b: LmBatch, opts: ForwardOptions = {}): tf.Scalar {
  const logits = forwardLogits(model, b.inputs, b.batch, opts); // [B·T, V]
  return crossEntropy(logits, b.targets, b.weights); // []
}

export function createKvCache(model: LlamaModel): KvCache {
  return { k: new Array(model.config.num_hidden_layers), v: new Array(model.config.num_hidden_layers), length: 0 };
}

export function disposeKvCache(cache: KvCache): void {
  for (const t of [...cache.k, ...cache.v]) t?.dispose();
  cache.length = 0;
}

/**
 * Feeds `ids` (row-major [B, Tnew]) through the model with a KV cache and returns the logits of the last
 * new position of each row as host data: [B, V] row-major.
 */
export function decodeStep(model: LlamaModel, ids: Int32Array, batch: number, cache: KvCache, opts: ForwardOptions = {}): Float32Array {
  return tf.tidy(() => {
    const seq = ids.length / batch;
    const hidden = forwardHidden(model, ids, batch, { ...opts, freezeBase: true, cache }); // [B·T, D]
    const last = tf.reshape(
      tf.slice(tf.reshape(hidden, [batch, seq, model.config.hidden_size]), [0, seq - 1, 0], [batch, 1, model.config.hidden_size]),
      [batch, model.config.hidden_size],
    ) as tf.Tensor2D; // [B, D]
    return lmHead(model, last, { freezeBase: true }).dataSync() as Float32Array; // [B, V]
  });
}
