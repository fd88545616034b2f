/**
 * The `sft` stage: multi-capability LoRA with orthogonal gradient projection (DESIGN.md; the paper's
 * central idea). Every step computes one gradient per capability, g_c, over the LoRA parameters from that
 * capability's own batch, combines them by `sft.projection` (none | pcgrad | subspace | olora) and takes
 * one AdamW step. It always measures what the projection does: pairwise cosines before and after, norms,
 * conflict frequency, the subspace dimension, the time it costs, and every `interference_every` steps the
 * interference matrix — the change in capability c′'s probe loss caused by a step on capability c alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { probeAccuracy, probeLoss, selectProbeSet } from '../eval/probe';
import { selectBackend } from '../model/backend';
import { disposeModel, lmLoss, loadLlama, type LlamaModel, type LmBatch } from '../model/llama';
import { createLoraSet, disposeLoraSet, loraHook, loraVariables, type LoraSet, type TargetModule } from '../model/lora';
import { baseModelDir } from '../model/resources';
import { BpeTokenizer } from '../model/tokenizer';
import { CAPABILITIES, type Capability, type StageContext, type StageDef, type StageResult } from '../core/stage';
import { yieldToEventLoop } from '../util/async';
import { BbioError } from '../util/errors';
import { makeRng, type Rng } from '../util/rng';
import { saveAdapterDir } from '../model/adapters';
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint';
import { DataOrder } from './data';
import { groupByCapability, responseTokens, supervisedBatch, tokenizeExample, tokenPieces, type TokenizedExample } from './examples';
import { readExamples } from '../core/dataset';
import { addScaled, type HostGrads, type NamedVariable } from './grads';
import { combineGradients, type ProjectionMethod } from './projection/combine';
import { projectionHealth } from './projection/health';
import { oloraPenalty } from './projection/olora';
import { SubspaceProjector, type SubspaceState } from './projection/subspace';
import { Trainer } from './trainer';

interface SftState {
  optimizerStep: number;
  badSteps: number;
  /** Batches consumed per capability. */
  cursors: Record<string, number>;
  rng: number[];
  conflicts: Record<string, number>;
  loggedSteps: number;
  lastLoss: Record<string, number>;
  subspaceStep: number;
}

const PROBE_ROWS = 8;
/** Examples per capability whose tokens go to the editor's dataset preview (an `examples` record). */
const PREVIEW_PER_CAPABILITY = 3;

/** Mean loss of a few fixed rows per capability, no gradients. */
function probeLosses(model: LlamaModel, hook: ReturnType<typeof loraHook>, probes: Partial<Record<Capability, LmBatch>>): Partial<Record<Capability, number>> {
  const out: Partial<Record<Capability, number>> = {};
  for (const [c, b] of Object.entries(probes) as [Capability, LmBatch][]) out[c] = tf.tidy(() => lmLoss(model, b, { freezeBase: true, hook }).dataSync()[0]!);
  return out;
}

/** O-LoRA penalty over the per-capability adapters, added to the combined gradient (A matrices only). */
function addOloraPenalty(set: LoraSet, vars: readonly NamedVariable[], grads: HostGrads, lambda: number): number {
  const adapters = [...set.values()];
  const modules = [...adapters[0]!.modules.keys()];
  const index = new Map(vars.map((v, i) => [v.name, i]));
  let total = 0;
  for (const m of modules) {
    const as = adapters.map((a) => a.modules.get(m)!.A.dataSync() as Float32Array);
    const [r, k] = adapters[0]!.modules.get(m)!.A.shape as [number, number];
    const p = oloraPenalty(as, r, k, lambda);
    total += p.value;
    adapters.forEach((a, i) => {
      const g = grads[index.get(`${m}.lora_A.${a.name}`)!]!;
      const d = p.grads[i]!;
      for (let j = 0; j < g.length; j++) g[j] = g[j]! + d[j]!;
    });
  }
  return total;
}

function subspaceToTensors(s: SubspaceState): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  s.windows.forEach((perM, c) => perM.forEach((w, m) => w.forEach((g, i) => out.set(`subspace.window.${c}.${m}.${i}`, { shape: [g.length], data: g }))));
  s.bases.forEach((perM, c) => perM.forEach((b, m) => b.forEach((u, i) => out.set(`subspace.basis.${c}.${m}.${i}`, { shape: [u.length], data: Float32Array.from(u) }))));
  return out;
}

function subspaceFromTensors(t: Map<string, { shape: number[]; data: Float32Array }>, caps: number, matrices: number, step: number): SubspaceState {
  const windows: Float32Array[][][] = Array.from({ length: caps }, () => Array.from({ length: matrices }, () => []));
  const bases: Float64Array[][][] = Array.from({ length: caps }, () => Array.from({ length: matrices }, () => []));
  const keys = [...t.keys()].filter((k) => k.startsWith('subspace.')).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  for (const k of keys) {
    const [, kind, c, m] = k.split('.');
    const data = t.get(k)!.data;
    if (kind === 'window') windows[Number(c)]![Number(m)]!.push(Float32Array.from(data));
    else bases[Number(c)]![Number(m)]!.push(Float64Array.from(data));
  }
  return { step, windows, bases };
}

export async function runSft(ctx: StageContext): Promise<StageResult> {
  const cfg = ctx.config;
  const s = cfg.sft;
  const backend = await selectBackend(cfg.model.backend, { log: ctx.log });
  await ctx.updateManifest({ backend });
  const totalSteps = Math.max(1, Math.round(s.steps * ctx.stepsScale));
  const warmup = Math.min(Math.round(s.schedule.warmup_steps * ctx.stepsScale), totalSteps - 1);

  const baseDir = baseModelDir(ctx);
  const model = loadLlama(baseDir);
  const tokenizer = await BpeTokenizer.load(path.join(baseDir, 'tokenizer.json'));
  const maxLen = model.config.max_position_embeddings - 1;
  const padId = tokenizer.padId >= 0 ? tokenizer.padId : Math.max(0, tokenizer.eosId);
  const trainExamples = readExamples(path.join(ctx.paths.dataset, 'train.jsonl'));
  const train = groupByCapability(trainExamples.map((e) => tokenizeExample(tokenizer, e, maxLen)));
  const valFile = path.join(ctx.paths.dataset, 'val.jsonl');
  const valExamples = fs.existsSync(valFile) ? readExamples(valFile) : [];
  const val = groupByCapability(valExamples.map((e) => tokenizeExample(tokenizer, e, maxLen)));
  // the fixed probe subset the held-out curves are drawn on (eval.probe_size per capability)
  const probeSet = selectProbeSet(valExamples, cfg.eval.probe_size, ctx.seed);
  const caps = CAPABILITIES.filter((c) => train[c].length > 0);
  if (!caps.length) throw new BbioError('E_IO', `${ctx.paths.dataset}/train.jsonl has no examples`, {}, 'run the synthesize stage');
  const weights = caps.map((c) => s.capability_weights[c]);
  const wsum = weights.reduce((a, b) => a + b, 0);
  const w = weights.map((x) => x / wsum);
  const method: ProjectionMethod = s.projection === 'olora' ? s.olora.combine_with : s.projection;
  const perCapability = cfg.lora.adapters === 'per_capability';

  const rngInit = makeRng(ctx.seed).fork('lora-init');
  const spec = { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: cfg.lora.dropout, targetModules: cfg.lora.target_modules as TargetModule[] };
  const set = createLoraSet(model, perCapability ? caps : ['default'], spec, rngInit);
  const vars = loraVariables(set);
  const varsOf = (c: Capability): NamedVariable[] => (perCapability ? loraVariables(set, [c]) : vars);
  const indexOf = new Map(vars.map((v, i) => [v.name, i]));

  const ckpt = ctx.resume ? loadLatestCheckpoint<SftState>(ctx.checkpointDir) : null;
  if (!ckpt) await fs.promises.rm(ctx.checkpointDir, { recursive: true, force: true });
  const orders = Object.fromEntries(caps.map((c, i) => [c, new DataOrder(train[c].length, ctx.seed + 7919 * (i + 1))])) as Record<Capability, DataOrder>;
  const probeBatch = (rows: TokenizedExample[]): LmBatch | undefined => (rows.length ? supervisedBatch(rows.slice(0, PROBE_ROWS), padId) : undefined);
  const probes = Object.fromEntries(caps.flatMap((c) => {
    const b = probeBatch(val[c].length ? val[c] : train[c]);
    return b ? [[c, b]] : [];
  })) as Partial<Record<Capability, LmBatch>>;

  const trainer = new Trainer({
    vars,
    decay: () => s.weight_decay > 0,
    schedule: { peak: s.learning_rate, warmupSteps: warmup, totalSteps, shape: s.schedule.type, minLrRatio: s.schedule.min_lr_ratio },
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: s.weight_decay },
    gradClip: s.grad_clip,
    maxBadSteps: s.max_bad_steps,
  });
  const state: SftState = { optimizerStep: 0, badSteps: 0, cursors: Object.fromEntries(caps.map((c) => [c, 0])), rng: [], conflicts: {}, loggedSteps: 0, lastLoss: {}, subspaceStep: 0 };
  let rng: Rng = makeRng(ctx.seed).fork('sft');
  const subOpts = { energy: s.subspace.energy, window: s.subspace.window, refreshEvery: s.subspace.refresh_every, maxRank: s.subspace.max_rank };
  let subspace = method === 'subspace' ? new SubspaceProjector(caps.length, vars.length, subOpts) : undefined;
  if (ckpt) {
    trainer.restore({ params: ckpt.params, optimizer: new Map([...ckpt.optimizer].filter(([k]) => !k.startsWith('subspace.'))), optimizerStep: ckpt.state.optimizerStep, badSteps: ckpt.state.badSteps });
    Object.assign(state, ckpt.state);
    rng = makeRng(0, state.rng);
    if (method === 'subspace') subspace = new SubspaceProjector(caps.length, vars.length, subOpts, subspaceFromTensors(ckpt.optimizer, caps.length, vars.length, state.subspaceStep));
    ctx.events.emit({ kind: 'phase', stage: 'sft', status: 'resumed', step: trainer.step, total: totalSteps });
  }
  const checkpoint = async (): Promise<void> => {
    const snap = trainer.snapshot();
    state.optimizerStep = snap.optimizerStep;
    state.badSteps = snap.badSteps;
    state.rng = rng.state();
    const optimizer = new Map(snap.optimizer);
    if (subspace) {
      state.subspaceStep = subspace.snapshot().step;
      for (const [k, v] of subspaceToTensors(subspace.snapshot())) optimizer.set(k, v);
    }
    await saveCheckpoint(ctx.checkpointDir, { step: trainer.step, params: snap.params, optimizer, state }, { keep: cfg.output.keep_checkpoints });
  };

  // the dataset preview's token view: the first examples of each capability as the model sees them
  const preview = caps.flatMap((c) => trainExamples.filter((e) => e.capability === c).slice(0, PREVIEW_PER_CAPABILITY));
  ctx.events.emit({ kind: 'record', type: 'examples', data: { note: 'tokens from trainedFrom on are the SFT loss targets', examples: preview.map((e) => ({ id: e.id, capability: e.capability, ...tokenPieces(tokenizer, tokenizeExample(tokenizer, e, maxLen)) })) } });
  ctx.log.info(`sft: ${caps.map((c) => `${c} ${train[c].length}`).join(', ')} examples; projection ${s.projection}${s.projection === 'olora' ? ` (+${method})` : ''}, ${perCapability ? 'one adapter per capability' : 'one shared adapter'}, ${vars.length} LoRA tensors, ${totalSteps} steps`);
  const progressEvery = Math.max(1, Math.round(totalSteps / 50));
  const pairKey = (a: Capability, b: Capability): string => `${a}|${b}`;
  const interference: number[][] = [];
  try {
    while (trainer.step < totalSteps) {
      await yieldToEventLoop(); // lets a cancel (SIGTERM) in between steps
      if (ctx.signal.aborted) {
        await checkpoint();
        throw new BbioError('E_CANCELLED', `sft cancelled at step ${trainer.step}; checkpoint written`, {}, 'continue with run --resume');
      }
      const t0 = performance.now();
      const grads: HostGrads[] = [];
      const losses: number[] = [];
      let tokens = 0;
      for (const c of caps) {
        const own = varsOf(c);
        const full: HostGrads = vars.map((v) => new Float32Array(v.variable.size));
        let lossSum = 0;
        for (let micro = 0; micro < s.grad_accumulation; micro++) {
          const rows = orders[c].batch(state.cursors[c]!, s.batch_per_capability).map((i) => train[c][i]!);
          state.cursors[c] = state.cursors[c]! + 1;
          tokens += responseTokens(rows);
          const batch = supervisedBatch(rows, padId);
          const hook = loraHook(set, { training: true, rng });
          const { value, grads: g } = tf.tidy(() => {
            const r = tf.variableGrads(() => lmLoss(model, batch, { freezeBase: true, hook }), own.map((v) => v.variable));
            return { value: r.value, grads: r.grads };
          });
          lossSum += value.dataSync()[0]!;
          own.forEach((v) => {
            const gt = g[v.variable.name];
            if (gt) addScaled([full[indexOf.get(v.name)!]!], [gt.dataSync() as Float32Array], 1 / s.grad_accumulation);
          });
          value.dispose();
          Object.values(g).forEach((t) => t.dispose());
        }
        grads.push(full);
        losses.push(lossSum / s.grad_accumulation);
      }
      const combined = combineGradients(grads, w, method, s.projection_scope, { rng, ...(subspace ? { subspace } : {}) });
      let penalty: number | undefined;
      if (s.projection === 'olora' && perCapability && caps.length > 1) penalty = addOloraPenalty(set, vars, combined.combined, s.olora.lambda);
      const meanLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
      const out = trainer.applyGradients(combined.combined, { loss: meanLoss });
      const ms = performance.now() - t0;
      if (!out.applied) {
        ctx.events.emit({ kind: 'log', level: 'warn', step: out.step, msg: `step rejected: non-finite values in ${out.badTensor}`, fields: { tensor: out.badTensor, badSteps: out.badSteps } });
        continue;
      }
      const step = out.step;
      caps.forEach((c, i) => {
        ctx.events.metric('sft/loss', losses[i]!, { step, labels: { capability: c } });
        state.lastLoss[c] = losses[i]!;
      });
      ctx.events.metric('sft/lr', out.lr, { step });
      ctx.events.metric('sft/grad_norm', out.gradNorm, { step });
      ctx.events.metric('sft/tokens_per_s', (tokens / ms) * 1000, { step });
      ctx.events.metric('sft/projection_ms', combined.projectionMs, { step });
      ctx.events.metric('system/step_ms', ms, { step, labels: { stage: 'sft' } });
      if (penalty !== undefined) ctx.events.metric('sft/olora_penalty', penalty, { step });
      state.loggedSteps += 1;
      for (const p of combined.pairs) {
        const k = pairKey(caps[p.a]!, caps[p.b]!);
        state.conflicts[k] = (state.conflicts[k] ?? 0) + (p.conflict ? 1 : 0);
      }
      if (step % s.log_every === 0 || step === totalSteps) {
        for (const p of combined.pairs) {
          const labels = { capability: caps[p.a]!, other: caps[p.b]! };
          ctx.events.metric('sft/cosine_raw', p.cosineRaw, { step, labels });
          ctx.events.metric('sft/cosine_projected', p.cosineProjected, { step, labels });
          ctx.events.metric('sft/conflict_fraction', (state.conflicts[pairKey(caps[p.a]!, caps[p.b]!)] ?? 0) / state.loggedSteps, { step, labels });
        }
        caps.forEach((c, i) => {
          ctx.events.metric('sft/grad_norm_raw', combined.normsRaw[i]!, { step, labels: { capability: c } });
          ctx.events.metric('sft/grad_norm_projected', combined.normsProjected[i]!, { step, labels: { capability: c } });
        });
        const pairFractions = combined.pairs.map((p) => (state.conflicts[pairKey(caps[p.a]!, caps[p.b]!)] ?? 0) / state.loggedSteps);
        for (const note of projectionHealth({ capabilities: caps, method, pairs: combined.pairs, normsRaw: combined.normsRaw, normsProjected: combined.normsProjected, conflictFractions: pairFractions, loggedSteps: state.loggedSteps })) {
          ctx.events.emit({ kind: 'record', type: 'health', step, data: note });
        }
        if (subspace) {
          subspace.dims().forEach((perM, i) => ctx.events.metric('sft/subspace_dim', perM.reduce((a, b) => a + b, 0) / perM.length, { step, labels: { capability: caps[i]!, matrix: 'mean' } }));
        }
      }
      if (s.interference_every > 0 && (step % s.interference_every === 0 || step === totalSteps)) {
        // the updates as the method applies them: projected (for projection none, the raw gradients)
        const m = measureInterference(model, set, vars, caps, combined.projected, probes, s.learning_rate);
        interference.splice(0, interference.length, ...m);
        m.forEach((row, i) => row.forEach((d, j) => ctx.events.metric('sft/interference', d, { step, labels: { capability: caps[i]!, other: caps[j]! } })));
        ctx.events.emit({ kind: 'record', type: 'interference', step, data: { capabilities: caps, matrix: m, lr: s.learning_rate, note: 'row c, column c′: change in c′ probe loss after one Adam step (η per parameter) on c′s projected gradient alone; negative = helps' } });
      }
      if (step % progressEvery === 0 || step === totalSteps) ctx.events.emit({ kind: 'phase', stage: 'sft', status: 'progress', step, total: totalSteps });
      if (cfg.eval.probe_every > 0 && (step % cfg.eval.probe_every === 0 || step === totalSteps) && valExamples.length) {
        // held-out curves per capability, so forgetting one capability while another improves shows as it happens
        const hook = loraHook(set, { training: false });
        for (const [c, v] of Object.entries(probeLoss(model, hook, tokenizer, probeSet, { batchRows: 8 }))) ctx.events.metric('probe/loss', v!, { step, labels: { capability: c, stage: 'sft' } });
        for (const [c, v] of Object.entries(probeAccuracy(model, hook, tokenizer, probeSet))) ctx.events.metric('probe/accuracy', v!, { step, labels: { capability: c, stage: 'sft' } });
      }
      if (step % s.checkpoint_every === 0 || step === totalSteps) {
        const hook = loraHook(set, { training: false });
        const vl = probeLosses(model, hook, probes);
        for (const [c, v] of Object.entries(vl)) ctx.events.metric('sft/val_loss', v!, { step, labels: { capability: c } });
        await checkpoint();
      }
    }
    await saveAdapterDir(set, ctx.paths.sft_adapter, { baseModel: baseDir, stage: 'sft' });
    ctx.events.emit({ kind: 'artifact', path: path.relative(ctx.runDir, ctx.paths.sft_adapter), type: 'adapter', description: `LoRA adapter${perCapability ? 's (one per capability)' : ''}, PEFT format` });
    const summary: Record<string, number> = { steps: trainer.step };
    for (const c of caps) if (state.lastLoss[c] !== undefined) summary[`loss_${c}`] = state.lastLoss[c]!;
    const total = Object.values(state.conflicts).reduce((a, b) => a + b, 0);
    const pairs = Object.keys(state.conflicts).length || 1;
    summary.conflict_fraction = state.loggedSteps ? total / pairs / state.loggedSteps : 0;
    return { summary };
  } finally {
    disposeLoraSet(set);
    disposeModel(model);
  }
}

/**
 * Where one Adam step from fresh moments along `g` takes `params`: Adam (Kingma & Ba 2015, Algorithm 1)
 * with m₀ = v₀ = 0 has bias-corrected m̂₁ = g and v̂₁ = g², so its first update is −η·g/(|g| + ε), which is
 * −η·sign(g) per parameter (0 where the gradient is 0). ε (1e-8) is dropped: it only matters for |g| ≲ ε.
 */
export function adamFirstStep(params: Float32Array, grad: Float32Array, lr: number): Float32Array {
  const next = new Float32Array(params.length);
  for (let j = 0; j < next.length; j++) next[j] = params[j]! - lr * Math.sign(grad[j]!);
  return next;
}

/**
 * Interference matrix M[c][c′] = L_c′(θ + Δ_c) − L_c′(θ): the change in capability c′'s probe loss when θ
 * takes one Adam step (adamFirstStep, learning rate η) on capability c's update alone — its gradient after
 * projection, as the method applies it (the raw gradient when projection is none), so an ablation shows
 * the interference a projection prevents. Every parameter moves by η, as in a real update, so the figure
 * is comparable across steps and capabilities and independent of the gradient's scale. (A step of the same
 * total length along ĝ_c instead, which this measured before, piles the whole move on a few
 * large-gradient parameters and overshoots: the diagonal came out positive.) A negative entry means the
 * step helped c′; the diagonal is c's own progress. θ is restored afterwards.
 */
export function measureInterference(model: LlamaModel, set: LoraSet, vars: readonly NamedVariable[], caps: readonly Capability[], grads: readonly HostGrads[], probes: Partial<Record<Capability, LmBatch>>, lr: number): number[][] {
  const hook = loraHook(set, { training: false });
  const before = probeLosses(model, hook, probes);
  const saved = vars.map((v) => (v.variable.dataSync() as Float32Array).slice());
  try {
    return caps.map((_, i) => {
      vars.forEach((v, k) => v.variable.assign(tf.tensor(adamFirstStep(saved[k]!, grads[i]![k]!, lr), v.variable.shape)));
      const after = probeLosses(model, hook, probes);
      return caps.map((c) => (after[c] ?? Number.NaN) - (before[c] ?? Number.NaN));
    });
  } finally {
    vars.forEach((v, k) => v.variable.assign(tf.tensor(saved[k]!, v.variable.shape)));
  }
}

export const sftStage: StageDef = {
  name: 'sft',
  title: 'Multi-capability LoRA with orthogonal gradient projection',
  run: runSft,
};
