/**
 * Gradient plumbing between tfjs and the host: compute gradients of a loss w.r.t. named variables as
 * Float32Arrays, check them for NaN/Inf, measure and clip the global norm, accumulate micro-batches.
 * Host arrays make the optimizer, the data-parallel exchange and the multi-capability projection plain
 * loops over numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs umbrella does).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { BbioError } from '../../util/errors';

export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/** Gradients in the order of the variables given. */
export type HostGrads = Float32Array[];

/**
 * Loss value and gradients of `loss` w.r.t. `vars`. A variable the loss does not depend on gets zeros.
 * All intermediate tensors are released before returning.
 */
export function computeGradients(vars: readonly NamedVariable[], loss: () => tf.Scalar): { loss: number; grads: HostGrads } {
  const { value, grads } = tf.variableGrads(loss, vars.map((v) => v.variable));
  try {
    const out = vars.map((v) => {
      const g = grads[v.variable.name];
      return g ? (g.dataSync() as Float32Array).slice() : new Float32Array(v.variable.size);
    });
    return { loss: value.dataSync()[0]!, grads: out };
  } finally {
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  }
}

/** Name of the first tensor holding a NaN or ±Inf, or null. */
export function firstNonFinite(names: readonly string[], grads: HostGrads): string | null {
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i]!;
    for (let j = 0; j < g.length; j++) if (!Number.isFinite(g[j]!)) return names[i]!;
  }
  return null;
}

/** √(Σ g²) over all tensors, accumulated in float64. */
export function globalNorm(grads: HostGrads): number {
  let s = 0;
  for (const g of grads) for (let j = 0; j < g.length; j++) s += g[j]! * g[j]!;
  return Math.sqrt(s);
}

/**
 * Global-norm clipping (Pascanu et al. 2013), as torch.nn.utils.clip_grad_norm_: scale all gradients by
 * maxNorm / (norm + 1e-6) when that is below 1. In place; returns the factor applied (1 = unclipped).
 */
export function clipGlobalNorm(grads: HostGrads, maxNorm: number, norm = globalNorm(grads)): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return 1;
  for (const g of grads) for (let j = 0; j < g.length; j++) g[j] = g[j]! * coef;
  return coef;
}

/** acc ← acc + w·g, elementwise (gradient accumulation and weighted combination). */
export function addScaled(acc: HostGrads, g: HostGrads, w: number): void {
  if (acc.length !== g.length) throw new BbioError('E_INTERNAL', `gradient lists differ in length (${acc.length} vs ${g.length})`);
  for (let i = 0; i < acc.length; i++) {
    const a = acc[i]!;
    const b = g[i]!;
    for (let j = 0; j < a.length; j++) a[j] = a[j]! + w * b[j]!;
  }
}

export function zerosLike(grads: HostGrads): HostGrads {
  return grads.map((g) => new Float32Array(g.length));
}
