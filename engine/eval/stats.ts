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

/** A percentile bootstrap interval of the mean paired difference b − a over the shared items. */
export interface PairedInterval {
  /** mean(b − a) over the items. */
  diff: number;
  lo: number;
  hi: number;
  /** Items paired. */
  n: number;
  /** Coverage of [lo, hi], e.g. 0.95. */
  level: number;
}

export interface PairedBootstrapOptions {
  /** Bootstrap resamples B (eval.bootstrap). */
  resamples: number;
  seed: number;
  /** Interval coverage; 0.95 unless given. */
  level?: number;
}

/**
 * Paired bootstrap of a score difference between two models scored on the same items (Efron & Tibshirani
 * 1993, "An Introduction to the Bootstrap", ch. 13, the percentile interval; the paired design of §9.5 /
 * Koehn 2004 for MT): resample item indices with replacement B times (seeded), take the mean of the
 * per-item differences b_i − a_i on each resample, and report the (1 − level)/2 and (1 + level)/2
 * quantiles of those B means. Pairing removes the between-item variance that both models share, which the
 * old independent 1-SE rule counted twice. Null when fewer than 2 items pair up or the lengths differ.
 */
export function pairedBootstrap(a: readonly number[], b: readonly number[], opts: PairedBootstrapOptions): PairedInterval | null {
  const n = a.length;
  if (n < 2 || b.length !== n) return null;
  const level = opts.level ?? 0.95;
  const d = a.map((x, i) => b[i]! - x);
  const rng = makeRng(opts.seed);
  const means = new Float64Array(Math.max(1, opts.resamples));
  for (let r = 0; r < means.length; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.int(n)]!;
    means[r] = s / n;
  }
  means.sort();
  return { diff: meanOf(d), lo: quantile(means, (1 - level) / 2), hi: quantile(means, (1 + level) / 2), n, level };
}

/** The mean paired difference b − a over the items both scored, with its standard error. */
export interface PairedDifference {
  /** mean(b_i − a_i). */
  diff: number;
  /** sd(b − a)/√n, the standard error of a mean of paired differences (n − 1 in the variance); null when n < 2. */
  stderr: number | null;
  /** Items paired (by id). */
  n: number;
  /** Items whose scores differ: with 0, no test says anything, whatever the means. */
  differ: number;
}

/**
 * The paired difference of two models' per-item scores, matched by item id (items only one model scored
 * are left out). The standard error is that of a mean of the n differences, sd/√n (Student 1908's paired
 * design; the bootstrap of `pairedBootstrap` gives the same to within resampling noise for these n): the
 * between-item variance both models share cancels, which is why a gain can be resolved on a few hundred
 * items when each model's own ± cannot.
 */
export function pairedDifference(a: Readonly<Record<string, number | undefined>>, b: Readonly<Record<string, number | undefined>>): PairedDifference | null {
  const ids = Object.keys(a).filter((id) => Number.isFinite(a[id]) && Number.isFinite(b[id]));
  if (!ids.length) return null;
  const d = ids.map((id) => b[id]! - a[id]!);
  const n = d.length;
  return { diff: meanOf(d), stderr: n >= 2 ? Math.sqrt(variance(d) / n) : null, n, differ: d.filter((x) => x !== 0).length };
}

/** The q-quantile of sorted values: the ⌈q·B⌉-th smallest (the percentile method's order statistic). */
function quantile(sorted: Float64Array, q: number): number {
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[k]!;
}

/** A difference is significant when its paired bootstrap interval excludes 0; false when nothing pairs. */
export function significant(a: readonly number[], b: readonly number[], opts: PairedBootstrapOptions): boolean {
  const ci = pairedBootstrap(a, b, opts);
  return !!ci && (ci.lo > 0 || ci.hi < 0);
}

/** Pairs beyond which the sign-flip test samples flips instead of enumerating all 2^n (2^20 ≈ 1e6 sums). */
const EXACT_SIGN_FLIP_MAX_PAIRS = 20;
/** Random sign vectors drawn above that: the p-value's Monte Carlo error is at most 0.5/√B ≈ 0.002. */
const SIGN_FLIP_SAMPLES = 65536;

/**
 * Two-sided sign-flip permutation test of the mean paired difference (Fisher 1935, "The Design of
 * Experiments", §21; Good 2005, "Permutation, Parametric and Bootstrap Tests", §3.4): under H0 each
 * difference is as likely +d_i as −d_i, so p = #{s ∈ {±1}^n : |Σ s_i d_i| ≥ |Σ d_i|} / 2^n, enumerated
 * exactly for n ≤ 20. It is exact for any n and needs no variance, so identical differences give an
 * honest p (2/2^n: 0.5 with two pairs) where the t statistic is ±∞. Above 20 pairs, a seeded Monte Carlo
 * estimate (1 + hits)/(1 + B) (Phipson & Smyth 2010). No differences, or all zero: p = 1.
 */
export function signFlipTest(diffs: readonly number[], seed = 0): number {
  const d = diffs.filter((x) => Number.isFinite(x));
  const n = d.length;
  const observed = Math.abs(d.reduce((s, x) => s + x, 0));
  if (n === 0 || observed === 0) return 1;
  // sums equal up to rounding count as "as extreme" (relative tolerance on the sum's magnitude)
  const tol = 1e-9 * Math.max(1, d.reduce((s, x) => s + Math.abs(x), 0));
  if (n <= EXACT_SIGN_FLIP_MAX_PAIRS) {
    let hits = 0;
    for (let mask = 0; mask < 2 ** n; mask++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += mask & (1 << i) ? -d[i]! : d[i]!;
      if (Math.abs(s) >= observed - tol) hits++;
    }
    return hits / 2 ** n;
  }
  const rng = makeRng(seed);
  let hits = 0;
  for (let b = 0; b < SIGN_FLIP_SAMPLES; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += rng.next() < 0.5 ? -d[i]! : d[i]!;
    if (Math.abs(s) >= observed - tol) hits++;
  }
  return (1 + hits) / (1 + SIGN_FLIP_SAMPLES);
}

/**
 * Holm's step-down adjustment (Holm 1979, "A simple sequentially rejective multiple test procedure"):
 * with the m p-values sorted ascending p_(1) ≤ … ≤ p_(m), adjusted p_(k) = max_{j ≤ k} min(1, (m − j + 1)·p_(j)).
 * Rejecting where the adjusted p < α controls the family-wise error rate at α, for any dependence between
 * the tests. Returned in the input order; NaN entries stay NaN and do not count in m.
 */
export function holmAdjust(ps: readonly number[]): number[] {
  const idx = ps.flatMap((p, i) => (Number.isFinite(p) ? [i] : [])).sort((i, j) => ps[i]! - ps[j]!);
  const m = idx.length;
  const out = ps.map(() => Number.NaN);
  let running = 0;
  idx.forEach((i, k) => {
    running = Math.max(running, Math.min(1, (m - k) * ps[i]!));
    out[i] = running;
  });
  return out;
}

export interface PooledDifference {
  /** Mean over seeds of each seed's mean item difference (every seed weighs the same). */
  diff: number;
  /** √(Σ_s se_s²) / S: the items' part of the error only (the trained models held fixed). */
  stderr: number | null;
  /** Two-sided exact sign-flip p over the pooled item differences (signFlipTest); null when no pair differs. */
  p: number | null;
  seeds: number;
  /** Item pairs over all seeds, and how many of them differ. */
  n: number;
  differ: number;
}

/**
 * Paired item differences pooled over seeds: per seed, the differences b − a on the items both models scored,
 * then the mean of the S per-seed means and its standard error from the item variation within each seed,
 * √(Σ_s se_s²)/S, se_s = sd_s/√n_s (the seeds' item samples taken as independent). This is the error of comparing
 * these trained models on these items: it leaves out training randomness, which only a test over seeds includes,
 * so a difference resolved here but not over seeds is real for these models and not yet shown to survive
 * retraining. p: the exact sign-flip test (signFlipTest) of all item differences together, which needs no normal
 * approximation, so a handful of discordant items gets its exact p (5 of 5 in one direction: 0.0625).
 */
export function pooledPairedDifference(perSeed: readonly (readonly number[] | null)[]): PooledDifference | null {
  const ds = perSeed.filter((d): d is readonly number[] => d !== null && d.length > 0);
  if (!ds.length) return null;
  const S = ds.length;
  const diff = ds.reduce((s, d) => s + meanOf(d), 0) / S;
  const stderr = ds.every((d) => d.length >= 2) ? Math.sqrt(ds.reduce((s, d) => s + variance(d) / d.length, 0)) / S : null;
  const nonzero = ds.flat().filter((x) => x !== 0);
  return { diff, stderr, p: nonzero.length ? signFlipTest(nonzero) : null, seeds: S, n: ds.reduce((s, d) => s + d.length, 0), differ: nonzero.length };
}

/** b − a on the item ids both scored (finite), in a's key order. */
export function itemDifferences(a: Readonly<Record<string, number | undefined>>, b: Readonly<Record<string, number | undefined>>): number[] {
  return Object.keys(a).filter((id) => Number.isFinite(a[id]) && Number.isFinite(b[id])).map((id) => b[id]! - a[id]!);
}
