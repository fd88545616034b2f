"""The GRPO objective of engine/compute/tfjs/grpo-loss.ts (DESIGN.md; Shao et al. 2024), every option:
  L = −(1/G) Σ_i (1/|o_i|) Σ_t [ min(ρ_it Â_i, clip(ρ_it, 1−ε_low, 1+ε_high) Â_i) − β·KL_it ]
  ρ_it = π_θ(o_it|q,o_i<t) / π_old(o_it|…),   KL_it = π_ref/π_θ − log(π_ref/π_θ) − 1   (k3 estimator,
  Schulman 2020, "Approximating KL divergence"; unbiased and ≥ 0).
Normalisations (`lossType`), a table of small functions:
  grpo     per-sequence mean over tokens, then mean over sequences (the formula above);
  dapo     token-level: Σ_it / Σ_it mask (Yu et al. 2025, DAPO);
  dr_grpo  Σ_it / (B · T_max), a constant, removing the length bias (Liu et al. 2025, Dr. GRPO).
`importanceSampling: sequence` replaces ρ_it by s_i = exp((1/|o_i|) Σ_t (log π_θ − log π_old)) (Zheng et al.
2025, GSPO), shared by the tokens of o_i. ε_high > ε_low is DAPO's clip-higher.
And the per-token log-probabilities of sampled completions under a policy (tfjs/policy.ts).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import torch

from .model import Llama

Json = Dict[str, object]


def _safe(x: torch.Tensor) -> torch.Tensor:
    """Guards the division for rows whose mask is all zero (a masked truncated completion)."""
    return x.clamp(min=1)


# (objective, mask of the rows at hand [b, T], mask of the whole batch [B, T]) → []. The denominators come from
# the whole batch, so with data parallelism (ranks.py) each rank's rows give a partial sum of the loss and the
# ranks' sums add up to it; on one rank the two masks are the same tensor.
Reduce = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

LOSS_REDUCERS: Dict[str, Reduce] = {
    "grpo": lambda obj, mask, full: ((obj * mask).sum(1) / _safe(mask.sum(1))).sum() / full.shape[0],  # [b] → []: mean over B
    "dapo": lambda obj, mask, full: (obj * mask).sum() / _safe(full.sum()),
    "dr_grpo": lambda obj, mask, full: (obj * mask).sum() / (full.shape[0] * full.shape[1]),
}


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 KL(π_θ ‖ π_ref): exp(ref − logp) − (ref − logp) − 1. [B, T]"""
    d = ref_logp - logp  # [B, T]
    return d.exp() - d - 1


def importance_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """[B, T]: per token, or the per-sequence GSPO ratio broadcast over the tokens."""
    diff = (logp - old_logp) * mask  # [B, T]
    if mode == "token":
        return diff.exp()
    seq = diff.sum(1, keepdim=True) / _safe(mask.sum(1, keepdim=True))  # [B, 1]
    return seq.exp() * torch.ones_like(logp)  # [B, T]


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, o: Json,
              full_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """logp (differentiable), old_logp, ref_logp, mask: [b, T]; adv: [b] → the scalar loss to minimise. With
    `full_mask` [B, T] (the whole batch, of which these are some rows): this rows' part of the whole batch's loss."""
    ratio = importance_ratio(logp, old_logp, mask, str(o["importanceSampling"]))  # [B, T]
    a = adv.unsqueeze(1)  # [B, 1]
    clipped = ratio.clamp(1 - float(o["epsLow"]), 1 + float(o["epsHigh"])) * a  # [B, T]
    objective = torch.minimum(ratio * a, clipped)  # [B, T]
    beta = float(o["beta"])
    if beta != 0:
        objective = objective - beta * k3(logp, ref_logp)
    return -LOSS_REDUCERS[str(o["lossType"])](objective, mask, mask if full_mask is None else full_mask)


STAT_KEYS = ("kl", "clipLow", "clipHigh")


@torch.no_grad()
def grpo_stat_sums(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, o: Json) -> List[float]:
    """The numerators of grpo_stats over these rows (they add up over the ranks' rows), in STAT_KEYS order."""
    ratio = importance_ratio(logp, old_logp, mask, str(o["importanceSampling"]))  # [B, T]
    a = adv.unsqueeze(1)  # [B, 1]
    low = ((ratio < 1 - float(o["epsLow"])) & (a < 0)).float() * mask  # [B, T]
    high = ((ratio > 1 + float(o["epsHigh"])) & (a > 0)).float() * mask  # [B, T]
    return [float((k3(logp, ref_logp) * mask).sum()), float(low.sum()), float(high.sum())]


def grpo_stats(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, o: Json) -> Dict[str, float]:
    """TRL's clip_ratio/low_mean, high_mean (where the clip bound the objective) and the mean k3 KL."""
    n = max(1.0, float(mask.sum()))
    return {k: v / n for k, v in zip(STAT_KEYS, grpo_stat_sums(logp, old_logp, ref_logp, adv, mask, o))}


def completion_mask(completions: Sequence[Sequence[int]], include: Sequence[bool], max_len: int) -> List[List[float]]:
    """1 on every token of an included completion (its terminating EOS too), 0 on padding and excluded rows."""
    return [[1.0 if include[j] and t < min(len(c), max_len) else 0.0 for t in range(max_len)] for j, c in enumerate(completions)]


# Padding id of the group rows. Causal attention hides it from every real position and the loss mask hides
# the positions it fills, so any in-vocabulary id gives the same losses; 0 is always in the vocabulary.
PAD_ID = 0


def completion_log_softmax(model: Llama, prompt: Sequence[int], completions: Sequence[Sequence[int]], temperature: float) -> "tuple[torch.Tensor, torch.Tensor]":
    """Temperature-scaled log-softmax at a group's completion positions [G, Lc, V] and the targets [G, Lc].
    Logits are divided by the sampling temperature first, as TRL does."""
    device = model.model.embed_tokens.weight.device
    G, P = len(completions), len(prompt)
    Lc = max([1] + [len(c) for c in completions])
    T = P + Lc - 1
    ids = torch.full((G, T), PAD_ID, dtype=torch.long)  # [G, T]
    targets = torch.full((G, Lc), PAD_ID, dtype=torch.long)  # [G, Lc]
    for g, c in enumerate(completions):
        row = (list(prompt) + list(c))[:T]
        ids[g, : len(row)] = torch.tensor(row, dtype=torch.long)
        if c:
            targets[g, : len(c)] = torch.tensor(list(c)[:Lc], dtype=torch.long)
    logits = model(ids.to(device))[:, P - 1 : P - 1 + Lc].float()  # [G, Lc, V]
    return torch.log_softmax(logits / temperature, dim=-1), targets.to(device)


def group_token_logps(model: Llama, prompt: Sequence[int], completions: Sequence[Sequence[int]], temperature: float, max_len: int) -> torch.Tensor:
    """[G, max_len] log π(o_it | q, o_i<t), differentiable; positions past a completion hold no meaning (masked)."""
    logp, targets = completion_log_softmax(model, prompt, completions, temperature)  # [G, Lc, V], [G, Lc]
    picked = logp.gather(2, targets.unsqueeze(2)).squeeze(2)  # [G, Lc]
    Lc = picked.shape[1]
    if Lc >= max_len:
        return picked[:, :max_len]
    return torch.nn.functional.pad(picked, (0, max_len - Lc))  # [G, max_len]


@torch.no_grad()
def group_entropy(model: Llama, prompt: Sequence[int], completions: Sequence[Sequence[int]], temperature: float) -> float:
    """Mean token entropy (nats) over the completion tokens of a group: −Σ_v p log p."""
    logp, _ = completion_log_softmax(model, prompt, completions, temperature)  # [G, Lc, V]
    h = -(logp.exp() * logp).sum(2)  # [G, Lc]
    Lc = h.shape[1]
    mask = torch.tensor([[1.0 if t < len(c) else 0.0 for t in range(Lc)] for c in completions], device=h.device)  # [G, Lc]
    n = float(mask.sum())
    return float((h * mask).sum()) / n if n else 0.0
