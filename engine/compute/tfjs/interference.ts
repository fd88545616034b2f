/**
 * The interference matrix as a first-order estimate (issue 17 item 6). A step θ′ = θ − η·g̃_c along
 * capability c's applied (projected) update changes capability c′'s loss by
 *   ΔL_c′ = L_c′(θ − η g̃_c) − L_c′(θ) = −η ⟨g̃_c, ∇L_c′(θ)⟩ + O(η²)      (Taylor, first order)
 * the quantity gradient-surgery papers reason about (Yu et al. 2020, "Gradient Surgery for Multi-Task
 * Learning", §2: a conflict is ⟨g_i, g_j⟩ < 0). It replaces a measured loss change after −η·sign(g̃_c) on
 * two examples, which was dominated by curvature and noise. ∇L_c′ is taken on held-out probe mini-batches;
 * each mini-batch gives one estimate, and their spread gives a 95% confidence interval for the mean.
 */
import { dot } from '../projection/vectors';
import type { HostGrads } from './grads';
import type { InterferenceEstimate } from '../types';

/** Two-sided 97.5% quantiles of Student's t for 1…30 degrees of freedom (standard tables); 1.96 beyond. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(df: number): number {
  return df >= 1 && df <= T975.length ? T975[df - 1]! : 1.96;
}

/** updates[c]: g̃_c; probeGrads[c′][b]: ∇L_c′ on probe mini-batch b (empty: no probe data, NaN row). */
export function firstOrderInterference(updates: readonly HostGrads[], probeGrads: readonly (readonly HostGrads[])[], lr: number): InterferenceEstimate {
  const mean: number[][] = [];
  const ci95: number[][] = [];
  for (const g of updates) {
    const row = probeGrads.map((bs) => {
      const xs = bs.map((p) => -lr * dot(g, p));
      const n = xs.length;
      if (!n) return { m: Number.NaN, h: Number.NaN };
      const m = xs.reduce((a, b) => a + b, 0) / n;
      if (n < 2) return { m, h: Number.NaN };
      const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1)); // sample sd
      return { m, h: (tQuantile975(n - 1) * sd) / Math.sqrt(n) };
    });
    mean.push(row.map((x) => x.m));
    ci95.push(row.map((x) => x.h));
  }
  return { mean, ci95, batches: probeGrads.map((bs) => bs.length) };
}
