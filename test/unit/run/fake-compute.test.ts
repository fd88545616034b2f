/**
 * The stages run against the Compute interface alone: a fake backend (no tensors) drives one SFT step and
 * one GRPO step through the real stage code, and the test checks what the stages asked of it and what they
 * made of its answers (metrics, checkpoints, adapters).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { EngineEvent } from '../../../schemas/generated/events';
import type { ComputeFactory } from '../../../engine/compute';
import type {
  Completion, Compute, GenerateRequest, GrpoStepInput, GrpoStepResult, InterferenceEstimate, LoglikResult, ProjectionReport, RestoredCheckpoint, RolloutGroup, SftStepInput, SftStepResult, TrainingSpec,
} from '../../../engine/compute/types';
import { loadExperiment } from '../../../engine/config/load';
import type { LlamaConfig } from '../../../engine/model/llama';
import { runPipeline } from '../../../engine/run/pipeline';
import { createStageTable } from '../../../engine/cli/stages';
import { createGrpoStage } from '../../../engine/rl/grpo-stage';
import { createSftStage } from '../../../engine/train/sft-stage';
import { silentLogger } from '../../../engine/util/log';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../../helpers/tiny-experiment';
import { workspaceOf } from '../../helpers/tmp';

/** Records every call; answers with fixed, recognisable numbers. */
class FakeCompute implements Compute {
  calls: string[] = [];
  sftInputs: SftStepInput[] = [];
  grpoInputs: GrpoStepInput[] = [];
  trainings: TrainingSpec[] = [];
  saved: Record<string, unknown>[] = [];
  private steps = 0;
  private cfg?: LlamaConfig;

  describe() {
    return { name: 'fake', kind: 'cpu' as const, reason: 'unit test', threads: 1, simd: false };
  }
  get config(): LlamaConfig {
    return this.cfg!;
  }
  async initModel(config: LlamaConfig): Promise<void> {
    this.cfg = config;
  }
  async loadModel(dir: string): Promise<LlamaConfig> {
    this.calls.push(`loadModel ${path.basename(dir)}`);
    this.cfg = { model_type: 'llama', vocab_size: 300, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 160, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true } as LlamaConfig;
    return this.cfg;
  }
  async saveModel(): Promise<void> {}
  async createAdapters(slot: string, names: readonly string[]): Promise<void> {
    this.calls.push(`createAdapters ${slot} ${names.join(',')}`);
  }
  async loadAdapters(slot: string, dir: string): Promise<string[]> {
    this.calls.push(`loadAdapters ${slot} ${path.basename(dir)}`);
    return ['default'];
  }
  async saveAdapters(slot: string, dir: string, meta: { stage: string }): Promise<void> {
    this.calls.push(`saveAdapters ${slot} ${meta.stage}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'adapters.json'), JSON.stringify({ adapters: ['default'], stage: meta.stage, format: 'peft-lora' }));
  }
  async parameterCount(): Promise<number> {
    return 1234;
  }
  async startTraining(spec: TrainingSpec): Promise<void> {
    this.trainings.push(spec);
    this.steps = 0;
  }
  get step(): number {
    return this.steps;
  }
  async pretrainStep(): Promise<never> {
    throw new Error('not used by this test');
  }
  private report(n: number): ProjectionReport {
    const pairs = [];
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) pairs.push({ a, b, cosineRaw: -0.5, cosineProjected: 0, conflict: true });
    return { pairs, normsRaw: Array.from({ length: n }, () => 2), normsProjected: Array.from({ length: n }, () => 1.5), projectionMs: 0.25 };
  }
  async sftStep(input: SftStepInput): Promise<SftStepResult> {
    this.sftInputs.push(input);
    this.steps += 1;
    return { outcome: { applied: true, step: this.steps, lr: 0.001, gradNorm: 3, clipCoef: 1 }, losses: input.capabilities.map((_, i) => 1 + i / 10), projection: this.report(input.capabilities.length) };
  }
  async interference(probes: readonly unknown[]): Promise<InterferenceEstimate> {
    return { mean: probes.map(() => probes.map(() => -0.01)), ci95: probes.map(() => probes.map(() => 0.005)), batches: probes.map(() => 2) };
  }
  async grpoStep(input: GrpoStepInput): Promise<GrpoStepResult> {
    this.grpoInputs.push(input);
    this.steps += 1;
    return { outcome: { applied: true, step: this.steps, lr: 0.01, gradNorm: 1, clipCoef: 1 }, losses: input.weights.map(() => 0.5), projection: this.report(input.weights.length), stats: { kl: 0.125, clipLow: 0, clipHigh: 0.25 } };
  }
  async loss(): Promise<number> {
    return 2.5;
  }
  async saveCheckpoint<S>(dir: string, state: S): Promise<void> {
    this.saved.push({ dir: path.basename(dir), ...(state as Record<string, unknown>) });
  }
  async loadCheckpoint<S>(): Promise<RestoredCheckpoint<S> | null> {
    return null;
  }
  async generate(req: GenerateRequest): Promise<Completion[][]> {
    this.calls.push(`generate n=${req.n} t=${req.temperature} ${req.adapters ?? 'base'}`);
    // two different completions per prompt, so no group ties
    return req.prompts.map(() => Array.from({ length: req.n }, (_, i) => ({ ids: [10 + i, 11], logprobs: [-1, -1], text: i % 2 ? 'Answer: nothing' : 'word', finishReason: i === 0 ? ('length' as const) : ('eos' as const) })));
  }
  async logprobs(groups: readonly RolloutGroup[], opts: { adapters?: string }): Promise<number[][][]> {
    this.calls.push(`logprobs ${opts.adapters ?? 'base'}`);
    return groups.map((g) => g.completions.map((c) => c.map(() => (opts.adapters === 'ref' ? -2 : -1))));
  }
  async entropy(): Promise<number> {
    return 0.75;
  }
  async scoreContinuations(_c: readonly number[], conts: readonly (readonly number[])[]): Promise<LoglikResult[]> {
    return conts.map((_, i) => ({ logprob: -i, greedy: i === 0 }));
  }
  async dispose(): Promise<void> {
    this.calls.push('dispose');
  }
}

type Metric = Extract<EngineEvent, { kind: 'metric' }>;

test('a fake Compute drives one SFT step and one GRPO step through the real stages', async (t) => {
  const { file } = await writeTinyExperiment(t, [
    'name: fake', 'seed: 3', 'stages: [synthesize, pretrain, sft, grpo]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(160),
    'pretrain: { steps: 1, batch_size: 2, checkpoint_every: 1, warmup_steps: 0 }',
    'lora: { rank: 2, alpha: 4, dropout: 0, target_modules: [q_proj] }',
    'sft: { steps: 1, batch_per_capability: 1, grad_accumulation: 2, interference_every: 1, checkpoint_every: 1, projection: pcgrad, schedule: { warmup_steps: 0 }, adam: { beta2: 0.95 } }',
    'grpo: { steps: 1, prompts_per_step: 4, group_size: 2, max_new_tokens: 8, num_iterations: 2, probe_every: 0, log_rollouts_every: 1, checkpoint_every: 1, kl_beta: 0.1, mask_truncated_completions: true, projection: pcgrad, grad_clip: 0.5, adam: { beta1: 0.8, eps: 1e-6 } }',
    'eval: { probe_every: 0 }',
  ]);
  const { config, problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems, []);
  const fake = new FakeCompute();
  let opened = 0;
  const open: ComputeFactory = async () => {
    opened++;
    return fake;
  };
  const events: EngineEvent[] = [];
  const stageTable = { ...createStageTable(), sft: createSftStage(open), grpo: createGrpoStage(open) };
  const out = await runPipeline({ config: config!, experimentFile: file, stageTable, log: silentLogger, version: 'test', onEvent: (e) => events.push(e) });
  assert.equal(out.status, 'completed', out.error?.message);

  // SFT: one step, one entry per capability with its two micro-batches, weights summing to 1, the projection asked for
  assert.equal(fake.sftInputs.length, 1);
  const sft = fake.sftInputs[0]!;
  assert.equal(sft.capabilities.length, 4);
  for (const c of sft.capabilities) assert.equal(c.batches.length, 2, 'grad_accumulation 2 → two micro-batches');
  assert.ok(Math.abs(sft.weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.equal(fake.trainings[0]!.projection?.method, 'pcgrad');
  assert.deepEqual(fake.trainings[0]!.params, { kind: 'adapters', slot: 'sft' });
  assert.deepEqual(fake.trainings[0]!.adam, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 }, 'sft.adam reaches the optimiser, defaults filled in');
  assert.equal(fake.trainings[0]!.gradClip, 1, 'sft.grad_clip default');
  assert.deepEqual(fake.trainings[1]!.adam, { beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0 }, 'grpo.adam reaches the optimiser (β₂ default 0.99)');
  assert.equal(fake.trainings[1]!.gradClip, 0.5, 'grpo.grad_clip reaches the optimiser');
  const metrics = events.filter((e): e is Metric => e.kind === 'metric');
  const sftLoss = metrics.filter((m) => m.name === 'sft/loss').map((m) => m.value);
  assert.deepEqual(sftLoss, [1, 1.1, 1.2, 1.3], 'the stage reports the losses the backend returned, per capability');
  assert.equal(metrics.filter((m) => m.name === 'sft/cosine_raw').length, 6, 'one raw cosine per pair of four capabilities');
  assert.equal(metrics.filter((m) => m.name === 'sft/interference').length, 16);
  assert.ok(events.some((e) => e.kind === 'record' && e.type === 'health'), 'a conflict left in place raises a health note');

  // GRPO: π_ref and the policy from the SFT adapter, rollouts from the policy, μ = 2 updates on the same old/ref log-probs
  assert.ok(fake.calls.includes('loadAdapters ref sft-adapter') && fake.calls.includes('loadAdapters policy sft-adapter'));
  assert.ok(fake.calls.includes('generate n=2 t=1 policy'));
  assert.equal(fake.grpoInputs.length, 2, 'num_iterations 2');
  const [first, second] = fake.grpoInputs;
  assert.equal(first!.withStats, true);
  assert.equal(second!.withStats, false);
  assert.equal(first!.groups.length, 4);
  assert.deepEqual(first!.oldLogps[0]![0], [-1, -1]);
  assert.deepEqual(first!.refLogps[0]![0], [-2, -2]);
  assert.deepEqual(first!.include[0], [false, true], 'mask_truncated_completions drops the truncated completion');
  for (const a of first!.advantages) assert.ok(Math.abs(a[0]! + a[1]!) < 1e-9, 'group-relative advantages sum to zero');
  const kl = metrics.find((m) => m.name === 'grpo/kl');
  assert.equal(kl?.value, 0.125, 'KL from the first iteration\'s statistics');
  assert.equal(metrics.find((m) => m.name === 'grpo/entropy')?.value, 0.75);
  assert.ok(fake.calls.includes('saveAdapters policy grpo'));
  assert.ok(fake.saved.some((s) => s.dir === 'grpo' && typeof s.cursors === 'object'), 'GRPO checkpoints its data cursors');
  // the two stages, and SFT's stage-cache key, which opens the backend to name what it resolves to
  assert.equal(opened, 3);
  assert.equal(fake.calls.filter((c) => c === 'dispose').length, opened, 'every opening of the backend releases it');
  const manifest = JSON.parse(await readFile(path.join(out.runDir, 'manifest.json'), 'utf8')) as { backend?: { name: string } };
  assert.equal(manifest.backend?.name, 'fake', 'the backend line in manifest.json is the one describe() gave');
});
