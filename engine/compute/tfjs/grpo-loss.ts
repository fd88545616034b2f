/**
 * The GRPO objective (DESIGN.md; Shao et al. 2024) with the options of the strongest open trainers:
 *   L = −(1/G) Σ_i (1/|o_i|) Σ_t [ min(ρ_it Â_i, clip(ρ_it, 1−ε_low, 1+ε_high) Â_i) − β·KL_it ]
 *   ρ_it = π_θ(o_it|q,o_i<t) / π_old(o_it|…),   KL_it = π_ref/π_θ − log(π_ref/π_θ) − 1   (k3 estimator,
 *   Schulman 2020, "Approximating KL divergence"; unbiased and ≥ 0).
 * Normalisations (`loss_type`), a table of small functions:
 *   grpo     per-sequence mean over tokens, then mean over sequences (the formula above);
 *   dapo     token-level: Σ_it / Σ_it mask (Yu et al. 2025, DAPO);
 *   dr_grpo  Σ_it / (B · T_max), a constant, removing the length bias (Liu et al. 2025, Dr. GRPO).
 * `importance_sampling: sequence` replaces ρ_it by the sequence-level ratio
 *   s_i = exp((1/|o_i|) Σ_t (log π_θ − log π_old)) (Zheng et al. 2025, GSPO), shared by the tokens of o_i.
 * ε_high > ε_low is DAPO's clip-higher.
 */
import * as tf from '@tensorflow/tfjs-core';
// gradients of the core ops (Neg, Exp, Minimum, …) are registered by this side-effect import
import '@tensorflow/tfjs-core/dist/register_all_gradients';

import type { GrpoLossSpec } from '../types';

export type LossType = GrpoLossSpec['lossType'];
export type ImportanceSampling = GrpoLossSpec['importanceSampling'];

/** The loss options are the compute interface's GrpoLossSpec: declared once, there. */
export type GrpoLossOptions = GrpoLossSpec;

export interface GrpoLossInputs {
  /** log π_θ of the sampled tokens: [B, T] (differentiable). */
  logp: tf.Tensor2D;
  /** log π_old: [B, T] (constant). */
  oldLogp: tf.Tensor2D;
  /** log π_ref: [B, T] (constant); ignored when beta = 0. */
  refLogp: tf.Tensor2D;
  /** Â_i: [B]. */
  advantages: tf.Tensor1D;
  /** 1 for completion tokens that count, 0 for padding and masked (e.g. truncated) completions: [B, T]. */
  mask: tf.Tensor2D;
}

type Reduce = (perToken: tf.Tensor2D, mask: tf.Tensor2D) => tf.Scalar;

/** Guards the division for rows whose mask is all zero (e.g. a masked truncated completion). */
const safe = (x: tf.Tensor): tf.Tensor => tf.maximum(x, 1);

export const LOSS_REDUCERS: Record<LossType, Reduce> = {
  grpo: (obj, mask) => tf.mean(tf.div(tf.sum(tf.mul(obj, mask), 1), safe(tf.sum(mask, 1)))) as tf.Scalar, // [B] → []
  dapo: (obj, mask) => tf.div(tf.sum(tf.mul(obj, mask)), safe(tf.sum(mask))) as tf.Scalar,
  dr_grpo: (obj, mask) => tf.div(tf.sum(tf.mul(obj, mask)), obj.shape[0] * obj.shape[1]) as tf.Scalar,
};

/** Per-token k3 KL(π_θ ‖ π_ref) estimate: exp(ref − logp) − (ref − logp) − 1. [B, T] */
export function k3(logp: tf.Tensor2D, refLogp: tf.Tensor2D): tf.Tensor2D {
  const d = tf.sub(refLogp, logp); // [B, T]
  return tf.sub(tf.sub(tf.exp(d), d), 1) as tf.Tensor2D;
}

/** Importance ratios [B, T]: per token, or the per-sequence GSPO ratio broadcast over tokens. */
export function importanceRatio(logp: tf.Tensor2D, oldLogp: tf.Tensor2D, mask: tf.Tensor2D, mode: ImportanceSampling): tf.Tensor2D {
  const diff = tf.mul(tf.sub(logp, oldLogp), mask); // [B, T]
  if (mode === 'token') return tf.exp(diff) as tf.Tensor2D;
  const seq = tf.div(tf.sum(diff, 1, true), safe(tf.sum(mask, 1, true))); // [B, 1]
  return tf.mul(tf.exp(seq), tf.onesLike(logp)) as tf.Tensor2D; // [B, T]
}

/** The scalar loss to minimise. Call inside tf.variableGrads / tf.grads so it is differentiated. */
export function grpoLoss(x: GrpoLossInputs, o: GrpoLossOptions): tf.Scalar {
  return tf.tidy(() => {
    const ratio = importanceRatio(x.logp, x.oldLogp, x.mask, o.importanceSampling); // [B, T]
    const adv = tf.expandDims(x.advantages, 1); // [B, 1]
    const unclipped = tf.mul(ratio, adv); // [B, T]
    const clipped = tf.mul(tf.clipByValue(ratio, 1 - o.epsLow, 1 + o.epsHigh), adv); // [B, T]
    let objective = tf.minimum(unclipped, clipped) as tf.Tensor2D; // [B, T]
    if (o.beta !== 0) objective = tf.sub(objective, tf.mul(o.beta, k3(x.logp, x.refLogp))) as tf.Tensor2D;
    return tf.neg(LOSS_REDUCERS[o.lossType](objective, x.mask)) as tf.Scalar;
  });
}

export interface GrpoStats {
  /** Mean k3 KL over counted tokens. */
  kl: number;
  /** Fraction of counted tokens whose ratio was clipped at 1 − ε_low with a negative advantage. */
  clipLow: number;
  /** Fraction clipped at 1 + ε_high with a positive advantage. */
  clipHigh: number;
}

/** Diagnostics matching TRL's clip_ratio/low_mean, high_mean: where the clip actually bound the objective. */
export function grpoStats(x: GrpoLossInputs, o: GrpoLossOptions): GrpoStats {
  return tf.tidy(() => {
    const ratio = importanceRatio(x.logp, x.oldLogp, x.mask, o.importanceSampling);
    const adv = tf.expandDims(x.advantages, 1);
    const n = Math.max(1, tf.sum(x.mask).dataSync()[0]!);
    const low = tf.mul(tf.cast(tf.logicalAnd(tf.less(ratio, 1 - o.epsLow), tf.less(adv, 0)), 'float32'), x.mask);
    const high = tf.mul(tf.cast(tf.logicalAnd(tf.greater(ratio, 1 + o.epsHigh), tf.greater(adv, 0)), 'float32'), x.mask);
    const kl = tf.mul(k3(x.logp, x.refLogp), x.mask);
    return { kl: tf.sum(kl).dataSync()[0]! / n, clipLow: tf.sum(low).dataSync()[0]! / n, clipHigh: tf.sum(high).dataSync()[0]! / n };
  });
}
