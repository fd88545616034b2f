/**
 * O-LoRA orthogonality penalty (Wang et al., "Orthogonal Subspace Learning for Language Model Continual
 * Learning", EMNLP Findings 2023), here between the per-capability adapters of one target matrix:
 *   P = λ Σ_{i<j} ‖A_i A_jᵀ‖²_F,   A_i ∈ R^{r×k} (row-major).
 * With M = A_i A_jᵀ (r×r):  ∂‖M‖²_F/∂A_i = 2 M A_j,  ∂‖M‖²_F/∂A_j = 2 Mᵀ A_i.
 */

/** A_i A_jᵀ for r×k row-major matrices → r×r row-major. */
function crossGram(a: Float32Array, b: Float32Array, r: number, k: number): Float64Array {
  const m = new Float64Array(r * r);
  for (let p = 0; p < r; p++) {
    for (let q = 0; q < r; q++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[p * k + t]! * b[q * k + t]!;
      m[p * r + q] = s;
    }
  }
  return m;
}

export interface OloraPenalty {
  value: number;
  /** ∂P/∂A_i, one per adapter, r×k row-major. */
  grads: Float32Array[];
}

export function oloraPenalty(as: readonly Float32Array[], r: number, k: number, lambda: number): OloraPenalty {
  const grads = as.map(() => new Float64Array(r * k));
  let value = 0;
  for (let i = 0; i < as.length; i++) {
    for (let j = i + 1; j < as.length; j++) {
      const m = crossGram(as[i]!, as[j]!, r, k); // [r, r]
      for (let x = 0; x < m.length; x++) value += m[x]! * m[x]!;
      const gi = grads[i]!;
      const gj = grads[j]!;
      for (let p = 0; p < r; p++) {
        for (let t = 0; t < k; t++) {
          let si = 0; // (M A_j)[p, t]
          let sj = 0; // (Mᵀ A_i)[p, t]
          for (let q = 0; q < r; q++) {
            si += m[p * r + q]! * as[j]![q * k + t]!;
            sj += m[q * r + p]! * as[i]![q * k + t]!;
          }
          gi[p * k + t] = gi[p * k + t]! + 2 * lambda * si;
          gj[p * k + t] = gj[p * k + t]! + 2 * lambda * sj;
        }
      }
    }
  }
  return { value: lambda * value, grads: grads.map((g) => Float32Array.from(g)) };
}
