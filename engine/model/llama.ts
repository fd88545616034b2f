/**
 * One Llama-style decoder (Touvron et al. 2023) used by the bio-tiny preset and by local Hugging Face
 * checkpoints: RMSNorm (Zhang & Sennrich 2019), rotary positions (Su et al. 2021), SwiGLU MLP
 * (Shazeer 2020), grouped-query attention (Ainslie et al. 2023), optional q/k/v bias (Qwen2), tied or
 * untied embeddings. Parameter names, layouts ([out, in] for projections) and config.json keys follow
 * Hugging Face's LlamaConfig / Qwen2Config so checkpoints move both ways.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import writeFileAtomic from 'write-file-atomic';
import type { Experiment } from '../../schemas/generated/experiment';
import { BbioError } from '../util/errors';
import type { Rng } from '../util/rng';
import { attentionCore, crossEntropy, embedding, linear, linearFrozen, rmsNorm, rope, ropeTables, silu } from './ops';
import { readCheckpointWeights, writeSafetensors, type TensorMap } from './safetensors';

/** config.json of a Llama or Qwen2 model (the keys we read and write; others are kept verbatim). */
export interface LlamaConfig {
  architectures: string[];
  model_type: 'llama' | 'qwen2';
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
  /** Llama: bias on q, k, v and o. Qwen2 always has q/k/v bias and no o bias (key absent). */
  attention_bias?: boolean;
  mlp_bias?: boolean;
  hidden_act: string;
  initializer_range?: number;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  torch_dtype?: string;
  rope_scaling?: unknown;
  [key: string]: unknown;
}

export interface LlamaModel {
  config: LlamaConfig;
  /** Hugging Face parameter name → variable. A tied model has no `lm_head.weight` entry. */
  params: Map<string, tf.Variable>;
  /** RoPE tables for every position: [max_position_embeddings, head_dim]. */
  ropeCos: tf.Tensor2D;
  ropeSin: tf.Tensor2D;
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

/** Validates a config and fills defaults; throws E_CHECKPOINT / E_MODEL_DIMS with the reason. */
export function normalizeConfig(raw: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const c = { ...raw } as LlamaConfig;
  const type = String(c.model_type ?? 'llama');
  if (type !== 'llama' && type !== 'qwen2') {
    throw new BbioError('E_CHECKPOINT', `${file}: model_type "${type}" is not supported (llama, qwen2)`, { file });
  }
  c.model_type = type;
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
  c.architectures ??= [type === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'];
  if (c.hidden_act !== 'silu') throw new BbioError('E_CHECKPOINT', `${file}: hidden_act "${c.hidden_act}" is not supported (silu)`, { file });
  if (c.rope_scaling != null) throw new BbioError('E_CHECKPOINT', `${file}: rope_scaling is not supported`, { file });
  if (c.mlp_bias) throw new BbioError('E_CHECKPOINT', `${file}: mlp_bias is not supported`, { file });
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

function hasQkvBias(c: LlamaConfig): boolean {
  return c.model_type === 'qwen2' || Boolean(c.attention_bias);
}
function hasOBias(c: LlamaConfig): boolean {
  return c.model_type === 'llama' && Boolean(c.attention_bias);
}

/** Every parameter the config implies, with its shape, in a stable order. */
export function parameterShapes(c: LlamaConfig): Array<[string, number[]]> {
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
    if (hasQkvBias(c)) {
      out.push([`${p}.self_attn.q_proj.bias`, [qOut]]);
      out.push([`${p}.self_attn.k_proj.bias`, [kvOut]]);
      out.push([`${p}.self_attn.v_proj.bias`, [kvOut]]);
    }
    out.push([`${p}.self_attn.o_proj.weight`, [d, qOut]]);
    if (hasOBias(c)) out.push([`${p}.self_attn.o_proj.bias`, [d]]);
    out.push([`${p}.post_attention_layernorm.weight`, [d]]);
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
  const tables = ropeTables(config.max_position_embeddings, hd, config.rope_theta);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const v = values.get(name)!;
    // tfjs variable names are process-global, so let tfjs number them; the map holds the HF name.
    params.set(name, tf.variable(tf.tensor(v.data, shape), true));
  }
  return {
    config,
    params,
    ropeCos: tf.keep(tf.tensor2d(tables.cos, [config.max_position_embeddings, hd])),
    ropeSin: tf.keep(tf.tensor2d(tables.sin, [config.max_position_embeddings, hd])),
  };
}

/**
 * A freshly initialised model: weights ~ N(0, initializer_range²) as in Hugging Face's
 * `_init_weights`, with the residual output projections (o_proj, down_proj) scaled by 1/√(2·layers)
 * (GPT-2, Radford et al. 2019), norms 1, biases 0.
 */
export function initLlama(config: LlamaConfig, rng: Rng): LlamaModel {
  const std = config.initializer_range ?? 0.02;
  const residualStd = std / Math.sqrt(2 * config.num_hidden_layers);
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') data.fill(1);
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

/** Additive causal mask for queries at absolute positions past..past+tq−1 over keys 0..past+tq−1, repeated `rep` times. */
function causalMask(tq: number, past: number, rep: number): tf.Tensor2D {
  const tk = past + tq;
  const m = new Float32Array(rep * tq * tk);
  for (let r = 0; r < rep; r++) {
    for (let i = 0; i < tq; i++) {
      const row = (r * tq + i) * tk;
      for (let j = past + i + 1; j < tk; j++) m[row + j] = -1e9;
    }
  }
  return tf.tensor2d(m, [rep * tq, tk]); // [rep·Tq, Tk]
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
  const cos = tf.reshape(tf.slice(model.ropeCos, [past, 0], [seq, hd]), [seq, 1, hd]) as tf.Tensor3D; // [T, 1, hd]
  const sin = tf.reshape(tf.slice(model.ropeSin, [past, 0], [seq, hd]), [seq, 1, hd]) as tf.Tensor3D; // [T, 1, hd]
  const mask = causalMask(seq, past, rep); // [rep·T, Tk]
  const qScale = 1 / Math.sqrt(hd);

  let x = embedding(ids, param(model, 'model.embed_tokens.weight') as unknown as tf.Tensor2D); // [N, D]
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    // Attention block (pre-norm).
    const h = rmsNorm(x, param(model, `${p}.input_layernorm.weight`) as unknown as tf.Tensor1D, c.rms_norm_eps); // [N, D]
    const q0 = tf.reshape(project(model, `${p}.self_attn.q_proj`, h, opts), [batch, seq, H, hd]) as tf.Tensor4D; // [B, T, H, hd]
    const k0 = tf.reshape(project(model, `${p}.self_attn.k_proj`, h, opts), [batch, seq, KV, hd]) as tf.Tensor4D; // [B, T, KV, hd]
    const v0 = tf.reshape(project(model, `${p}.self_attn.v_proj`, h, opts), [batch, seq, KV, hd]) as tf.Tensor4D; // [B, T, KV, hd]
    // Scaled dot-product attention (Vaswani et al. 2017); 1/√hd folded into q (fewer elements than scores).
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
      const probs = tf.softmax(tf.add(tf.matMul(qg, k, false, true), mask)); // [B, KV, rep·T, Tk]
      att = tf.reshape(tf.matMul(probs, v), [batch, H, seq, hd]); // [B, H, T, hd]
    } else {
      const qg = tf.reshape(q, [batch * KV, rep * seq, hd]) as tf.Tensor3D; // [B·KV, rep·T, hd]
      const kg = tf.reshape(k, [batch * KV, tk, hd]) as tf.Tensor3D; // [B·KV, Tk, hd]
      const vg = tf.reshape(v, [batch * KV, tk, hd]) as tf.Tensor3D; // [B·KV, Tk, hd]
      att = tf.reshape(attentionCore(qg, kg, vg, mask), [batch, H, seq, hd]); // [B, H, T, hd]
    }
    const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [N, H * hd]) as tf.Tensor2D; // [N, H·hd]
    x = tf.add(x, project(model, `${p}.self_attn.o_proj`, merged, opts)); // [N, D]
    // SwiGLU MLP (Shazeer 2020): down(silu(gate(h)) ⊙ up(h)).
    const h2 = rmsNorm(x, param(model, `${p}.post_attention_layernorm.weight`) as unknown as tf.Tensor1D, c.rms_norm_eps); // [N, D]
    const gate = project(model, `${p}.mlp.gate_proj`, h2, opts); // [N, I]
    const up = project(model, `${p}.mlp.up_proj`, h2, opts); // [N, I]
    x = tf.add(x, project(model, `${p}.mlp.down_proj`, tf.mul(silu(gate), up), opts)); // [N, D]
  }
  if (opts.cache) opts.cache.length = past + seq;
  return rmsNorm(x, param(model, 'model.norm.weight') as unknown as tf.Tensor1D, c.rms_norm_eps); // [N, D]
}

/** Output projection of hidden states: [N, D] → logits [N, V] (tied models reuse embed_tokens). */
export function lmHead(model: LlamaModel, hidden: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  const name = model.config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const w = param(model, name) as unknown as tf.Tensor2D;
  return opts.freezeBase ? linearFrozen(hidden, w) : linear(hidden, w); // [N, V]
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
