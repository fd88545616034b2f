/**
 * Statistics for scores: the mean and its bootstrap standard error (Efron & Tibshirani 1993, §6.2):
 * resample the items with replacement B times with a seeded generator and take the std of the means.
 * Seeded, so the same run reports the same error bars.
 */
import type { Score } from '../../schemas/generated/report';
import { makeRng } from '../util/rng';

export type { Score };

export function meanOf(xs: readonly number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : Number.NaN;
}

export function bootstrapStderr(xs: readonly number[], resamples: number, seed: number): number {
  const n = xs.length;
  if (n < 2 || resamples < 2) return n >= 2 ? Math.sqrt(variance(xs) / n) : Number.NaN;
  const rng = makeRng(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[rng.int(n)]!;
    means[b] = s / n;
  }
  return Math.sqrt(variance(Array.from(means)));
}

/** Sample variance (n − 1). */
export function variance(xs: readonly number[]): number {
  const m = meanOf(xs);
  return xs.length > 1 ? xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1) : 0;
}

/** Mean, bootstrap standard error (null when undefined: fewer than 2 items) and count. */
export function score(xs: readonly number[], resamples: number, seed: number): Score {
  const se = bootstrapStderr(xs, resamples, seed);
  return { value: meanOf(xs), stderr: Number.isFinite(se) ? se : null, n: xs.length };
}

/** A difference is significant when it exceeds the combined standard error (independent samples). */
export function significant(a: Score, b: Score): boolean {
  if (a.stderr === null || b.stderr === null) return false;
  const se = Math.sqrt(a.stderr ** 2 + b.stderr ** 2);
  return Number.isFinite(se) && Math.abs(a.value - b.value) > se;
}
