/**
 * The `subspace` projection: a gradient-window subspace projection. Each capability c keeps, per LoRA
 * matrix (every lora_A and lora_B tensor on its own), an orthonormal basis U_c of the span of its own
 * recent gradients, and the update for c removes the part of g_c that lies in the other capabilities'
 * subspaces:
 *   g_c ← g_c − Σ_{c'≠c} U_c' U_c'ᵀ g_c.
 * Deviation, on purpose: the other capabilities' bases are first orthonormalised together, so the result
 * is the exact projection onto the complement of their union. It equals the formula above whenever the
 * bases are mutually orthogonal, and unlike it stays orthogonal to every U_c' when they overlap.
 *
 * What it is, and what it is not. The basis comes from a truncated SVD of a window of capability c's last
 * `window` per-step gradients for that matrix (each one the gradient of one step's batch), refreshed after
 * step 1 and then every `refresh_every` steps, keeping the smallest k whose singular values hold `energy`
 * of Σσ² (capped at `max_rank`). The energy criterion is GPM's (Gradient Projection Memory, Saha, Garg &
 * Roy, ICLR 2021), but GPM builds its bases from each layer's input representations (activations) after a
 * task is learned, for continual learning; storing gradient directions and projecting new gradients off
 * their span is closer to Orthogonal Gradient Descent (Farajtabar et al., AISTATS 2020), here applied
 * between concurrently trained capabilities over a sliding window. So it is not GPM.
 *
 * Consequences the schema text repeats (schemas/experiment.schema.json, sft.projection and sft.subspace):
 * - Bases reflect the recent past: the current step's gradients enter the window after the projection, so
 *   step 1 of each stage (SFT and GRPO each start a new projector) is not projected at all.
 * - A fresh LoRA adapter has B = 0 (model/lora.ts), so its lora_A gradients, ∂L/∂A = Bᵀ(…), are zero at
 *   step 1: the refresh after step 1 gives the A matrices empty bases, and they stay unprojected until the
 *   next refresh, at step `refresh_every` (the B matrices get a rank-1 basis at step 1).
 * - It is always per matrix: `sft.projection_scope` is not read (engine/config/semantic.ts warns when it
 *   is set to `global` together with subspace); GRPO has no scope setting.
 * - Guarantee: the projected g̃_c is Euclidean-orthogonal to the other capabilities' stored bases, not to
 *   their current gradients, and AdamW's per-coordinate scaling of the combined update does not preserve
 *   even that (test/unit/compute/projection-adamw.test.ts measures the same effect for PCGrad).
 */
import { dot64, orthonormalize, symmetricEigen } from './linalg';
import type { GradVec } from './vectors';

export interface SubspaceOptions {
  energy: number;
  window: number;
  refreshEvery: number;
  maxRank: number;
}

export interface TruncatedBasis {
  basis: Float64Array[];
  singularValues: number[];
  keptEnergy: number;
}

/** Top right-singular vectors of the rows of X (n×d), via the eigen-decomposition of the Gram matrix XXᵀ. */
export function truncatedBasis(rows: readonly Float32Array[], energy: number, maxRank: number): TruncatedBasis {
  const n = rows.length;
  if (n === 0) return { basis: [], singularValues: [], keptEnergy: 0 };
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) gram[i * n + j] = gram[j * n + i] = dot64(rows[i]!, rows[j]!);
  const { values, vectors } = symmetricEigen(gram, n);
  const sigma = values.map((l) => Math.sqrt(Math.max(0, l)));
  const total = sigma.reduce((s, x) => s + x * x, 0);
  if (total === 0) return { basis: [], singularValues: sigma, keptEnergy: 0 };
  let k = 0;
  let kept = 0;
  while (k < n && k < maxRank && kept < energy * total && sigma[k]! > 1e-12 * sigma[0]!) {
    kept += sigma[k]! ** 2;
    k++;
  }
  const d = rows[0]!.length;
  // u_i = Xᵀ v_i / σ_i, then re-orthonormalised to float64 precision
  const raw = vectors.slice(0, k).map((v, i) => {
    const u = new Float64Array(d);
    for (let r = 0; r < n; r++) {
      const w = v[r]! / sigma[i]!;
      const row = rows[r]!;
      for (let j = 0; j < d; j++) u[j] = u[j]! + w * row[j]!;
    }
    return u;
  });
  return { basis: orthonormalize(raw), singularValues: sigma, keptEnergy: kept / total };
}

/** g − Q Qᵀ g for an orthonormal Q, in place on a float32 vector (accumulating in float64). */
export function removeSpan(g: Float32Array, q: readonly Float64Array[]): void {
  for (const b of q) {
    const d = dot64(g, b);
    for (let i = 0; i < g.length; i++) g[i] = g[i]! - d * b[i]!;
  }
}

export interface SubspaceState {
  step: number;
  /** windows[c][m]: recent gradients of capability c for matrix m, oldest first. */
  windows: Float32Array[][][];
  /** bases[c][m]: orthonormal basis vectors. */
  bases: Float64Array[][][];
}

export class SubspaceProjector {
  private state: SubspaceState;
  /**
   * unions[c][m]: the other capabilities' bases for matrix m, orthonormalised together. They change only
   * when the bases are refreshed, so they are built once per refresh instead of at every step (building
   * them, Gram–Schmidt over up to (C−1)·maxRank vectors per capability and matrix, was most of the
   * projection's cost).
   */
  private unions: (Float64Array[] | undefined)[][];

  constructor(
    private readonly capabilities: number,
    private readonly matrices: number,
    private readonly opts: SubspaceOptions,
    restore?: SubspaceState,
  ) {
    this.state = restore ?? {
      step: 0,
      windows: Array.from({ length: capabilities }, () => Array.from({ length: matrices }, () => [])),
      bases: Array.from({ length: capabilities }, () => Array.from({ length: matrices }, () => [])),
    };
    this.unions = this.emptyUnions();
  }

  private emptyUnions(): (Float64Array[] | undefined)[][] {
    return Array.from({ length: this.capabilities }, () => new Array<Float64Array[] | undefined>(this.matrices).fill(undefined));
  }

  /** The orthonormal basis of the union of every other capability's subspace for matrix m (cached). */
  private othersBasis(c: number, m: number): Float64Array[] {
    let u = this.unions[c]![m];
    if (!u) {
      const others: Float64Array[] = [];
      for (let o = 0; o < this.capabilities; o++) if (o !== c) others.push(...this.state.bases[o]![m]!);
      u = others.length ? orthonormalize(others) : [];
      this.unions[c]![m] = u;
    }
    return u;
  }

  /** Basis sizes k[c][m], for the `sft/subspace_dim` metric. */
  dims(): number[][] {
    return this.state.bases.map((perM) => perM.map((b) => b.length));
  }

  snapshot(): SubspaceState {
    return this.state;
  }

  basis(c: number, m: number): readonly Float64Array[] {
    return this.state.bases[c]![m]!;
  }

  /** Projects every capability's gradient (copies), then records the raw gradients in the windows. */
  project(grads: readonly GradVec[]): GradVec[] {
    if (grads.length !== this.capabilities) throw new Error(`expected ${this.capabilities} gradients, got ${grads.length}`);
    const out = grads.map((g, c) =>
      g.map((mat, m) => {
        const copy = new Float32Array(mat);
        const others = this.othersBasis(c, m);
        if (others.length) removeSpan(copy, others);
        return copy;
      }),
    );
    this.record(grads);
    return out;
  }

  private record(grads: readonly GradVec[]): void {
    const s = this.state;
    grads.forEach((g, c) =>
      g.forEach((mat, m) => {
        const w = s.windows[c]![m]!;
        w.push(new Float32Array(mat));
        if (w.length > this.opts.window) w.shift();
      }),
    );
    s.step++;
    if (s.step === 1 || s.step % this.opts.refreshEvery === 0) this.refresh();
  }

  private refresh(): void {
    const s = this.state;
    for (let c = 0; c < this.capabilities; c++) {
      for (let m = 0; m < this.matrices; m++) s.bases[c]![m] = truncatedBasis(s.windows[c]![m]!, this.opts.energy, this.opts.maxRank).basis;
    }
    this.unions = this.emptyUnions();
  }
}
