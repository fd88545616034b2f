/**
 * The `pretrain` stage: trains bio-tiny from scratch on the synthesized corpus. Steps: train a byte-level
 * BPE tokenizer on train.jsonl, pack the corpus into windows, train the decoder with AdamW + warm-up/cosine,
 * checkpoint every N steps (exact resume), and write a Hugging Face checkpoint (config.json,
 * model.safetensors, tokenizer.json) to the base_model output.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendInfo } from '../model/backend';
import { bioTinyConfig, disposeModel, initLlama, lmLoss, makeLmBatch, modelFromTensors, saveLlama, type LlamaConfig, type LlamaModel } from '../model/llama';
import { BpeTokenizer, trainBpe } from '../model/tokenizer';
import type { StageContext, StageDef, StageResult } from '../core/stage';
import { yieldToEventLoop } from '../util/async';
import { BbioError } from '../util/errors';
import { makeRng } from '../util/rng';
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint';
import { DataOrder, packDocuments, type PackedData } from './data';
import { readJsonlTexts } from '../core/dataset';
import { GradientPool } from './data-parallel';
import type { HostGrads, NamedVariable } from './grads';
import { Trainer } from './trainer';

interface PretrainState {
  optimizerStep: number;
  /** Batches consumed, including rejected ones. */
  cursor: number;
  badSteps: number;
  lastLoss: number | null;
}

const VAL_WINDOWS = 16;

/** Mean loss over the first validation windows (no gradients). */
function validationLoss(model: LlamaModel, val: PackedData, batchSize: number): number | null {
  const windows = val.windows.slice(0, VAL_WINDOWS);
  if (!windows.length) return null;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < windows.length; i += batchSize) {
    const rows = windows.slice(i, i + batchSize);
    const l = tf.tidy(() => lmLoss(model, makeLmBatch(rows), { freezeBase: true }).dataSync()[0]!);
    sum += l * rows.length;
    n += rows.length;
  }
  return sum / n;
}

/**
 * Data-parallel workers for this stage (issue 5): `model.workers` threads (0 = one per core), capped by
 * the batch size, on the in-process backends only (native TensorFlow already uses every core). Null means
 * train in this thread: one worker wanted, or the workers could not start (logged once, not fatal).
 */
async function startPool(
  ctx: StageContext,
  backend: BackendInfo,
  config: LlamaConfig,
  vars: readonly NamedVariable[],
  batchSize: number,
): Promise<GradientPool | null> {
  const wanted = ctx.config.model.workers === 0 ? os.availableParallelism() : ctx.config.model.workers;
  const workers = Math.min(wanted, batchSize);
  if (workers <= 1 || (backend.kind !== 'wasm' && backend.kind !== 'cpu')) return null;
  try {
    const pool = await GradientPool.create({
      workers, config, backend: backend.kind,
      paramNames: vars.map((v) => v.name), paramShapes: vars.map((v) => [...v.variable.shape]),
    });
    ctx.log.info(`pretrain: ${workers} data-parallel workers (${backend.kind}), ${Math.ceil(batchSize / workers)} rows each`);
    return pool;
  } catch (e) {
    ctx.log.warn(`pretrain: data-parallel workers unavailable, training in one thread (${e instanceof Error ? e.message : String(e)})`, { workers });
    return null;
  }
}

function rssMb(): number {
  return process.memoryUsage().rss / 1048576;
}

export async function runPretrain(ctx: StageContext): Promise<StageResult> {
  const cfg = ctx.config;
  const p = cfg.pretrain;
  const dims = cfg.model.dims;
  const backend = await selectBackend(cfg.model.backend, { log: ctx.log });
  await ctx.updateManifest({ backend });

  const totalSteps = Math.max(1, Math.round(p.steps * ctx.stepsScale));
  const warmup = Math.min(Math.round(p.warmup_steps * ctx.stepsScale), totalSteps - 1);
  const trainTexts = readJsonlTexts(path.join(ctx.paths.dataset, 'train.jsonl'));
  const valFile = path.join(ctx.paths.dataset, 'val.jsonl');
  const valTexts = fs.existsSync(valFile) ? readJsonlTexts(valFile) : [];
  if (!trainTexts.length) throw new BbioError('E_IO', `${ctx.paths.dataset}/train.jsonl has no examples`, {}, 'run the synthesize stage with more examples');

  const ckpt = ctx.resume ? loadLatestCheckpoint<PretrainState>(ctx.checkpointDir) : null;
  if (!ckpt) await fs.promises.rm(ctx.checkpointDir, { recursive: true, force: true });
  await fs.promises.mkdir(ctx.checkpointDir, { recursive: true });

  // The tokenizer is trained once and kept with the checkpoints, so a resumed run encodes identically.
  const tokFile = path.join(ctx.checkpointDir, 'tokenizer.json');
  let tokenizer: BpeTokenizer;
  if (ckpt && fs.existsSync(tokFile)) tokenizer = await BpeTokenizer.load(tokFile);
  else {
    tokenizer = trainBpe(trainTexts, { vocabSize: dims.vocab_size });
    await tokenizer.save(ctx.checkpointDir);
  }
  const special = { bosId: tokenizer.bosId, eosId: tokenizer.eosId, padId: tokenizer.padId };
  const config = bioTinyConfig({ ...dims, vocab_size: Math.max(dims.vocab_size, tokenizer.vocabSize) }, special);
  const encode = (texts: string[]) => texts.map((t) => tokenizer.encode(t));
  const train = packDocuments(encode(trainTexts), dims.context_length, special);
  const val = packDocuments(encode(valTexts.length ? valTexts : trainTexts.slice(0, 8)), train.seqLen, special);
  const order = new DataOrder(train.windows.length, ctx.seed);
  ctx.log.info(`pretrain: ${train.windows.length} windows of ${train.seqLen + 1} tokens, ${totalSteps} steps`, {
    vocab: config.vocab_size, hidden: config.hidden_size, layers: config.num_hidden_layers,
  });

  const model = initLlama(config, makeRng(ctx.seed).fork('init'));
  let pool: GradientPool | null = null;
  try {
    const vars = [...model.params].map(([name, variable]) => ({ name, variable }));
    const trainer = new Trainer({
      vars,
      schedule: { peak: p.learning_rate, warmupSteps: warmup, totalSteps, shape: 'cosine', minLrRatio: 0.1 },
      adam: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: p.weight_decay },
      gradClip: p.grad_clip,
    });
    const state: PretrainState = { optimizerStep: 0, cursor: 0, badSteps: 0, lastLoss: null };
    if (ckpt) {
      trainer.restore({ params: ckpt.params, optimizer: ckpt.optimizer, optimizerStep: ckpt.state.optimizerStep, badSteps: ckpt.state.badSteps });
      Object.assign(state, ckpt.state);
      ctx.events.emit({ kind: 'phase', stage: 'pretrain', status: 'resumed', step: trainer.step, total: totalSteps });
    }
    const checkpoint = async () => {
      const snap = trainer.snapshot();
      state.optimizerStep = snap.optimizerStep;
      state.badSteps = snap.badSteps;
      await saveCheckpoint(ctx.checkpointDir, { step: trainer.step, params: snap.params, optimizer: snap.optimizer, state });
    };
    // The workers replicate the weights the trainer uploads to `vars` (restored ones included on resume).
    pool = await startPool(ctx, backend, config, vars, p.batch_size);
    let poolWeightsStale = true;
    const tokensPerStep = p.batch_size * train.seqLen;
    const progressEvery = Math.max(1, Math.round(totalSteps / 50));
    let lastVal: number | null = null;
    while (trainer.step < totalSteps) {
      await yieldToEventLoop(); // lets a cancel (SIGTERM) in between steps
      if (ctx.signal.aborted) {
        await checkpoint();
        throw new BbioError('E_CANCELLED', `pretrain cancelled at step ${trainer.step}; checkpoint written`, {}, 'continue with run --resume');
      }
      const t0 = performance.now();
      const rows = order.batch(state.cursor, p.batch_size).map((i) => train.windows[i]!);
      state.cursor += 1;
      let loss: number;
      let grads: HostGrads;
      if (pool) {
        if (poolWeightsStale) await pool.setWeights(vars.map((v) => v.variable.dataSync() as Float32Array));
        ({ loss, grads } = await pool.gradients(rows));
      } else {
        const batch = makeLmBatch(rows);
        ({ loss, grads } = trainer.computeGradients(() => lmLoss(model, batch)));
      }
      const out = trainer.applyGradients(grads, { loss });
      poolWeightsStale = out.applied;
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
        lastVal = validationLoss(model, val, p.batch_size);
        if (lastVal !== null) ctx.events.metric('pretrain/val_loss', lastVal, { step });
        await checkpoint();
      }
    }
    await saveLlama(model, ctx.paths.base_model);
    await tokenizer.save(ctx.paths.base_model);
    ctx.events.emit({ kind: 'artifact', stage: 'pretrain', path: path.relative(ctx.runDir, ctx.paths.base_model), type: 'model', description: 'bio-tiny base model (Hugging Face format)' });
    const summary: Record<string, number> = { steps: trainer.step };
    if (state.lastLoss !== null) summary.loss = state.lastLoss;
    if (lastVal !== null) summary.val_loss = lastVal;
    return { summary };
  } finally {
    await pool?.close();
    disposeModel(model);
  }
}

export const pretrainStage: StageDef = {
  name: 'pretrain',
  title: 'Pretrain bio-tiny from scratch on the synthesized corpus',
  run: runPretrain,
};

/** Loads a base model saved by this stage (or any HF checkpoint) — re-exported for callers' convenience. */
export { modelFromTensors };
