/**
 * A gradient over the trainable parameters, as one Float32Array per matrix (flattened row-major, in a
 * fixed parameter order). "Global" dot products run over all matrices jointly; "per matrix" ones over a
 * single matrix. Accumulation is in float64 so cosines of nearly orthogonal gradients stay meaningful.
 */
export type GradVec = Float32Array[];

export function dot(a: GradVec, b: GradVec): number {
  let s = 0;
  for (let m = 0; m < a.length; m++) {
    const x = a[m]!;
    const y = b[m]!;
    for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  }
  return s;
}

export function norm(a: GradVec): number {
  return Math.sqrt(dot(a, a));
}

export function cosine(a: GradVec, b: GradVec): number {
  const na = norm(a);
  const nb = norm(b);
  return na === 0 || nb === 0 ? 0 : dot(a, b) / (na * nb);
}

/** y ← y + alpha·x, in place. */
export function axpy(alpha: number, x: GradVec, y: GradVec): void {
  for (let m = 0; m < x.length; m++) {
    const xs = x[m]!;
    const ys = y[m]!;
    for (let i = 0; i < xs.length; i++) ys[i] = ys[i]! + alpha * xs[i]!;
  }
}

export function clone(a: GradVec): GradVec {
  return a.map((m) => new Float32Array(m));
}

export function zerosLike(a: GradVec): GradVec {
  return a.map((m) => new Float32Array(m.length));
}

/** Σ_c w_c g_c. */
export function weightedSum(grads: readonly GradVec[], weights: readonly number[]): GradVec {
  if (grads.length === 0) throw new Error('weightedSum needs at least one gradient');
  const out = zerosLike(grads[0]!);
  grads.forEach((g, c) => axpy(weights[c]!, g, out));
  return out;
}

/** One matrix of every gradient, as single-matrix vectors (for per-matrix scope). */
export function sliceMatrix(grads: readonly GradVec[], m: number): GradVec[] {
  return grads.map((g) => [g[m]!]);
}

export function isFiniteVec(a: GradVec): boolean {
  for (const m of a) for (let i = 0; i < m.length; i++) if (!Number.isFinite(m[i]!)) return false;
  return true;
}
