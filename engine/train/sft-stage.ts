/**
 * The `sft` stage: multi-capability LoRA with orthogonal gradient projection (DESIGN.md; the paper's
 * central idea). Every step computes one gradient per capability, g_c, over the LoRA parameters from that
 * capability's own batch, combines them by `sft.projection` (none | pcgrad | subspace | olora) and takes
 * one AdamW step. It always measures what the projection does: pairwise cosines before and after, norms,
 * conflict frequency, the subspace dimension, the time it costs, and every `interference_every` steps the
 * interference matrix — the first-order change in capability c′'s held-out probe loss from a step on c alone, with its 95% interval.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeIdentity, openCompute, type ComputeFactory, type Compute } from '../compute';
import type { SftStepResult, TokenBatch } from '../compute/types';
import { probeAccuracy, probeLoss, selectProbeSet } from '../eval/probe';
import type { TargetModule } from '../model/lora';
import { BpeTokenizer } from '../model/tokenizer';
import { loadChatFormat } from '../model/chat-template';
import { chatFrame } from '../core/chat';
import { CAPABILITIES, type Capability, type StageContext, type StageDef, type StageResult } from '../core/stage';
import { resumeFromCheckpoint } from './resume';
import { yieldToEventLoop } from '../util/async';
import { BbioError } from '../util/errors';
import { DataOrder } from './data';
import { readExamples } from '../core/dataset';
import { baseModelDir } from '../model/resources';
import { digestTree } from '../util/provenance';
import { describeCuts, groupByCapability, responseTokens, supervisedBatch, tokenizeExample, tokenPieces, type TokenizedExample } from './examples';
import type { ProjectionMethod } from '../compute/projection/combine';
import { projectionHealth } from './projection/health';

/** The stage's part of a checkpoint; the backend adds its own (optimiser step, rng, projection state). */
interface SftState {
  /** Batches consumed per capability. */
  cursors: Record<string, number>;
  conflicts: Record<string, number>;
  loggedSteps: number;
  lastLoss: Record<string, number>;
}

const PROBE_ROWS = 8;
/** Examples per capability whose tokens go to the editor's dataset preview (an `examples` record). */
const PREVIEW_PER_CAPABILITY = 3;
/** The adapter slot SFT trains. */
const SLOT = 'sft';

/** Mean loss of a few fixed rows per capability under the SFT adapters, no gradients. */
async function probeLosses(compute: Compute, caps: readonly Capability[], probes: readonly (TokenBatch | undefined)[]): Promise<Partial<Record<Capability, number>>> {
  const out: Partial<Record<Capability, number>> = {};
  for (const [i, b] of probes.entries()) {
    if (b) out[caps[i]!] = await compute.loss(b, { adapters: SLOT });
  }
  return out;
}

export async function runSft(ctx: StageContext, open: ComputeFactory = openCompute): Promise<StageResult> {
  const cfg = ctx.config;
  const s = cfg.sft;
  const totalSteps = Math.max(1, Math.round(s.steps * ctx.stepsScale));
  const warmup = Math.min(Math.round(s.schedule.warmup_steps * ctx.stepsScale), totalSteps - 1);

  const baseDir = await baseModelDir(ctx);
  const tokenizer = await BpeTokenizer.load(path.join(baseDir, 'tokenizer.json'));
  // the model's own chat template when it has one, else the built-in format (bio-tiny)
  const chat = await loadChatFormat(baseDir, tokenizer);
  const compute = await open(cfg.model, { log: ctx.log, tokenizer });
  await ctx.updateManifest({ backend: compute.describe(), chatFormat: chat.source });
  try {
    const config = await compute.loadModel(baseDir);
    const maxLen = config.max_position_embeddings - 1;
    const padId = tokenizer.padId >= 0 ? tokenizer.padId : Math.max(0, tokenizer.eosId);
    const trainExamples = readExamples(path.join(ctx.paths.dataset, 'train.jsonl'));
    const trainRows = trainExamples.map((e) => tokenizeExample(tokenizer, e, maxLen, chat));
    for (const line of describeCuts(trainRows, maxLen + 1)) ctx.log.warn(`sft: ${line}: raise model.dims.context_length (or vocab_size, which shortens every example)`);
    const train = groupByCapability(trainRows);
    const valFile = path.join(ctx.paths.dataset, 'val.jsonl');
    const valExamples = fs.existsSync(valFile) ? readExamples(valFile) : [];
    const val = groupByCapability(valExamples.map((e) => tokenizeExample(tokenizer, e, maxLen, chat)));
    // the fixed probe subset the held-out curves are drawn on (eval.probe_size per capability)
    const probeSet = selectProbeSet(valExamples, cfg.eval.probe_size, ctx.seed);
    const caps = CAPABILITIES.filter((c) => train[c].length > 0);
    if (!caps.length) throw new BbioError('E_IO', `${ctx.paths.dataset}/train.jsonl has no examples`, {}, 'run the synthesize stage');
    const weights = caps.map((c) => s.capability_weights[c]);
    const wsum = weights.reduce((a, b) => a + b, 0);
    const w = weights.map((x) => x / wsum);
    const method: ProjectionMethod = s.projection === 'olora' ? s.olora.combine_with : s.projection;
    const perCapability = cfg.lora.adapters === 'per_capability';

    const spec = { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: cfg.lora.dropout, targetModules: cfg.lora.target_modules as TargetModule[] };
    await compute.createAdapters(SLOT, perCapability ? caps : ['default'], spec, ctx.seed);
    await compute.startTraining({
      params: { kind: 'adapters', slot: SLOT },
      decay: s.weight_decay > 0 ? 'all' : 'none',
      schedule: { peak: s.learning_rate, warmupSteps: warmup, totalSteps, shape: s.schedule.type, minLrRatio: s.schedule.min_lr_ratio },
      adam: { beta1: s.adam.beta1, beta2: s.adam.beta2, eps: s.adam.eps, weightDecay: s.weight_decay },
      gradClip: s.grad_clip,
      maxBadSteps: s.max_bad_steps,
      rng: { seed: ctx.seed, stream: 'sft' },
      projection: { method, scope: s.projection_scope, capabilities: caps.length, subspace: { energy: s.subspace.energy, window: s.subspace.window, refreshEvery: s.subspace.refresh_every, maxRank: s.subspace.max_rank } },
    });

    const orders = Object.fromEntries(caps.map((c, i) => [c, new DataOrder(train[c].length, ctx.seed + 7919 * (i + 1))])) as Record<Capability, DataOrder>;
    const probeBatch = (rows: TokenizedExample[]): TokenBatch | undefined => (rows.length ? supervisedBatch(rows.slice(0, PROBE_ROWS), padId) : undefined);
    const probes = caps.map((c) => probeBatch(val[c].length ? val[c] : train[c]));
    // the interference estimate's held-out mini-batches: up to interference_probe_batches × PROBE_ROWS rows each
    const interferenceProbes = caps.map((c) => {
      const rows = (val[c].length ? val[c] : train[c]).slice(0, s.interference_probe_batches * PROBE_ROWS);
      return Array.from({ length: Math.ceil(rows.length / PROBE_ROWS) }, (_, b) => supervisedBatch(rows.slice(b * PROBE_ROWS, (b + 1) * PROBE_ROWS), padId));
    });

    const state: SftState = { cursors: Object.fromEntries(caps.map((c) => [c, 0])), conflicts: {}, loggedSteps: 0, lastLoss: {} };
    const resumed = (await resumeFromCheckpoint<SftState>(ctx, compute, 'sft'))?.state ?? null;
    if (!resumed) await fs.promises.rm(ctx.checkpointDir, { recursive: true, force: true });
    else {
      Object.assign(state, { cursors: resumed.cursors, conflicts: resumed.conflicts, loggedSteps: resumed.loggedSteps, lastLoss: resumed.lastLoss });
      ctx.events.emit({ kind: 'phase', stage: 'sft', status: 'resumed', step: compute.step, total: totalSteps });
    }
    const checkpoint = (): Promise<void> => compute.saveCheckpoint(ctx.checkpointDir, state, { keep: cfg.output.keep_checkpoints });

    // the dataset preview's token view: the first examples of each capability as the model sees them, in its chat format
    const preview = caps.flatMap((c) => trainExamples.filter((e) => e.capability === c).slice(0, PREVIEW_PER_CAPABILITY));
    // and how every other example was written (the frame around its prompt and answer), when the format writes them verbatim
    const frame = chatFrame(chat, trainExamples);
    ctx.events.emit({ kind: 'record', type: 'examples', data: { note: 'tokens from trainedFrom on are the SFT loss targets', chatFormat: chat.source, ...(frame ? { frame } : {}), examples: preview.map((e) => ({ id: e.id, capability: e.capability, ...tokenPieces(tokenizer, tokenizeExample(tokenizer, e, maxLen, chat)) })) } });
    ctx.log.info(`sft: ${caps.map((c) => `${c} ${train[c].length}`).join(', ')} examples; projection ${s.projection}${s.projection === 'olora' ? ` (+${method})` : ''}, ${perCapability ? 'one adapter per capability' : 'one shared adapter'}, ${await compute.parameterCount({ kind: 'adapters', slot: SLOT })} LoRA values, ${totalSteps} steps`);
    const progressEvery = Math.max(1, Math.round(totalSteps / 50));
    const pairKey = (a: Capability, b: Capability): string => `${a}|${b}`;

    /** The next micro-batches of each capability (grad accumulation), advancing its data cursor. */
    const nextBatches = (c: Capability): { batches: TokenBatch[]; tokens: number } => {
      const batches: TokenBatch[] = [];
      let tokens = 0;
      for (let micro = 0; micro < s.grad_accumulation; micro++) {
        const rows = orders[c].batch(state.cursors[c]!, s.batch_per_capability).map((i) => train[c][i]!);
        state.cursors[c] = state.cursors[c]! + 1;
        tokens += responseTokens(rows);
        batches.push(supervisedBatch(rows, padId));
      }
      return { batches, tokens };
    };

    while (compute.step < totalSteps) {
      await yieldToEventLoop(); // lets a cancel (SIGTERM) in between steps
      if (ctx.signal.aborted) {
        await checkpoint();
        throw new BbioError('E_CANCELLED', `sft cancelled at step ${compute.step}; checkpoint written`, {}, 'continue with run --resume');
      }
      // batches → step → metrics → checkpoint
      const t0 = performance.now();
      const drawn = caps.map(nextBatches);
      const tokens = drawn.reduce((n, d) => n + d.tokens, 0);
      const olora = s.projection === 'olora' && perCapability && caps.length > 1;
      const r = await compute.sftStep({
        capabilities: caps.map((c, i) => ({ batches: drawn[i]!.batches, ...(perCapability ? { trainable: [c] } : {}) })),
        weights: w,
        ...(olora ? { oloraLambda: s.olora.lambda } : {}),
      });
      const ms = performance.now() - t0;
      const out = r.outcome;
      if (!out.applied) {
        ctx.events.emit({ kind: 'log', level: 'warn', step: out.step, msg: `step rejected: non-finite values in ${out.badTensor}`, fields: { tensor: out.badTensor, badSteps: out.badSteps } });
        continue;
      }
      const step = out.step;
      emitStepMetrics(ctx, caps, r, { step, ms, tokens, lr: out.lr, gradNorm: out.gradNorm });
      caps.forEach((c, i) => (state.lastLoss[c] = r.losses[i]!));
      state.loggedSteps += 1;
      for (const p of r.projection.pairs) {
        const k = pairKey(caps[p.a]!, caps[p.b]!);
        state.conflicts[k] = (state.conflicts[k] ?? 0) + (p.conflict ? 1 : 0);
      }
      if (step % s.log_every === 0 || step === totalSteps) {
        const fractions = r.projection.pairs.map((p) => (state.conflicts[pairKey(caps[p.a]!, caps[p.b]!)] ?? 0) / state.loggedSteps);
        emitProjectionMetrics(ctx, caps, method, r.projection, fractions, state.loggedSteps, step);
      }
      if (s.interference_every > 0 && (step % s.interference_every === 0 || step === totalSteps)) {
        // the updates as the method applies them: projected (for projection none, the raw gradients)
        const est = await compute.interference(interferenceProbes, s.learning_rate, SLOT);
        est.mean.forEach((row, i) => row.forEach((d, j) => {
          if (!Number.isFinite(d)) return;
          const labels = { capability: caps[i]!, other: caps[j]! };
          ctx.events.metric('sft/interference', d, { step, labels });
          if (Number.isFinite(est.ci95[i]![j]!)) ctx.events.metric('sft/interference_ci95', est.ci95[i]![j]!, { step, labels });
        }));
        ctx.events.emit({ kind: 'record', type: 'interference', step, data: { capabilities: caps, matrix: est.mean, ci95: est.ci95, probeBatches: est.batches, lr: s.learning_rate, note: 'row c, column c′: first-order change in c′ held-out probe loss from a step of size η along c′s projected gradient, −η⟨g̃_c, ∇L_c′⟩, mean over probe mini-batches ± 95% CI; negative = helps' } });
      }
      if (step % progressEvery === 0 || step === totalSteps) ctx.events.emit({ kind: 'phase', stage: 'sft', status: 'progress', step, total: totalSteps });
      if (cfg.eval.probe_every > 0 && (step % cfg.eval.probe_every === 0 || step === totalSteps) && valExamples.length) {
        // held-out curves per capability, so forgetting one capability while another improves shows as it happens
        const model = { compute, adapters: SLOT };
        for (const [c, v] of Object.entries(await probeLoss(model, tokenizer, probeSet, { batchRows: 8, chat }))) ctx.events.metric('probe/loss', v!, { step, labels: { capability: c, stage: 'sft' } });
        for (const [c, v] of Object.entries(await probeAccuracy(model, tokenizer, probeSet, chat))) ctx.events.metric('probe/accuracy', v!, { step, labels: { capability: c, stage: 'sft' } });
      }
      if (step % s.checkpoint_every === 0 || step === totalSteps) {
        for (const [c, v] of Object.entries(await probeLosses(compute, caps, probes))) ctx.events.metric('sft/val_loss', v!, { step, labels: { capability: c } });
        await checkpoint();
      }
    }
    await compute.saveAdapters(SLOT, ctx.paths.sft_adapter, { baseModel: baseDir, stage: 'sft' });
    ctx.events.emit({ kind: 'artifact', path: path.relative(ctx.runDir, ctx.paths.sft_adapter), type: 'adapter', description: `LoRA adapter${perCapability ? 's (one per capability)' : ''}, PEFT format` });
    const summary: Record<string, number> = { steps: compute.step };
    for (const c of caps) if (state.lastLoss[c] !== undefined) summary[`loss_${c}`] = state.lastLoss[c]!;
    const total = Object.values(state.conflicts).reduce((a, b) => a + b, 0);
    const pairs = Object.keys(state.conflicts).length || 1;
    summary.conflict_fraction = state.loggedSteps ? total / pairs / state.loggedSteps : 0;
    return { summary };
  } finally {
    await compute.dispose();
  }
}

/** Loss per capability, learning rate, norms, throughput and the projection's cost of one step. */
function emitStepMetrics(ctx: StageContext, caps: readonly Capability[], r: SftStepResult, o: { step: number; ms: number; tokens: number; lr: number; gradNorm: number }): void {
  const { step } = o;
  caps.forEach((c, i) => ctx.events.metric('sft/loss', r.losses[i]!, { step, labels: { capability: c } }));
  ctx.events.metric('sft/lr', o.lr, { step });
  ctx.events.metric('sft/grad_norm', o.gradNorm, { step });
  ctx.events.metric('sft/tokens_per_s', (o.tokens / o.ms) * 1000, { step });
  ctx.events.metric('sft/projection_ms', r.projection.projectionMs, { step });
  ctx.events.metric('system/step_ms', o.ms, { step, labels: { stage: 'sft' } });
  if (r.oloraPenalty !== undefined) ctx.events.metric('sft/olora_penalty', r.oloraPenalty, { step });
}

/** Pairwise cosines before and after projection, conflict fractions, norms, health notes and subspace dimensions. */
function emitProjectionMetrics(ctx: StageContext, caps: readonly Capability[], method: ProjectionMethod, p: SftStepResult['projection'], fractions: readonly number[], loggedSteps: number, step: number): void {
  p.pairs.forEach((pair, k) => {
    const labels = { capability: caps[pair.a]!, other: caps[pair.b]! };
    ctx.events.metric('sft/cosine_raw', pair.cosineRaw, { step, labels });
    ctx.events.metric('sft/cosine_projected', pair.cosineProjected, { step, labels });
    ctx.events.metric('sft/conflict_fraction', fractions[k]!, { step, labels });
  });
  caps.forEach((c, i) => {
    ctx.events.metric('sft/grad_norm_raw', p.normsRaw[i]!, { step, labels: { capability: c } });
    ctx.events.metric('sft/grad_norm_projected', p.normsProjected[i]!, { step, labels: { capability: c } });
  });
  for (const note of projectionHealth({ capabilities: caps, method, pairs: p.pairs, normsRaw: p.normsRaw, normsProjected: p.normsProjected, conflictFractions: fractions, loggedSteps })) {
    ctx.events.emit({ kind: 'record', type: 'health', step, data: note });
  }
  p.subspaceDims?.forEach((d, i) => ctx.events.metric('sft/subspace_dim', d, { step, labels: { capability: caps[i]!, matrix: 'mean' } }));
}

/** The stage with its backend factory (tests pass a fake one). */
/**
 * What an SFT adapter depends on (the stage cache, engine/run/stage-cache.ts): the blocks runSft reads (model, lora,
 * sft, and eval's probe settings for its held-out curves), its seed and --steps-scale, the backend the model block
 * resolves to here (computeIdentity), and the bytes of the dataset and the base model. A Hub model is named by its snapshot folder, which
 * holds the commit: hashing gigabytes of weights per run would cost more than it protects.
 */
export async function sftCacheKey(ctx: StageContext, open: ComputeFactory = openCompute): Promise<Record<string, unknown>> {
  const cfg = ctx.config;
  const baseDir = await baseModelDir(ctx);
  return {
    model: cfg.model, lora: cfg.lora, sft: cfg.sft, probe: { size: cfg.eval.probe_size, every: cfg.eval.probe_every },
    seed: ctx.seed, stepsScale: ctx.stepsScale, compute: await computeIdentity(cfg.model, open, ctx.log),
    dataset: await digestTree(ctx.paths.dataset, (rel) => rel === 'dataset-card.json'),
    base: cfg.model.hub ? { snapshot: baseDir } : await digestTree(baseDir),
  };
}

export function createSftStage(open: ComputeFactory = openCompute): StageDef {
  return { name: 'sft', title: 'Multi-capability LoRA with orthogonal gradient projection', run: (ctx) => runSft(ctx, open), cacheKey: (ctx) => sftCacheKey(ctx, open) };
}

export const sftStage: StageDef = createSftStage();
