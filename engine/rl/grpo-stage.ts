/**
 * The `grpo` stage: capability-aware GRPO (DESIGN.md). Each step draws prompts from the training split
 * spread over the capabilities, samples G completions per prompt from π_old (the policy at the start of
 * the step) with the KV cache, scores them with the verifiable hybrid reward, computes group-relative
 * advantages, and for μ = num_iterations passes builds one policy gradient per capability, projects them
 * (grpo.projection) and combines them with the capability weights, which adapt by grpo.weighting.
 * π_ref is base + the SFT adapter, frozen; the policy starts from a copy of that adapter.
 * Everything a user needs to judge the run is logged: rewards per component and capability, weights, KL,
 * clip fractions, entropy, lengths, ties, throughput, rollout records, a held-out probe apart from the
 * reward, a reward-hacking alert and plain-language health notes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openCompute, type ComputeFactory, type Compute } from '../compute';
import type { Completion, GenerateRequest, GrpoLossSpec, PairStat, RolloutGroup } from '../compute/types';
import type { TargetModule } from '../model/lora';
import { BpeTokenizer } from '../model/tokenizer';
import { loadChatFormat } from '../model/chat-template';
import { outputExists } from '../core/outputs';
import { CAPABILITIES, type Capability, type StageContext, type StageDef, type StageResult } from '../core/stage';
import { loadExperimentOntology } from '../ontology/experiment';
import type { SynthExample } from '../core/example';
import { DataOrder } from '../train/data';
import { groupByCapability } from '../train/examples';
import { readExamples } from '../core/dataset';
import { baseModelDir } from '../model/resources';
import { resumeFromCheckpoint } from '../train/resume';
import { yieldToEventLoop } from '../util/async';
import { BbioError } from '../util/errors';
import { aggregate, groupTies, mean, std } from './advantages';
import { EdgeIndex, extractFinalAnswer, TermLexicon } from '../verify/answers';
import { REWARDS, type RewardContext } from '../verify/rewards';
import { PROBE_SCORES } from '../verify/scorers';
import { hybridReward, type ComponentSpec } from './hybrid-reward';
import { loadCustomRewards } from './custom-reward';
import { healthNotes, rewardHackingAlert } from './health';
import { effectiveScaleRewards, fillUntied } from './dynamic-sampling';
import { updateRunning, updateWeights, withheldForNoSignal, type WeightOptions, type WeightState } from './weighting';

/** The stage's part of a checkpoint; the backend adds its own (optimiser step, rng, projection state). */
interface GrpoState {
  cursors: Record<string, number>;
  weights: WeightState;
  rewardHistory: number[];
  probeHistory: number[];
  alerted: boolean;
}

/** The adapter slots: the trained policy and its frozen reference π_ref (base + SFT adapter). */
const POLICY = 'policy';
const REF = 'ref';

/** One prompt's group after scoring. */
interface ScoredGroup {
  example: SynthExample;
  rollout: RolloutGroup;
  completions: Completion[];
  totals: number[];
  advantages: number[];
  components: number[][];
  breakdown: Record<string, Record<string, number | string>>[];
}

/** The next training prompt of capability c, advancing its data cursor. */
function nextPrompt(byCap: Record<Capability, SynthExample[]>, c: Capability, orders: Record<Capability, DataOrder>, cursors: Record<string, number>): SynthExample {
  const ex = byCap[c][orders[c].indexAt(cursors[c]!)]!;
  cursors[c] = cursors[c]! + 1;
  return ex;
}

function pickPrompts(byCap: Record<Capability, SynthExample[]>, caps: readonly Capability[], perStep: number, step: number, orders: Record<Capability, DataOrder>, cursors: Record<string, number>): SynthExample[] {
  const out: SynthExample[] = [];
  for (let i = 0; i < perStep; i++) {
    const c = caps[(step * perStep + i) % caps.length]!;
    out.push(nextPrompt(byCap, c, orders, cursors));
  }
  return out;
}

/**
 * π_ref = base + SFT adapter (frozen); the policy is a trainable copy of it (or a fresh LoRA without SFT).
 * Starts the policy's training (grpo.adam, grpo.grad_clip, the projection) and returns the reference's slot.
 */
async function preparePolicy(ctx: StageContext, compute: Compute, capabilities: number, totalSteps: number): Promise<{ adapters?: string }> {
  const cfg = ctx.config;
  const g = cfg.grpo;
  const hasSft = await outputExists('sft_adapter', ctx.paths.sft_adapter);
  if (hasSft) {
    await compute.loadAdapters(REF, ctx.paths.sft_adapter);
    await compute.loadAdapters(POLICY, ctx.paths.sft_adapter);
  } else {
    await compute.createAdapters(POLICY, ['default'], { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: 0, targetModules: cfg.lora.target_modules as TargetModule[] }, ctx.seed);
    ctx.log.warn('grpo: no SFT adapter in this run; π_ref is the base model and the policy starts from a fresh LoRA adapter');
  }
  await compute.startTraining({
    params: { kind: 'adapters', slot: POLICY },
    decay: 'none',
    schedule: { peak: g.learning_rate, warmupSteps: 0, totalSteps, shape: 'constant', minLrRatio: 1 },
    // grpo.adam / grpo.grad_clip (schema: defaults β₂ 0.99 as in TRL's GRPO recipes, clip 1.0); no weight decay on the policy's LoRA
    adam: { beta1: g.adam.beta1, beta2: g.adam.beta2, eps: g.adam.eps, weightDecay: 0 },
    gradClip: g.grad_clip,
    rng: { seed: ctx.seed, stream: 'grpo' },
    projection: { method: g.projection, scope: 'global', capabilities, subspace: { energy: cfg.sft.subspace.energy, window: cfg.sft.subspace.window, refreshEvery: cfg.sft.subspace.refresh_every, maxRank: cfg.sft.subspace.max_rank } },
  });
  return hasSft ? { adapters: REF } : {};
}

/** The stage's state: initial weights and cursors, or the checkpoint's when the stage resumes (old checkpoints removed otherwise). */
async function restoreState(ctx: StageContext, compute: Compute, caps: readonly Capability[], totalSteps: number): Promise<GrpoState> {
  const g = ctx.config.grpo;
  const initial = caps.map((c) => g.capability_weights[c]);
  const wsum = initial.reduce((a, b) => a + b, 0);
  const state: GrpoState = { cursors: Object.fromEntries(caps.map((c) => [c, 0])), weights: { weights: initial.map((x) => x / wsum), running: caps.map(() => Number.NaN) }, rewardHistory: [], probeHistory: [], alerted: false };
  const resumed = (await resumeFromCheckpoint<GrpoState>(ctx, compute, 'grpo'))?.state ?? null;
  if (!resumed) await fs.promises.rm(ctx.checkpointDir, { recursive: true, force: true });
  else {
    Object.assign(state, { cursors: resumed.cursors, weights: resumed.weights, rewardHistory: resumed.rewardHistory, probeHistory: resumed.probeHistory, alerted: resumed.alerted });
    state.weights.running = state.weights.running.map((x) => (x === null ? Number.NaN : x));
    ctx.events.emit({ kind: 'phase', stage: 'grpo', status: 'resumed', step: compute.step, total: totalSteps });
  }
  return state;
}

export async function runGrpo(ctx: StageContext, open: ComputeFactory = openCompute): Promise<StageResult> {
  const cfg = ctx.config;
  const g = cfg.grpo;
  const totalSteps = Math.max(1, Math.round(g.steps * ctx.stepsScale));
  const baseDir = await baseModelDir(ctx);
  const tokenizer = await BpeTokenizer.load(path.join(baseDir, 'tokenizer.json'));
  // prompts in the model's chat format (its template, else the built-in one), as SFT trained and evaluation asks
  const chat = await loadChatFormat(baseDir, tokenizer);
  const ont = await loadExperimentOntology(cfg, ctx.experimentFile);
  const rctx: RewardContext = { lexicon: new TermLexicon(ont), edges: new EdgeIndex(ont) };
  const custom = await loadCustomRewards(cfg, ctx.experimentFile);
  const components: ComponentSpec[] = g.rewards.map((r) => (r.name === 'custom' ? custom.get(r.id!)! : { id: r.name, weight: r.weight, fn: REWARDS[r.name] }));

  const train = groupByCapability(readExamples(path.join(ctx.paths.dataset, 'train.jsonl')));
  const valFile = path.join(ctx.paths.dataset, 'val.jsonl');
  const val = groupByCapability(fs.existsSync(valFile) ? readExamples(valFile) : []);
  const caps = CAPABILITIES.filter((c) => train[c].length > 0);
  if (!caps.length) throw new BbioError('E_IO', `${ctx.paths.dataset}/train.jsonl has no examples`, {}, 'run the synthesize stage');

  const compute = await open(cfg.model, { log: ctx.log, tokenizer });
  await ctx.updateManifest({ backend: compute.describe(), chatFormat: chat.source });
  try {
    const config = await compute.loadModel(baseDir);
    const refSlot = await preparePolicy(ctx, compute, caps.length, totalSteps);
    const wOpts: WeightOptions = {
      targets: caps.map((c) => g.gap.targets[c]),
      temperature: g.gap.temperature,
      minWeight: g.gap.min_weight,
      maxWeight: g.gap.max_weight,
      ema: g.gap.ema,
      gradnormAlpha: g.gradnorm.alpha,
      gradnormLr: g.gradnorm.learning_rate,
    };
    const state = await restoreState(ctx, compute, caps, totalSteps);
    const checkpoint = (): Promise<void> => compute.saveCheckpoint(ctx.checkpointDir, state, { keep: cfg.output.keep_checkpoints });
    const orders = Object.fromEntries(caps.map((c, i) => [c, new DataOrder(train[c].length, ctx.seed + 104729 * (i + 1))])) as Record<Capability, DataOrder>;
    const scaleRewards = effectiveScaleRewards(g);
    const lossSpec: GrpoLossSpec = { lossType: g.loss_type, epsLow: g.clip_epsilon, epsHigh: g.epsilon_high ?? g.clip_epsilon, beta: g.kl_beta, importanceSampling: g.importance_sampling };
    // a completion ends at the format's end of turn (the built-in <|end|> or <|user|>, a template's end-of-turn
    // token), as in evaluation, or at a configured stop string
    const stop = [...new Set([...g.stop, ...chat.stop])];
    const maxLen = g.max_new_tokens;
    // prompts longer than the context minus the completion budget keep their end (the question and the
    // assistant marker), after the BOS token when they start with one
    const promptBudget = Math.max(8, config.max_position_embeddings - maxLen);
    const encodePrompt = (ex: SynthExample): number[] => {
      const ids = tokenizer.encode(chat.prompt(ex.prompt), { addBos: chat.addBos && tokenizer.bosId >= 0, splitSpecial: chat.splitSpecial });
      if (ids.length <= promptBudget) return ids;
      return tokenizer.bosId >= 0 && ids[0] === tokenizer.bosId ? [tokenizer.bosId, ...ids.slice(ids.length - promptBudget + 1)] : ids.slice(ids.length - promptBudget);
    };
    const probeSize = Math.min(cfg.eval.probe_size, 8);
    const sampling: Omit<GenerateRequest, 'prompts'> = { n: g.group_size, temperature: g.temperature, topP: g.top_p, maxNewTokens: maxLen, stop, stopIds: chat.stopIds, adapters: POLICY };

    ctx.events.emit({ kind: 'record', type: 'health', data: { metric: 'grpo/loss', meaning: 'a GRPO loss near 0 is expected: advantages are zero-mean within each group, so the loss is not a progress measure; watch rewards and the probe accuracy instead' } });
    ctx.log.info(`grpo: ${totalSteps} steps × ${g.prompts_per_step} prompts × G=${g.group_size}; weighting ${g.weighting}, projection ${g.projection}, loss ${g.loss_type}, scale_rewards ${scaleRewards}${g.dynamic_sampling.enabled ? `, dynamic sampling ≤ ${g.dynamic_sampling.max_rounds} rounds` : ''}; π_ref = base${refSlot.adapters ? ' + SFT adapter' : ''}`);
    const progressEvery = Math.max(1, Math.round(totalSteps / 50));
    let lastRewardMean = Number.NaN;

    /** rollout → score: G completions per prompt from π_old, each scored by the hybrid reward. */
    const rollout = async (prompts: SynthExample[]): Promise<{ groups: ScoredGroup[]; newTokens: number }> => {
      let newTokens = 0;
      const groups: ScoredGroup[] = [];
      // one prompt after the other: the sampling stream is drawn in prompt order
      for (const ex of prompts) {
        const promptIds = encodePrompt(ex);
        const completions = (await compute.generate({ ...sampling, prompts: [promptIds] }))[0]!;
        newTokens += completions.reduce((n, c) => n + c.ids.length, 0);
        const scored = completions.map((c) => hybridReward(ex, c.text, components, rctx));
        groups.push({
          example: ex,
          rollout: { prompt: promptIds, completions: completions.map((c) => c.ids) },
          completions,
          totals: scored.map((h) => h.total),
          advantages: [],
          components: scored.map((h) => h.scores.map((x) => (Number.isNaN(x) ? 0 : x))),
          breakdown: scored.map((h) => h.breakdown),
        });
      }
      return { groups, newTokens };
    };

    /** advantages: group-relative, by grpo.aggregation and grpo.scale_rewards over the whole step (advantages.ts). */
    const assignAdvantages = (groups: ScoredGroup[]): void => {
      // effective component weights are the same within a group (same prompt, same applicable components)
      const eff = groups.map((grp) => hybridReward(grp.example, grp.completions[0]!.text, components, rctx).weights);
      const { advantages } = aggregate(groups.map((grp) => grp.components), eff, g.aggregation, scaleRewards);
      groups.forEach((grp, i) => (grp.advantages = advantages[i]!));
    };

    /** update: μ = num_iterations policy steps against fixed π_old and π_ref log-probs. */
    const update = async (groups: ScoredGroup[], step: number): Promise<{ loss: number; stats: { kl: number; clipLow: number; clipHigh: number }; pairs: PairStat[]; normsRaw: number[]; entropy: number }> => {
      const rollouts = groups.map((x) => x.rollout);
      const oldLogps = await compute.logprobs(rollouts, { adapters: POLICY, temperature: g.temperature });
      const refLogps = await compute.logprobs(rollouts, { ...refSlot, temperature: g.temperature });
      const include = groups.map((grp) => grp.completions.map((c) => !(g.mask_truncated_completions && c.finishReason === 'length')));
      const entropy = await compute.entropy(rollouts, { adapters: POLICY, temperature: g.temperature });
      const capabilityOf = groups.map((grp) => caps.indexOf(grp.example.capability));
      let out = { loss: 0, stats: { kl: 0, clipLow: 0, clipHigh: 0 }, pairs: [] as PairStat[], normsRaw: caps.map(() => 0), entropy };
      for (let it = 0; it < g.num_iterations; it++) {
        const w = state.weights.weights;
        const r = await compute.grpoStep({ groups: rollouts, advantages: groups.map((x) => x.advantages), oldLogps, refLogps, include, capabilityOf, weights: w, loss: lossSpec, temperature: g.temperature, maxLen, withStats: it === 0 });
        if (!r.outcome.applied) {
          ctx.events.emit({ kind: 'log', level: 'warn', step, msg: `update rejected: non-finite values in ${r.outcome.badTensor}`, fields: { tensor: r.outcome.badTensor } });
          continue;
        }
        if (it === 0) out = { loss: r.losses.reduce((s, l, k) => s + w[k]! * l, 0), stats: r.stats ?? out.stats, pairs: r.projection.pairs, normsRaw: r.projection.normsRaw, entropy };
      }
      return out;
    };

    while (compute.step < totalSteps) {
      await yieldToEventLoop(); // lets a cancel (SIGTERM) in between steps
      if (ctx.signal.aborted) {
        await checkpoint();
        throw new BbioError('E_CANCELLED', `grpo cancelled at step ${compute.step}; checkpoint written`, {}, 'continue with run --resume');
      }
      const step = compute.step + 1;
      const tRoll = performance.now();
      const first = await rollout(pickPrompts(train, caps, g.prompts_per_step, compute.step, orders, state.cursors));
      let newTokens = first.newTokens;
      // DAPO dynamic sampling: tied groups are replaced by new prompts of the same capability
      const filled = g.dynamic_sampling.enabled
        ? await fillUntied(first.groups, async (like) => {
          const again = await rollout(like.map((x) => nextPrompt(train, x.example.capability, orders, state.cursors)));
          newTokens += again.newTokens;
          return again.groups;
        }, (x) => x.totals, g.dynamic_sampling.max_rounds)
        : { groups: first.groups, tieFraction: first.groups.filter((x) => groupTies(x.totals)).length / first.groups.length, resampled: 0, dropped: 0 };
      const groups = filled.groups;
      const rollMs = performance.now() - tRoll;
      assignAdvantages(groups);
      const tTrain = performance.now();
      const u = await update(groups, step);
      // adaptive capability weights, from this step's rewards and gradient norms
      const capRewards = caps.map((c) => {
        const rs = groups.filter((x) => x.example.capability === c).flatMap((x) => x.totals);
        return rs.length ? mean(rs) : Number.NaN;
      });
      // learning signal per capability: the fraction of its groups whose rewards do not all tie
      const capSignal = caps.map((c) => {
        const mine = groups.filter((x) => x.example.capability === c);
        return mine.length ? mine.filter((x) => !groupTies(x.totals)).length / mine.length : 0;
      });
      const obs = { rewards: capRewards, signal: capSignal, gradNorms: u.normsRaw };
      if (g.weighting === 'gap') {
        const withheld = withheldForNoSignal({ weights: state.weights.weights, running: updateRunning(state.weights, obs, wOpts.ema) }, obs, wOpts);
        if (withheld.length) ctx.events.emit({ kind: 'log', level: 'info', step, msg: `gap weighting: not raising ${withheld.map((c) => caps[c]).join(', ')}: below target but every group tied (no learning signal)`, fields: { capabilities: withheld.map((c) => caps[c]!).join(',') } });
      }
      state.weights = updateWeights(g.weighting, state.weights, obs, wOpts);
      const trainMs = performance.now() - tTrain;

      // metrics
      const rewardMean = mean(groups.flatMap((x) => x.totals));
      lastRewardMean = rewardMean;
      state.rewardHistory.push(rewardMean);
      const m = (name: Parameters<typeof ctx.events.metric>[0], v: number, labels?: Record<string, string>): void => ctx.events.metric(name, v, { step, ...(labels ? { labels } : {}) });
      m('grpo/loss', u.loss);
      m('grpo/reward_total', rewardMean);
      components.forEach((comp, k) => {
        const xs = groups.filter((x) => !Number.isNaN(hybridReward(x.example, x.completions[0]!.text, [comp], rctx).scores[0]!)).flatMap((x) => x.components.map((r) => r[k]!));
        if (!xs.length) return;
        m('grpo/reward_mean', mean(xs), { component: comp.id });
        m('grpo/reward_std', std(xs), { component: comp.id });
      });
      caps.forEach((c, k) => {
        if (Number.isFinite(capRewards[k]!)) m('grpo/reward_mean', capRewards[k]!, { component: 'total', capability: c });
        m('grpo/weight', state.weights.weights[k]!, { capability: c });
        m('grpo/signal_fraction', capSignal[k]!, { capability: c });
      });
      m('grpo/kl', u.stats.kl);
      m('grpo/clip_fraction_low', u.stats.clipLow);
      m('grpo/clip_fraction_high', u.stats.clipHigh);
      m('grpo/entropy', u.entropy);
      const comps = groups.flatMap((x) => x.completions);
      const truncation = comps.filter((c) => c.finishReason === 'length').length / comps.length;
      const ties = filled.tieFraction;
      m('grpo/completion_length', mean(comps.map((c) => c.ids.length)));
      m('grpo/truncation_rate', truncation);
      m('grpo/tie_fraction', ties);
      if (g.dynamic_sampling.enabled) m('grpo/resampled_groups', filled.resampled);
      m('grpo/rollout_tokens_per_s', (newTokens / rollMs) * 1000);
      m('system/step_ms', rollMs + trainMs, { stage: 'grpo' });
      const withData = new Set(groups.map((x) => x.example.capability));
      for (const p of u.pairs) {
        if (!withData.has(caps[p.a]!) || !withData.has(caps[p.b]!)) continue;
        m('grpo/cosine_raw', p.cosineRaw, { capability: caps[p.a]!, other: caps[p.b]! });
        m('grpo/cosine_projected', p.cosineProjected, { capability: caps[p.a]!, other: caps[p.b]! });
      }
      for (const note of healthNotes({ 'grpo/tie_fraction': ties, 'grpo/truncation_rate': truncation, 'grpo/kl': u.stats.kl, 'grpo/clip_fraction_high': u.stats.clipHigh, 'grpo/entropy': u.entropy })) {
        ctx.events.emit({ kind: 'record', type: 'health', step, data: note });
      }
      if (step % g.log_rollouts_every === 0 || step === 1) emitRollouts(ctx, step, groups, components);
      if (g.probe_every > 0 && (step % g.probe_every === 0 || step === totalSteps)) {
        const acc = await probeAccuracy(compute, val, caps, probeSize, { maxNewTokens: maxLen, stop, stopIds: chat.stopIds, rctx, encodePrompt });
        caps.forEach((c) => {
          if (acc[c] !== undefined) m('probe/accuracy', acc[c]!, { capability: c, stage: 'grpo' });
        });
        state.probeHistory.push(mean(Object.values(acc).filter((x): x is number => x !== undefined)));
        const alert = state.alerted ? null : rewardHackingAlert(state.rewardHistory, state.probeHistory);
        if (alert) {
          state.alerted = true;
          ctx.events.emit({ kind: 'record', type: 'alert', step, data: { ...alert } });
        }
      }
      if (step % progressEvery === 0 || step === totalSteps) ctx.events.emit({ kind: 'phase', stage: 'grpo', status: 'progress', step, total: totalSteps });
      if (step % g.checkpoint_every === 0 || step === totalSteps) await checkpoint();
    }
    await compute.saveAdapters(POLICY, ctx.paths.grpo_adapter, { baseModel: baseDir, stage: 'grpo' });
    ctx.events.emit({ kind: 'artifact', path: path.relative(ctx.runDir, ctx.paths.grpo_adapter), type: 'adapter', description: 'LoRA adapter after capability-aware GRPO, PEFT format' });
    const h = state.rewardHistory;
    const k = Math.max(1, Math.ceil(h.length / 10));
    const summary: Record<string, number> = { steps: compute.step, reward_first10pct: mean(h.slice(0, k)), reward_last10pct: mean(h.slice(-k)) };
    if (Number.isFinite(lastRewardMean)) summary.reward = lastRewardMean;
    caps.forEach((c, i) => (summary[`weight_${c}`] = state.weights.weights[i]!));
    return { summary };
  } finally {
    await compute.dispose();
  }
}

/** The first two groups of a step with every completion's reward, advantage and components (the inspector's rollouts). */
function emitRollouts(ctx: StageContext, step: number, groups: readonly ScoredGroup[], components: readonly ComponentSpec[]): void {
  ctx.events.emit({
    kind: 'record', type: 'rollouts', step,
    data: {
      groups: groups.slice(0, 2).map((x) => ({
        capability: x.example.capability, exampleId: x.example.id, prompt: x.example.prompt, gold: x.example.answer,
        completions: x.completions.map((c, i) => ({ text: c.text, truncated: c.finishReason === 'length', reward: x.totals[i], advantage: x.advantages[i], components: Object.fromEntries(components.map((comp, k) => [comp.id, x.components[i]![k]])), extracted: extractFinalAnswer(c.text) ?? '', breakdown: x.breakdown[i] })),
      })),
    },
  });
}

/** Held-out task accuracy apart from the reward: greedy answers to a few validation prompts per capability. */
async function probeAccuracy(
  compute: Compute,
  val: Record<Capability, SynthExample[]>,
  caps: readonly Capability[],
  size: number,
  o: { maxNewTokens: number; stop: string[]; stopIds: readonly number[]; rctx: RewardContext; encodePrompt: (ex: SynthExample) => number[] },
): Promise<Partial<Record<Capability, number>>> {
  const out: Partial<Record<Capability, number>> = {};
  for (const c of caps) {
    const items = val[c].slice(0, size);
    if (!items.length) continue;
    // one prompt at a time (batchRows 1): each decoded exactly as it would be alone
    const completions = await compute.generate({ prompts: items.map(o.encodePrompt), n: 1, temperature: 0, topP: 1, maxNewTokens: o.maxNewTokens, stop: o.stop, stopIds: o.stopIds, adapters: POLICY, batchRows: 1 });
    out[c] = mean(items.map((ex, i) => PROBE_SCORES[c](ex, completions[i]![0]!.text, o.rctx)));
  }
  return out;
}

/** The stage with its backend factory (tests pass a fake one). */
export function createGrpoStage(open: ComputeFactory = openCompute): StageDef {
  return { name: 'grpo', title: 'Capability-aware GRPO with hybrid verifiable rewards', run: (ctx) => runGrpo(ctx, open) };
}

export const grpoStage: StageDef = createGrpoStage();
