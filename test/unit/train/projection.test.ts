import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combineGradients } from '../../../engine/compute/projection/combine';
import { dot64, orthonormalize, symmetricEigen } from '../../../engine/compute/projection/linalg';
import { oloraPenalty } from '../../../engine/compute/projection/olora';
import { pcgrad } from '../../../engine/compute/projection/pcgrad';
import { removeSpan, SubspaceProjector, truncatedBasis } from '../../../engine/compute/projection/subspace';
import { dot, norm, type GradVec } from '../../../engine/compute/projection/vectors';
import { makeRng } from '../../../engine/util/rng';

const v = (...xs: number[][]): GradVec => xs.map((x) => Float32Array.from(x));
const close = (a: number, b: number, tol = 1e-6, msg?: string) => assert.ok(Math.abs(a - b) <= tol, msg ?? `${a} ≠ ${b}`);
const arr = (g: GradVec) => g.flatMap((m) => [...m]);

test('pcgrad: conflicting pair equals the formula by hand', () => {
  // g1 = (1, 0), g2 = (-1, 1): g1·g2 = -1, ‖g2‖² = 2 → g1' = g1 + ½ g2 = (0.5, 0.5); g2' = g2 + 1·g1 = (0, 1)
  const { projected, conflicts } = pcgrad([v([1, 0]), v([-1, 1])], makeRng(1));
  assert.deepEqual(arr(projected[0]!), [0.5, 0.5]);
  assert.deepEqual(arr(projected[1]!), [0, 1]);
  assert.deepEqual(conflicts, [[false, true], [true, false]]);
});

test('pcgrad: orthogonal, aligned and zero-norm gradients are left alone', () => {
  const orth = pcgrad([v([1, 0]), v([0, 2])], makeRng(1)).projected;
  assert.deepEqual(orth.map(arr), [[1, 0], [0, 2]]);
  const aligned = pcgrad([v([1, 1]), v([2, 3])], makeRng(1)).projected;
  assert.deepEqual(aligned.map(arr), [[1, 1], [2, 3]]);
  const zero = pcgrad([v([0, 0]), v([1, -1])], makeRng(1)).projected;
  assert.deepEqual(zero.map(arr), [[0, 0], [1, -1]]);
});

test('pcgrad: after projection every pair that conflicted has a dot product ≥ −1e-6', () => {
  // Two tasks: exact for any pair (Yu et al. 2020, the two-task case of Theorem 1's setting).
  const rng = makeRng(42);
  for (let trial = 0; trial < 100; trial++) {
    const g = [0, 1].map(() => v(Array.from({ length: 6 }, () => rng.normal()), Array.from({ length: 3 }, () => rng.normal())));
    const { projected, conflicts } = pcgrad(g, makeRng(trial));
    if (!conflicts[0]![1]) continue;
    assert.ok(dot(projected[0]!, g[1]!) >= -1e-6);
    assert.ok(dot(projected[1]!, g[0]!) >= -1e-6);
  }
  // Three hand-made tasks whose conflict directions are orthogonal: every conflict is removed.
  const g = [v([1, 1, 1]), v([-1, 0, 0.5]), v([0, -1, 0.5])];
  const { projected, conflicts } = pcgrad(g, makeRng(1));
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (conflicts[i]![j]) assert.ok(dot(projected[i]!, g[j]!) >= -1e-6, `${i} vs ${j}`);
  assert.ok(conflicts.flat().filter(Boolean).length >= 2);
});

test('pcgrad is deterministic for a seed', () => {
  const rng = makeRng(5);
  const grads = Array.from({ length: 4 }, () => v(Array.from({ length: 8 }, () => rng.normal())));
  const a = pcgrad(grads, makeRng(9)).projected.map(arr);
  const b = pcgrad(grads, makeRng(9)).projected.map(arr);
  assert.deepEqual(a, b);
});

test('combine: none is the weighted sum; per-matrix scope projects each matrix separately', () => {
  const grads = [v([1, 0], [1]), v([-1, 1], [1])];
  const none = combineGradients(grads, [0.5, 0.5], 'none', 'global', { rng: makeRng(1) });
  assert.deepEqual(arr(none.combined), [0, 0.5, 1]);
  close(none.pairs[0]!.cosineRaw, 0); // (1,0,1)·(−1,1,1) = 0
  assert.equal(none.pairs[0]!.conflict, false);
  // global: g1·g2 = -1 + 1 = 0 → no conflict, nothing changes
  const global = combineGradients(grads, [0.5, 0.5], 'pcgrad', 'global', { rng: makeRng(1) });
  assert.deepEqual(global.projected.map(arr), grads.map(arr));
  // per matrix: matrix 0 conflicts (-1) and is projected; matrix 1 is aligned
  const perMatrix = combineGradients(grads, [0.5, 0.5], 'pcgrad', 'per_matrix', { rng: makeRng(1) });
  assert.deepEqual(perMatrix.projected.map(arr), [[0.5, 0.5, 1], [0, 1, 1]]);
  assert.ok(perMatrix.pairs[0]!.cosineProjected > perMatrix.pairs[0]!.cosineRaw);
});

test('symmetric eigen-decomposition matches a hand-computed 2×2 and reconstructs a random matrix', () => {
  // [[2,1],[1,2]] → eigenvalues 3, 1
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  close(values[0]!, 3, 1e-12);
  close(values[1]!, 1, 1e-12);
  const rng = makeRng(3);
  const n = 6;
  const b = Array.from({ length: n * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j]! + b[j * n + i]!;
  const e = symmetricEigen(a, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += e.values[k]! * e.vectors[k]![i]! * e.vectors[k]![j]!;
      close(s, a[i * n + j]!, 1e-9);
    }
  }
});

test('subspace: bases are orthonormal and respect the energy threshold', () => {
  const rng = makeRng(11);
  // gradients concentrated in 2 directions plus small noise
  const d1 = Array.from({ length: 20 }, () => rng.normal());
  const d2 = Array.from({ length: 20 }, () => rng.normal());
  const rows = Array.from({ length: 8 }, () => {
    const a = rng.normal() * 5;
    const b = rng.normal() * 3;
    return Float32Array.from(d1.map((x, i) => a * x + b * d2[i]! + 0.01 * rng.normal()));
  });
  const t = truncatedBasis(rows, 0.95, 8);
  for (let i = 0; i < t.basis.length; i++) {
    for (let j = 0; j < t.basis.length; j++) close(dot64(t.basis[i]!, t.basis[j]!), i === j ? 1 : 0, 1e-9);
  }
  assert.ok(t.keptEnergy >= 0.95, `kept ${t.keptEnergy}`);
  const total = t.singularValues.reduce((s, x) => s + x * x, 0);
  const withoutLast = t.singularValues.slice(0, t.basis.length - 1).reduce((s, x) => s + x * x, 0) / total;
  assert.ok(withoutLast < 0.95, 'k is the smallest that reaches the threshold');
  assert.ok(t.basis.length <= 2);
  assert.equal(truncatedBasis(rows, 0.999999, 1).basis.length, 1, 'maxRank caps k');
});

test('subspace: the projected update is orthogonal to every other capability basis', () => {
  const rng = makeRng(7);
  const caps = 4;
  const proj = new SubspaceProjector(caps, 2, { energy: 0.95, window: 6, refreshEvery: 3, maxRank: 4 });
  const randomGrads = () => Array.from({ length: caps }, () => v(Array.from({ length: 12 }, () => rng.normal()), Array.from({ length: 5 }, () => rng.normal())));
  for (let step = 0; step < 7; step++) proj.project(randomGrads());
  assert.ok(proj.dims().every((perM) => perM.every((k) => k > 0)));
  const grads = randomGrads();
  const out = proj.project(grads);
  for (let c = 0; c < caps; c++) {
    for (let m = 0; m < 2; m++) {
      const g = out[c]![m]!;
      const gn = Math.sqrt(dot64(grads[c]![m]!, grads[c]![m]!));
      for (let o = 0; o < caps; o++) {
        if (o === c) continue;
        for (const u of proj.basis(o, m)) assert.ok(Math.abs(dot64(u, g)) <= 1e-5 * gn, `c${c} m${m} vs basis of c${o}`);
      }
    }
  }
  // overlapping bases: the union projection still leaves no component (the plain sum formula would)
  const q = orthonormalize([[1, 0, 0], [1, 1, 0]]);
  assert.equal(q.length, 2);
});

test('O-LoRA penalty and its gradient match finite differences', () => {
  const rng = makeRng(3);
  const r = 2;
  const k = 3;
  const as = Array.from({ length: 3 }, () => Float32Array.from(Array.from({ length: r * k }, () => rng.normal())));
  const lambda = 0.7;
  const { value, grads } = oloraPenalty(as, r, k, lambda);
  // by hand for one pair: λ‖A0 A1ᵀ‖² + ...
  let manual = 0;
  for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) for (let p = 0; p < r; p++) for (let q = 0; q < r; q++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += as[i]![p * k + t]! * as[j]![q * k + t]!;
    manual += s * s;
  }
  close(value, lambda * manual, 1e-5);
  const eps = 1e-3;
  for (let a = 0; a < 3; a++) {
    for (let x = 0; x < r * k; x++) {
      const plus = as.map((m) => Float32Array.from(m));
      const minus = as.map((m) => Float32Array.from(m));
      plus[a]![x] = plus[a]![x]! + eps;
      minus[a]![x] = minus[a]![x]! - eps;
      const fd = (oloraPenalty(plus, r, k, lambda).value - oloraPenalty(minus, r, k, lambda).value) / (2 * eps);
      close(grads[a]![x]!, fd, 2e-2 * Math.max(1, Math.abs(fd)), `∂P/∂A${a}[${x}]: analytic ${grads[a]![x]} vs fd ${fd}`);
    }
  }
  assert.equal(oloraPenalty([Float32Array.from([1, 0, 0, 0, 1, 0]), Float32Array.from([0, 0, 1, 0, 0, 0])], 2, 3, 1).value, 0, 'orthogonal row spaces: no penalty');
});

test('norms and cosines are reported for every pair', () => {
  const res = combineGradients([v([3, 4]), v([0, 1]), v([-3, -4])], [1 / 3, 1 / 3, 1 / 3], 'pcgrad', 'global', { rng: makeRng(2) });
  assert.equal(res.pairs.length, 3);
  close(res.normsRaw[0]!, 5);
  close(res.pairs.find((p) => p.a === 0 && p.b === 2)!.cosineRaw, -1);
  assert.ok(res.pairs.every((p) => Number.isFinite(p.cosineProjected)));
  assert.equal(norm(res.projected[0]!) >= 0, true);
});

test('subspace: every step projects onto the complement of the other capabilities\' current bases (cache follows refreshes)', () => {
  const rng = makeRng(7);
  const caps = 3;
  const dims = [12, 5];
  const p = new SubspaceProjector(caps, dims.length, { energy: 0.9, window: 4, refreshEvery: 3, maxRank: 2 });
  for (let step = 0; step < 12; step++) {
    const grads: GradVec[] = Array.from({ length: caps }, () => dims.map((d) => Float32Array.from({ length: d }, () => rng.next() - 0.5)));
    // the reference, from scratch: g − QQᵀg with Q the orthonormalised union of the others' bases right now
    const expected = grads.map((g, c) =>
      g.map((mat, m) => {
        const copy = new Float32Array(mat);
        const others: Float64Array[] = [];
        for (let o = 0; o < caps; o++) if (o !== c) others.push(...p.basis(o, m));
        if (others.length) removeSpan(copy, orthonormalize(others));
        return [...copy];
      }),
    );
    const got = p.project(grads).map((g) => g.map((mat) => [...mat]));
    assert.deepEqual(got, expected, `step ${step + 1}`);
  }
  assert.ok(p.dims().flat().some((k) => k > 0), 'bases were built');
});
