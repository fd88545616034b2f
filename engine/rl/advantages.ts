/**
 * Group-relative advantages (GRPO, Shao et al. 2024, "DeepSeekMath", §4.1):
 *   Â_i = (r_i − mean(r_group)) / (std(r_group) + ε), shared by every token of completion i.
 * `scale_rewards` chooses the std: the group's (GRPO), the whole batch's, or none (Dr. GRPO, Liu et al.
 * 2025, which drops it to remove the difficulty bias). The std is the population std (1/G), as TRL uses.
 *
 * Aggregation of reward components (grpo.aggregation):
 *   sum_then_normalize  r_i = Σ_k w_k r_ik, then the advantage above.
 *   normalize_then_sum  Â_i = Σ_k w_k (r_ik − mean_g r_k) / (std_g r_k + ε): each component normalised in
 *                       its group first, so a low-variance component is not drowned out by a noisy one.
 *                       `scale_rewards` then only decides whether the sum is rescaled by its batch std.
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
 * components[g][i][k]: reward k of completion i in group g; weights[k]. Returns the total rewards (always
 * Σ_k w_k r_ik, the number that is logged) and the advantages the loss optimises.
 */
export function aggregate(components: readonly (readonly (readonly number[])[])[], weights: readonly number[], aggregation: Aggregation, scale: ScaleRewards, eps = ADV_EPS): { totals: number[][]; advantages: number[][] } {
  const totals = components.map((g) => g.map((rs) => rs.reduce((s, r, k) => s + weights[k]! * r, 0)));
  if (aggregation === 'sum_then_normalize') return { totals, advantages: groupAdvantages(totals, scale, eps) };
  const K = weights.length;
  const adv = components.map((g) => {
    const perK = Array.from({ length: K }, (_, k) => g.map((rs) => rs[k]!));
    const stats = perK.map((col) => ({ m: mean(col), s: std(col) }));
    return g.map((rs) => rs.reduce((s, r, k) => s + (weights[k]! * (r - stats[k]!.m)) / (stats[k]!.s + eps), 0));
  });
  if (scale !== 'batch') return { totals, advantages: adv };
  const s = std(adv.flat());
  return { totals, advantages: adv.map((g) => g.map((a) => a / (s + eps))) };
}
