"""Per-capability gradient projections on the device, ported from engine/compute/projection/* with the same
formulas (and the same sources):
  none      g = Σ_c w_c g_c                       (the ablation baseline)
  pcgrad    g = Σ_c w_c PCGrad(g)_c               (Yu et al., "Gradient Surgery for Multi-Task Learning",
                                                   NeurIPS 2020, Algorithm 1)
  subspace  g = Σ_c w_c (g_c − Π_{others}(g_c))   (a gradient-window projection: subspace.ts explains what it
                                                   is and is not; GPM's energy rule, Saha et al. ICLR 2021)
plus the O-LoRA penalty (Wang et al., EMNLP Findings 2023) and what a projection did: pairwise cosines before
and after, norms, conflicts, time. A gradient is a list of tensors (one per trainable matrix, fixed order);
`global` scope treats them as one vector, `per_matrix` projects each matrix alone; subspace is always per
matrix. Dot products accumulate in float64 and every update of a float32 tensor is rounded once, as the
TypeScript loops do, so both backends agree to float32 rounding.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .errors import WorkerError

GradVec = List[torch.Tensor]


def dot(a: GradVec, b: GradVec) -> float:
    return sum(float(torch.dot(x.flatten().double(), y.flatten().double())) for x, y in zip(a, b))


def norm(a: GradVec) -> float:
    return dot(a, a) ** 0.5


def cosine(a: GradVec, b: GradVec) -> float:
    na, nb = norm(a), norm(b)
    return 0.0 if na == 0 or nb == 0 else dot(a, b) / (na * nb)


def axpy(alpha: float, x: GradVec, y: GradVec) -> GradVec:
    """y + alpha·x (a new list; float64 arithmetic, float32 result)."""
    return [(yy.double() + alpha * xx.double()).float() for xx, yy in zip(x, y)]


def weighted_sum(grads: Sequence[GradVec], weights: Sequence[float]) -> GradVec:
    if not grads:
        raise WorkerError("E_INTERNAL", "weighted_sum needs at least one gradient")
    out = [torch.zeros_like(m) for m in grads[0]]
    for g, w in zip(grads, weights):
        out = axpy(float(w), g, out)
    return out


def pcgrad(grads: Sequence[GradVec], gen: torch.Generator) -> List[GradVec]:
    """For each task i, for each other task j in random order: if g_i^PC · g_j < 0 then
    g_i^PC ← g_i^PC − (g_i^PC · g_j / ‖g_j‖²) g_j, against the original g_j; a zero g_j is skipped."""
    n = len(grads)
    sq = [dot(g, g) for g in grads]
    out: List[GradVec] = []
    for i, g in enumerate(grads):
        p = [m.clone() for m in g]
        others = [j for j in range(n) if j != i]
        order = torch.randperm(len(others), generator=gen).tolist() if others else []
        for k in order:
            j = others[k]
            if sq[j] == 0:
                continue
            d = dot(p, grads[j])
            if d < 0:
                p = axpy(-d / sq[j], grads[j], p)
        out.append(p)
    return out


def orthonormalize(vectors: Sequence[torch.Tensor], tol: float = 1e-8) -> List[torch.Tensor]:
    """Modified Gram–Schmidt applied twice ("twice is enough", Giraud et al. 2005) in float64; a vector whose
    remaining norm falls below tol × its original norm is dropped as linearly dependent (linalg.ts)."""
    basis: List[torch.Tensor] = []
    for src in vectors:
        v = src.double().clone()
        n0 = float(v.norm())
        if n0 == 0:
            continue
        for _ in range(2):
            for b in basis:
                v = v - torch.dot(v, b) * b
        n1 = float(v.norm())
        if n1 <= tol * n0:
            continue
        basis.append(v / n1)
    return basis


def truncated_basis(rows: Sequence[torch.Tensor], energy: float, max_rank: int) -> List[torch.Tensor]:
    """Top right-singular vectors of the rows of X (n×d) through the eigen-decomposition of the Gram matrix
    XXᵀ, keeping the smallest k whose σ² hold `energy` of Σσ² (at most max_rank): subspace.ts truncatedBasis."""
    n = len(rows)
    if n == 0:
        return []
    x = torch.stack([r.flatten().double() for r in rows])  # [n, d]
    values, vectors = torch.linalg.eigh(x @ x.t())  # ascending; [n], [n, n]
    values, vectors = values.flip(0), vectors.flip(1)  # descending
    sigma = values.clamp(min=0).sqrt().tolist()
    total = sum(s * s for s in sigma)
    if total == 0:
        return []
    k, kept = 0, 0.0
    # the 1e-12·σ₀ floor drops directions that are numerically zero
    while k < n and k < max_rank and kept < energy * total and sigma[k] > 1e-12 * sigma[0]:
        kept += sigma[k] ** 2
        k += 1
    raw = [x.t() @ vectors[:, i] / sigma[i] for i in range(k)]  # u_i = Xᵀ v_i / σ_i, [d] each
    return orthonormalize(raw)


def remove_span(g: torch.Tensor, q: Sequence[torch.Tensor]) -> torch.Tensor:
    """g − Q Qᵀ g for an orthonormal Q, one basis vector at a time with float32 rounding (subspace.ts removeSpan)."""
    shape = g.shape
    flat = g.flatten()
    for b in q:
        d = float(torch.dot(flat.double(), b))
        flat = (flat.double() - d * b).float()
    return flat.view(shape)


class SubspaceProjector:
    """engine/compute/projection/subspace.ts SubspaceProjector: per capability and matrix, an orthonormal basis
    of its last `window` gradients, refreshed after step 1 and every `refreshEvery` steps; a capability's
    gradient loses its part in the union of the other capabilities' bases."""

    def __init__(self, capabilities: int, matrices: int, opts: Dict[str, float]) -> None:
        self.capabilities, self.matrices, self.opts = capabilities, matrices, opts
        self.step = 0
        self.windows: List[List[List[torch.Tensor]]] = [[[] for _ in range(matrices)] for _ in range(capabilities)]
        self.bases: List[List[List[torch.Tensor]]] = [[[] for _ in range(matrices)] for _ in range(capabilities)]
        self.unions: Dict[Tuple[int, int], List[torch.Tensor]] = {}

    def dims(self) -> List[List[int]]:
        return [[len(b) for b in per_m] for per_m in self.bases]

    def others_basis(self, c: int, m: int) -> List[torch.Tensor]:
        """Cached until the next refresh: Gram–Schmidt over the others' bases was most of the projection's cost."""
        if (c, m) not in self.unions:
            others = [u for o in range(self.capabilities) if o != c for u in self.bases[o][m]]
            self.unions[(c, m)] = orthonormalize(others) if others else []
        return self.unions[(c, m)]

    def project(self, grads: Sequence[GradVec]) -> List[GradVec]:
        if len(grads) != self.capabilities:
            raise WorkerError("E_INTERNAL", f"expected {self.capabilities} gradients, got {len(grads)}")
        out = [[remove_span(mat, self.others_basis(c, m)) if self.others_basis(c, m) else mat.clone() for m, mat in enumerate(g)] for c, g in enumerate(grads)]
        self._record(grads)
        return out

    def _record(self, grads: Sequence[GradVec]) -> None:
        for c, g in enumerate(grads):
            for m, mat in enumerate(g):
                w = self.windows[c][m]
                w.append(mat.detach().clone())
                if len(w) > self.opts["window"]:
                    w.pop(0)
        self.step += 1
        if self.step == 1 or self.step % int(self.opts["refreshEvery"]) == 0:
            self._refresh()

    def _refresh(self) -> None:
        for c in range(self.capabilities):
            for m in range(self.matrices):
                self.bases[c][m] = truncated_basis(self.windows[c][m], float(self.opts["energy"]), int(self.opts["maxRank"]))
        self.unions = {}

    def tensors(self) -> Dict[str, torch.Tensor]:
        """The state as named tensors for a checkpoint (the names of tfjs/compute.ts subspaceToTensors)."""
        out: Dict[str, torch.Tensor] = {}
        for c in range(self.capabilities):
            for m in range(self.matrices):
                for i, g in enumerate(self.windows[c][m]):
                    out[f"subspace.window.{c}.{m}.{i}"] = g.flatten().float().cpu()
                for i, u in enumerate(self.bases[c][m]):
                    out[f"subspace.basis.{c}.{m}.{i}"] = u.double().cpu()
        return out

    def restore(self, tensors: Dict[str, torch.Tensor], step: int, shapes: Sequence[torch.Size], device: torch.device) -> None:
        self.step = step
        self.windows = [[[] for _ in range(self.matrices)] for _ in range(self.capabilities)]
        self.bases = [[[] for _ in range(self.matrices)] for _ in range(self.capabilities)]
        keys = sorted((k for k in tensors if k.startswith("subspace.")), key=lambda k: int(k.rsplit(".", 1)[1]))
        for k in keys:
            _, kind, c, m, _i = k.split(".")
            t = tensors[k].to(device)
            if kind == "window":
                self.windows[int(c)][int(m)].append(t.float().view(shapes[int(m)]))
            else:
                self.bases[int(c)][int(m)].append(t.double())
        self.unions = {}


def olora_penalty(a_mats: Sequence[torch.Tensor], lam: float) -> Tuple[float, List[torch.Tensor]]:
    """P = λ Σ_{i<j} ‖A_i A_jᵀ‖²_F over the adapters' A [r, k] of one target matrix; with M = A_i A_jᵀ,
    ∂‖M‖²_F/∂A_i = 2 M A_j and ∂‖M‖²_F/∂A_j = 2 Mᵀ A_i (projection/olora.ts). Returns P and ∂P/∂A_i."""
    a64 = [a.double() for a in a_mats]
    grads = [torch.zeros_like(a) for a in a64]
    value = 0.0
    for i in range(len(a64)):
        for j in range(i + 1, len(a64)):
            m = a64[i] @ a64[j].t()  # [r, r]
            value += float((m * m).sum())
            grads[i] += 2 * lam * (m @ a64[j])  # [r, k]
            grads[j] += 2 * lam * (m.t() @ a64[i])  # [r, k]
    return lam * value, [g.float() for g in grads]


def combine(grads: Sequence[GradVec], weights: Sequence[float], method: str, scope: str, gen: torch.Generator,
            subspace: Optional[SubspaceProjector]) -> Tuple[GradVec, List[GradVec], Dict[str, object]]:
    """The combined update, the per-capability projected gradients, and the ProjectionReport's measures."""
    if len(grads) != len(weights):
        raise WorkerError("E_INTERNAL", f"{len(grads)} gradients but {len(weights)} weights")
    t0 = time.perf_counter()
    if method == "none":
        projected = [[m.clone() for m in g] for g in grads]
    elif method == "pcgrad" and scope == "global":
        projected = pcgrad(grads, gen)
    elif method == "pcgrad":
        projected = [[] for _ in grads]
        for m in range(len(grads[0]) if grads else 0):
            for c, p in enumerate(pcgrad([[g[m]] for g in grads], gen)):
                projected[c].append(p[0])
    elif method == "subspace":
        if subspace is None:
            raise WorkerError("E_INTERNAL", "subspace projection needs a SubspaceProjector (startTraining with projection.method subspace)")
        projected = subspace.project(grads)
    else:
        raise WorkerError("E_USAGE", f"projection \"{method}\" is not one of none, pcgrad, subspace")
    ms = (time.perf_counter() - t0) * 1000
    pairs = []
    for a in range(len(grads)):
        for b in range(a + 1, len(grads)):
            pairs.append({"a": a, "b": b, "cosineRaw": cosine(grads[a], grads[b]), "cosineProjected": cosine(projected[a], projected[b]),
                          "conflict": dot(grads[a], grads[b]) < 0})
    report: Dict[str, object] = {"pairs": pairs, "normsRaw": [norm(g) for g in grads], "normsProjected": [norm(p) for p in projected], "projectionMs": ms}
    if subspace is not None:
        report["subspaceDims"] = [sum(d) / len(d) if d else 0 for d in subspace.dims()]
    return weighted_sum(projected, weights), projected, report
