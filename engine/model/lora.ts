/**
 * LoRA (Hu et al. 2021): for a frozen projection W [out, in], W' = W + (alpha/r)·B·A with A [r, in] small
 * random and B [out, r] zeros, so training starts from the base model. Dropout acts on the LoRA input path
 * only (as in PEFT). Adapters live in named groups: one `default` adapter shared by all capabilities, or one
 * per capability. Files use PEFT's format (adapter_config.json + adapter_model.safetensors with keys
 * `base_model.model.<module>.lora_A.weight`) so `peft.PeftModel.from_pretrained` can load them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import writeFileAtomic from 'write-file-atomic';
import { BbioError } from '../util/errors';
import type { Rng } from '../util/rng';
import type { LinearHook, LlamaModel } from './llama';
import { linear } from './ops';
import { readSafetensors, writeSafetensors, type TensorMap } from './safetensors';

export type TargetModule = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';

const MODULE_PATH: Record<TargetModule, string> = {
  q_proj: 'self_attn.q_proj',
  k_proj: 'self_attn.k_proj',
  v_proj: 'self_attn.v_proj',
  o_proj: 'self_attn.o_proj',
  gate_proj: 'mlp.gate_proj',
  up_proj: 'mlp.up_proj',
  down_proj: 'mlp.down_proj',
};

export interface LoraSpec {
  rank: number;
  alpha: number;
  dropout: number;
  targetModules: TargetModule[];
}

export interface LoraPair {
  A: tf.Variable; // [r, in]
  B: tf.Variable; // [out, r]
}

export interface LoraAdapter {
  name: string;
  spec: LoraSpec;
  /** Module path (e.g. model.layers.0.self_attn.q_proj) → its A/B pair. */
  modules: Map<string, LoraPair>;
}

/** Adapter groups by name: `default`, or one per capability. */
export type LoraSet = Map<string, LoraAdapter>;

/** Module paths of the model that `targets` select, in layer order. */
export function targetModulePaths(model: LlamaModel, targets: readonly TargetModule[]): string[] {
  const out: string[] = [];
  for (let l = 0; l < model.config.num_hidden_layers; l++) {
    for (const t of targets) out.push(`model.layers.${l}.${MODULE_PATH[t]}`);
  }
  return out;
}

function weightShape(model: LlamaModel, module: string): [number, number] {
  const w = model.params.get(`${module}.weight`);
  if (!w) throw new BbioError('E_INTERNAL', `model has no projection ${module}`);
  return w.shape as [number, number];
}

/**
 * A new adapter. A ~ U(−1/√in, 1/√in) (PEFT's default kaiming-uniform bound with a = √5), B = 0.
 * Rank above min(out, in) of any target is E_LORA_RANK.
 */
export function createLoraAdapter(model: LlamaModel, name: string, spec: LoraSpec, rng: Rng): LoraAdapter {
  const modules = new Map<string, LoraPair>();
  for (const module of targetModulePaths(model, spec.targetModules)) {
    const [out, inp] = weightShape(model, module);
    if (spec.rank > Math.min(out, inp)) {
      throw new BbioError('E_LORA_RANK', `lora.rank ${spec.rank} exceeds min(${out}, ${inp}) of ${module}`, {}, `set lora.rank ≤ ${Math.min(out, inp)}`);
    }
    const bound = 1 / Math.sqrt(inp);
    const a = new Float32Array(spec.rank * inp);
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * bound;
    modules.set(module, {
      A: tf.variable(tf.tensor2d(a, [spec.rank, inp]), true),
      B: tf.variable(tf.zeros([out, spec.rank]), true),
    });
  }
  return { name, spec, modules };
}

/** One adapter per name (e.g. ['default'] or the capabilities), each from its own forked rng. */
export function createLoraSet(model: LlamaModel, names: readonly string[], spec: LoraSpec, rng: Rng): LoraSet {
  const set: LoraSet = new Map();
  for (const n of names) set.set(n, createLoraAdapter(model, n, spec, rng.fork(`lora:${n}`)));
  return set;
}

export function scaling(spec: LoraSpec): number {
  return spec.alpha / spec.rank;
}

/** The trainable variables of the adapters, with PEFT-style names (`<module>.lora_A.<adapter>`), in a stable order. */
export function loraVariables(set: LoraSet, adapters?: readonly string[]): Array<{ name: string; variable: tf.Variable }> {
  const out: Array<{ name: string; variable: tf.Variable }> = [];
  for (const [adapterName, adapter] of set) {
    if (adapters && !adapters.includes(adapterName)) continue;
    for (const [module, pair] of adapter.modules) {
      out.push({ name: `${module}.lora_A.${adapterName}`, variable: pair.A });
      out.push({ name: `${module}.lora_B.${adapterName}`, variable: pair.B });
    }
  }
  return out;
}

export interface LoraHookOptions {
  /** Adapters whose deltas are added (default: all in the set). */
  active?: readonly string[];
  /** Dropout on when training. */
  training: boolean;
  /** Source of dropout masks (required when training with dropout > 0). */
  rng?: Rng;
}

/**
 * The forward hook: y ← y + (alpha/r)·B·A·dropout(x) for every active adapter that targets the module.
 * Pass it as `ForwardOptions.hook` together with `freezeBase: true`.
 */
export function loraHook(set: LoraSet, opts: LoraHookOptions): LinearHook {
  const active = [...set.values()].filter((a) => !opts.active || opts.active.includes(a.name));
  return (module, x, y) => {
    let out = y; // [N, out]
    for (const adapter of active) {
      const pair = adapter.modules.get(module);
      if (!pair) continue;
      let xin = x; // [N, in]
      const p = adapter.spec.dropout;
      if (opts.training && p > 0) {
        if (!opts.rng) throw new BbioError('E_INTERNAL', 'LoRA dropout needs an rng');
        // Inverted dropout (Srivastava et al. 2014): keep with prob 1−p, scale kept by 1/(1−p).
        const u = tf.randomUniform(x.shape, 0, 1, 'float32', opts.rng.int(2147483647)); // [N, in]
        const keep = tf.mul(tf.cast(tf.greaterEqual(u, p), 'float32'), 1 / (1 - p)); // [N, in]
        xin = tf.mul(x, keep); // [N, in]
      }
      const down = linear(xin, pair.A as unknown as tf.Tensor2D); // [N, r]
      const delta = linear(down, pair.B as unknown as tf.Tensor2D); // [N, out]
      out = tf.add(out, tf.mul(delta, scaling(adapter.spec))); // [N, out]
    }
    return out;
  };
}

/** (alpha/r)·B·A computed on the host in float64: [out, in] row-major. */
function deltaWeight(pair: LoraPair, scale: number): Float64Array {
  const [r, inp] = pair.A.shape as [number, number];
  const out = pair.B.shape[0]!;
  const a = pair.A.dataSync();
  const b = pair.B.dataSync();
  const d = new Float64Array(out * inp);
  for (let o = 0; o < out; o++) {
    for (let k = 0; k < r; k++) {
      const bv = b[o * r + k]! * scale;
      if (bv === 0) continue;
      for (let i = 0; i < inp; i++) d[o * inp + i]! += bv * a[k * inp + i]!;
    }
  }
  return d;
}

function applyDelta(model: LlamaModel, adapter: LoraAdapter, sign: 1 | -1): void {
  const scale = scaling(adapter.spec) * sign;
  for (const [module, pair] of adapter.modules) {
    const w = model.params.get(`${module}.weight`)!;
    const d = deltaWeight(pair, scale);
    const data = w.dataSync() as Float32Array;
    const next = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) next[i] = data[i]! + d[i]!;
    const t = tf.tensor(next, w.shape);
    w.assign(t);
    t.dispose();
  }
}

/** W ← W + (alpha/r)·B·A for the adapter (then run without the hook). Reversed exactly by unmergeLora up to float32 rounding. */
export function mergeLora(model: LlamaModel, adapter: LoraAdapter): void {
  applyDelta(model, adapter, 1);
}

/** W ← W − (alpha/r)·B·A: undoes mergeLora. */
export function unmergeLora(model: LlamaModel, adapter: LoraAdapter): void {
  applyDelta(model, adapter, -1);
}

const PEFT_PREFIX = 'base_model.model.';

/** adapter_config.json as PEFT writes it for a LoRA adapter. */
export function peftConfig(spec: LoraSpec, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: spec.rank,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    target_modules: [...spec.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    use_dora: false,
    revision: null,
  };
}

/** PEFT key of a module's A or B matrix, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight. */
export function peftKey(module: string, which: 'A' | 'B'): string {
  return `${PEFT_PREFIX}${module}.lora_${which}.weight`;
}

/** Writes one adapter as a PEFT directory (adapter_config.json + adapter_model.safetensors), atomically per file. */
export async function saveLoraAdapter(adapter: LoraAdapter, dir: string, opts: { baseModel: string }): Promise<void> {
  const tensors: TensorMap = new Map();
  for (const [module, pair] of adapter.modules) {
    tensors.set(peftKey(module, 'A'), { shape: [...pair.A.shape], data: pair.A.dataSync() as Float32Array });
    tensors.set(peftKey(module, 'B'), { shape: [...pair.B.shape], data: pair.B.dataSync() as Float32Array });
  }
  await fs.promises.mkdir(dir, { recursive: true });
  await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  await writeFileAtomic(path.join(dir, 'adapter_config.json'), JSON.stringify(peftConfig(adapter.spec, opts.baseModel), null, 2) + '\n');
}

/**
 * Saves a set the way PEFT's save_pretrained lays out several adapters: `default` in `dir`, every other
 * adapter in `dir/<name>/`.
 */
export async function saveLoraSet(set: LoraSet, dir: string, opts: { baseModel: string }): Promise<void> {
  for (const [name, adapter] of set) {
    await saveLoraAdapter(adapter, name === 'default' ? dir : path.join(dir, name), opts);
  }
}

/** Loads a PEFT LoRA directory onto `model` as adapter `name`. Shapes are checked against the model. */
export function loadLoraAdapter(model: LlamaModel, dir: string, name = 'default'): LoraAdapter {
  const cfgFile = path.join(dir, 'adapter_config.json');
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new BbioError('E_CHECKPOINT', `cannot read ${cfgFile}`, { file: cfgFile }, undefined, { cause: e });
  }
  if (cfg.peft_type !== 'LORA') throw new BbioError('E_CHECKPOINT', `${cfgFile}: peft_type ${String(cfg.peft_type)} is not LORA`, { file: cfgFile });
  const spec: LoraSpec = {
    rank: Number(cfg.r),
    alpha: Number(cfg.lora_alpha),
    dropout: Number(cfg.lora_dropout ?? 0),
    targetModules: (cfg.target_modules as TargetModule[]) ?? [],
  };
  const { tensors } = readSafetensors(path.join(dir, 'adapter_model.safetensors'));
  const modules = new Map<string, LoraPair>();
  for (const module of targetModulePaths(model, spec.targetModules)) {
    const a = tensors.get(peftKey(module, 'A'));
    const b = tensors.get(peftKey(module, 'B'));
    if (!a || !b) throw new BbioError('E_CHECKPOINT', `${dir}: adapter lacks ${peftKey(module, a ? 'B' : 'A')}`, { file: dir });
    const [out, inp] = weightShape(model, module);
    if (a.shape.join() !== `${spec.rank},${inp}` || b.shape.join() !== `${out},${spec.rank}`) {
      throw new BbioError('E_CHECKPOINT', `${dir}: ${module} adapter shapes [${a.shape}]/[${b.shape}] do not fit the model`, { file: dir });
    }
    modules.set(module, { A: tf.variable(tf.tensor2d(a.data, [spec.rank, inp]), true), B: tf.variable(tf.tensor2d(b.data, [out, spec.rank]), true) });
  }
  return { name, spec, modules };
}

export function disposeLoraSet(set: LoraSet): void {
  for (const a of set.values()) for (const p of a.modules.values()) { p.A.dispose(); p.B.dispose(); }
}
