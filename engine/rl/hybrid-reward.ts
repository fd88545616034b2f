/**
 * GRPO's hybrid reward: Σ_k w_k r_k over the reward components (engine/verify/rewards.ts, plus custom
 * ones) that apply to an example, with their weights renormalised to sum to the configured total, so a
 * prompt is never penalised for a component that cannot score it.
 */
import type { SynthExample } from '../core/example';
import type { RewardContext, RewardFn } from '../verify/rewards';

export interface ComponentSpec {
  /** Metric name of the component: the built-in name, or a custom reward's id. */
  id: string;
  weight: number;
  fn: RewardFn;
}

export interface HybridReward {
  /** Σ_k w'_k r_k over applicable components (w' renormalised): the number optimised and logged. */
  total: number;
  /** Per component: score, or NaN where it did not apply. */
  scores: number[];
  /** Effective weights w'_k (0 where not applicable). */
  weights: number[];
  breakdown: Record<string, Record<string, number | string>>;
}

export function hybridReward(ex: SynthExample, completion: string, components: readonly ComponentSpec[], ctx: RewardContext): HybridReward {
  const results = components.map((c) => c.fn(ex, completion, ctx));
  const configured = components.reduce((s, c) => s + c.weight, 0);
  const applicable = components.reduce((s, c, k) => s + (results[k] ? c.weight : 0), 0);
  const scale = applicable > 0 ? configured / applicable : 0;
  const weights = components.map((c, k) => (results[k] ? c.weight * scale : 0));
  const scores = results.map((r) => (r ? Math.min(1, Math.max(0, r.score)) : Number.NaN));
  const total = scores.reduce((s, r, k) => s + (Number.isNaN(r) ? 0 : weights[k]! * r), 0);
  const breakdown = Object.fromEntries(components.flatMap((c, k) => (results[k] ? [[c.id, results[k]!.breakdown]] : [])));
  return { total, scores, weights, breakdown };
}
