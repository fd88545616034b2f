/**
 * The optimizer step shared by every training stage. A stage computes gradients however it likes (one
 * loss, micro-batches, one gradient per capability then a projection) and hands the combined host
 * gradients to `applyGradients`, which guards against NaN/Inf, clips the global norm, runs AdamW with the
 * scheduled learning rate and uploads the new weights. Master weights and optimizer moments live on the
 * host, so checkpoints and resume are bit-exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorMap } from '../../model/safetensors';
import { BbioError } from '../../util/errors';
import type { StepOutcome } from '../types';
import { adamwUpdate, createAdamWState, type AdamWHyper, type AdamWState } from '../adamw';
import { clipGlobalNorm, computeGradients, firstNonFinite, globalNorm, type HostGrads, type NamedVariable } from './grads';
import { learningRate, type ScheduleSpec } from '../schedule';

export interface TrainerOptions {
  /** Trainable variables, by name (HF names for a full model, PEFT-style names for adapters). */
  vars: NamedVariable[];
  /** Which tensors get weight decay (default: matrices only, as nanoGPT/HF do; not norms, biases). */
  decay?: (name: string, shape: readonly number[]) => boolean;
  schedule: ScheduleSpec;
  adam: AdamWHyper;
  /** Global-norm clip (0 = off). */
  gradClip: number;
  /** Consecutive rejected steps after which training stops with E_NAN (default 5). */
  maxBadSteps?: number;
}

export type { StepOutcome };

export interface TrainerSnapshot {
  params: TensorMap;
  optimizer: TensorMap;
  optimizerStep: number;
  badSteps: number;
}

export class Trainer {
  readonly vars: NamedVariable[];
  private readonly names: string[];
  private readonly decayMask: boolean[];
  private readonly master: Float32Array[];
  private opt: AdamWState;
  private badSteps = 0;
  /** The first tensor (weight or moment) that was already non-finite in the snapshot `restore` loaded. */
  private restoredNonFinite: string | null = null;

  constructor(private readonly options: TrainerOptions) {
    this.vars = options.vars;
    this.names = options.vars.map((v) => v.name);
    const decay = options.decay ?? ((_n: string, shape: readonly number[]) => shape.length >= 2);
    this.decayMask = options.vars.map((v) => decay(v.name, v.variable.shape));
    this.master = options.vars.map((v) => (v.variable.dataSync() as Float32Array).slice());
    this.opt = createAdamWState(this.master.map((m) => m.length));
  }

  /** Optimizer updates applied so far. */
  get step(): number {
    return this.opt.step;
  }

  /** Learning rate the next update will use. */
  get lr(): number {
    return learningRate(this.opt.step, this.options.schedule);
  }

  /** Loss and host gradients w.r.t. this trainer's variables. */
  computeGradients(loss: () => tf.Scalar): { loss: number; grads: HostGrads } {
    return computeGradients(this.vars, loss);
  }

  /**
   * One optimizer step from already-combined gradients (consumed: clipped in place). A non-finite loss or
   * gradient rejects the step (weights and moments untouched) and names the tensor; after `maxBadSteps`
   * consecutive rejections this throws E_NAN.
   */
  applyGradients(grads: HostGrads, opts: { loss?: number } = {}): StepOutcome {
    if (grads.length !== this.vars.length) throw new BbioError('E_INTERNAL', `expected ${this.vars.length} gradients, got ${grads.length}`);
    const bad = opts.loss !== undefined && !Number.isFinite(opts.loss) ? 'loss' : firstNonFinite(this.names, grads);
    if (bad) {
      this.badSteps += 1;
      const limit = this.options.maxBadSteps ?? 5;
      if (this.badSteps >= limit) {
        const message = `${this.badSteps} consecutive steps had a non-finite value (last: ${bad}) at step ${this.opt.step}`;
        // NaN weights or moments loaded from a checkpoint make every step non-finite whatever the
        // learning rate: then the checkpoint is at fault, not the training, and the hint must say so
        if (this.restoredNonFinite) {
          throw new BbioError('E_NAN', `${message}; the checkpoint this stage resumed from already holds non-finite values (${this.restoredNonFinite})`, {}, "the checkpoint itself is damaged: delete the stage's folder under checkpoints/ in the run to restart the stage");
        }
        throw new BbioError('E_NAN', message, {}, 'lower the learning rate or enable grad_clip; the last good checkpoint is intact');
      }
      return { applied: false, step: this.opt.step, badTensor: bad, badSteps: this.badSteps };
    }
    this.badSteps = 0;
    const norm = globalNorm(grads);
    const clipCoef = clipGlobalNorm(grads, this.options.gradClip, norm);
    const lr = learningRate(this.opt.step, this.options.schedule);
    adamwUpdate(this.master, grads, this.decayMask, this.opt, lr, this.options.adam);
    this.upload();
    return { applied: true, step: this.opt.step, lr, gradNorm: norm, clipCoef };
  }

  private upload(): void {
    this.vars.forEach((v, i) => {
      // assign() takes the data but leaves the temporary tensor registered: dispose it.
      const t = tf.tensor(this.master[i]!, v.variable.shape);
      v.variable.assign(t);
      t.dispose();
    });
  }

  /** Host copy of weights and optimizer state (for checkpoints). */
  snapshot(): TrainerSnapshot {
    const params: TensorMap = new Map();
    const optimizer: TensorMap = new Map();
    this.vars.forEach((v, i) => {
      const shape = [...v.variable.shape];
      params.set(v.name, { shape, data: this.master[i]!.slice() });
      optimizer.set(`m.${v.name}`, { shape, data: this.opt.m[i]!.slice() });
      optimizer.set(`v.${v.name}`, { shape, data: this.opt.v[i]!.slice() });
    });
    return { params, optimizer, optimizerStep: this.opt.step, badSteps: this.badSteps };
  }

  /** Restores weights and optimizer state exactly (resume). */
  restore(s: TrainerSnapshot): void {
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    this.vars.forEach((nv, i) => {
      const p = s.params.get(nv.name);
      const mm = s.optimizer.get(`m.${nv.name}`);
      const vv = s.optimizer.get(`v.${nv.name}`);
      if (!p || !mm || !vv || p.data.length !== this.master[i]!.length) {
        throw new BbioError('E_CHECKPOINT', `checkpoint lacks or mis-sizes "${nv.name}"`, {}, 'delete the checkpoint folder to restart the stage');
      }
      this.master[i]!.set(p.data);
      m.push(mm.data.slice());
      v.push(vv.data.slice());
    });
    this.opt = { step: s.optimizerStep, m, v };
    this.badSteps = s.badSteps;
    this.restoredNonFinite = firstNonFinite(this.names, this.master) ?? firstNonFinite(this.names.map((n) => `m.${n}`), m) ?? firstNonFinite(this.names.map((n) => `v.${n}`), v);
    this.upload();
  }
}
