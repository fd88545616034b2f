/**
 * Checks that JSON Schema cannot express: cross-field arithmetic, files that must exist, options that
 * contradict each other and stages whose inputs nothing produces. Each rule is a small function in one
 * table; every problem points at the key or value it is about.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';
import { sizeDefaults } from '../core/model-families';
import { CAPABILITIES, STAGE_IO, STAGE_ORDER, type StageName, type StageOutput } from '../core/stage';
import type { ErrorCode } from '../util/errors';
import type { PathSegment, SourceMap } from './positions';
import type { Problem } from './problems';
import type { ErrorObject } from 'ajv';
import { applyOverrides, checkOverridePath, countVariants, createOverrideValidator, expandVariants, MAX_VARIANTS, normalizeVariants, type OverrideValidator, type VariantSpec } from './variants';
import { checkExperimentPaths, isPathAllowed, modelDirOf, type PathPolicy } from './paths';
import { schemaAt } from './schema-validator';
import { didYouMean } from './suggest';

/**
 * Static check of a custom reward module (`grpo.rewards[].module`, loaded by engine/rl/custom-reward.ts):
 * does the source appear to export `reward`? Runs nothing.
 */
function exportsRewardStatically(source: string): boolean {
  return /\bexport\s+(async\s+)?function\s+reward\b|\bexport\s+(const|let|var)\s+reward\b|\bexports\.reward\s*=|\bmodule\.exports\s*=\s*\{[^}]*\breward\b|\bexport\s*\{[^}]*\breward\b/.test(source);
}

export interface SemanticInput {
  input: ExperimentInput;
  config: Experiment;
  file: string;
  sourceMap: SourceMap;
  checkFiles: boolean;
  /** Where paths may reach; without it only URLs are checked (and no file is touched). */
  paths?: PathPolicy;
}

/** `range: 'key'` points at the key even when the value is a scalar (unknown override paths). */
interface ReportOptions {
  replacement?: string;
  range?: 'key' | 'focus';
}
type Report = (path: PathSegment[], code: ErrorCode, message: string, hint?: string, severity?: 'error' | 'warning', options?: ReportOptions) => void;
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
  // a Hub model excludes the other two sources: which one the run used would otherwise be a silent choice
  if (input.model?.hub !== undefined && input.model?.path !== undefined) {
    report(['model', 'hub'], 'E_CONFLICT', '`model.hub` and `model.path` are both set', 'keep `hub` to download the model into the Hugging Face cache, or `path` for a local checkpoint folder');
  }
  if (input.model?.hub !== undefined && input.model?.preset !== undefined) {
    report(['model', 'hub'], 'E_CONFLICT', '`model.hub` and `model.preset` are both set', 'keep `hub` to fine-tune the Hub model, or `preset: bio-tiny` to train one from scratch');
  }
  if (input.model?.revision !== undefined && input.model?.hub === undefined) {
    report(['model', 'revision'], 'E_CONFLICT', '`model.revision` only applies to a Hub model, and `model.hub` is not set', 'set model.hub: ORG/NAME, or remove revision');
  }
  if (config.model.path || config.model.hub) return;
  const d = config.model.dims;
  if (d.hidden_size % d.heads !== 0) report(['model', 'dims', 'heads'], 'E_MODEL_DIMS', `hidden_size ${d.hidden_size} is not divisible by heads ${d.heads}`, 'choose heads that divide hidden_size');
  else if ((d.hidden_size / d.heads) % 2 !== 0) report(['model', 'dims', 'heads'], 'E_MODEL_DIMS', `head dimension ${d.hidden_size / d.heads} is odd; rotary embeddings need an even one`, 'change heads or hidden_size');
  if (d.heads % d.kv_heads !== 0) report(['model', 'dims', 'kv_heads'], 'E_MODEL_DIMS', `heads ${d.heads} is not divisible by kv_heads ${d.kv_heads}`, 'grouped-query attention shares each key/value head among heads/kv_heads query heads');
};

/**
 * Data-parallel ranks (model.devices, slurm.nodes) are torch.distributed processes of the torch worker
 * (engine/compute/torch/worker/bbio_worker/ranks.py): they need the torch backend itself, not `auto`, which
 * would fall back to wasm without them, and each rank takes its own GPU, so a fixed `cuda:N` cannot hold.
 */
const checkDevices: Rule = ({ config }, report) => {
  const { devices, backend, device } = config.model;
  const nodes = config.slurm.nodes;
  if (devices > 1 && backend !== 'torch') {
    report(['model', 'devices'], 'E_CONFLICT', `\`model.devices: ${devices}\` needs \`model.backend: torch\` (the ranks are torch.distributed processes), but the backend is \`${backend}\``, 'set model.backend: torch, or model.devices: 1');
  }
  if (devices > 1 && /^cuda:\d+$/.test(device)) {
    report(['model', 'device'], 'E_CONFLICT', `\`model.device: ${device}\` names one GPU, but \`model.devices: ${devices}\` gives each rank its own (cuda:<local rank>)`, 'set model.device: cuda (or auto)');
  }
  if (nodes > 1 && backend !== 'torch') {
    report(['slurm', 'nodes'], 'E_CONFLICT', `\`slurm.nodes: ${nodes}\` spreads torch ranks over nodes and needs \`model.backend: torch\`, but the backend is \`${backend}\``, 'set model.backend: torch, or slurm.nodes: 1');
  }
  if (nodes > 1 && config.executor !== 'slurm') {
    report(['slurm', 'nodes'], 'E_CONFLICT', `\`slurm.nodes: ${nodes}\` applies only under \`executor: slurm\`; this file runs locally (on one machine) unless \`--executor slurm\` is given`, 'set executor: slurm', 'warning');
  }
};

/** Reads a Hugging Face config.json into the dimensions LoRA cares about; undefined if unreadable. */
async function checkpointDims(dir: string): Promise<ModelDims | undefined> {
  try {
    const cfg = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, number | undefined> & { model_type?: unknown };
    const heads = cfg.num_attention_heads ?? 0;
    // Qwen3 and Gemma configs may leave head_dim out: their class default, not hidden/heads, applies
    const headDim = cfg.head_dim ?? sizeDefaults(cfg.model_type).head_dim;
    return {
      hidden_size: cfg.hidden_size ?? 0,
      heads,
      kv_heads: cfg.num_key_value_heads ?? heads,
      intermediate_size: cfg.intermediate_size ?? 0,
      ...(headDim ? { head_dim: headDim } : {}),
    };
  } catch {
    return undefined; // a missing/invalid config.json is reported by checkFiles
  }
}

const checkLoraRank: Rule = async ({ config, file, checkFiles, paths }, report) => {
  let dims: ModelDims | undefined;
  if (config.model.path || config.model.hub) {
    if (!checkFiles) return;
    // a Hub model not downloaded yet has no dimensions to check until the run fetches it
    const dir = await modelDirOf(config, file, paths?.env);
    if (!dir || !(await mayRead(dir, paths))) return;
    dims = await checkpointDims(dir);
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
  // Dr. GRPO (Liu et al. 2025) removes the group std along with the length normalisation; a std scaling
  // with its loss brings the difficulty bias back (not set, it defaults to none: rl/dynamic-sampling.ts)
  if (g.loss_type === 'dr_grpo' && g.scale_rewards !== undefined && g.scale_rewards !== 'none') report(['grpo', 'scale_rewards'], 'E_CONFLICT', `loss_type dr_grpo with scale_rewards ${g.scale_rewards}: Dr. GRPO does not divide advantages by a reward std`, 'remove scale_rewards (dr_grpo implies none) or set it to none', 'warning');
  if (g.gap.min_weight > g.gap.max_weight) report(['grpo', 'gap'], 'E_CONFLICT', `gap.min_weight ${g.gap.min_weight} exceeds gap.max_weight ${g.gap.max_weight}`, 'make min_weight ≤ max_weight');
  const n = CAPABILITIES.length;
  if (g.gap.min_weight * n > 1 + WEIGHT_TOLERANCE) report(['grpo', 'gap', 'min_weight'], 'E_CONFLICT', `min_weight ${g.gap.min_weight} × ${n} capabilities exceeds 1`, `use min_weight ≤ ${1 / n}`);
  if (g.gap.max_weight * n < 1 - WEIGHT_TOLERANCE) report(['grpo', 'gap', 'max_weight'], 'E_CONFLICT', `max_weight ${g.gap.max_weight} × ${n} capabilities is below 1`, `use max_weight ≥ ${1 / n}`);
  if (config.pretrain.sequence_length > config.model.dims.context_length) {
    report(['pretrain', 'sequence_length'], 'E_CONFLICT', `pretraining windows of ${config.pretrain.sequence_length} tokens exceed the model's context of ${config.model.dims.context_length}`, `set pretrain.sequence_length to at most ${config.model.dims.context_length} (0 uses the context)`);
  }
  for (const stage of ['pretrain', 'sft'] as const) {
    const steps = config[stage].steps;
    const warm = stage === 'sft' ? config.sft.schedule.warmup_steps : config.pretrain.warmup_steps;
    if (warm >= steps) report(stage === 'sft' ? ['sft', 'schedule', 'warmup_steps'] : ['pretrain', 'warmup_steps'], 'E_CONFLICT', `warm-up (${warm} steps) is not shorter than training (${steps} steps)`, 'the learning rate would never reach its peak', 'warning');
  }
};

const checkProjection: Rule = ({ input, config }, report) => {
  if (config.sft.projection === 'olora' && config.lora.adapters !== 'per_capability') {
    report(['sft', 'projection'], 'E_CONFLICT', 'O-LoRA needs one adapter per capability, but lora.adapters is `shared`', 'set lora.adapters: per_capability');
  }
  // The subspace projection keeps one basis per LoRA matrix (compute/projection/subspace.ts) and never reads
  // the scope, so a written `global` would be silently ignored: say so where it is written.
  const method = config.sft.projection === 'olora' ? config.sft.olora.combine_with : config.sft.projection;
  if (method === 'subspace' && input.sft?.projection_scope === 'global') {
    report(['sft', 'projection_scope'], 'E_CONFLICT', 'projection_scope global has no effect with the subspace projection: its bases, and the projection, are always per LoRA matrix', 'remove projection_scope (or set it to per_matrix, which is what subspace does)', 'warning');
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
  base_model: 'add `pretrain` (bio-tiny), or set model.path to a Hugging Face checkpoint or model.hub to a Hub model',
  sft_adapter: 'add `sft` before it',
  grpo_adapter: 'add `grpo` before it',
  report: 'add `evaluate`',
};

const checkStages: Rule = ({ config }, report) => {
  const external = new Set<StageOutput>(config.model.path || config.model.hub ? ['base_model'] : []);
  if ((config.model.path || config.model.hub) && config.stages.includes('pretrain')) {
    const which = config.model.path ? 'model.path points at a checkpoint' : 'model.hub names a Hub model';
    report(['stages'], 'E_CONFLICT', `\`pretrain\` trains bio-tiny from scratch, but ${which}`, 'remove `pretrain` from stages to fine-tune the checkpoint');
  }
  for (const { stage, missing } of checkStageDependencies(config.stages, external)) {
    report(['stages'], 'E_STAGE_DEPENDENCY', `stage \`${stage}\` needs ${missing.replace('_', ' ')}, which no earlier stage produces`, PRODUCER_HINT[missing]);
  }
};

/** What is at `p`: a regular file, a folder, something else (a device such as /dev/zero, a FIFO, a socket), or nothing. */
async function kindOf(p: string): Promise<'file' | 'dir' | 'other' | undefined> {
  try {
    const s = await stat(p);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined; // absence is the answer, not an error
  }
}

async function exists(p: string, kind: 'file' | 'dir' | 'any'): Promise<boolean> {
  const k = await kindOf(p);
  return kind === 'any' ? k === 'file' || k === 'dir' : k === kind;
}

/** Whether a rule may read `abs`: paths outside the workspace are reported by checkPaths and never touched. */
async function mayRead(abs: string, paths: PathPolicy | undefined): Promise<boolean> {
  return paths ? isPathAllowed(abs, paths) : true;
}

/** Reports a missing file, or one that is not a regular file or folder (reading /dev/zero or a FIFO never ends). */
async function reportMissing(abs: string, rel: string, kind: 'file' | 'dir' | 'any', what: string, hint: string, at: PathSegment[], report: Report): Promise<void> {
  const k = await kindOf(abs);
  if (k === 'other') report(at, 'E_FILE_NOT_REGULAR', `${what} is not a regular file: ${rel} (resolved to ${abs}) is a device, FIFO or socket`, 'give the path of a regular file');
  else if (k === undefined || (kind !== 'any' && k !== kind)) report(at, 'E_FILE_MISSING', `${what} not found: ${rel} (resolved to ${abs})`, hint);
}

const checkFiles: Rule = async ({ config, file, checkFiles: enabled, paths }, report) => {
  if (!enabled) return;
  const base = path.dirname(file);
  const missing = async (rel: string, at: PathSegment[], kind: 'file' | 'dir' | 'any', what: string, hint: string): Promise<void> => {
    const abs = path.resolve(base, rel);
    if (!(await mayRead(abs, paths))) return;
    if (!(await exists(abs, kind))) await reportMissing(abs, rel, kind, what, hint, at, report);
  };
  const jobs: Promise<void>[] = [];
  config.ontology.sources.forEach((s, i) => {
    if (s.path) jobs.push(missing(s.path, ['ontology', 'sources', i, 'path'], 'file', 'ontology file', 'paths are relative to the experiment file'));
  });
  if (config.model.path) {
    const dir = config.model.path;
    jobs.push(
      (async () => {
        if (!(await mayRead(path.resolve(base, dir), paths))) return;
        if (!(await exists(path.resolve(base, dir), 'dir'))) return missing(dir, ['model', 'path'], 'dir', 'checkpoint directory', 'a Hugging Face checkpoint directory has config.json, model.safetensors and tokenizer.json');
        return missing(path.join(dir, 'config.json'), ['model', 'path'], 'file', 'checkpoint config', 'the directory must contain a Hugging Face config.json');
      })(),
    );
  }
  config.eval.mmlu.forEach((m, i) => jobs.push(missing(m, ['eval', 'mmlu', i], 'any', 'MMLU file or folder', 'give a CSV file (question,A,B,C,D,answer) or a folder of them')));
  if (config.eval.tasks.length) jobs.push(missing(config.eval.benchmarks, ['eval', 'benchmarks'], 'dir', 'benchmarks folder', `put the files of eval.tasks (${config.eval.tasks.join(', ')}) in this folder, or set eval.benchmarks`));
  config.grpo.rewards.forEach((r, i) => {
    if (!r.module) return;
    const at: PathSegment[] = ['grpo', 'rewards', i, 'module'];
    jobs.push(
      (async () => {
        const abs = path.resolve(base, r.module!);
        if (!(await mayRead(abs, paths))) return;
        if (!(await exists(abs, 'file'))) return missing(r.module!, at, 'file', 'reward module', 'a .js file exporting `reward(example, completion)`');
        // checked without running it: user code only ever runs in the engine, in trusted workspaces
        if (!exportsRewardStatically(await readFile(abs, 'utf8'))) report(at, 'E_CONFLICT', `reward module ${r.module} does not export \`reward\``, 'export function reward(example, completion) { return a number in [0, 1] }');
      })(),
    );
  });
  await Promise.all(jobs);
};

/** Every path and URL of the experiment against the workspace policy (paths/ts), at the offending value. */
const checkPaths: Rule = async ({ config, file, checkFiles: enabled, paths }, report) => {
  const violations = await checkExperimentPaths(config, file, paths ?? { workspace: [], allowed: [] }, { checkPaths: enabled && paths !== undefined });
  for (const v of violations) report(v.at, v.code, v.message, v.hint);
};

// ------------------------------------------------------------------------------------ real data files

type DataSplit = 'train' | 'val' | 'test';
const DATA_SPLITS: readonly DataSplit[] = ['train', 'val', 'test'];

/** The suite that scores each record format, per capability (others train but are not scored by it). */
const SCORED_AS: Record<'mcqa' | 'qa' | 'instruction', readonly string[]> = {
  mcqa: ['domain'],
  qa: ['reasoning'],
  instruction: ['instruction'],
};
const SCORED_HOW: Record<string, string> = {
  domain: 'multiple-choice records (mcqa)',
  reasoning: 'a final `Answer:` (qa)',
  instruction: 'records with constraints (instruction)',
  integration: 'MKGSG vignettes with ontology ids',
};

const checkData: Rule = ({ config }, report) => {
  const d = config.data;
  if (d.mode === 'real' && d.train.length === 0) report(['data', 'mode'], 'E_CONFLICT', 'data.mode is `real` but data.train lists no files: there would be nothing to train on', 'add files under data.train, or use mode: synthetic');
  if (d.test_source === 'files' && d.test.length === 0) report(['data', 'test_source'], 'E_CONFLICT', 'data.test_source is `files` but data.test lists no files: there would be nothing to evaluate', 'add files under data.test, or use test_source: both');
  d.test.forEach((f, i) => {
    if (!SCORED_AS[f.format].includes(f.capability)) {
      report(['data', 'test', i, 'capability'], 'E_CONFLICT', `the ${f.capability} suite does not score \`${f.format}\` records: it scores ${SCORED_HOW[f.capability]}`, `use capability: ${SCORED_AS[f.format][0]} for ${f.format} test records`, 'warning');
    }
  });
};

const checkDataFiles: Rule = async ({ config, file, checkFiles: enabled, paths }, report) => {
  if (!enabled) return;
  const base = path.dirname(file);
  const jobs = DATA_SPLITS.flatMap((split) =>
    config.data[split].map(async (f, i) => {
      const abs = path.resolve(base, f.path);
      if (!(await mayRead(abs, paths))) return;
      await reportMissing(abs, f.path, 'file', `${split} data file`, 'paths are relative to the experiment file; a JSONL file has one JSON record a line', ['data', split, i, 'path'], report);
    }),
  );
  await Promise.all(jobs);
};

// ------------------------------------------------------------------------------------------- variants

/** Override paths whose values name files; variants touching them get the file checks too. */
const FILE_SECTIONS = ['ontology', 'model', 'eval', 'grpo', 'data', 'output'];

const OVERRIDE_CODES: Record<string, ErrorCode> = { enum: 'E_SCHEMA_ENUM', const: 'E_SCHEMA_ENUM', type: 'E_SCHEMA_TYPE', required: 'E_SCHEMA_REQUIRED', additionalProperties: 'E_SCHEMA_UNKNOWN_KEY' };
const SUMMARY_KEYWORDS = new Set(['if', 'oneOf', 'anyOf']);

function reportValueErrors(dotted: string, errors: readonly ErrorObject[], at: PathSegment[], report: Report): void {
  for (const err of errors) {
    if (SUMMARY_KEYWORDS.has(err.keyword)) continue;
    const sub = err.instancePath.split('/').slice(1).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    const where = `\`${[dotted, ...sub].join('.')}\``;
    const code = OVERRIDE_CODES[err.keyword] ?? 'E_SCHEMA_RANGE';
    const params = err.params as Record<string, unknown>;
    if (err.keyword === 'enum') {
      const allowed = ((err.schema as unknown[]) ?? []).map(String);
      const guess = didYouMean(String(err.data), allowed);
      report([...at, ...sub], code, `override ${where} must be one of ${allowed.map((a) => `\`${a}\``).join(', ')}; got \`${String(err.data)}\``, guess ? `did you mean \`${guess}\`?` : undefined, 'error', guess ? { replacement: guess } : {});
    } else if (err.keyword === 'additionalProperties') {
      const key = String(params.additionalProperty);
      report([...at, ...sub, key], code, `unknown key \`${key}\` in override ${where}`, undefined, 'error', { range: 'key' });
    } else if (err.keyword === 'type') {
      report([...at, ...sub], code, `override ${where} must be ${String(params.type)}; got ${describeValue(err.data)}`, schemaHint(dotted, sub));
    } else {
      report([...at, ...sub], code, `override ${where} ${err.message ?? 'is invalid'}; got ${describeValue(err.data)}`, schemaHint(dotted, sub));
    }
  }
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;
}

/** The key's own description, as hover shows it. */
function schemaHint(dotted: string, sub: readonly PathSegment[]): string | undefined {
  const node = schemaAt([...dotted.split('.'), ...sub]);
  return node?.description;
}

/** Checks one override (path, then value); returns whether it is usable. */
function checkOverride(dotted: string, value: unknown, keyAt: PathSegment[], valueAt: PathSegment[], validator: OverrideValidator, report: Report): boolean {
  const found = checkOverridePath(dotted);
  if (!found.ok) {
    report(keyAt, found.message.startsWith('unknown path') ? 'E_SCHEMA_UNKNOWN_KEY' : 'E_CONFLICT', found.message, found.hint, 'error', { range: 'key', ...(found.replacement ? { replacement: found.replacement } : {}) });
    return false;
  }
  const { errors } = validator.check(dotted, value);
  reportValueErrors(dotted, errors, valueAt, report);
  return errors.length === 0;
}

interface Collected {
  code: ErrorCode;
  message: string;
  hint?: string;
  severity: 'error' | 'warning';
}

async function runRules(s: SemanticInput): Promise<Collected[]> {
  const out: Collected[] = [];
  const collect: Report = (_at, code, message, hint, severity = 'error') => out.push({ code, message, severity, ...(hint ? { hint } : {}) });
  for (const rule of BASE_RULES) await rule(s, collect);
  return out;
}

const checkVariants: Rule = async (s, report) => {
  const block = s.input.variants;
  if (!block) return;
  const { list, grid, listPath } = normalizeVariants(block);
  const validator = createOverrideValidator();
  let ok = true;
  const names = new Map<string, number>();
  list.forEach((entry, i) => {
    const prev = names.get(entry.name);
    if (prev !== undefined) {
      report([...listPath, i, 'name'], 'E_CONFLICT', `two variants are named \`${entry.name}\` (also item ${prev + 1})`, 'give each variant its own name: it is the variant\'s folder and report row');
      ok = false;
    }
    names.set(entry.name, i);
    for (const [dotted, value] of Object.entries(entry.set ?? {})) {
      const at = [...listPath, i, 'set', dotted];
      if (!checkOverride(dotted, value, at, at, validator, report)) ok = false;
      if (dotted in grid) report([...listPath, i, 'set', dotted], 'E_CONFLICT', `\`${dotted}\` is set both here and in variants.grid; the grid's values win`, 'set it in one place', 'warning', { range: 'key' });
    }
  });
  for (const [dotted, values] of Object.entries(grid)) {
    const keyAt: PathSegment[] = ['variants', 'grid', dotted];
    const found = checkOverridePath(dotted);
    if (!found.ok) {
      checkOverride(dotted, undefined, keyAt, keyAt, validator, report);
      ok = false;
      continue;
    }
    values.forEach((value, j) => {
      if (!checkOverride(dotted, value, keyAt, [...keyAt, j], validator, report)) ok = false;
    });
  }
  const count = countVariants(block);
  if (count > MAX_VARIANTS) {
    report(['variants'], 'E_CONFLICT', `the variants expand to ${count} runs; at most ${MAX_VARIANTS} are allowed`, 'use fewer grid values, or split the sweep into several files');
    return;
  }
  if (!ok) return;

  // Rules that fail only with an override (weights no longer summing to 1, O-LoRA with shared adapters):
  // first each override alone against the base, reported at its value; then every variant, reported at
  // its entry, for what only a combination breaks. Problems the base file has are not repeated.
  const keyOf = (p: Collected): string => `${p.code}\u0000${p.message}`;
  const baseSeen = new Map<boolean, Set<string>>();
  const newProblems = async (set: Record<string, unknown>): Promise<Collected[] | undefined> => {
    const files = s.checkFiles && Object.keys(set).some((k) => FILE_SECTIONS.includes(k.split('.')[0]!));
    if (!baseSeen.has(files)) baseSeen.set(files, new Set((await runRules({ ...s, checkFiles: files })).map(keyOf)));
    let applied: ReturnType<typeof applyOverrides>;
    try {
      applied = applyOverrides(s.input, s.config, set, validator);
    } catch {
      return undefined; // value problems were reported above, override by override
    }
    return (await runRules({ ...s, ...applied, checkFiles: files })).filter((p) => !baseSeen.get(files)!.has(keyOf(p)));
  };
  const explained = new Set<string>();
  const single = async (dotted: string, value: unknown, at: PathSegment[]): Promise<void> => {
    for (const p of (await newProblems({ [dotted]: value })) ?? []) {
      explained.add(keyOf(p));
      report(at, p.code, `with override \`${dotted}\`: ${p.message}`, p.hint, p.severity);
    }
  };
  for (const [i, entry] of list.entries()) for (const [dotted, value] of Object.entries(entry.set ?? {})) await single(dotted, value, [...listPath, i, 'set', dotted]);
  for (const [dotted, values] of Object.entries(grid)) for (const [j, value] of values.entries()) await single(dotted, value, ['variants', 'grid', dotted, j]);

  const found = new Map<string, { at: PathSegment[]; p: Collected; names: string[] }>();
  for (const v of expandVariants(block)) {
    for (const p of (await newProblems(v.set)) ?? []) {
      if (explained.has(keyOf(p))) continue;
      const at = originPath(v, listPath);
      const k = `${at.join('/')}\u0000${keyOf(p)}`;
      const entry = found.get(k) ?? { at, p, names: [] };
      entry.names.push(v.name);
      found.set(k, entry);
    }
  }
  for (const { at, p, names: which } of found.values()) {
    const label = which.length > 3 ? `${which.slice(0, 3).join(', ')} and ${which.length - 3} more` : which.join(', ');
    report(at, p.code, `variant${which.length > 1 ? 's' : ''} ${label}: ${p.message}`, p.hint, p.severity, { range: 'key' });
  }
};

/** Where a variant's combined problems point: its list entry's name, else the grid. */
function originPath(v: VariantSpec, listPath: PathSegment[]): PathSegment[] {
  if (v.origin.list !== undefined) return [...listPath, v.origin.list, 'name'];
  return ['variants', 'grid'];
}

/** Rules of one experiment; `checkVariants` also runs them on every variant. */
const BASE_RULES: Rule[] = [checkCapabilityWeights, checkRewards, checkModel, checkDevices, checkLoraRank, checkRanges, checkProjection, checkStages, checkPaths, checkFiles, checkData, checkDataFiles];
const RULES: Rule[] = [...BASE_RULES, checkVariants];

export async function checkSemantics(s: SemanticInput): Promise<Problem[]> {
  const problems: Problem[] = [];
  const report: Report = (at, code, message, hint, severity = 'error', o = {}) => {
    const range = s.sourceMap.hasPath(at) && o.range !== 'key' ? s.sourceMap.focusRange(at) : s.sourceMap.keyRange(at);
    problems.push({ file: s.file, ...range, code, severity, message, ...(hint ? { hint } : {}), ...(o.replacement ? { replacement: o.replacement } : {}) });
  };
  for (const rule of RULES) await rule(s, report);
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
