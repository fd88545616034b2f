/**
 * What GRPO's numbers mean for a person watching a run: plain-language health rules (a metric, a threshold
 * and what crossing it means, shown in the editor's health panel) and the reward-hacking alert (the reward
 * rises while held-out accuracy falls).
 */
import { mean } from './advantages';

export interface HealthRule {
  metric: string;
  test: (v: number) => boolean;
  meaning: string;
}

export const GRPO_HEALTH: readonly HealthRule[] = [
  { metric: 'grpo/tie_fraction', test: (v) => v > 0.5, meaning: 'over half of the groups tie (every completion got the same reward): they carry no signal; raise temperature or group_size' },
  { metric: 'grpo/truncation_rate', test: (v) => v > 0.5, meaning: 'most completions hit max_new_tokens: raise max_new_tokens or set mask_truncated_completions' },
  { metric: 'grpo/kl', test: (v) => v > 0.5, meaning: 'the policy drifted far from the reference: raise kl_beta or lower the learning rate' },
  { metric: 'grpo/clip_fraction_high', test: (v) => v > 0.2, meaning: 'many ratios are clipped: updates are too large for the trust region; lower the learning rate or num_iterations' },
  { metric: 'grpo/entropy', test: (v) => v < 0.05, meaning: 'the policy is nearly deterministic: exploration has collapsed; raise temperature' },
];

/** The rules a step's values break, each with its value (a `health` record per note). */
export function healthNotes(values: Record<string, number>): { metric: string; value: number; meaning: string }[] {
  return GRPO_HEALTH.flatMap((h) => {
    const v = values[h.metric];
    return v !== undefined && h.test(v) ? [{ metric: h.metric, value: v, meaning: h.meaning }] : [];
  });
}

export interface RewardHackingAlert {
  title: string;
  meaning: string;
  reward: { from: number; to: number };
  accuracy: { from: number; to: number };
}

/**
 * Reward up, task accuracy down: the mean reward of the last quarter of steps exceeds the first quarter's by
 * more than 0.05 while the held-out probe accuracy fell by more than 0.05 since the first probe. Needs at
 * least 4 reward steps and 2 probes; null when there is nothing to say.
 */
export function rewardHackingAlert(rewardHistory: readonly number[], probeHistory: readonly number[]): RewardHackingAlert | null {
  if (probeHistory.length < 2 || rewardHistory.length < 4) return null;
  const q = Math.ceil(rewardHistory.length / 4);
  const r0 = mean(rewardHistory.slice(0, q));
  const r1 = mean(rewardHistory.slice(-q));
  const a0 = probeHistory[0]!;
  const a1 = probeHistory[probeHistory.length - 1]!;
  if (!(r1 - r0 > 0.05 && a0 - a1 > 0.05)) return null;
  return {
    title: 'reward up, task accuracy down',
    meaning: 'the mean reward rose while held-out accuracy fell: the policy may be exploiting the reward (reward hacking); inspect the rollouts and the reward components',
    reward: { from: r0, to: r1 },
    accuracy: { from: a0, to: a1 },
  };
}
