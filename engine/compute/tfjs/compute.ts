/**
 * The TensorFlow.js backend of the compute interface (compute/types.ts): in-process tensors on the backend
 * model/backend.ts selected (wasm by default), plus data-parallel worker threads for pretraining. The
 * numerics are the engine's own kernels (model/llama.ts, model/lora.ts) and host-side AdamW (trainer.ts),
 * so checkpoints and resume are bit-exact; this class only keeps the state a stage used to hold itself.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '../../model/backend';
import { disposeModel, initLlama, lmLoss, loadLlama, makeLmBatch, saveLlama, type ForwardOptions, type LlamaConfig, type LlamaModel } from '../../model/llama';
import { decodePrompts, greedyPicker, samplingPicker } from '../../model/decode';
import { createLoraSet, disposeLoraSet, loraHook, loraVariables, type LoraSet, type LoraSpec } from '../../model/lora';
import { scoreSharedContext } from './loglik-shared';
import { grpoLoss, grpoStats } from './grpo-loss';
import { completionMask, groupEntropy, groupTokenLogps } from './policy';
import { loadAdapterDir, saveAdapterDir } from '../../model/adapters';
import { assertSameFamily, loadLatestCheckpoint, saveCheckpoint, type CheckpointWriter } from '../checkpoint';
import { GradientPool } from './data-parallel';
import { addScaled, computeGradients, type HostGrads, type NamedVariable } from './grads';
import { firstOrderInterference } from './interference';
import { combineGradients } from '../projection/combine';
import { oloraPenalty } from '../projection/olora';
import { SubspaceProjector, type SubspaceState } from '../projection/subspace';
import { Trainer } from './trainer';
import { BbioError } from '../../util/errors';
import type { Logger } from '../../util/log';
import { makeRng, type Rng } from '../../util/rng';
import type {
  Completion, Compute, GenerateRequest, InterferenceEstimate, RestoredCheckpoint, GrpoStepInput, GrpoStepResult, LoglikResult, LogprobOptions, ProjectionReport, RolloutGroup,
  SftStepInput, SftStepResult, StepOutcome, TokenBatch, TrainingSpec,
} from '../types';

export interface TfjsComputeOptions {
  backend: BackendInfo;
  log: Logger;
  /** Decodes completions for stop strings and text (the run's tokenizer). */
  tokenizer?: { readonly eosId: number; readonly padId: number; decode(ids: number[], opts?: { skipSpecial?: boolean }): string };
  /** Data-parallel pretraining threads (0 = one per core); wasm and cpu only. */
  workers?: number;
}

/** Fields of a checkpoint's state.json that belong to the backend, beside the stage's own. */
interface BackendState {
  optimizerStep: number;
  badSteps: number;
  rng: number[];
  subspaceStep?: number;
}

/** The state of one startTraining: what is trained, by which trainer, with which random stream. */
interface Training {
  spec: TrainingSpec;
  vars: NamedVariable[];
  trainer: Trainer;
  rng: Rng;
  subspace?: SubspaceProjector;
  /** Per-capability updates of the last sftStep, after projection (for interference). */
  lastProjected?: HostGrads[];
  pool?: GradientPool | null;
  poolStale: boolean;
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

/** Host arrays [rows][len] → a [rows, maxLen] float tensor, zero beyond each row. */
function padded(rows: readonly (readonly number[])[], maxLen: number): tf.Tensor2D {
  const m = new Float32Array(rows.length * maxLen);
  rows.forEach((r, i) => m.set(r.slice(0, maxLen), i * maxLen));
  return tf.tensor2d(m, [rows.length, maxLen]);
}

export class TfjsCompute implements Compute {
  private model?: LlamaModel;
  private readonly slots = new Map<string, LoraSet>();
  private training?: Training;

  constructor(private readonly options: TfjsComputeOptions) {}

  describe(): BackendInfo {
    return this.options.backend;
  }

  // ------------------------------------------------------------------------------------ model and adapters

  private get m(): LlamaModel {
    if (!this.model) throw new BbioError('E_INTERNAL', 'no model loaded: call initModel or loadModel first');
    return this.model;
  }

  get config(): LlamaConfig {
    return this.m.config;
  }

  async initModel(config: LlamaConfig, seed: number): Promise<void> {
    this.replaceModel(initLlama(config, makeRng(seed).fork('init')));
  }

  async loadModel(dir: string): Promise<LlamaConfig> {
    this.replaceModel(loadLlama(dir));
    return this.m.config;
  }

  /** Serves a model built in this process (tests, benches, tools that already hold one); it is disposed with this backend. */
  useModel(model: LlamaModel): void {
    this.replaceModel(model);
  }

  private replaceModel(model: LlamaModel): void {
    for (const set of this.slots.values()) disposeLoraSet(set);
    this.slots.clear();
    if (this.model) disposeModel(this.model);
    this.model = model;
  }

  async saveModel(dir: string): Promise<void> {
    await saveLlama(this.m, dir);
  }

  private slot(name: string): LoraSet {
    const set = this.slots.get(name);
    if (!set) throw new BbioError('E_INTERNAL', `no adapters in slot "${name}"`);
    return set;
  }

  private setSlot(name: string, set: LoraSet): void {
    const old = this.slots.get(name);
    if (old) disposeLoraSet(old);
    this.slots.set(name, set);
  }

  async createAdapters(slot: string, names: readonly string[], spec: LoraSpec, seed: number): Promise<void> {
    this.setSlot(slot, createLoraSet(this.m, names, spec, makeRng(seed).fork('lora-init')));
  }

  async loadAdapters(slot: string, dir: string): Promise<string[]> {
    this.setSlot(slot, loadAdapterDir(this.m, dir));
    return [...this.slot(slot).keys()];
  }

  async saveAdapters(slot: string, dir: string, meta: { baseModel: string; stage: string }): Promise<void> {
    await saveAdapterDir(this.slot(slot), dir, meta);
  }

  private variablesOf(target: TrainingSpec['params']): NamedVariable[] {
    return target.kind === 'model' ? [...this.m.params].map(([name, variable]) => ({ name, variable })) : loraVariables(this.slot(target.slot));
  }

  async parameterCount(target: TrainingSpec['params']): Promise<number> {
    return this.variablesOf(target).reduce((n, v) => n + v.variable.size, 0);
  }

  /** Forward options: base frozen unless the whole model trains; the slot's LoRA hook when given. */
  private forward(adapters: string | undefined, opts: { training?: boolean } = {}): ForwardOptions {
    if (!adapters) return { freezeBase: true };
    const rng = opts.training ? this.t.rng : undefined;
    return { freezeBase: true, hook: loraHook(this.slot(adapters), { training: opts.training ?? false, ...(rng ? { rng } : {}) }) };
  }

  // ------------------------------------------------------------------------------------ training

  private get t(): Training {
    if (!this.training) throw new BbioError('E_INTERNAL', 'no training started: call startTraining first');
    return this.training;
  }

  get step(): number {
    return this.t.trainer.step;
  }

  async startTraining(spec: TrainingSpec): Promise<void> {
    const oldPool = this.training?.pool;
    if (oldPool) void oldPool.close().catch((e: unknown) => this.options.log.warn(`closing data-parallel workers: ${String(e)}`));
    const vars = this.variablesOf(spec.params);
    const decay = spec.decay === 'all' ? () => true : spec.decay === 'none' ? () => false : undefined;
    const trainer = new Trainer({ vars, ...(decay ? { decay } : {}), schedule: spec.schedule, adam: spec.adam, gradClip: spec.gradClip, ...(spec.maxBadSteps !== undefined ? { maxBadSteps: spec.maxBadSteps } : {}) });
    const p = spec.projection;
    const subspace = p?.method === 'subspace' ? new SubspaceProjector(p.capabilities, vars.length, p.subspace ?? { energy: 0.95, window: 8, refreshEvery: 10, maxRank: 4 }) : undefined;
    this.training = { spec, vars, trainer, rng: makeRng(spec.rng.seed).fork(spec.rng.stream), ...(subspace ? { subspace } : {}), poolStale: true };
  }

  /**
   * Data-parallel workers (issue 5): `workers` threads (0 = one per core), capped by the batch size, on the
   * in-process backends only (native TensorFlow already uses every core). Null: train in this thread.
   */
  private async pool(rows: number): Promise<GradientPool | null> {
    const t = this.t;
    if (t.pool !== undefined) return t.pool;
    const backend = this.options.backend;
    const wanted = (this.options.workers ?? 1) === 0 ? os.availableParallelism() : (this.options.workers ?? 1);
    const workers = Math.min(wanted, rows);
    t.pool = null;
    if (workers <= 1 || t.spec.params.kind !== 'model' || (backend.kind !== 'wasm' && backend.kind !== 'cpu')) return null;
    try {
      t.pool = await GradientPool.create({ workers, config: this.m.config, backend: backend.kind, paramNames: t.vars.map((v) => v.name), paramShapes: t.vars.map((v) => [...v.variable.shape]) });
      this.options.log.info(`pretrain: ${workers} data-parallel workers (${backend.kind}), ${Math.ceil(rows / workers)} rows each`);
    } catch (e) {
      this.options.log.warn(`pretrain: data-parallel workers unavailable, training in one thread (${e instanceof Error ? e.message : String(e)})`, { workers });
    }
    return t.pool;
  }

  async pretrainStep(rows: readonly Int32Array[]): Promise<{ loss: number; outcome: StepOutcome }> {
    const t = this.t;
    const pool = await this.pool(rows.length);
    let loss: number;
    let grads: HostGrads;
    if (pool) {
      // the workers replicate the weights the trainer uploaded (restored ones included on resume)
      if (t.poolStale) await pool.setWeights(t.vars.map((v) => v.variable.dataSync() as Float32Array));
      ({ loss, grads } = await pool.gradients(rows));
    } else {
      const batch = makeLmBatch([...rows]);
      ({ loss, grads } = t.trainer.computeGradients(() => lmLoss(this.m, batch)));
    }
    const outcome = t.trainer.applyGradients(grads, { loss });
    t.poolStale = outcome.applied;
    return { loss, outcome };
  }

  async sftStep(input: SftStepInput): Promise<SftStepResult> {
    const t = this.t;
    const slot = this.adapterSlot();
    const index = new Map(t.vars.map((v, i) => [v.name, i]));
    const grads: HostGrads[] = [];
    const losses: number[] = [];
    for (const cap of input.capabilities) {
      const own = cap.trainable ? loraVariables(this.slot(slot), cap.trainable) : t.vars;
      const full: HostGrads = t.vars.map((v) => new Float32Array(v.variable.size));
      let lossSum = 0;
      for (const b of cap.batches) {
        const fwd = this.forward(slot, { training: true });
        const { value, grads: g } = tf.tidy(() => tf.variableGrads(() => lmLoss(this.m, b, fwd), own.map((v) => v.variable)));
        lossSum += value.dataSync()[0]!;
        for (const v of own) {
          const gt = g[v.variable.name];
          if (gt) addScaled([full[index.get(v.name)!]!], [gt.dataSync() as Float32Array], 1 / cap.batches.length);
        }
        value.dispose();
        Object.values(g).forEach((x) => x.dispose());
      }
      grads.push(full);
      losses.push(lossSum / cap.batches.length);
    }
    const p = t.spec.projection ?? { method: 'none' as const, scope: 'global' as const, capabilities: grads.length };
    const combined = combineGradients(grads, input.weights, p.method, p.scope, { rng: t.rng, ...(t.subspace ? { subspace: t.subspace } : {}) });
    const penalty = input.oloraLambda !== undefined ? this.addOloraPenalty(combined.combined, input.oloraLambda) : undefined;
    const meanLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
    const outcome = t.trainer.applyGradients(combined.combined, { loss: meanLoss });
    t.lastProjected = combined.projected;
    return { outcome, losses, projection: this.report(combined), ...(penalty !== undefined ? { oloraPenalty: penalty } : {}) };
  }

  private report(c: ReturnType<typeof combineGradients>): ProjectionReport {
    const dims = this.t.subspace?.dims().map((perM) => perM.reduce((a, b) => a + b, 0) / perM.length);
    return { pairs: c.pairs, normsRaw: c.normsRaw, normsProjected: c.normsProjected, projectionMs: c.projectionMs, ...(dims ? { subspaceDims: dims } : {}) };
  }

  private adapterSlot(): string {
    const params = this.t.spec.params;
    if (params.kind !== 'adapters') throw new BbioError('E_INTERNAL', 'this step trains LoRA adapters: startTraining with params.kind "adapters"');
    return params.slot;
  }

  /** O-LoRA penalty over the slot's per-capability adapters, added to the combined gradient (A matrices only). */
  private addOloraPenalty(grads: HostGrads, lambda: number): number {
    const set = this.slot(this.adapterSlot());
    const adapters = [...set.values()];
    const index = new Map(this.t.vars.map((v, i) => [v.name, i]));
    let total = 0;
    for (const m of adapters[0]!.modules.keys()) {
      const as = adapters.map((a) => a.modules.get(m)!.A.dataSync() as Float32Array);
      const [r, k] = adapters[0]!.modules.get(m)!.A.shape as [number, number];
      const pen = oloraPenalty(as, r, k, lambda);
      total += pen.value;
      adapters.forEach((a, i) => {
        const g = grads[index.get(`${m}.lora_A.${a.name}`)!]!;
        const d = pen.grads[i]!;
        for (let j = 0; j < g.length; j++) g[j] = g[j]! + d[j]!;
      });
    }
    return total;
  }

  async loss(batch: TokenBatch, opts: { adapters?: string } = {}): Promise<number> {
    const fwd = this.forward(opts.adapters);
    return tf.tidy(() => lmLoss(this.m, batch, fwd).dataSync()[0]!);
  }

  async interference(probes: readonly (readonly TokenBatch[])[], lr: number, adapters: string): Promise<InterferenceEstimate> {
    const t = this.t;
    const updates = t.lastProjected;
    if (!updates) throw new BbioError('E_INTERNAL', 'interference needs the updates of an sftStep');
    // ∇L_c′ on each held-out probe mini-batch, w.r.t. the trained values, without dropout
    const fwd = this.forward(adapters);
    const probeGrads = probes.map((bs) => bs.map((b) => computeGradients(t.vars, () => lmLoss(this.m, b, fwd)).grads));
    return firstOrderInterference(updates, probeGrads, lr);
  }

  async grpoStep(input: GrpoStepInput): Promise<GrpoStepResult> {
    const t = this.t;
    const slot = this.adapterSlot();
    const fwd = this.forward(slot);
    const caps = input.weights.length;
    const grads: HostGrads[] = [];
    const losses: number[] = [];
    const stats: { kl: number; clipLow: number; clipHigh: number }[] = [];
    const lp = { temperature: input.temperature, maxLen: input.maxLen, padId: this.padId, forward: fwd };
    for (let c = 0; c < caps; c++) {
      const idx = input.capabilityOf.map((k, i) => (k === c ? i : -1)).filter((i) => i >= 0);
      if (!idx.length) {
        grads.push(t.vars.map((v) => new Float32Array(v.variable.size)));
        losses.push(0);
        continue;
      }
      const inputs = () => ({
        logp: tf.concat(idx.map((i) => groupTokenLogps(this.m, input.groups[i]!, lp)), 0) as tf.Tensor2D, // [ΣG, Lmax]
        oldLogp: padded(idx.flatMap((i) => input.oldLogps[i]!), input.maxLen), // [ΣG, Lmax]
        refLogp: padded(idx.flatMap((i) => input.refLogps[i]!), input.maxLen), // [ΣG, Lmax]
        advantages: tf.tensor1d(idx.flatMap((i) => [...input.advantages[i]!])), // [ΣG]
        mask: padded(idx.flatMap((i) => completionMask(input.groups[i]!.completions, input.include[i]!, input.maxLen)), input.maxLen), // [ΣG, Lmax]
      });
      const { loss, grads: g } = t.trainer.computeGradients(() => grpoLoss(inputs(), input.loss));
      grads.push(g);
      losses.push(loss);
      if (input.withStats) {
        const x = tf.tidy(() => inputs());
        stats.push(grpoStats(x, input.loss));
        tf.dispose([x.logp, x.oldLogp, x.refLogp, x.advantages, x.mask]);
      }
    }
    const p = t.spec.projection ?? { method: 'none' as const, scope: 'global' as const, capabilities: caps };
    const combined = combineGradients(grads, input.weights, p.method, p.scope, { rng: t.rng, ...(t.subspace ? { subspace: t.subspace } : {}) });
    const outcome = t.trainer.applyGradients(combined.combined, { loss: losses.reduce((s, l, k) => s + input.weights[k]! * l, 0) });
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      outcome, losses, projection: this.report(combined),
      ...(input.withStats && stats.length ? { stats: { kl: mean(stats.map((s) => s.kl)), clipLow: mean(stats.map((s) => s.clipLow)), clipHigh: mean(stats.map((s) => s.clipHigh)) } } : {}),
    };
  }

  // ------------------------------------------------------------------------------------ checkpoints

  async saveCheckpoint<S>(dir: string, state: S, opts: { keep?: number } = {}): Promise<void> {
    const t = this.t;
    const snap = t.trainer.snapshot();
    const optimizer = new Map(snap.optimizer);
    const own: BackendState = { optimizerStep: snap.optimizerStep, badSteps: snap.badSteps, rng: t.rng.state() };
    if (t.subspace) {
      const s = t.subspace.snapshot();
      own.subspaceStep = s.step;
      for (const [k, v] of subspaceToTensors(s)) optimizer.set(k, v);
    }
    const writer: CheckpointWriter = { writtenBy: this.writer() };
    await saveCheckpoint(dir, { step: t.trainer.step, params: snap.params, optimizer, state: { ...state, ...own, ...writer } }, opts.keep !== undefined ? { keep: opts.keep } : {});
  }

  /** This backend as a checkpoint's writer: the tfjs family, named by the backend in use (wasm, cpu, …). */
  private writer(): CheckpointWriter['writtenBy'] {
    return { family: 'tfjs', backend: this.describe().name };
  }

  async loadCheckpoint<S>(dir: string): Promise<RestoredCheckpoint<S> | null> {
    const t = this.t;
    const ck = loadLatestCheckpoint<S & BackendState>(dir);
    if (!ck) return null;
    assertSameFamily(ck.state as Record<string, unknown>, ck.dir, this.writer());
    const optimizer = new Map([...ck.optimizer].filter(([k]) => !k.startsWith('subspace.')));
    t.trainer.restore({ params: ck.params, optimizer, optimizerStep: ck.state.optimizerStep, badSteps: ck.state.badSteps });
    if (ck.state.rng?.length === 4) t.rng = makeRng(0, ck.state.rng);
    const p = t.spec.projection;
    if (t.subspace && p?.subspace) t.subspace = new SubspaceProjector(p.capabilities, t.vars.length, p.subspace, subspaceFromTensors(ck.optimizer, p.capabilities, t.vars.length, ck.state.subspaceStep ?? 0));
    t.poolStale = true;
    return { state: ck.state, step: ck.step, dir: ck.dir, rejected: ck.rejected };
  }

  // ------------------------------------------------------------------------------------ inference

  private get padId(): number {
    const tok = this.options.tokenizer;
    return tok ? (tok.padId >= 0 ? tok.padId : Math.max(0, tok.eosId)) : 0;
  }

  private decoder(): (ids: number[]) => string {
    const tok = this.options.tokenizer;
    return tok ? (ids) => tok.decode(ids, { skipSpecial: true }) : (ids) => ids.join(' ');
  }

  async generate(req: GenerateRequest): Promise<Completion[][]> {
    const eosId = this.options.tokenizer?.eosId ?? -1;
    // greedy decoding draws nothing, so it never needs the training stream
    const pick = req.temperature > 0
      ? samplingPicker({ temperature: req.temperature, topP: req.topP, rng: req.seed !== undefined ? makeRng(req.seed) : this.t.rng })
      : greedyPicker();
    return decodePrompts(this.m, req.prompts, {
      n: req.n,
      maxNewTokens: req.maxNewTokens,
      pick,
      eosIds: eosId >= 0 ? [eosId] : [],
      stop: req.stop,
      ...(req.stopIds?.length ? { stopIds: req.stopIds } : {}),
      detokenize: this.decoder(),
      batchRows: req.batchRows ?? 8,
      forward: this.forward(req.adapters),
      ...(req.signal ? { signal: req.signal } : {}),
    });
  }

  async logprobs(groups: readonly RolloutGroup[], opts: LogprobOptions): Promise<number[][][]> {
    const fwd = this.forward(opts.adapters);
    return groups.map((g) => {
      const maxLen = Math.max(1, ...g.completions.map((c) => c.length));
      const flat = tf.tidy(() => groupTokenLogps(this.m, g, { temperature: opts.temperature, maxLen, padId: this.padId, forward: fwd }).dataSync() as Float32Array); // [G·maxLen]
      return g.completions.map((c, i) => Array.from(flat.subarray(i * maxLen, i * maxLen + c.length)));
    });
  }

  async entropy(groups: readonly RolloutGroup[], opts: LogprobOptions): Promise<number> {
    const fwd = this.forward(opts.adapters);
    const per = groups.map((g) => groupEntropy(this.m, g, { temperature: opts.temperature, padId: this.padId, forward: fwd }));
    return per.length ? per.reduce((a, b) => a + b, 0) / per.length : 0;
  }

  async scoreContinuations(context: readonly number[], continuations: readonly (readonly number[])[], opts: { adapters?: string } = {}): Promise<LoglikResult[]> {
    const fwd = this.forward(opts.adapters);
    return scoreSharedContext(this.m, context, continuations, { padId: this.padId, forward: fwd });
  }

  async dispose(): Promise<void> {
    await this.training?.pool?.close();
    this.training = undefined;
    for (const set of this.slots.values()) disposeLoraSet(set);
    this.slots.clear();
    if (this.model) disposeModel(this.model);
    this.model = undefined;
  }
}
