/**
 * The compute interface: everything the stages need from a tensor backend, in training-step terms and
 * with no tensor in sight. A backend owns the model, its LoRA adapters, the optimiser, the per-capability
 * gradients **and their projection** (a 7B model's LoRA gradients are hundreds of MB per capability: they
 * never leave the backend), sampling, log-probabilities and checkpoints of what it owns. The stages own the
 * rest: data, tokenization, rewards, advantages, capability weights, metrics, the run store.
 *
 * Batches cross as token ids (`number[]` rows or row-major Int32Array), results as plain numbers, so the
 * same calls can go to the in-process TensorFlow.js backend (compute/tfjs/) or to a worker process.
 *
 * Adapters live in named slots ('policy', 'ref', 'sft', …) so one loaded base model serves the GRPO policy
 * and its frozen reference, or evaluation's base / +SFT / +GRPO models, at once.
 */
import type { LlamaConfig } from '../model/llama';
import type { BackendInfo } from '../model/backend';
import type { LoraSpec } from '../model/lora';
import type { FinishReason } from '../model/decode';

export type { FinishReason };

/** Next-token batch: inputs and targets row-major [B, T]; weights [B·T] sum to 1 (a masked mean). */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  weights: Float32Array;
  batch: number;
}

export type Projection = 'none' | 'pcgrad' | 'subspace';
export type ProjectionScope = 'global' | 'per_matrix';

export interface SubspaceSpec {
  energy: number;
  window: number;
  refreshEvery: number;
  maxRank: number;
}

/** What the trainer optimises, and how (AdamW with a schedule, global-norm clip, NaN guard). */
export interface TrainingSpec {
  /** The whole model (pretraining) or the adapters of one slot (LoRA stages). */
  params: { kind: 'model' } | { kind: 'adapters'; slot: string };
  schedule: { peak: number; warmupSteps: number; totalSteps: number; shape: 'cosine' | 'linear' | 'constant'; minLrRatio: number };
  adam: { beta1: number; beta2: number; eps: number; weightDecay: number };
  /** Which tensors get weight decay: matrices only (nanoGPT / HF), all, or none. */
  decay: 'matrices' | 'all' | 'none';
  /** Global-norm clip (0 = off). */
  gradClip: number;
  /** Consecutive rejected (non-finite) steps before E_NAN. */
  maxBadSteps?: number;
  /**
   * The training random stream (dropout masks, PCGrad's order, sampling): `makeRng(seed).fork(stream)`.
   * Its state is part of the backend's checkpoint, so a resumed run draws exactly what it would have.
   */
  rng: { seed: number; stream: string };
  /** The gradient projection (SFT and GRPO); absent = none. */
  projection?: { method: Projection; scope: ProjectionScope; subspace?: SubspaceSpec; capabilities: number };
}

/** Outcome of one optimiser step. A rejected step (non-finite loss or gradient) leaves weights and moments untouched. */
export type StepOutcome =
  | { applied: true; step: number; lr: number; gradNorm: number; clipCoef: number }
  | { applied: false; step: number; badTensor: string; badSteps: number };

export interface PairStat {
  /** Capability indices into the step's capability list. */
  a: number;
  b: number;
  cosineRaw: number;
  cosineProjected: number;
  /** g_a · g_b < 0 on the raw gradients. */
  conflict: boolean;
}

/** What a projection did on one step. */
export interface ProjectionReport {
  pairs: PairStat[];
  normsRaw: number[];
  normsProjected: number[];
  projectionMs: number;
  /** Mean kept subspace dimension per capability (subspace projection only). */
  subspaceDims?: number[];
}

export interface SftStepInput {
  /**
   * One entry per capability, in the order of `weights`: its micro-batches (gradient accumulation) and the
   * adapters its gradient updates (per-capability adapters: its own; absent: every adapter of the slot).
   * Every adapter of the slot takes part in the forward pass either way.
   */
  capabilities: { batches: TokenBatch[]; trainable?: string[] }[];
  /** Normalised capability weights w_c. */
  weights: number[];
  /** O-LoRA penalty λ Σ_{i<j} ‖A_iᵀ A_j‖²_F over per-capability adapters (Wang et al. 2023), when set. */
  oloraLambda?: number;
}

export interface SftStepResult {
  outcome: StepOutcome;
  /** Mean loss per capability (over its micro-batches). */
  losses: number[];
  projection: ProjectionReport;
  oloraPenalty?: number;
}

/** A prompt and its sampled completions (token ids), as GRPO scores them. */
export interface RolloutGroup {
  prompt: readonly number[];
  completions: readonly (readonly number[])[];
}

export interface LogprobOptions {
  /** Adapter slot (absent: the base model). */
  adapters?: string;
  /** Logits are divided by the sampling temperature first (TRL), so π_θ, π_old, π_ref are the sampled distributions. */
  temperature: number;
}

export interface GrpoLossSpec {
  lossType: 'grpo' | 'dapo' | 'dr_grpo';
  epsLow: number;
  epsHigh: number;
  beta: number;
  importanceSampling: 'token' | 'sequence';
}

export interface GrpoStepInput {
  groups: readonly RolloutGroup[];
  /** Per group, per completion: Â_i (shared by every token of o_i). */
  advantages: readonly (readonly number[])[];
  /** Per group, per completion, per token: log π_old and log π_ref ([G][len]). */
  oldLogps: readonly (readonly (readonly number[])[])[];
  refLogps: readonly (readonly (readonly number[])[])[];
  /** Per group, per completion: whether its tokens enter the loss (false masks a truncated completion). */
  include: readonly (readonly boolean[])[];
  /** Capability index of each group; one policy gradient per capability is projected and weighted. */
  capabilityOf: readonly number[];
  /** Capability weights w_c (length = number of capabilities). */
  weights: readonly number[];
  loss: GrpoLossSpec;
  temperature: number;
  /** Completion budget: the loss pads every completion to this length. */
  maxLen: number;
  /** Also compute KL and clip statistics (the first of μ iterations). */
  withStats: boolean;
}

export interface GrpoStepResult {
  outcome: StepOutcome;
  /** Loss per capability (0 where a capability has no group this step). */
  losses: number[];
  projection: ProjectionReport;
  stats?: { kl: number; clipLow: number; clipHigh: number };
}

export interface GenerateRequest {
  prompts: readonly (readonly number[])[];
  /** Completions per prompt (GRPO's G); 1 for evaluation. */
  n: number;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  maxNewTokens: number;
  /** Stop strings, matched on the decoded completion; the text is cut before the first one, its tokens stay in ids. */
  stop: readonly string[];
  /**
   * Token ids that end a completion (finish reason `stop`), kept as its last id: a chat template's end-of-turn
   * token (ChatFormat.stopIds), which the decoded text never shows because special tokens are skipped.
   */
  stopIds?: readonly number[];
  adapters?: string;
  /**
   * Rows decoded together: whole groups of n rows, at least one prompt per batch (greedy evaluation batches
   * rows of different prompts; a GRPO group of G rows is one batch). Sampled rows draw from the stream in
   * batch, step, row order.
   */
  batchRows?: number;
  /** Sampling stream: `makeRng(seed)`; absent: the training stream of startTraining. Greedy decoding draws nothing. */
  seed?: number;
  signal?: AbortSignal;
}

export interface Completion {
  /** New token ids; the terminating EOS or stop-string tokens are kept, so the GRPO loss mask covers them (issue 17). */
  ids: number[];
  /** Per id: log softmax(logits / temperature) of the picked token (temperature 1 for greedy), before top-p truncation. */
  logprobs: number[];
  /** The completion's text without the terminating EOS, cut before the first stop string (what rewards and evaluation read). */
  text: string;
  /** `eos`: ended by EOS; `stop`: by a stop string; `length`: by maxNewTokens or the context (truncated). */
  finishReason: FinishReason;
}

export interface LoglikResult {
  /** Σ_t log p(c_t | context, c_<t), nats. */
  logprob: number;
  /** Every continuation token was the argmax (lm-evaluation-harness's is_greedy). */
  greedy: boolean;
}

export interface RestoredCheckpoint<S> {
  state: S;
  step: number;
  /** The checkpoint folder restored. */
  dir: string;
  /** Newer checkpoints skipped because they did not verify, newest first (empty when the latest loaded). */
  rejected: { dir: string; problem: string }[];
}

/** The first-order interference estimate (engine/compute/tfjs/interference.ts). */
export interface InterferenceEstimate {
  /** mean[c][c′]: mean over probe mini-batches of −η⟨g̃_c, g_c′,b⟩; negative = a step on c helps c′. */
  mean: number[][];
  /** Half-width of the 95% t-interval of that mean (NaN with fewer than 2 mini-batches). */
  ci95: number[][];
  /** Probe mini-batches per capability c′. */
  batches: number[];
}

/**
 * Every method that does work returns a Promise: a backend may live in another process (the PyTorch worker,
 * compute/torch/worker-process.ts) and can only answer asynchronously. The in-process TensorFlow.js backend
 * does the same work synchronously and resolves at once. `describe()`, `config` and `step` only read state
 * that a worker backend can keep on this side (the backend line, the config loadModel answered, the step
 * of the last StepOutcome), so they stay synchronous.
 */
export interface Compute {
  /** The backend line recorded in manifest.json (name, kind, threads, why it was chosen). */
  describe(): BackendInfo;

  // -------------------------------------------------------------------------- model and adapters
  /** A fresh model (pretraining from scratch), weights drawn from `makeRng(seed).fork('init')`. */
  initModel(config: LlamaConfig, seed: number): Promise<void>;
  /** A Hugging Face checkpoint folder (config.json + safetensors). */
  loadModel(dir: string): Promise<LlamaConfig>;
  saveModel(dir: string): Promise<void>;
  readonly config: LlamaConfig;
  /** New LoRA adapters (A random from `makeRng(seed).fork('lora-init')`, B = 0) in `slot`. */
  createAdapters(slot: string, names: readonly string[], spec: LoraSpec, seed: number): Promise<void>;
  /** Loads a PEFT adapter folder (or one written by saveAdapters) into `slot`; returns the adapter names. */
  loadAdapters(slot: string, dir: string): Promise<string[]>;
  saveAdapters(slot: string, dir: string, meta: { baseModel: string; stage: string }): Promise<void>;
  /** Number of trainable values in a slot (or the model). */
  parameterCount(target: TrainingSpec['params']): Promise<number>;

  // -------------------------------------------------------------------------- training
  startTraining(spec: TrainingSpec): Promise<void>;
  /** Optimiser updates applied so far. */
  readonly step: number;
  /** One step of next-token training on packed windows of T+1 tokens each (data-parallel where the backend can). */
  pretrainStep(rows: readonly Int32Array[]): Promise<{ loss: number; outcome: StepOutcome }>;
  sftStep(input: SftStepInput): Promise<SftStepResult>;
  /**
   * Interference M[c][c′] ≈ L_c′(θ − η g̃_c) − L_c′(θ) to first order, −η⟨g̃_c, ∇L_c′⟩, for the updates g̃_c
   * the last sftStep applied per capability (after projection), with ∇L_c′ on each of capability c′'s
   * held-out probe mini-batches (`probes[c′]`; empty: no data); mean and 95% interval over the mini-batches.
   */
  interference(probes: readonly (readonly TokenBatch[])[], lr: number, adapters: string): Promise<InterferenceEstimate>;
  grpoStep(input: GrpoStepInput): Promise<GrpoStepResult>;
  /** Mean next-token loss of a batch, no gradient. */
  loss(batch: TokenBatch, opts?: { adapters?: string }): Promise<number>;

  // -------------------------------------------------------------------------- checkpoints
  /** Writes weights, optimiser, projection state and the rng with the stage's JSON `state`; keeps the newest `keep`. */
  saveCheckpoint<S>(dir: string, state: S, opts?: { keep?: number }): Promise<void>;
  /**
   * Restores the newest checkpoint under `dir` that verifies (sha256 per file) into the trainer; returns the
   * stage's state with where it came from and the newer checkpoints it skipped, or null when there is none.
   */
  loadCheckpoint<S>(dir: string): Promise<RestoredCheckpoint<S> | null>;

  // -------------------------------------------------------------------------- inference
  generate(req: GenerateRequest): Promise<Completion[][]>;
  /** Per-token log π(o_t | q, o_<t) of each completion of each group. */
  logprobs(groups: readonly RolloutGroup[], opts: LogprobOptions): Promise<number[][][]>;
  /** Mean token entropy (nats) of the policy over all completion tokens of the groups. */
  entropy(groups: readonly RolloutGroup[], opts: LogprobOptions): Promise<number>;
  /** Log-likelihood of each continuation after one shared context (the context computed once). */
  scoreContinuations(context: readonly number[], continuations: readonly (readonly number[])[], opts?: { adapters?: string }): Promise<LoglikResult[]>;

  /** Releases tensors, workers and (for a worker backend) the process. */
  dispose(): Promise<void>;
}
