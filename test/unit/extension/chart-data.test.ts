import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignSeries, canUseLogScale, reduceMinMax, smoothEma, visibleRange } from '../../../extension/views/chart-data';

test('reduceMinMax keeps every point when the range is small', () => {
  const xs = [1, 2, 3, 4];
  assert.deepEqual(reduceMinMax(xs, [[5, 6, 7, 8]], 0, 4, 10), [0, 1, 2, 3]);
});

test('reduceMinMax keeps each bucket’s extremes (a single spike survives), first and last', () => {
  const n = 50_000;
  const xs = Array.from({ length: n }, (_, i) => i);
  const ys = xs.map((x) => Math.sin(x / 100));
  ys[31_337] = 42; // the spike a plain stride would drop
  const idx = reduceMinMax(xs, [ys], 0, n, 500);
  assert.ok(idx.length <= 2 * 500 + 2, `at most 2 points per bucket, got ${idx.length}`);
  assert.ok(idx.includes(31_337));
  assert.equal(idx[0], 0);
  assert.equal(idx[idx.length - 1], n - 1);
  for (let i = 1; i < idx.length; i++) assert.ok(idx[i]! > idx[i - 1]!, 'sorted and unique');
});

test('reduceMinMax takes the union over series and skips nulls', () => {
  const n = 1000;
  const xs = Array.from({ length: n }, (_, i) => i);
  const a = xs.map(() => 0 as number | null);
  const b = xs.map(() => 0 as number | null);
  a[100] = 5;
  b[900] = -5;
  a[500] = null;
  const idx = reduceMinMax(xs, [a, b], 0, n, 10);
  assert.ok(idx.includes(100) && idx.includes(900));
});

test('visibleRange widens the visible window by one point on each side', () => {
  const xs = [0, 10, 20, 30, 40];
  assert.deepEqual(visibleRange(xs, 15, 25), [1, 4]);
  assert.deepEqual(visibleRange(xs, -5, 100), [0, 5]);
});

test('smoothEma is debiased (the first value is not pulled to zero) and 0 means raw', () => {
  assert.deepEqual(smoothEma([3, null, 3], 0), [3, null, 3]);
  const s = smoothEma([10, 10, 10], 0.9);
  for (const v of s) assert.ok(Math.abs(v! - 10) < 1e-9);
  const step = smoothEma([0, 10], 0.5);
  assert.ok(Math.abs(step[1]! - 10 * 0.5 / 0.75) < 1e-9);
});

test('alignSeries merges different x arrays onto their union with nulls', () => {
  const r = alignSeries([
    { xs: [1, 2, 3], ys: [10, 20, 30] },
    { xs: [2, 4], ys: [200, 400] },
  ]);
  assert.deepEqual(r.xs, [1, 2, 3, 4]);
  assert.deepEqual(r.ys, [
    [10, 20, 30, null],
    [null, 200, null, 400],
  ]);
});

test('log scale only where every value is positive', () => {
  assert.equal(canUseLogScale([[1, 2, null]]), true);
  assert.equal(canUseLogScale([[1, 0]]), false);
  assert.equal(canUseLogScale([[null]]), false);
});
