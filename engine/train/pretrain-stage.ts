/**
 * The `pretrain` stage: trains bio-tiny from scratch on the synthesized corpus (by `pretrain.corpus`: the
 * knowledge corpus of every ontology entity and/or train.jsonl). Steps: train a byte-level BPE tokenizer
 * on that corpus, pack the corpus into windows, train the decoder with AdamW + warm-up/cosine,
 * checkpoint every N steps (exact resume), and write a Hugging Face checkpoint (config.json,
 * model.safetensors, tokenizer.json) to the base_model output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeIdentity, openCompute, type ComputeFactory, type Compute } from '../compute';
import { bioTinyConfig, makeLmBatch } from '../model/llama';
import { BpeTokenizer, trainBpe } from '../model/tokenizer';
import type { StageContext, StageDef, StageResult } from '../core/stage';
import { resumeFromCheckpoint } from './resume';
import { yieldToEventLoop } from '../util/async';
import { BbioError } from '../util/errors';
import { DataOrder, packDocuments, type PackedData } from './data';
import { readJsonlTexts } from '../core/dataset';
import { KNOWLEDGE_FILE } from '../synth/corpus';
import { digestFile } from '../util/provenance';

/** The stage's part of a checkpoint; the backend adds its own (optimiser step, moments). */
interface PretrainState {
  /** Batches consumed, including rejected ones. */
  cursor: number;
  lastLoss: number | null;
}

const VAL_WINDOWS = 16;

/** Mean loss over the first validation windows (no gradients). */
async function validationLoss(compute: Compute, val: PackedData, batchSize: number): Promise<number | null> {
  const windows = val.windows.slice(0, VAL_WINDOWS);
  if (!windows.length) return null;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < windows.length; i += batchSize) {
    const rows = windows.slice(i, i + batchSize);
    sum += (await compute.loss(makeLmBatch(rows))) * rows.length;
    n += rows.length;
  }
  return sum / n;
}

/**
 * The pretraining documents by `pretrain.corpus`: the knowledge corpus (every entity's facts in prose,
 * engine/synth/corpus.ts) and/or the training examples. val.jsonl stays the validation set either way.
 */
export function pretrainTexts(datasetDir: string, corpus: 'knowledge_and_train' | 'knowledge' | 'train'): string[] {
  const train = corpus === 'knowledge' ? [] : readJsonlTexts(path.join(datasetDir, 'train.jsonl'));
  if (corpus === 'train') return train;
  const file = path.join(datasetDir, KNOWLEDGE_FILE);
  if (!fs.existsSync(file)) throw new BbioError('E_FILE_MISSING', `${file} is missing: pretrain.corpus ${corpus} needs the knowledge corpus`, { file }, 'run the synthesize stage again (it writes knowledge.jsonl), or set pretrain.corpus: train');
  return [...readJsonlTexts(file), ...train];
}

function rssMb(): number {
  return process.memoryUsage().rss / 1048576;
}

export async function runPretrain(ctx: StageContext, open: ComputeFactory = openCompute): Promise<StageResult> {
  const cfg = ctx.config;
  const p = cfg.pretrain;
  const dims = cfg.model.dims;
  const totalSteps = Math.max(1, Math.round(p.steps * ctx.stepsScale));
  const warmup = Math.min(Math.round(p.warmup_steps * ctx.stepsScale), totalSteps - 1);
  const trainTexts = pretrainTexts(ctx.paths.dataset, p.corpus);
  const valFile = path.join(ctx.paths.dataset, 'val.jsonl');
  const valTexts = fs.existsSync(valFile) ? readJsonlTexts(valFile) : [];
  if (!trainTexts.length) throw new BbioError('E_IO', `${ctx.paths.dataset}/train.jsonl has no examples`, {}, 'run the synthesize stage with more examples');
  ctx.log.info(`pretrain: corpus ${p.corpus}, ${trainTexts.length} documents`);

  // The tokenizer is trained once and kept with the checkpoints, so a resumed run encodes identically.
  const tokFile = path.join(ctx.checkpointDir, 'tokenizer.json');
  const resuming = ctx.resume && fs.existsSync(path.join(ctx.checkpointDir, 'latest.json'));
  if (!resuming) await fs.promises.rm(ctx.checkpointDir, { recursive: true, force: true });
  await fs.promises.mkdir(ctx.checkpointDir, { recursive: true });
  let tokenizer: BpeTokenizer;
  if (resuming && fs.existsSync(tokFile)) tokenizer = await BpeTokenizer.load(tokFile);
  else {
    tokenizer = trainBpe(trainTexts, { vocabSize: dims.vocab_size });
    await tokenizer.save(ctx.checkpointDir);
  }
  const special = { bosId: tokenizer.bosId, eosId: tokenizer.eosId, padId: tokenizer.padId };
  const config = bioTinyConfig({ ...dims, vocab_size: Math.max(dims.vocab_size, tokenizer.vocabSize) }, special);
  const encode = (texts: string[]) => texts.map((t) => tokenizer.encode(t));
  // windows of pretrain.sequence_length tokens (0: the context); the model keeps its full context_length
  const train = packDocuments(encode(trainTexts), p.sequence_length || dims.context_length, special);
  const val = packDocuments(encode(valTexts.length ? valTexts : trainTexts.slice(0, 8)), train.seqLen, special);
  const order = new DataOrder(train.windows.length, ctx.seed);
  ctx.log.info(`pretrain: ${train.windows.length} windows of ${train.seqLen + 1} tokens, ${totalSteps} steps`, {
    vocab: config.vocab_size, hidden: config.hidden_size, layers: config.num_hidden_layers,
  });

  const compute = await open(cfg.model, { log: ctx.log, tokenizer });
  await ctx.updateManifest({ backend: compute.describe() });
  try {
    await compute.initModel(config, ctx.seed);
    await compute.startTraining({
      params: { kind: 'model' },
      decay: 'matrices',
      schedule: { peak: p.learning_rate, warmupSteps: warmup, totalSteps, shape: 'cosine', minLrRatio: 0.1 },
      adam: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: p.weight_decay },
      gradClip: p.grad_clip,
      rng: { seed: ctx.seed, stream: 'pretrain' },
    });
    const state: PretrainState = { cursor: 0, lastLoss: null };
    const resumed = resuming ? ((await resumeFromCheckpoint<PretrainState>(ctx, compute, 'pretrain'))?.state ?? null) : null;
    if (resumed) {
      Object.assign(state, { cursor: resumed.cursor, lastLoss: resumed.lastLoss });
      ctx.events.emit({ kind: 'phase', stage: 'pretrain', status: 'resumed', step: compute.step, total: totalSteps });
    }
    const checkpoint = (): Promise<void> => compute.saveCheckpoint(ctx.checkpointDir, state, { keep: 2 });
    const tokensPerStep = p.batch_size * train.seqLen;
    const progressEvery = Math.max(1, Math.round(totalSteps / 50));
    let lastVal: number | null = null;
    while (compute.step < totalSteps) {
      await yieldToEventLoop(); // lets a cancel (SIGTERM) in between steps
      if (ctx.signal.aborted) {
        await checkpoint();
        throw new BbioError('E_CANCELLED', `pretrain cancelled at step ${compute.step}; checkpoint written`, {}, 'continue with run --resume');
      }
      const t0 = performance.now();
      const rows = order.batch(state.cursor, p.batch_size).map((i) => train.windows[i]!);
      state.cursor += 1;
      const { loss, outcome: out } = await compute.pretrainStep(rows);
      const ms = performance.now() - t0;
      if (!out.applied) {
        ctx.log.warn(`pretrain: step ${out.step} rejected: non-finite ${out.badTensor}`, { tensor: out.badTensor, badSteps: out.badSteps });
        ctx.events.emit({ kind: 'log', stage: 'pretrain', level: 'warn', step: out.step, msg: `step rejected: non-finite values in ${out.badTensor}`, fields: { tensor: out.badTensor } });
        continue;
      }
      const step = out.step;
      state.lastLoss = loss;
      ctx.events.metric('pretrain/loss', loss, { step });
      ctx.events.metric('pretrain/lr', out.lr, { step });
      ctx.events.metric('pretrain/grad_norm', out.gradNorm, { step });
      ctx.events.metric('pretrain/tokens_per_s', (tokensPerStep / ms) * 1000, { step });
      ctx.events.metric('system/step_ms', ms, { step });
      if (step % progressEvery === 0 || step === totalSteps) {
        ctx.events.emit({ kind: 'phase', stage: 'pretrain', status: 'progress', step, total: totalSteps });
        ctx.events.metric('system/rss_mb', rssMb(), { step });
      }
      if (step % p.checkpoint_every === 0 || step === totalSteps) {
        lastVal = await validationLoss(compute, val, p.batch_size);
        if (lastVal !== null) ctx.events.metric('pretrain/val_loss', lastVal, { step });
        await checkpoint();
      }
    }
    await compute.saveModel(ctx.paths.base_model);
    await tokenizer.save(ctx.paths.base_model);
    ctx.events.emit({ kind: 'artifact', stage: 'pretrain', path: path.relative(ctx.runDir, ctx.paths.base_model), type: 'model', description: 'bio-tiny base model (Hugging Face format)' });
    const summary: Record<string, number> = { steps: compute.step };
    if (state.lastLoss !== null) summary.loss = state.lastLoss;
    if (lastVal !== null) summary.val_loss = lastVal;
    return { summary };
  } finally {
    await compute.dispose();
  }
}

/** The stage with its backend factory (tests pass a fake one). */
/**
 * What a base model depends on (the stage cache, engine/run/stage-cache.ts): the model and pretrain blocks, the
 * stage seed (pretrain.seed pins it across a sweep's seeds), --steps-scale, the backend the model block resolves to
 * here (computeIdentity), and the bytes of the documents pretrainTexts reads. val.jsonl is not in it: it decides only
 * the validation loss, which a reusing run does not take over (pipeline.ts reuseStage).
 */
export async function pretrainCacheKey(ctx: StageContext, open: ComputeFactory = openCompute): Promise<Record<string, unknown>> {
  const p = ctx.config.pretrain;
  const data = ctx.paths.dataset;
  return {
    model: ctx.config.model, pretrain: p, seed: ctx.seed, stepsScale: ctx.stepsScale, compute: await computeIdentity(ctx.config.model, open, ctx.log),
    knowledge: p.corpus === 'train' ? null : await digestFile(path.join(data, KNOWLEDGE_FILE)),
    train: p.corpus === 'knowledge' ? null : await digestFile(path.join(data, 'train.jsonl')),
  };
}

export function createPretrainStage(open: ComputeFactory = openCompute): StageDef {
  return { name: 'pretrain', title: 'Pretrain the model from scratch on its corpus (pretrain.corpus)', run: (ctx) => runPretrain(ctx, open), cacheKey: (ctx) => pretrainCacheKey(ctx, open), notReused: { metrics: ['pretrain/val_loss'], summary: ['val_loss'] } };
}

export const pretrainStage: StageDef = createPretrainStage();
