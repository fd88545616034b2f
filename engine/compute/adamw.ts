/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") on host Float32Arrays, in the
 * order torch.optim.AdamW applies it:
 *   p ← p·(1 − lr·λ)                      (decoupled decay, only for tensors with decay on)
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²
 *   p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
 * One fused loop per tensor: on wasm a dozen elementwise kernels over every parameter cost ~10× more
 * than this loop (../shared/backends.md measures ~9 ns per element per kernel).
 */
export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWHyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export interface AdamWState {
  /** Updates applied so far (t in the bias corrections is step + 1 for the next update). */
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export function createAdamWState(sizes: readonly number[]): AdamWState {
  return { step: 0, m: sizes.map((n) => new Float32Array(n)), v: sizes.map((n) => new Float32Array(n)) };
}

/**
 * Applies one update in place to `params[i]` with gradient `grads[i]` (already clipped/combined).
 * `decay[i]` says whether tensor i gets weight decay. Advances state.step.
 */
export function adamwUpdate(
  params: Float32Array[],
  grads: readonly Float32Array[],
  decay: readonly boolean[],
  state: AdamWState,
  lr: number,
  h: AdamWHyper,
): void {
  const t = state.step + 1;
  const bc1 = 1 - Math.pow(h.beta1, t);
  const bc2 = 1 - Math.pow(h.beta2, t);
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const g = grads[i]!;
    const m = state.m[i]!;
    const v = state.v[i]!;
    const shrink = decay[i] ? 1 - lr * h.weightDecay : 1;
    for (let j = 0; j < p.length; j++) {
      const gj = g[j]!;
      const mj = h.beta1 * m[j]! + (1 - h.beta1) * gj;
      const vj = h.beta2 * v[j]! + (1 - h.beta2) * gj * gj;
      m[j] = mj;
      v[j] = vj;
      p[j] = p[j]! * shrink - (lr * (m[j]! / bc1)) / (Math.sqrt(v[j]! / bc2) + h.eps);
    }
  }
  state.step = t;
}
