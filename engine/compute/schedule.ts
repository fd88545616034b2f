/**
 * Learning-rate schedules as pure functions of the optimizer step, so a resumed run needs no schedule
 * state. Linear warm-up (Goyal et al. 2017) then cosine decay (Loshchilov & Hutter 2017, SGDR without
 * restarts), linear decay, or constant, ending at `minLrRatio · peak`.
 */
export type ScheduleShape = 'cosine' | 'linear' | 'constant';

export interface ScheduleSpec {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  shape: ScheduleShape;
  /** Final learning rate as a fraction of the peak. */
  minLrRatio: number;
}

/** Learning rate for optimizer step `step` (0-based: the first update uses step 0). */
export function learningRate(step: number, s: ScheduleSpec): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.peak * (step + 1)) / s.warmupSteps;
  const min = s.peak * s.minLrRatio;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / decaySteps)); // in [0, 1]
  switch (s.shape) {
    case 'constant':
      return s.peak;
    case 'linear':
      return s.peak - (s.peak - min) * progress;
    case 'cosine':
      return min + 0.5 * (s.peak - min) * (1 + Math.cos(Math.PI * progress));
  }
}
