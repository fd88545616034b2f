/**
 * Adaptive capability weights for capability-aware GRPO (`grpo.weighting`), one small function each:
 *   fixed     w = grpo.capability_weights.
 *   gap       running reward R̄_c (EMA of the mean reward of capability c's prompts); a capability that
 *             lags its target gains weight: w = Π_[min,max](normalise(softmax((target − R̄)/T) ⊙ s)), with s_c
 *             the fraction of capability c's groups this step whose rewards do not all tie. A tied group has
 *             zero advantages (advantages.ts) and so no policy gradient: raising the weight of a capability
 *             whose groups all tie moves weight to where nothing can be learned (issue 17 item 8). Weight
 *             therefore only shifts toward capabilities with a learning signal; when no capability has one
 *             the weights stay as they are.
 *   gradnorm  GradNorm (Chen et al., ICML 2018) adapted to RL: the target norm of capability c's weighted
 *             policy gradient is mean_c(w_c‖g_c‖) · ρ_c^α with ρ_c the relative "inverse training rate",
 *             here (1 − R̄_c) / mean(1 − R̄) since RL has no initial loss to divide by; one gradient step
 *             on |w_c‖g_c‖ − target_c| per update, then projected back onto the simplex with the clamps.
 * Weights always sum to 1 and lie in [min, max] after Π (projection onto the capped simplex).
 */
export type Weighting = 'fixed' | 'gap' | 'gradnorm';

export interface WeightState {
  weights: number[];
  /** Running reward per capability (NaN until a capability has been seen). */
  running: number[];
}

export interface WeightOptions {
  targets: readonly number[];
  temperature: number;
  minWeight: number;
  maxWeight: number;
  ema: number;
  gradnormAlpha: number;
  gradnormLr: number;
}

export interface WeightObservation {
  /** Mean reward of each capability's prompts this step (NaN when none were sampled). */
  rewards: readonly number[];
  /**
   * Fraction of each capability's groups with a learning signal this step (rewards not all tied; 0 when
   * none was sampled). Absent: every capability counts as having one.
   */
  signal?: readonly number[];
  /** ‖g_c‖ of each capability's policy gradient this step (needed by gradnorm). */
  gradNorms?: readonly number[];
}

/**
 * Euclidean projection onto {w : Σw = 1, lo ≤ w ≤ hi} by bisection on the shift τ in clamp(v − τ, lo, hi)
 * (the capped simplex; feasible when n·lo ≤ 1 ≤ n·hi, which the config loader checks).
 */
export function projectCappedSimplex(v: readonly number[], lo: number, hi: number): number[] {
  const f = (tau: number): number => v.reduce((s, x) => s + Math.min(hi, Math.max(lo, x - tau)), 0);
  let a = Math.min(...v) - hi - 1;
  let b = Math.max(...v) - lo + 1;
  for (let i = 0; i < 100; i++) {
    const mid = (a + b) / 2;
    if (f(mid) > 1) a = mid;
    else b = mid;
  }
  const tau = (a + b) / 2;
  return v.map((x) => Math.min(hi, Math.max(lo, x - tau)));
}

export function updateRunning(state: WeightState, obs: WeightObservation, ema: number): number[] {
  return state.running.map((r, c) => {
    const x = obs.rewards[c]!;
    if (!Number.isFinite(x)) return r;
    return Number.isFinite(r) ? ema * r + (1 - ema) * x : x;
  });
}

type Update = (state: WeightState, obs: WeightObservation, o: WeightOptions) => number[];

const fixed: Update = (s) => s.weights;

const gap: Update = (s, obs, o) => {
  const signal = obs.signal ?? s.weights.map(() => 1);
  if (signal.every((x) => !(x > 0))) return s.weights;
  const running = s.running.map((r) => (Number.isFinite(r) ? r : 0));
  const logits = o.targets.map((t, c) => (t - running[c]!) / o.temperature);
  const m = Math.max(...logits);
  const e = logits.map((l, c) => Math.exp(l - m) * Math.max(0, signal[c]!));
  const z = e.reduce((a, b) => a + b, 0);
  return projectCappedSimplex(e.map((x) => x / z), o.minWeight, o.maxWeight);
};

/**
 * Why gap weighting did not raise a capability this step: it lags its target (R̄_c below target_c) but
 * none of its groups carried a learning signal. One entry per such capability index (for the run's log).
 */
export function withheldForNoSignal(state: WeightState, obs: WeightObservation, o: Pick<WeightOptions, 'targets'>): number[] {
  const signal = obs.signal;
  if (!signal) return [];
  return state.running.flatMap((r, c) => (Number.isFinite(r) && r < o.targets[c]! && !(signal[c]! > 0) ? [c] : []));
}

const gradnorm: Update = (s, obs, o) => {
  const norms = obs.gradNorms;
  if (!norms || norms.every((n) => n === 0)) return s.weights;
  const weighted = s.weights.map((w, c) => w * norms[c]!);
  const meanWeighted = weighted.reduce((a, b) => a + b, 0) / weighted.length;
  const lag = s.running.map((r) => 1 - (Number.isFinite(r) ? r : 0));
  const meanLag = lag.reduce((a, b) => a + b, 0) / lag.length || 1;
  const target = lag.map((l) => meanWeighted * Math.pow(l / meanLag, o.gradnormAlpha));
  // d|w_c‖g_c‖ − t_c| / dw_c = ‖g_c‖ · sign(w_c‖g_c‖ − t_c); scaled by the mean norm so lr is unit-free
  const scale = norms.reduce((a, b) => a + b, 0) / norms.length || 1;
  const next = s.weights.map((w, c) => w - o.gradnormLr * (norms[c]! / scale) * Math.sign(weighted[c]! - target[c]!));
  return projectCappedSimplex(next, o.minWeight, o.maxWeight);
};

export const WEIGHTINGS: Record<Weighting, Update> = { fixed, gap, gradnorm };

/** One update: the running rewards first, then the weights from them. Pure: returns a new state. */
export function updateWeights(kind: Weighting, state: WeightState, obs: WeightObservation, o: WeightOptions): WeightState {
  const running = updateRunning(state, obs, o.ema);
  const next = { weights: state.weights, running };
  return { weights: WEIGHTINGS[kind](next, obs, o), running };
}
