"""The optimiser step of every training stage, as engine/compute/tfjs/trainer.ts does it: a NaN/Inf guard,
global-norm clipping, AdamW with the scheduled learning rate, on fp32 master weights; plus the worker's
seeded random streams.

Numerics follow the TypeScript side on purpose: JavaScript computes each element in float64 and stores it as
float32, so the moments and the weights here are updated in float64 and rounded to float32 once per tensor
op, which keeps one step of the two backends within float32 rounding of each other.

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
from typing import Any, Dict, List, Optional

import torch

from .errors import WorkerError

Json = Dict[str, Any]

# Consecutive rejected steps before E_NAN when the spec does not say (Trainer's default in trainer.ts).
DEFAULT_MAX_BAD_STEPS = 5


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


def global_norm(grads: List[torch.Tensor]) -> float:
    """√(Σ g²) over all tensors, accumulated in float64 (grads.ts globalNorm)."""
    return math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))


def first_non_finite(names: List[str], tensors: List[torch.Tensor]) -> Optional[str]:
    for name, t in zip(names, tensors):
        if not bool(torch.isfinite(t).all()):
            return name
    return None


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
        # fp32 master weights: the parameters themselves in fp32, a copy for bf16 models
        self.master = [p.data if p.dtype == torch.float32 else p.detach().float().clone() for p in params]
        self.m = [torch.zeros_like(x) for x in self.master]
        self.v = [torch.zeros_like(x) for x in self.master]
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
        bad = "loss" if loss is not None and not math.isfinite(loss) else first_non_finite(self.names, grads)
        if bad is not None:
            self.bad_steps += 1
            if self.bad_steps >= self.max_bad_steps:
                message = f"{self.bad_steps} consecutive steps had a non-finite value (last: {bad}) at step {self.step}"
                if self.restored_non_finite:
                    raise WorkerError("E_NAN", f"{message}; the checkpoint this stage resumed from already holds non-finite values ({self.restored_non_finite})")
                raise WorkerError("E_NAN", message)
            return {"applied": False, "step": self.step, "badTensor": bad, "badSteps": self.bad_steps}
        self.bad_steps = 0
        norm = global_norm(grads)
        clip = float(self.spec["gradClip"])
        coef = 1.0
        # global-norm clipping (Pascanu et al. 2013) as torch.nn.utils.clip_grad_norm_: max / (norm + 1e-6)
        if clip > 0 and clip / (norm + 1e-6) < 1:
            coef = clip / (norm + 1e-6)
            grads = [(g.double() * coef).float() for g in grads]
        lr = self.lr
        self._adamw(grads, lr)
        return {"applied": True, "step": self.step, "lr": lr, "gradNorm": norm, "clipCoef": coef}

    @torch.no_grad()
    def _adamw(self, grads: List[torch.Tensor], lr: float) -> None:
        h = self.spec["adam"]
        b1, b2, eps, wd = float(h["beta1"]), float(h["beta2"]), float(h["eps"]), float(h["weightDecay"])
        t = self.step + 1
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        for i, g in enumerate(grads):
            g64 = g.to(self.master[i].device).double()
            self.m[i].copy_(b1 * self.m[i].double() + (1 - b1) * g64)
            self.v[i].copy_(b2 * self.v[i].double() + (1 - b2) * g64 * g64)
            shrink = 1 - lr * wd if self.decay_mask[i] else 1.0
            p64 = self.master[i].double() * shrink - (lr * (self.m[i].double() / bc1)) / ((self.v[i].double() / bc2).sqrt() + eps)
            self.master[i].copy_(p64)
            if self.master[i] is not self.params[i].data:
                self.params[i].data.copy_(self.master[i])
        self.step = t

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
            if self.master[i] is not self.params[i].data:
                self.params[i].data.copy_(self.master[i])
        self.step = s.optimizer_step
        self.bad_steps = s.bad_steps
        self.restored_non_finite = (
            first_non_finite(self.names, self.master)
            or first_non_finite([f"m.{n}" for n in self.names], self.m)
            or first_non_finite([f"v.{n}" for n in self.names], self.v)
        )
