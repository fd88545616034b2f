import type { AdamWHyper } from '../compute/adamw';

/** AdamW settings for the RL stage: β₂ 0.99 as in TRL's GRPO examples (faster-moving second moment). */
export function adamwHyperDefaults(weightDecay: number): AdamWHyper {
  return { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay };
}
