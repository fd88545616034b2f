"""Evaluation scoring: the log-likelihood of each continuation of one shared context, log P(c | ctx) =
Σ_t log p(c_t | ctx, c_<t), and whether every continuation token was the argmax (lm-evaluation-harness's
loglikelihood and is_greedy), with the rules of engine/compute/tfjs/loglik-shared.ts: the context is cut
from the left so it and the longest continuation fit the window, and an empty context scores from the
second continuation token on (there is no prediction for the first).

The context is fed once: a prefill fills the KV cache, which is repeated to one row per continuation, and
the continuations follow as right-padded rows (causal attention hides the padding from earlier positions).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

from .model import KvCache, Llama

# Padding of the continuation rows: causal attention hides it from the positions that are scored.
PAD_ID = 0


@torch.no_grad()
def score_continuations(model: Llama, context: Sequence[int], continuations: Sequence[Sequence[int]]) -> List[Dict[str, object]]:
    window = model.config["max_position_embeddings"]
    device = model.model.embed_tokens.weight.device
    conts = [list(c)[-(window - 1):] for c in continuations]
    Tc = max([1] + [len(c) for c in conts])
    ctx = list(context)[max(0, len(context) - (window - Tc)):]
    n = len(conts)
    cache: Optional[KvCache] = None
    first: Optional[torch.Tensor] = None  # [V] log-probabilities after the context
    if ctx:
        cache = KvCache()
        first = torch.log_softmax(model(torch.tensor([ctx], device=device), cache)[0, -1].double(), dim=-1)  # [V]
        cache.k = [k.repeat(n, 1, 1, 1) for k in cache.k]  # [n, KV, Lc, hd]
        cache.v = [v.repeat(n, 1, 1, 1) for v in cache.v]  # [n, KV, Lc, hd]
    ids = torch.full((n, Tc), PAD_ID, dtype=torch.long)  # [n, Tc]
    for i, c in enumerate(conts):
        if c:
            ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
    logp = torch.log_softmax(model(ids.to(device), cache).double(), dim=-1)  # [n, Tc, V]; position j predicts j + 1
    out: List[Dict[str, object]] = []
    for i, c in enumerate(conts):
        total, greedy = 0.0, True
        for j, tok in enumerate(c):
            row = (first if j == 0 else logp[i, j - 1]) if (j > 0 or first is not None) else None
            if row is None:
                continue  # no context: the first token has no prediction (lm-eval adds a BOS)
            total += float(row[tok])
            if int(torch.argmax(row)) != tok:
                greedy = False
        out.append({"logprob": total, "greedy": greedy})
    return out
