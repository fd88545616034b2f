/**
 * Combines per-capability gradients into one update, by `sft.projection` / `grpo.projection`:
 *   none      g = Σ_c w_c g_c                       (the ablation baseline)
 *   pcgrad    g = Σ_c w_c PCGrad(g)_c               (Yu et al., 2020)
 *   subspace  g = Σ_c w_c (g_c − Π_{others}(g_c))   (gradient-window bases, GPM's energy rule: subspace.ts)
 * and measures what the projection did: pairwise cosines before and after, norms, conflicts, time.
 * Scope `global` treats all trainable matrices as one vector; `per_matrix` projects each matrix alone.
 * Only pcgrad reads the scope: subspace is always per matrix (its bases are per matrix).
 */
import type { Rng } from '../../util/rng';
import type { PairStat } from '../types';
import { pcgrad } from './pcgrad';
import type { SubspaceProjector } from './subspace';
import { cosine, dot, norm, sliceMatrix, weightedSum, type GradVec } from './vectors';

export type ProjectionMethod = 'none' | 'pcgrad' | 'subspace';
export type ProjectionScope = 'global' | 'per_matrix';

export interface ProjectionContext {
  rng: Rng;
  /** Required for `subspace`; owns the bases across steps. */
  subspace?: SubspaceProjector;
}

type ProjectFn = (grads: readonly GradVec[], scope: ProjectionScope, ctx: ProjectionContext) => GradVec[];

const projectPcgrad: ProjectFn = (grads, scope, ctx) => {
  if (scope === 'global') return pcgrad(grads, ctx.rng).projected;
  const matrices = grads[0]?.length ?? 0;
  const out: GradVec[] = grads.map(() => []);
  for (let m = 0; m < matrices; m++) {
    const { projected } = pcgrad(sliceMatrix(grads, m), ctx.rng);
    projected.forEach((p, c) => out[c]!.push(p[0]!));
  }
  return out;
};

const projectSubspace: ProjectFn = (grads, _scope, ctx) => {
  if (!ctx.subspace) throw new Error('subspace projection needs a SubspaceProjector');
  return ctx.subspace.project(grads);
};

export const PROJECTIONS: Record<ProjectionMethod, ProjectFn> = {
  none: (grads) => grads.map((g) => g.map((m) => new Float32Array(m))),
  pcgrad: projectPcgrad,
  subspace: projectSubspace,
};

export type { PairStat };

export interface CombineResult {
  combined: GradVec;
  projected: GradVec[];
  pairs: PairStat[];
  normsRaw: number[];
  normsProjected: number[];
  projectionMs: number;
}

export function combineGradients(grads: readonly GradVec[], weights: readonly number[], method: ProjectionMethod, scope: ProjectionScope, ctx: ProjectionContext): CombineResult {
  if (grads.length !== weights.length) throw new Error(`${grads.length} gradients but ${weights.length} weights`);
  const t0 = performance.now();
  const projected = PROJECTIONS[method](grads, scope, ctx);
  const projectionMs = performance.now() - t0;
  const pairs: PairStat[] = [];
  for (let a = 0; a < grads.length; a++) {
    for (let b = a + 1; b < grads.length; b++) {
      pairs.push({ a, b, cosineRaw: cosine(grads[a]!, grads[b]!), cosineProjected: cosine(projected[a]!, projected[b]!), conflict: dot(grads[a]!, grads[b]!) < 0 });
    }
  }
  return { combined: weightedSum(projected, weights), projected, pairs, normsRaw: grads.map(norm), normsProjected: projected.map(norm), projectionMs };
}
