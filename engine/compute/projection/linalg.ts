/**
 * Small dense linear algebra in float64 for the subspace projection: a symmetric eigensolver (cyclic
 * Jacobi rotations, Golub & Van Loan, Matrix Computations §8.5) and modified Gram–Schmidt.
 * Sizes here are tiny (a window of ≤ 256 gradients), so clarity beats blocking.
 */

/** Eigen-decomposition of a symmetric n×n matrix (row-major). Returns eigenvalues descending and unit eigenvectors (columns as arrays). */
export function symmetricEigen(a: Float64Array, n: number, maxSweeps = 60): { values: number[]; vectors: Float64Array[] } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const app = m[p * n + p]!;
        const aqq = m[q * n + q]!;
        // rotation angle that zeroes m[p][q] (G&VL Algorithm 8.5.1, sym.schur2)
        const tau = (aqq - app) / (2 * apq);
        const t = Math.sign(tau || 1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(n).keys()].sort((i, j) => m[j * n + j]! - m[i * n + i]!);
  return {
    values: order.map((i) => m[i * n + i]!),
    vectors: order.map((i) => {
      const col = new Float64Array(n);
      for (let k = 0; k < n; k++) col[k] = v[k * n + i]!;
      return col;
    }),
  };
}

export function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Orthonormalises `vectors` with modified Gram–Schmidt, applied twice ("twice is enough", Giraud et al.
 * 2005) for float64-level orthogonality; vectors whose remaining norm falls below `tol` times their
 * original norm are dropped as linearly dependent.
 */
export function orthonormalize(vectors: readonly ArrayLike<number>[], tol = 1e-8): Float64Array[] {
  const basis: Float64Array[] = [];
  for (const src of vectors) {
    const v = Float64Array.from(src as ArrayLike<number>);
    const n0 = Math.sqrt(dot64(v, v));
    if (n0 === 0) continue;
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        const d = dot64(v, b);
        for (let i = 0; i < v.length; i++) v[i] = v[i]! - d * b[i]!;
      }
    }
    const n1 = Math.sqrt(dot64(v, v));
    if (n1 <= tol * n0) continue;
    for (let i = 0; i < v.length; i++) v[i] = v[i]! / n1;
    basis.push(v);
  }
  return basis;
}
