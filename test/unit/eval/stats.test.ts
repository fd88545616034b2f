import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holmAdjust, pairedBootstrap, pairedDifference, significant, signFlipTest } from '../../../engine/eval/stats';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

test('Holm adjustment of a known vector, by hand (issue 17)', () => {
  // sorted: .005 (×4 = .02), .01 (×3 = .03), .03 (×2 = .06), .04 (×1 = .04 → running max .06)
  const got = holmAdjust([0.01, 0.04, 0.03, 0.005]);
  [0.03, 0.06, 0.06, 0.02].forEach((want, i) => close(got[i]!, want));
  // capped at 1; NaN (no test) stays NaN and does not count in m = 2
  const capped = holmAdjust([0.6, Number.NaN, 0.02]);
  close(capped[0]!, 0.6);
  assert.ok(Number.isNaN(capped[1]!));
  close(capped[2]!, 0.04);
  assert.deepEqual(holmAdjust([0.5, 0.9]), [1, 1]);
});

test('sign-flip permutation p by enumeration on small n; equal differences give an honest p, not 0 (issue 17)', () => {
  // ±1 ±2 ±3: sums 6, 4, 2, 0, 0, −2, −4, −6; |s| ≥ 6 for 2 of 8
  close(signFlipTest([1, 2, 3]), 2 / 8);
  // ±1 ±1 ±2 (observed |sum| = 2): sums 4, 0, 2, −2, 2, −2, 0, −4 → 6 of 8
  close(signFlipTest([1, -1, 2]), 6 / 8);
  // two equal differences (sd = 0, where the t-test said p = 0): ++ and −− are as extreme → 2/4
  close(signFlipTest([0.03125, 0.03125]), 0.5);
  // five equal differences: only all + and all − → 2/32, the smallest p five pairs can give
  close(signFlipTest([0.1, 0.1, 0.1, 0.1, 0.1]), 2 / 32);
  assert.equal(signFlipTest([0, 0, 0]), 1);
  assert.equal(signFlipTest([]), 1);
  // beyond exact enumeration: a seeded Monte Carlo estimate, near the exact 2/2^24 floor for equal differences
  const many = signFlipTest(Array.from({ length: 24 }, () => 0.1), 3);
  assert.ok(many > 0 && many < 1e-3, String(many));
});

test('paired bootstrap interval: known answers on hand-checkable cases (issue 17)', () => {
  // every item improves by 0.25: each resample mean is 0.25, so the interval is [0.25, 0.25]
  const a = [0, 1, 0, 1, 0, 0, 1, 1];
  const c = pairedBootstrap(a, a.map((x) => x + 0.25), { resamples: 200, seed: 1 })!;
  assert.deepEqual([c.diff, c.lo, c.hi, c.n], [0.25, 0.25, 0.25, 8]);
  // two items with differences 0 and 1: resample means 0, ½, 1 with probabilities ¼, ½, ¼, so the
  // 80 % interval (10th, 90th percentiles) is [0, 1] and the 40 % one (30th, 70th) is [½, ½]
  const wide = pairedBootstrap([0, 0], [0, 1], { resamples: 4000, seed: 2, level: 0.8 })!;
  assert.deepEqual([wide.lo, wide.hi], [0, 1]);
  const narrow = pairedBootstrap([0, 0], [0, 1], { resamples: 4000, seed: 2, level: 0.4 })!;
  assert.deepEqual([narrow.lo, narrow.hi], [0.5, 0.5]);
  assert.equal(pairedBootstrap([1], [0], { resamples: 10, seed: 0 }), null, 'one item: no interval');
  assert.equal(pairedBootstrap([1, 0], [0], { resamples: 10, seed: 0 }), null, 'unequal lengths: not paired');
  assert.deepEqual(pairedBootstrap([0, 1, 1], [1, 1, 0], { resamples: 500, seed: 9 }), pairedBootstrap([0, 1, 1], [1, 1, 0], { resamples: 500, seed: 9 }), 'seeded');
});

test('significant() pairs the items: a consistent gain hidden by item variance is significant, a reshuffle is not (issue 17)', () => {
  // 40 items, half right for model a; b fixes 4 of a's wrong items and breaks none: +10 points.
  // Unpaired 1-SE rule: √(.25/40 + .24/40) = 0.11 > 0.10, "not significant". Paired: P(no improved item
  // in a resample) = (36/40)^40 ≈ 1.5 % < 2.5 %, so the 95 % interval excludes 0.
  const a = Array.from({ length: 40 }, (_, i) => (i < 20 ? 1 : 0));
  const b = a.map((x, i) => (i >= 20 && i < 24 ? 1 : x));
  assert.equal(significant(a, b, { resamples: 2000, seed: 4 }), true);
  // the same +10 points made of 8 items gained and 4 lost is within the noise
  const mixed = a.map((x, i) => (i >= 20 && i < 28 ? 1 : i < 4 ? 0 : x));
  assert.equal(significant(a, mixed, { resamples: 2000, seed: 4 }), false);
  assert.equal(significant(a, a, { resamples: 100, seed: 4 }), false);
});

test('pairedDifference: mean of b − a over the items both scored, sd/√n by hand, and how many differ', () => {
  // ids x, y, z, w shared; v only in a. d = b − a = [1, 0, 1, −1]: mean 0.25, sd² = ((.75)² + (.25)² + (.75)² + (1.25)²)/3 = 0.9167
  const a = { x: 0, y: 1, z: 0, w: 1, v: 1 };
  const b = { x: 1, y: 1, z: 1, w: 0 };
  const p = pairedDifference(a, b)!;
  assert.equal(p.n, 4);
  assert.equal(p.differ, 3);
  assert.ok(Math.abs(p.diff - 0.25) < 1e-12);
  assert.ok(Math.abs(p.stderr! - Math.sqrt(0.9166666666666666 / 4)) < 1e-12);
  // every difference equal: the error is 0 and nothing differs when they are all zero
  assert.deepEqual(pairedDifference({ x: 1, y: 0 }, { x: 1, y: 0 }), { diff: 0, stderr: 0, n: 2, differ: 0 });
  assert.equal(pairedDifference({ x: 1 }, { y: 1 }), null);
  assert.equal(pairedDifference({ x: 1 }, { x: 0 })!.stderr, null);
});
