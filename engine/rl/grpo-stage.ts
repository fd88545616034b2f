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
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../model/backend';
import { disposeModel, loadLlama, type LlamaModel } from '../model/llama';
import { createLoraSet, disposeLoraSet, loraHook, loraVariables, type LoraSet, type TargetModule } from '../model/lora';
import { BpeTokenizer } from '../model/tokenizer';
import { outputExists } from '../core/outputs';
import { CAPABILITIES, type Capability, type StageContext, type StageDef, type StageResult } from '../core/stage';
import { loadExperimentOntology } from '../ontology/experiment';
import { CHAT_MARKERS } from '../core/chat';
import type { SynthExample } from '../core/example';
import { adamwHyperDefaults } from './defaults';
import { loadAdapterDir, saveAdapterDir } from '../model/adapters';
import { loadLatestCheckpoint, saveCheckpoint } from '../train/checkpoint';
import { DataOrder } from '../train/data';
import { groupByCapability } from '../train/examples';
import { readExamples } from '../core/dataset';
import { promptPrefix } from '../core/chat';
import type { HostGrads } from '../train/grads';
import { combineGradients } from '../train/projection/combine';
import { SubspaceProjector } from '../train/projection/subspace';
import { Trainer } from '../train/trainer';
import { baseModelDir } from '../model/resources';
import { yieldToEventLoop } from '../util/async';
import { BbioError } from '../util/errors';
import { makeRng, type Rng } from '../util/rng';
import { aggregate, groupTies, mean, std } from './advantages';
import { EdgeIndex, extractFinalAnswer, TermLexicon } from '../verify/answers';
import { grpoLoss, grpoStats, type GrpoLossOptions } from './loss';
import { groupEntropy, groupTokenLogps, type GroupRollout } from './policy';
import { REWARDS, type RewardContext } from '../verify/rewards';
import { PROBE_SCORES } from '../verify/scorers';
import { hybridReward, type ComponentSpec } from './hybrid-reward';
import { sampleGroup, type Completion } from './sampling';
import { loadCustomRewards } from './custom-reward';
import { updateWeights, type WeightOptions, type WeightState } from './weighting';

interface GrpoState {
  optimizerStep: number;
  badSteps: number;
  cursors: Record<string, number>;
  rng: number[];
  weights: WeightState;
  rewardHistory: number[];
  probeHistory: number[];
  alerted: boolean;
}

/** One prompt's group after scoring. */
interface ScoredGroup {
  example: SynthExample;
  rollout: GroupRollout;
  completions: Completion[];
  totals: number[];
  advantages: number[];
  components: number[][];
  breakdown: Record<string, Record<string, number | string>>[];
}

/** Plain-language health rules: each a metric, a threshold and what it means (shown in the editor). */
const HEALTH: { metric: string; test: (v: number) => boolean; meaning: string }[] = [
  { metric: 'grpo/tie_fraction', test: (v) => v > 0.5, meaning: 'over half of the groups tie (every completion got the same reward): they carry no signal; raise temperature or group_size' },
  { metric: 'grpo/truncation_rate', test: (v) => v > 0.5, meaning: 'most completions hit max_new_tokens: raise max_new_tokens or set mask_truncated_completions' },
  { metric: 'grpo/kl', test: (v) => v > 0.5, meaning: 'the policy drifted far from the reference: raise kl_beta or lower the learning rate' },
  { metric: 'grpo/clip_fraction_high', test: (v) => v > 0.2, meaning: 'many ratios are clipped: updates are too large for the trust region; lower the learning rate or num_iterations' },
  { metric: 'grpo/entropy', test: (v) => v < 0.05, meaning: 'the policy is nearly deterministic: exploration has collapsed; raise temperature' },
];

function pickPrompts(byCap: Record<Capability, SynthExample[]>, caps: readonly Capability[], perStep: number, step: number, orders: Record<Capability, DataOrder>, cursors: Record<string, number>): SynthExample[] {
  const out: SynthExample[] = [];
  for (let i = 0; i < perStep; i++) {
    const c = caps[(step * perStep + i) % caps.length]!;
    out.push(byCap[c][orders[c].indexAt(cursors[c]!)]!);
    cursors[c] = cursors[c]! + 1;
  }
  return out;
}

export async function runGrpo(ctx: StageContext): Promise<StageResult> {
  const cfg = ctx.config;
  const g = cfg.grpo;
  const backend = await selectBackend(cfg.model.backend, { log: ctx.log });
  await ctx.updateManifest({ backend });
  const totalSteps = Math.max(1, Math.round(g.steps * ctx.stepsScale));
  const baseDir = baseModelDir(ctx);
  const model: LlamaModel = loadLlama(baseDir);
  const tokenizer = await BpeTokenizer.load(path.join(baseDir, 'tokenizer.json'));
  const padId = tokenizer.padId >= 0 ? tokenizer.padId : Math.max(0, tokenizer.eosId);
  const ont = await loadExperimentOntology(cfg, ctx.experimentFile);
  const rctx: RewardContext = { lexicon: new TermLexicon(ont), edges: new EdgeIndex(ont) };
  const custom = await loadCustomRewards(cfg, ctx.experimentFile);
  const components: ComponentSpec[] = g.rewards.map((r) => (r.name === 'custom' ? custom.get(r.id!)! : { id: r.name, weight: r.weight, fn: REWARDS[r.name] }));

  const train = groupByCapability(readExamples(path.join(ctx.paths.dataset, 'train.jsonl')));
  const valFile = path.join(ctx.paths.dataset, 'val.jsonl');
  const val = groupByCapability(fs.existsSync(valFile) ? readExamples(valFile) : []);
  const caps = CAPABILITIES.filter((c) => train[c].length > 0);
  if (!caps.length) throw new BbioError('E_IO', `${ctx.paths.dataset}/train.jsonl has no examples`, {}, 'run the synthesize stage');

  // π_ref = base + SFT adapter (frozen); the policy is a trainable copy of it (or fresh LoRA without SFT)
  const hasSft = await outputExists('sft_adapter', ctx.paths.sft_adapter);
  const ref: LoraSet | undefined = hasSft ? loadAdapterDir(model, ctx.paths.sft_adapter) : undefined;
  const spec = { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: 0, targetModules: cfg.lora.target_modules as TargetModule[] };
  const policy: LoraSet = hasSft ? loadAdapterDir(model, ctx.paths.sft_adapter) : createLoraSet(model, ['default'], spec, makeRng(ctx.seed).fork('lora-init'));
  const vars = loraVariables(policy);
  const policyHook = loraHook(policy, { training: false });
  const refHook = ref ? loraHook(ref, { training: false }) : undefined;
  if (!hasSft) ctx.log.warn('grpo: no SFT adapter in this run; π_ref is the base model and the policy starts from a fresh LoRA adapter');

  const trainer = new Trainer({
    vars,
    decay: () => false,
    schedule: { peak: g.learning_rate, warmupSteps: 0, totalSteps, shape: 'constant', minLrRatio: 1 },
    adam: adamwHyperDefaults(0),
    gradClip: 1.0,
  });
  const wOpts: WeightOptions = {
    targets: caps.map((c) => g.gap.targets[c]),
    temperature: g.gap.temperature,
    minWeight: g.gap.min_weight,
    maxWeight: g.gap.max_weight,
    ema: g.gap.ema,
    gradnormAlpha: g.gradnorm.alpha,
    gradnormLr: g.gradnorm.learning_rate,
  };
  const initial = caps.map((c) => g.capability_weights[c]);
  const wsum = initial.reduce((a, b) => a + b, 0);
  const state: GrpoState = { optimizerStep: 0, badSteps: 0, cursors: Object.fromEntries(caps.map((c) => [c, 0])), rng: [], weights: { weights: initial.map((x) => x / wsum), running: caps.map(() => Number.NaN) }, rewardHistory: [], probeHistory: [], alerted: false };
  let rng: Rng = makeRng(ctx.seed).fork('grpo');
  const ckpt = ctx.resume ? loadLatestCheckpoint<GrpoState>(ctx.checkpointDir) : null;
  if (!ckpt) await fs.promises.rm(ctx.checkpointDir, { recursive: true, force: true });
  if (ckpt) {
    trainer.restore({ params: ckpt.params, optimizer: ckpt.optimizer, optimizerStep: ckpt.state.optimizerStep, badSteps: ckpt.state.badSteps });
    Object.assign(state, ckpt.state);
    state.weights.running = state.weights.running.map((x) => (x === null ? Number.NaN : x));
    rng = makeRng(0, state.rng);
    ctx.events.emit({ kind: 'phase', stage: 'grpo', status: 'resumed', step: trainer.step, total: totalSteps });
  }
  const checkpoint = async (): Promise<void> => {
    const snap = trainer.snapshot();
    state.optimizerStep = snap.optimizerStep;
    state.badSteps = snap.badSteps;
    state.rng = rng.state();
    await saveCheckpoint(ctx.checkpointDir, { step: trainer.step, params: snap.params, optimizer: snap.optimizer, state }, { keep: cfg.output.keep_checkpoints });
  };
  const orders = Object.fromEntries(caps.map((c, i) => [c, new DataOrder(train[c].length, ctx.seed + 104729 * (i + 1))])) as Record<Capability, DataOrder>;
  const subspace = g.projection === 'subspace' ? new SubspaceProjector(caps.length, vars.length, { energy: cfg.sft.subspace.energy, window: cfg.sft.subspace.window, refreshEvery: cfg.sft.subspace.refresh_every, maxRank: cfg.sft.subspace.max_rank }) : undefined;
  const lossOpts: GrpoLossOptions = { lossType: g.loss_type, epsLow: g.clip_epsilon, epsHigh: g.epsilon_high ?? g.clip_epsilon, beta: g.kl_beta, importanceSampling: g.importance_sampling };
  const stop = [...new Set([...g.stop, CHAT_MARKERS.end])];
  const maxLen = g.max_new_tokens;
  const decode = (ids: number[]): string => tokenizer.decode(ids, { skipSpecial: true });
  // prompts longer than the context minus the completion budget keep their end (the question and the
  // assistant marker), after the BOS token
  const promptBudget = Math.max(8, model.config.max_position_embeddings - maxLen);
  const encodePrompt = (ex: SynthExample): number[] => {
    const ids = tokenizer.encode(promptPrefix(ex.prompt), { addBos: tokenizer.bosId >= 0, splitSpecial: false });
    if (ids.length <= promptBudget) return ids;
    return tokenizer.bosId >= 0 ? [tokenizer.bosId, ...ids.slice(ids.length - promptBudget + 1)] : ids.slice(ids.length - promptBudget);
  };
  const fwdPolicy = { freezeBase: true, hook: policyHook };
  const fwdRef = refHook ? { freezeBase: true, hook: refHook } : { freezeBase: true };
  const probeSize = Math.min(cfg.eval.probe_size, 8);

  ctx.events.emit({ kind: 'record', type: 'health', data: { metric: 'grpo/loss', meaning: 'a GRPO loss near 0 is expected: advantages are zero-mean within each group, so the loss is not a progress measure; watch rewards and the probe accuracy instead' } });
  ctx.log.info(`grpo: ${totalSteps} steps × ${g.prompts_per_step} prompts × G=${g.group_size}; weighting ${g.weighting}, projection ${g.projection}, loss ${g.loss_type}; π_ref = base${hasSft ? ' + SFT adapter' : ''}`);
  const progressEvery = Math.max(1, Math.round(totalSteps / 50));
  let lastRewardMean = Number.NaN;
  try {
    while (trainer.step < totalSteps) {
      await yieldToEventLoop(); // lets a cancel (SIGTERM) in between steps
      if (ctx.signal.aborted) {
        await checkpoint();
        throw new BbioError('E_CANCELLED', `grpo cancelled at step ${trainer.step}; checkpoint written`, {}, 'continue with run --resume');
      }
      const step = trainer.step + 1;
      const tRoll = performance.now();
      const prompts = pickPrompts(train, caps, g.prompts_per_step, trainer.step, orders, state.cursors);
      let newTokens = 0;
      const groups: ScoredGroup[] = prompts.map((ex) => {
        const promptIds = encodePrompt(ex);
        const completions = sampleGroup(model, promptIds, g.group_size, { maxNewTokens: maxLen, temperature: g.temperature, topP: g.top_p, ...(tokenizer.eosId >= 0 ? { eosId: tokenizer.eosId } : {}), stop, decode, rng, forward: fwdPolicy });
        newTokens += completions.reduce((s, c) => s + c.ids.length, 0);
        const scored = completions.map((c) => hybridReward(ex, c.text, components, rctx));
        return {
          example: ex,
          rollout: { prompt: promptIds, completions: completions.map((c) => c.ids) },
          completions,
          totals: scored.map((h) => h.total),
          advantages: [],
          components: scored.map((h) => h.scores.map((x) => (Number.isNaN(x) ? 0 : x))),
          breakdown: scored.map((h) => h.breakdown),
        };
      });
      const rollMs = performance.now() - tRoll;
      // effective component weights are the same within a group (same prompt, same applicable components)
      for (const grp of groups) {
        const eff = hybridReward(grp.example, grp.completions[0]!.text, components, rctx).weights;
        const { advantages } = aggregate([grp.components], eff, g.aggregation, g.scale_rewards === 'batch' ? 'group' : g.scale_rewards);
        grp.advantages = advantages[0]!;
      }
      if (g.scale_rewards === 'batch') {
        const all = groups.flatMap((x) => x.totals);
        const s = std(all);
        for (const grp of groups) {
          const m = mean(grp.totals);
          grp.advantages = grp.totals.map((r) => (r - m) / (s + 1e-4));
        }
      }
      const tTrain = performance.now();
      // π_old and π_ref log-probs: constants of this step
      const oldLogps = groups.map((grp) => tf.keep(tf.tidy(() => groupTokenLogps(model, grp.rollout, { temperature: g.temperature, maxLen, padId, forward: fwdPolicy }))));
      const refLogps = groups.map((grp) => tf.keep(tf.tidy(() => groupTokenLogps(model, grp.rollout, { temperature: g.temperature, maxLen, padId, forward: fwdRef }))));
      const masks = groups.map((grp) => {
        const m = new Float32Array(grp.completions.length * maxLen);
        grp.completions.forEach((c, i) => {
          if (g.mask_truncated_completions && c.truncated) return;
          for (let t = 0; t < Math.min(c.ids.length, maxLen); t++) m[i * maxLen + t] = 1;
        });
        return tf.keep(tf.tensor2d(m, [grp.completions.length, maxLen]));
      });
      const entropy = mean(groups.map((grp) => groupEntropy(model, grp.rollout, { temperature: g.temperature, padId, forward: fwdPolicy })));
      const byCap = caps.map((c) => groups.map((grp, i) => (grp.example.capability === c ? i : -1)).filter((i) => i >= 0));
      const capsWithData = caps.filter((_, k) => byCap[k]!.length > 0);
      let lossTotal = 0;
      let stats = { kl: 0, clipLow: 0, clipHigh: 0 };
      let combinedPairs: ReturnType<typeof combineGradients>['pairs'] = [];
      let normsRaw: number[] = caps.map(() => 0);
      try {
        for (let it = 0; it < g.num_iterations; it++) {
          const grads: HostGrads[] = [];
          const losses: number[] = [];
          const statsAcc: { kl: number; clipLow: number; clipHigh: number }[] = [];
          for (let k = 0; k < caps.length; k++) {
            const idx = byCap[k]!;
            if (!idx.length) {
              grads.push(vars.map((v) => new Float32Array(v.variable.size)));
              losses.push(0);
              continue;
            }
            const inputs = () => ({
              logp: tf.concat(idx.map((i) => groupTokenLogps(model, groups[i]!.rollout, { temperature: g.temperature, maxLen, padId, forward: fwdPolicy })), 0) as tf.Tensor2D,
              oldLogp: tf.concat(idx.map((i) => oldLogps[i]!), 0) as tf.Tensor2D,
              refLogp: tf.concat(idx.map((i) => refLogps[i]!), 0) as tf.Tensor2D,
              advantages: tf.tensor1d(idx.flatMap((i) => groups[i]!.advantages)),
              mask: tf.concat(idx.map((i) => masks[i]!), 0) as tf.Tensor2D,
            });
            const { loss, grads: gr } = trainer.computeGradients(() => grpoLoss(inputs(), lossOpts));
            grads.push(gr);
            losses.push(loss);
            if (it === 0) {
              const x = tf.tidy(() => inputs());
              statsAcc.push(grpoStats(x, lossOpts));
              tf.dispose([x.logp, x.oldLogp, x.refLogp, x.advantages, x.mask]);
            }
          }
          const w = state.weights.weights;
          const combined = combineGradients(grads, w, g.projection, 'global', { rng, ...(subspace ? { subspace } : {}) });
          const out = trainer.applyGradients(combined.combined, { loss: losses.reduce((s, l, k) => s + w[k]! * l, 0) });
          if (!out.applied) {
            ctx.events.emit({ kind: 'log', level: 'warn', step, msg: `update rejected: non-finite values in ${out.badTensor}`, fields: { tensor: out.badTensor } });
            continue;
          }
          if (it === 0) {
            lossTotal = losses.reduce((s, l, k) => s + w[k]! * l, 0);
            stats = { kl: mean(statsAcc.map((x) => x.kl)), clipLow: mean(statsAcc.map((x) => x.clipLow)), clipHigh: mean(statsAcc.map((x) => x.clipHigh)) };
            combinedPairs = combined.pairs;
            normsRaw = combined.normsRaw;
          }
        }
      } finally {
        [...oldLogps, ...refLogps, ...masks].forEach((t) => t.dispose());
      }
      // adaptive capability weights, from this step's rewards and gradient norms
      const capRewards = caps.map((c) => {
        const rs = groups.filter((x) => x.example.capability === c).flatMap((x) => x.totals);
        return rs.length ? mean(rs) : Number.NaN;
      });
      state.weights = updateWeights(g.weighting, state.weights, { rewards: capRewards, gradNorms: normsRaw }, wOpts);
      const trainMs = performance.now() - tTrain;

      // metrics
      const allTotals = groups.flatMap((x) => x.totals);
      const rewardMean = mean(allTotals);
      lastRewardMean = rewardMean;
      state.rewardHistory.push(rewardMean);
      const m = (name: Parameters<typeof ctx.events.metric>[0], v: number, labels?: Record<string, string>): void => ctx.events.metric(name, v, { step, ...(labels ? { labels } : {}) });
      m('grpo/loss', lossTotal);
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
      });
      m('grpo/kl', stats.kl);
      m('grpo/clip_fraction_low', stats.clipLow);
      m('grpo/clip_fraction_high', stats.clipHigh);
      m('grpo/entropy', entropy);
      const comps = groups.flatMap((x) => x.completions);
      m('grpo/completion_length', mean(comps.map((c) => c.ids.length)));
      m('grpo/truncation_rate', comps.filter((c) => c.truncated).length / comps.length);
      m('grpo/tie_fraction', groups.filter((x) => groupTies(x.totals)).length / groups.length);
      m('grpo/rollout_tokens_per_s', (newTokens / rollMs) * 1000);
      m('system/step_ms', rollMs + trainMs, { stage: 'grpo' });
      for (const p of combinedPairs) {
        if (!capsWithData.includes(caps[p.a]!) || !capsWithData.includes(caps[p.b]!)) continue;
        m('grpo/cosine_raw', p.cosineRaw, { capability: caps[p.a]!, other: caps[p.b]! });
        m('grpo/cosine_projected', p.cosineProjected, { capability: caps[p.a]!, other: caps[p.b]! });
      }
      const healthValues: Record<string, number> = { 'grpo/tie_fraction': groups.filter((x) => groupTies(x.totals)).length / groups.length, 'grpo/truncation_rate': comps.filter((c) => c.truncated).length / comps.length, 'grpo/kl': stats.kl, 'grpo/clip_fraction_high': stats.clipHigh, 'grpo/entropy': entropy };
      for (const h of HEALTH) {
        const v = healthValues[h.metric];
        if (v !== undefined && h.test(v)) ctx.events.emit({ kind: 'record', type: 'health', step, data: { metric: h.metric, value: v, meaning: h.meaning } });
      }
      if (step % g.log_rollouts_every === 0 || step === 1) {
        ctx.events.emit({
          kind: 'record', type: 'rollouts', step,
          data: {
            groups: groups.slice(0, 2).map((x) => ({
              capability: x.example.capability, exampleId: x.example.id, prompt: x.example.prompt, gold: x.example.answer,
              completions: x.completions.map((c, i) => ({ text: c.text, truncated: c.truncated, reward: x.totals[i], advantage: x.advantages[i], components: Object.fromEntries(components.map((comp, k) => [comp.id, x.components[i]![k]])), extracted: extractFinalAnswer(c.text) ?? '', breakdown: x.breakdown[i] })),
            })),
          },
        });
      }
      if (g.probe_every > 0 && (step % g.probe_every === 0 || step === totalSteps)) {
        const acc = probeAccuracy(model, tokenizer, val, caps, probeSize, { maxNewTokens: maxLen, stop, decode, forward: fwdPolicy, rctx, encodePrompt });
        caps.forEach((c) => {
          if (acc[c] !== undefined) m('probe/accuracy', acc[c]!, { capability: c, stage: 'grpo' });
        });
        const meanAcc = mean(Object.values(acc).filter((x): x is number => x !== undefined));
        state.probeHistory.push(meanAcc);
        if (!state.alerted && state.probeHistory.length >= 2 && state.rewardHistory.length >= 4) {
          const r0 = mean(state.rewardHistory.slice(0, Math.ceil(state.rewardHistory.length / 4)));
          const r1 = mean(state.rewardHistory.slice(-Math.ceil(state.rewardHistory.length / 4)));
          const a0 = state.probeHistory[0]!;
          const a1 = state.probeHistory[state.probeHistory.length - 1]!;
          if (r1 - r0 > 0.05 && a0 - a1 > 0.05) {
            state.alerted = true;
            ctx.events.emit({ kind: 'record', type: 'alert', step, data: { title: 'reward up, task accuracy down', meaning: 'the mean reward rose while held-out accuracy fell: the policy may be exploiting the reward (reward hacking); inspect the rollouts and the reward components', reward: { from: r0, to: r1 }, accuracy: { from: a0, to: a1 } } });
          }
        }
      }
      if (step % progressEvery === 0 || step === totalSteps) ctx.events.emit({ kind: 'phase', stage: 'grpo', status: 'progress', step, total: totalSteps });
      if (step % g.checkpoint_every === 0 || step === totalSteps) await checkpoint();
    }
    await saveAdapterDir(policy, ctx.paths.grpo_adapter, { baseModel: baseDir, stage: 'grpo' });
    ctx.events.emit({ kind: 'artifact', path: path.relative(ctx.runDir, ctx.paths.grpo_adapter), type: 'adapter', description: 'LoRA adapter after capability-aware GRPO, PEFT format' });
    const h = state.rewardHistory;
    const k = Math.max(1, Math.ceil(h.length / 10));
    const summary: Record<string, number> = { steps: trainer.step, reward_first10pct: mean(h.slice(0, k)), reward_last10pct: mean(h.slice(-k)) };
    if (Number.isFinite(lastRewardMean)) summary.reward = lastRewardMean;
    caps.forEach((c, i) => (summary[`weight_${c}`] = state.weights.weights[i]!));
    return { summary };
  } finally {
    disposeLoraSet(policy);
    if (ref) disposeLoraSet(ref);
    disposeModel(model);
  }
}

/** Held-out task accuracy apart from the reward: greedy answers to a few validation prompts per capability. */
function probeAccuracy(
  model: LlamaModel,
  tokenizer: BpeTokenizer,
  val: Record<Capability, SynthExample[]>,
  caps: readonly Capability[],
  size: number,
  o: { maxNewTokens: number; stop: string[]; decode: (ids: number[]) => string; forward: { freezeBase: boolean; hook: ReturnType<typeof loraHook> }; rctx: RewardContext; encodePrompt: (ex: SynthExample) => number[] },
): Partial<Record<Capability, number>> {
  const out: Partial<Record<Capability, number>> = {};
  const rng = makeRng(0);
  for (const c of caps) {
    const items = val[c].slice(0, size);
    if (!items.length) continue;
    const scores = items.map((ex) => {
      const [completion] = sampleGroup(model, o.encodePrompt(ex), 1, { maxNewTokens: o.maxNewTokens, temperature: 0, topP: 1, ...(tokenizer.eosId >= 0 ? { eosId: tokenizer.eosId } : {}), stop: o.stop, decode: o.decode, rng, forward: o.forward });
      return PROBE_SCORES[c](ex, completion!.text, o.rctx);
    });
    out[c] = mean(scores);
  }
  return out;
}

export const grpoStage: StageDef = {
  name: 'grpo',
  title: 'Capability-aware GRPO with hybrid verifiable rewards',
  run: runGrpo,
};
