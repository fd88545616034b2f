"""The optimiser step of every training stage, as engine/compute/tfjs/trainer.ts does it: a NaN/Inf guard,
global-norm clipping, AdamW with the scheduled learning rate, on fp32 master weights; plus the worker's
seeded random streams.

Numerics follow the TypeScript side on purpose: JavaScript computes each element in float64 and stores it as
float32, so the moments and the weights here are updated in float64 and rounded to float32 once per tensor
op, which keeps one step of the two backends within float32 rounding of each other. The update is
elementwise, so it runs over one flat buffer of all trained tensors (the parameters of an fp32 model are
views into it) in fixed-size chunks: the same float64 value per element as one tensor at a time, with a
few ops per chunk instead of a dozen per tensor. Each op writes into one of three float64 scratch chunks
the trainer allocates once (in-place and `out=` forms of the same ops, so every element is rounded
exactly as before): no temporary is allocated per step, and a chunk's scratch stays in the CPU's cache
across the twenty-odd passes the update makes over it.

Random streams. The engine's rng (engine/util/rng.ts, sfc32) cannot cross into Python, so the worker draws
from its own torch.Generator per (seed, stream): `make_generator(seed, stream)`. A torch run and a wasm run of
one seed therefore draw different random numbers (dropout masks, PCGrad's order, sampled tokens), but each is
reproducible, and the generator's state is part of the worker's checkpoint, so a resumed run draws exactly
what it would have.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch

from .errors import WorkerError

Json = Dict[str, Any]

# Consecutive rejected steps before E_NAN when the spec does not say (Trainer's default in trainer.ts).
DEFAULT_MAX_BAD_STEPS = 5

# Elements per chunk of the flat float64 AdamW update: 2^16 float64 are 512 KiB per scratch chunk, so the
# three scratch chunks and the chunk's float32 slices (~2.5 MiB) stay in cache across its ~22 passes, and
# the Python cost per op (~5 µs, ~22 ops a chunk) stays under 0.1 ms per 65k elements. Measured on the
# bench's S model (1.18M parameters, 2026-12-03): 2^12 16 ms, 2^14 6.8 ms, 2^16 5.8 ms, 2^18 5.5 ms,
# 2^20 7.0 ms a step, against 10-17 ms for the former out-of-place update; on M (5.2M) 2^16 is the fastest
# (34 ms, against 58 ms).
CHUNK = 1 << 16


def fnv1a32(label: str) -> int:
    """FNV-1a, 32 bit, over the label's UTF-16 code units (the hash engine/util/rng.ts gives stream labels)."""
    h = 0x811C9DC5
    data = label.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def stream_seed(seed: int, stream: str) -> int:
    """A 64-bit seed per (seed, stream): the run seed in the high word, the stream label's hash in the low word,
    so two streams of one run, or one stream of two runs, never share a sequence."""
    return ((seed & 0xFFFFFFFF) << 32) | fnv1a32(stream)


def make_generator(seed: int, stream: str) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(seed, stream))


def generator_state(gen: torch.Generator) -> str:
    """The generator's state as base64 (a CPU Mersenne Twister: 5,056 bytes), for checkpoints."""
    return base64.b64encode(bytes(gen.get_state().tolist())).decode("ascii")


def restore_generator(gen: torch.Generator, state: str) -> None:
    gen.set_state(torch.tensor(list(base64.b64decode(state)), dtype=torch.uint8))


def learning_rate(step: int, s: Json) -> float:
    """engine/compute/schedule.ts learningRate: linear warm-up (Goyal et al. 2017), then cosine (Loshchilov &
    Hutter 2017, SGDR without restarts), linear or constant down to minLrRatio · peak; `step` is 0-based."""
    peak, warmup = float(s["peak"]), int(s["warmupSteps"])
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    low = peak * float(s["minLrRatio"])
    decay_steps = max(1, int(s["totalSteps"]) - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / decay_steps))  # in [0, 1]
    shape = s["shape"]
    if shape == "constant":
        return peak
    if shape == "linear":
        return peak - (peak - low) * progress
    return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * progress))


def squared_norms(grads: List[torch.Tensor]) -> List[float]:
    """Σ g² of each tensor in float64, read back in one transfer (one device sync, not one per tensor).
    A float32 value squared in float64 cannot overflow (3.4e38² ≈ 1.2e77), so a sum is non-finite exactly
    when its tensor holds a NaN or an Inf: the NaN guard reads these sums instead of a pass of its own."""
    if not grads:
        return []
    return torch.stack([g.double().pow(2).sum().to(grads[0].device) for g in grads]).tolist()


def global_norm(grads: List[torch.Tensor]) -> float:
    """√(Σ g²) over all tensors, accumulated in float64 (grads.ts globalNorm)."""
    return math.sqrt(sum(squared_norms(grads)))


def first_non_finite(names: List[str], tensors: List[torch.Tensor]) -> Optional[str]:
    """The first name whose tensor holds a NaN or an Inf (one sync for all tensors)."""
    if not tensors:
        return None
    finite = torch.stack([torch.isfinite(t).all().to(tensors[0].device) for t in tensors]).tolist()
    return next((name for name, ok in zip(names, finite) if not ok), None)


@dataclass
class TrainerSnapshot:
    params: Dict[str, torch.Tensor]
    optimizer: Dict[str, torch.Tensor]
    optimizer_step: int
    bad_steps: int


class Trainer:
    """AdamW (Loshchilov & Hutter 2019) in torch.optim.AdamW's order, engine/compute/adamw.ts:
        p ← p·(1 − lr·λ)   (decoupled decay, tensors with decay on)
        m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²
        p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
    """

    def __init__(self, names: List[str], params: List[torch.nn.Parameter], spec: Json) -> None:
        self.names = names
        self.params = params
        self.spec = spec
        decay = spec["decay"]
        # 'matrices': nanoGPT / Hugging Face decay matrices only, not norms or biases
        self.decay_mask = [decay == "all" or (decay == "matrices" and p.dim() >= 2) for p in params]
        # The flat layout: decayed tensors first, then the others, so the update has at most two runs
        # (start, end, decayed) of one shrink factor each; self.master/m/v[i] are views in it by tensor.
        order = sorted(range(len(params)), key=lambda i: not self.decay_mask[i])
        offsets: Dict[int, int] = {}
        total = 0
        for i in order:
            offsets[i] = total
            total += params[i].numel()
        self.runs: List[Tuple[int, int, bool]] = []
        for i in order:
            start, end = offsets[i], offsets[i] + params[i].numel()
            if self.runs and self.runs[-1][2] == self.decay_mask[i] and self.runs[-1][1] == start:
                self.runs[-1] = (self.runs[-1][0], end, self.decay_mask[i])
            elif end > start:
                self.runs.append((start, end, self.decay_mask[i]))
        device = params[0].device if params else torch.device("cpu")
        # fp32 master weights: for an fp32 model the parameters themselves, moved into the flat buffer (each
        # parameter's data becomes its view, so the update writes the model directly); a copy for bf16 models
        self.flat_master = torch.empty(total, dtype=torch.float32, device=device)
        self.flat_m = torch.zeros(total, dtype=torch.float32, device=device)
        self.flat_v = torch.zeros(total, dtype=torch.float32, device=device)
        self.flat_grad = torch.empty(total, dtype=torch.float32, device=device)
        view = lambda flat, i: flat[offsets[i] : offsets[i] + params[i].numel()].view(params[i].shape)  # noqa: E731
        self.master = [view(self.flat_master, i) for i in range(len(params))]
        self.m = [view(self.flat_m, i) for i in range(len(params))]
        self.v = [view(self.flat_v, i) for i in range(len(params))]
        self.grad_views = [view(self.flat_grad, i) for i in range(len(params))]
        with torch.no_grad():
            for i, p in enumerate(params):
                self.master[i].copy_(p.detach())
                if p.dtype == torch.float32 and p.device == device:
                    p.data = self.master[i]
        # the update's three float64 scratch chunks (_adamw), allocated at the first step
        self.scratch: Optional[Tuple[torch.Tensor, ...]] = None
        self.step = 0
        self.bad_steps = 0
        self.max_bad_steps = int(spec.get("maxBadSteps") or DEFAULT_MAX_BAD_STEPS)
        # the first tensor (weight or moment) already non-finite in a restored snapshot
        self.restored_non_finite: Optional[str] = None

    @property
    def lr(self) -> float:
        return learning_rate(self.step, self.spec["schedule"])

    def apply(self, grads: List[torch.Tensor], loss: Optional[float]) -> Json:
        """One step from combined gradients (consumed); the StepOutcome of engine/compute/types.ts."""
        if len(grads) != len(self.params):
            raise WorkerError("E_INTERNAL", f"expected {len(self.params)} gradients, got {len(grads)}")
        sq = squared_norms(grads)
        bad = "loss" if loss is not None and not math.isfinite(loss) else next((n for n, x in zip(self.names, sq) if not math.isfinite(x)), None)
        if bad is not None:
            self.bad_steps += 1
            if self.bad_steps >= self.max_bad_steps:
                message = f"{self.bad_steps} consecutive steps had a non-finite value (last: {bad}) at step {self.step}"
                if self.restored_non_finite:
                    raise WorkerError("E_NAN", f"{message}; the checkpoint this stage resumed from already holds non-finite values ({self.restored_non_finite})")
                raise WorkerError("E_NAN", message)
            return {"applied": False, "step": self.step, "badTensor": bad, "badSteps": self.bad_steps}
        self.bad_steps = 0
        norm = math.sqrt(sum(sq))  # global_norm, from the sums already read
        clip = float(self.spec["gradClip"])
        coef = 1.0
        # global-norm clipping (Pascanu et al. 2013) as torch.nn.utils.clip_grad_norm_: max / (norm + 1e-6)
        if clip > 0 and clip / (norm + 1e-6) < 1:
            coef = clip / (norm + 1e-6)
        with torch.no_grad():
            for view, g in zip(self.grad_views, grads):
                view.copy_(g)
        lr = self.lr
        self._adamw(lr, coef)
        return {"applied": True, "step": self.step, "lr": lr, "gradNorm": norm, "clipCoef": coef}

    @torch.no_grad()
    def _adamw(self, lr: float, coef: float) -> None:
        """The update of the flat buffers from self.flat_grad, CHUNK elements at a time; each element as
        before: g ← fl32(g·coef) when clipped, then m, v and p each computed in float64 and stored as float32."""
        h = self.spec["adam"]
        b1, b2, eps, wd = float(h["beta1"]), float(h["beta2"]), float(h["eps"]), float(h["weightDecay"])
        t = self.step + 1
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        chunk = min(CHUNK, self.flat_grad.numel())
        if self.scratch is None or self.scratch[0].numel() != chunk:
            self.scratch = tuple(torch.empty(chunk, dtype=torch.float64, device=self.flat_grad.device) for _ in range(3))
        A, B, C = self.scratch
        for start, end, decayed in self.runs:
            shrink = 1 - lr * wd if decayed else 1.0
            for s in range(start, end, chunk):
                e = min(end, s + chunk)
                g, m, v, p = self.flat_grad[s:e], self.flat_m[s:e], self.flat_v[s:e], self.flat_master[s:e]
                g64, x, y = A[: e - s], B[: e - s], C[: e - s]  # float64 scratch, each [e − s]
                g64.copy_(g)
                if coef != 1.0:  # g ← fl32(g·coef), then read back as float64
                    g.copy_(g64.mul_(coef))
                    g64.copy_(g)
                # m ← fl32(β₁·m + (1−β₁)·g)
                x.copy_(m).mul_(b1)
                x.add_(torch.mul(g64, 1 - b1, out=y))
                m.copy_(x)
                # v ← fl32(β₂·v + ((1−β₂)·g)·g)
                x.copy_(v).mul_(b2)
                x.add_(torch.mul(g64, 1 - b2, out=y).mul_(g64))
                v.copy_(x)
                # p ← fl32(p·shrink − (lr·(m/bc₁)) / (√(v/bc₂) + ε)), m and v as just stored
                x.copy_(m).div_(bc1).mul_(lr)
                x.div_(y.copy_(v).div_(bc2).sqrt_().add_(eps))
                p.copy_(y.copy_(p).mul_(shrink).sub_(x))
        self._sync_params()
        self.step = t

    def _sync_params(self) -> None:
        """Copies the masters into parameters that are not views of them (bf16 models, other devices)."""
        for master, p in zip(self.master, self.params):
            if p.data.data_ptr() != master.data_ptr():
                p.data.copy_(master)

    def snapshot(self) -> TrainerSnapshot:
        params = {n: x.detach().cpu().clone() for n, x in zip(self.names, self.master)}
        opt: Dict[str, torch.Tensor] = {}
        for n, m, v in zip(self.names, self.m, self.v):
            opt[f"m.{n}"] = m.detach().cpu().clone()
            opt[f"v.{n}"] = v.detach().cpu().clone()
        return TrainerSnapshot(params, opt, self.step, self.bad_steps)

    @torch.no_grad()
    def restore(self, s: TrainerSnapshot) -> None:
        for i, n in enumerate(self.names):
            p, m, v = s.params.get(n), s.optimizer.get(f"m.{n}"), s.optimizer.get(f"v.{n}")
            if p is None or m is None or v is None or p.numel() != self.master[i].numel():
                raise WorkerError("E_CHECKPOINT", f"checkpoint lacks or mis-sizes \"{n}\"")
            self.master[i].copy_(p.view_as(self.master[i]))
            self.m[i].copy_(m.view_as(self.m[i]))
            self.v[i].copy_(v.view_as(self.v[i]))
        self._sync_params()
        self.step = s.optimizer_step
        self.bad_steps = s.bad_steps
        self.restored_non_finite = (
            first_non_finite(self.names, self.master)
            or first_non_finite([f"m.{n}" for n in self.names], self.m)
            or first_non_finite([f"v.{n}" for n in self.names], self.v)
        )
