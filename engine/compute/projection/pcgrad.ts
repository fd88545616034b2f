/**
 * PCGrad, "Gradient Surgery for Multi-Task Learning" (Yu et al., NeurIPS 2020, Algorithm 1):
 * for each task i, for each other task j in random order, if g_i^PC · g_j < 0 then
 *   g_i^PC ← g_i^PC − (g_i^PC · g_j / ‖g_j‖²) g_j,
 * projecting against the *original* g_j. A zero-norm g_j is skipped (it has no direction to remove).
 */
import type { Rng } from '../../util/rng';
import { axpy, clone, dot, type GradVec } from './vectors';

export interface PcgradResult {
  projected: GradVec[];
  /** conflicts[i][j]: g_i · g_j < 0 was seen (and removed) when projecting i against j. */
  conflicts: boolean[][];
}

export function pcgrad(grads: readonly GradVec[], rng: Rng): PcgradResult {
  const n = grads.length;
  const sq = grads.map((g) => dot(g, g));
  const conflicts = grads.map(() => new Array<boolean>(n).fill(false));
  const projected = grads.map((g, i) => {
    const out = clone(g);
    const others = rng.shuffle([...Array(n).keys()].filter((j) => j !== i));
    for (const j of others) {
      if (sq[j]! === 0) continue;
      const d = dot(out, grads[j]!);
      if (d < 0) {
        conflicts[i]![j] = true;
        axpy(-d / sq[j]!, grads[j]!, out);
      }
    }
    return out;
  });
  return { projected, conflicts };
}
