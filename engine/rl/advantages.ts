/**
 * Group-relative advantages (GRPO, Shao et al. 2024, "DeepSeekMath", §4.1):
 *   Â_i = (r_i − mean(r_group)) / σ, shared by every token of completion i.
 * `scale_rewards` chooses σ, as TRL's `GRPOConfig.scale_rewards` does: `group` the group's std (GRPO),
 * `batch` the std over every completion of the step (group mean, batch std: Liu et al. 2025, "Tricks or
 * Traps? A Deep Dive into RL for LLM Reasoning"), `none` σ = 1 (Dr. GRPO, Liu et al. 2025, "Understanding
 * R1-Zero-Like Training", which drops the std to remove the difficulty bias). The std is the population
 * std (1/G), as TRL uses; ε keeps a tied group at 0 instead of 0/0.
 *
 * Aggregation of reward components (grpo.aggregation), with w_gk the weight of component k in group g (0
 * where k does not apply to the prompt) and the mean always the group's:
 *   sum_then_normalize  t_i = Σ_k w_gk r_ik, then Â_i = (t_i − mean_g t) / σ(t), σ by scale_rewards.
 *   normalize_then_sum  Â_i = Σ_k w_gk (r_ik − mean_g r_k) / σ(r_k): each component is centred in its group
 *                       and divided by its OWN std, chosen by scale_rewards (the group's, the batch's over
 *                       the groups where k applies, or 1), so a low-variance component is not drowned out
 *                       by a noisy one. With `none` both orders give the same advantages (it is linear).
 * Every combination therefore means something distinct and none overrides the other (issue 17 item 5).
 */
export type ScaleRewards = 'group' | 'batch' | 'none';
export type Aggregation = 'sum_then_normalize' | 'normalize_then_sum';

export const ADV_EPS = 1e-4;

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0;
}

/** Population standard deviation. */
export function std(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
}

/** A group ties when its rewards are all equal: every advantage is 0 and it carries no signal. */
export function groupTies(rewards: readonly number[], tol = 1e-9): boolean {
  return std(rewards) <= tol;
}

/** rewards[g][i] → advantages[g][i]. */
export function groupAdvantages(rewards: readonly (readonly number[])[], scale: ScaleRewards, eps = ADV_EPS): number[][] {
  const centred = rewards.map((g) => {
    const m = mean(g);
    return g.map((r) => r - m);
  });
  if (scale === 'none') return centred;
  if (scale === 'batch') {
    const s = std(rewards.flat());
    return centred.map((g) => g.map((a) => a / (s + eps)));
  }
  return centred.map((g, gi) => {
    const s = std(rewards[gi]!);
    return g.map((a) => a / (s + eps));
  });
}

/**
 * components[g][i][k]: reward k of completion i in group g; weights[g][k] the effective weight of k in
 * group g (one row for all groups is accepted). Returns the total rewards (always Σ_k w_gk r_ik, the number
 * that is logged) and the advantages the loss optimises.
 */
export function aggregate(components: readonly (readonly (readonly number[])[])[], weights: readonly number[] | readonly (readonly number[])[], aggregation: Aggregation, scale: ScaleRewards, eps = ADV_EPS): { totals: number[][]; advantages: number[][] } {
  const w = (g: number): readonly number[] => (Array.isArray(weights[0]) ? (weights as readonly (readonly number[])[])[g]! : (weights as readonly number[]));
  const totals = components.map((grp, gi) => grp.map((rs) => rs.reduce((s, r, k) => s + w(gi)[k]! * r, 0)));
  if (aggregation === 'sum_then_normalize') return { totals, advantages: groupAdvantages(totals, scale, eps) };
  const K = w(0).length;
  // component k's reward column in each group: [G][I]
  const column = (k: number): number[][] => components.map((grp) => grp.map((rs) => rs[k]!));
  // σ_k for the batch: over the completions of the groups where k applies (w_gk > 0)
  const batchStd = Array.from({ length: K }, (_, k) => std(column(k).filter((_, gi) => w(gi)[k]! > 0).flat()));
  const advantages = components.map((grp, gi) => {
    const stats = Array.from({ length: K }, (_, k) => {
      const col = grp.map((rs) => rs[k]!);
      const sigma = scale === 'group' ? std(col) + eps : scale === 'batch' ? batchStd[k]! + eps : 1;
      return { m: mean(col), sigma };
    });
    // a component that does not apply (w = 0) adds nothing, even where its σ is 0
    return grp.map((rs) => rs.reduce((s, r, k) => (w(gi)[k]! === 0 ? s : s + (w(gi)[k]! * (r - stats[k]!.m)) / stats[k]!.sigma), 0));
  });
  return { totals, advantages };
}
