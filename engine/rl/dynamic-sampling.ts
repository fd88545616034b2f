/**
 * DAPO's dynamic sampling (Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at
 * Scale", §3.2, eq. 11's constraint 0 < |{o_i correct}| < G): a group whose rewards all tie has zero
 * group-relative advantages and so contributes no policy gradient (only the KL term), which with tie
 * fractions of 0.5–1.0 left most GRPO steps without signal (issue 17 item 10). Tied groups are replaced by
 * groups of newly drawn prompts, for at most `maxRounds` rounds; what still ties after the last round is
 * dropped, unless every group tied (then the step keeps them and only the KL term moves the policy).
 */
import { groupTies } from './advantages';
import type { ScaleRewards } from './advantages';

export interface FilledBatch<G> {
  groups: G[];
  /** Fraction of the first-sampled groups that tied. */
  tieFraction: number;
  /** Groups sampled again to replace tied ones. */
  resampled: number;
  /** Groups left out of the update because they still tied after the last round. */
  dropped: number;
}

/**
 * `first`: the step's groups as first sampled; `resample(like)`: one new group per entry of `like` (the
 * tied groups it replaces, e.g. for their capability); `totals(g)`: the group's rewards.
 */
export async function fillUntied<G>(first: readonly G[], resample: (like: readonly G[]) => Promise<G[]>, totals: (g: G) => readonly number[], maxRounds: number): Promise<FilledBatch<G>> {
  const tied = (g: G): boolean => groupTies(totals(g));
  const tieFraction = first.length ? first.filter(tied).length / first.length : 0;
  const kept = first.filter((g) => !tied(g));
  let pending = first.filter(tied);
  let resampled = 0;
  for (let round = 0; round < maxRounds && pending.length; round++) {
    const fresh = await resample(pending);
    resampled += fresh.length;
    const next: G[] = [];
    fresh.forEach((g, i) => (tied(g) ? next.push(pending[i]!) : kept.push(g)));
    pending = next;
  }
  if (!kept.length) return { groups: [...first], tieFraction, resampled, dropped: 0 };
  return { groups: kept, tieFraction, resampled, dropped: pending.length };
}

/**
 * The std scaling in effect: as set, else `none` under Dr. GRPO's loss (Liu et al. 2025 remove both the
 * length and the std normalisation; its constant-length loss with a group std would bring the difficulty
 * bias back), else `group` (GRPO, TRL's default). An explicit group/batch with dr_grpo is warned about in
 * engine/config/semantic.ts.
 */
export function effectiveScaleRewards(g: { loss_type: 'grpo' | 'dr_grpo' | 'dapo'; scale_rewards?: ScaleRewards | undefined }): ScaleRewards {
  return g.scale_rewards ?? (g.loss_type === 'dr_grpo' ? 'none' : 'group');
}
