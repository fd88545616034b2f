/**
 * Checks that JSON Schema cannot express: cross-field arithmetic, files that must exist, options that
 * contradict each other and stages whose inputs nothing produces. Each rule is a small function in one
 * table; every problem points at the key or value it is about.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';
import { CAPABILITIES, STAGE_IO, STAGE_ORDER, type StageName, type StageOutput } from '../run/types';
import type { ErrorCode } from '../util/errors';
import type { PathSegment, SourceMap } from './positions';
import type { Problem } from './problems';
import { exportsRewardStatically } from '../rl/custom-reward';

export interface SemanticInput {
  input: ExperimentInput;
  config: Experiment;
  file: string;
  sourceMap: SourceMap;
  checkFiles: boolean;
}

type Report = (path: PathSegment[], code: ErrorCode, message: string, hint?: string, severity?: 'error' | 'warning') => void;
type Rule = (s: SemanticInput, report: Report) => void | Promise<void>;

const WEIGHT_TOLERANCE = 1e-6;

/** Matrix shapes [out, in] of each LoRA target, from the model dimensions (HF Llama layout). */
export interface ModelDims {
  hidden_size: number;
  heads: number;
  kv_heads: number;
  intermediate_size: number;
  head_dim?: number;
}

export function targetShapes(d: ModelDims): Record<string, [number, number]> {
  const headDim = d.head_dim ?? d.hidden_size / d.heads;
  const q = d.heads * headDim;
  const kv = d.kv_heads * headDim;
  return {
    q_proj: [q, d.hidden_size],
    k_proj: [kv, d.hidden_size],
    v_proj: [kv, d.hidden_size],
    o_proj: [d.hidden_size, q],
    gate_proj: [d.intermediate_size, d.hidden_size],
    up_proj: [d.intermediate_size, d.hidden_size],
    down_proj: [d.hidden_size, d.intermediate_size],
  };
}

const checkCapabilityWeights: Rule = ({ input }, report) => {
  for (const section of ['sft', 'grpo'] as const) {
    const w = input[section]?.capability_weights;
    if (!w) continue;
    const given = CAPABILITIES.filter((c) => w[c] !== undefined);
    if (given.length === 0) continue;
    if (given.length < CAPABILITIES.length) {
      const missing = CAPABILITIES.filter((c) => w[c] === undefined);
      report([section, 'capability_weights'], 'E_WEIGHTS', `capability_weights must give all four capabilities; missing ${missing.join(', ')}`, 'list domain, reasoning, instruction and integration with weights summing to 1');
      continue;
    }
    const sum = given.reduce((s, c) => s + (w[c] ?? 0), 0);
    if (Math.abs(sum - 1) > WEIGHT_TOLERANCE) {
      const normalised = given.map((c) => `${c}: ${Number(((w[c] ?? 0) / sum).toFixed(4))}`).join(', ');
      report([section, 'capability_weights'], 'E_WEIGHTS', `capability weights sum to ${Number(sum.toFixed(6))}, not 1`, `normalised: ${normalised}`);
    }
  }
};

const checkRewards: Rule = ({ input, config }, report) => {
  const rewards = input.grpo?.rewards;
  if (!rewards) return;
  const seen = new Map<string, number>();
  rewards.forEach((r, i) => {
    const id = r.name === 'custom' ? `custom:${r.id ?? ''}` : r.name;
    if (seen.has(id)) report(['grpo', 'rewards', i, 'name'], 'E_CONFLICT', `reward component \`${r.id ?? r.name}\` is listed twice (also item ${seen.get(id)! + 1})`, 'list each component once with a single weight');
    seen.set(id, i);
    if (r.name === 'custom' && !r.module) report(['grpo', 'rewards', i], 'E_SCHEMA_REQUIRED', 'a `custom` reward needs `module`: a .js/.ts file exporting `reward(example, completion)`', 'add module: rewards/my-reward.js');
    if (r.name === 'custom' && !r.id) report(['grpo', 'rewards', i], 'E_SCHEMA_REQUIRED', 'a `custom` reward needs an `id` to name it in metrics', 'add id: my_reward');
    if (r.name !== 'custom' && r.module) report(['grpo', 'rewards', i, 'module'], 'E_CONFLICT', `\`module\` only applies to \`custom\` rewards, not \`${r.name}\``, 'remove module, or set name: custom');
  });
  if (config.grpo.rewards.every((r) => r.weight === 0)) report(['grpo', 'rewards'], 'E_WEIGHTS', 'every reward weight is 0: GRPO would have no signal', 'give at least one component a positive weight');
};

const checkModel: Rule = ({ input, config }, report) => {
  if (input.model?.preset !== undefined && input.model?.path !== undefined) {
    report(['model', 'path'], 'E_CONFLICT', '`model.preset` and `model.path` are both set', 'keep `path` to fine-tune your checkpoint, or `preset: bio-tiny` to train one from scratch');
  }
  if (config.model.path) return;
  const d = config.model.dims;
  if (d.hidden_size % d.heads !== 0) report(['model', 'dims', 'heads'], 'E_MODEL_DIMS', `hidden_size ${d.hidden_size} is not divisible by heads ${d.heads}`, 'choose heads that divide hidden_size');
  else if ((d.hidden_size / d.heads) % 2 !== 0) report(['model', 'dims', 'heads'], 'E_MODEL_DIMS', `head dimension ${d.hidden_size / d.heads} is odd; rotary embeddings need an even one`, 'change heads or hidden_size');
  if (d.heads % d.kv_heads !== 0) report(['model', 'dims', 'kv_heads'], 'E_MODEL_DIMS', `heads ${d.heads} is not divisible by kv_heads ${d.kv_heads}`, 'grouped-query attention shares each key/value head among heads/kv_heads query heads');
};

/** Reads a Hugging Face config.json into the dimensions LoRA cares about; undefined if unreadable. */
async function checkpointDims(dir: string): Promise<ModelDims | undefined> {
  try {
    const cfg = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, number>;
    const heads = cfg.num_attention_heads ?? 0;
    return {
      hidden_size: cfg.hidden_size ?? 0,
      heads,
      kv_heads: cfg.num_key_value_heads ?? heads,
      intermediate_size: cfg.intermediate_size ?? 0,
      ...(cfg.head_dim ? { head_dim: cfg.head_dim } : {}),
    };
  } catch {
    return undefined; // a missing/invalid config.json is reported by checkFiles
  }
}

const checkLoraRank: Rule = async ({ config, file, checkFiles }, report) => {
  let dims: ModelDims | undefined;
  if (config.model.path) {
    if (!checkFiles) return;
    dims = await checkpointDims(path.resolve(path.dirname(file), config.model.path));
  } else {
    dims = config.model.dims;
  }
  if (!dims || !dims.hidden_size) return;
  const shapes = targetShapes(dims);
  const r = config.lora.rank;
  const bad = config.lora.target_modules.filter((t) => Math.min(...(shapes[t] ?? [Infinity])) < r);
  if (bad.length) {
    const limit = Math.min(...bad.map((t) => Math.min(...shapes[t]!)));
    report(['lora', 'rank'], 'E_LORA_RANK', `LoRA rank ${r} exceeds the smaller dimension of ${bad.join(', ')} (${limit})`, `use rank ≤ ${limit}`);
  }
};

const checkRanges: Rule = ({ config }, report) => {
  const s = config.synthesis;
  if (s.hops.min > s.hops.max) report(['synthesis', 'hops'], 'E_CONFLICT', `hops.min ${s.hops.min} is greater than hops.max ${s.hops.max}`, 'make min ≤ max');
  if (s.split.val + s.split.test >= 1) report(['synthesis', 'split'], 'E_CONFLICT', `val + test fractions (${s.split.val + s.split.test}) leave nothing for training`, 'keep val + test below 1');
  const g = config.grpo;
  if (g.epsilon_high !== undefined && g.epsilon_high < g.clip_epsilon) report(['grpo', 'epsilon_high'], 'E_CONFLICT', `epsilon_high ${g.epsilon_high} is below clip_epsilon ${g.clip_epsilon}`, 'clip-higher needs epsilon_high ≥ clip_epsilon');
  if (g.gap.min_weight > g.gap.max_weight) report(['grpo', 'gap'], 'E_CONFLICT', `gap.min_weight ${g.gap.min_weight} exceeds gap.max_weight ${g.gap.max_weight}`, 'make min_weight ≤ max_weight');
  const n = CAPABILITIES.length;
  if (g.gap.min_weight * n > 1 + WEIGHT_TOLERANCE) report(['grpo', 'gap', 'min_weight'], 'E_CONFLICT', `min_weight ${g.gap.min_weight} × ${n} capabilities exceeds 1`, `use min_weight ≤ ${1 / n}`);
  if (g.gap.max_weight * n < 1 - WEIGHT_TOLERANCE) report(['grpo', 'gap', 'max_weight'], 'E_CONFLICT', `max_weight ${g.gap.max_weight} × ${n} capabilities is below 1`, `use max_weight ≥ ${1 / n}`);
  for (const stage of ['pretrain', 'sft'] as const) {
    const steps = config[stage].steps;
    const warm = stage === 'sft' ? config.sft.schedule.warmup_steps : config.pretrain.warmup_steps;
    if (warm >= steps) report(stage === 'sft' ? ['sft', 'schedule', 'warmup_steps'] : ['pretrain', 'warmup_steps'], 'E_CONFLICT', `warm-up (${warm} steps) is not shorter than training (${steps} steps)`, 'the learning rate would never reach its peak', 'warning');
  }
};

const checkProjection: Rule = ({ config }, report) => {
  if (config.sft.projection === 'olora' && config.lora.adapters !== 'per_capability') {
    report(['sft', 'projection'], 'E_CONFLICT', 'O-LoRA needs one adapter per capability, but lora.adapters is `shared`', 'set lora.adapters: per_capability');
  }
};

/** Each stage's needs must be produced by an earlier listed stage, or exist already (`available`). */
export function checkStageDependencies(stages: readonly StageName[], available: ReadonlySet<StageOutput>): { stage: StageName; missing: StageOutput }[] {
  const have = new Set(available);
  const problems: { stage: StageName; missing: StageOutput }[] = [];
  for (const stage of STAGE_ORDER.filter((s) => stages.includes(s))) {
    for (const need of STAGE_IO[stage].needs) if (!have.has(need)) problems.push({ stage, missing: need });
    for (const out of STAGE_IO[stage].produces) have.add(out);
  }
  return problems;
}

const PRODUCER_HINT: Record<StageOutput, string> = {
  dataset: 'add `synthesize` before it',
  base_model: 'add `pretrain` (bio-tiny), or set model.path to a Hugging Face checkpoint',
  sft_adapter: 'add `sft` before it',
  grpo_adapter: 'add `grpo` before it',
  report: 'add `evaluate`',
};

const checkStages: Rule = ({ config }, report) => {
  const external = new Set<StageOutput>(config.model.path ? ['base_model'] : []);
  if (config.model.path && config.stages.includes('pretrain')) {
    report(['stages'], 'E_CONFLICT', '`pretrain` trains bio-tiny from scratch, but model.path points at a checkpoint', 'remove `pretrain` from stages to fine-tune the checkpoint');
  }
  for (const { stage, missing } of checkStageDependencies(config.stages, external)) {
    report(['stages'], 'E_STAGE_DEPENDENCY', `stage \`${stage}\` needs ${missing.replace('_', ' ')}, which no earlier stage produces`, PRODUCER_HINT[missing]);
  }
};

async function exists(p: string, kind: 'file' | 'dir' | 'any'): Promise<boolean> {
  try {
    const s = await stat(p);
    return kind === 'any' || (kind === 'dir' ? s.isDirectory() : s.isFile());
  } catch {
    return false; // absence is the answer, not an error
  }
}

const checkFiles: Rule = async ({ config, file, checkFiles: enabled }, report) => {
  if (!enabled) return;
  const base = path.dirname(file);
  const missing = async (rel: string, at: PathSegment[], kind: 'file' | 'dir' | 'any', what: string, hint: string): Promise<void> => {
    const abs = path.resolve(base, rel);
    if (!(await exists(abs, kind))) report(at, 'E_FILE_MISSING', `${what} not found: ${rel} (resolved to ${abs})`, hint);
  };
  const jobs: Promise<void>[] = [];
  config.ontology.sources.forEach((s, i) => {
    if (s.path) jobs.push(missing(s.path, ['ontology', 'sources', i, 'path'], 'file', 'ontology file', 'paths are relative to the experiment file'));
  });
  if (config.model.path) {
    const dir = config.model.path;
    jobs.push(
      (async () => {
        if (!(await exists(path.resolve(base, dir), 'dir'))) return missing(dir, ['model', 'path'], 'dir', 'checkpoint directory', 'a Hugging Face checkpoint directory has config.json, model.safetensors and tokenizer.json');
        return missing(path.join(dir, 'config.json'), ['model', 'path'], 'file', 'checkpoint config', 'the directory must contain a Hugging Face config.json');
      })(),
    );
  }
  config.eval.mmlu.forEach((m, i) => jobs.push(missing(m, ['eval', 'mmlu', i], 'any', 'MMLU file or folder', 'give a CSV file (question,A,B,C,D,answer) or a folder of them')));
  config.grpo.rewards.forEach((r, i) => {
    if (!r.module) return;
    const at: PathSegment[] = ['grpo', 'rewards', i, 'module'];
    jobs.push(
      (async () => {
        const abs = path.resolve(base, r.module!);
        if (!(await exists(abs, 'file'))) return missing(r.module!, at, 'file', 'reward module', 'a .js file exporting `reward(example, completion)`');
        // checked without running it: user code only ever runs in the engine, in trusted workspaces
        if (!exportsRewardStatically(await readFile(abs, 'utf8'))) report(at, 'E_CONFLICT', `reward module ${r.module} does not export \`reward\``, 'export function reward(example, completion) { return a number in [0, 1] }');
      })(),
    );
  });
  await Promise.all(jobs);
};

const RULES: Rule[] = [checkCapabilityWeights, checkRewards, checkModel, checkLoraRank, checkRanges, checkProjection, checkStages, checkFiles];

export async function checkSemantics(s: SemanticInput): Promise<Problem[]> {
  const problems: Problem[] = [];
  const report: Report = (at, code, message, hint, severity = 'error') => {
    const range = s.sourceMap.hasPath(at) ? s.sourceMap.focusRange(at) : s.sourceMap.keyRange(at);
    problems.push({ file: s.file, ...range, code, severity, message, ...(hint ? { hint } : {}) });
  };
  for (const rule of RULES) await rule(s, report);
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
