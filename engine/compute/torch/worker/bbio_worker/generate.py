"""Decoding with the KV cache: one prompt at a time, its prompt fed once, then one token a step.
Greedy at temperature 0 (argmax, the first index on ties, as engine/compute/tfjs/generate.ts), else
sampling from softmax(z / temperature) inside the top-p nucleus (Holtzman et al. 2020)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch

from .errors import WorkerError
from .model import KvCache, Llama


@dataclass
class Completion:
    ids: List[int]
    # cut by max_new_tokens or the context, not ended by an end id
    truncated: bool
    # per id: log softmax(logits / temperature) of the picked token (temperature 1 when greedy), before the
    # top-p truncation, as engine/model/decode.ts reports it (GRPO's π_old)
    logprobs: List[float] = field(default_factory=list)


def token_logprob(logits: torch.Tensor, temperature: float, tok: int) -> float:
    """log softmax(logits / temperature)[tok], temperature 1 for greedy; logits: [V]."""
    return float(torch.log_softmax(logits.double() / (temperature if temperature > 0 else 1.0), dim=-1)[tok])


def pick_token(logits: torch.Tensor, temperature: float, top_p: float, generator: Optional[torch.Generator]) -> int:
    """logits: [V] → a token id."""
    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double() / temperature, dim=-1)  # [V]
    if top_p < 1:
        sorted_p, order = torch.sort(probs, descending=True)  # [V]
        # keep the smallest prefix whose mass reaches top_p (the most likely token always stays)
        keep = (torch.cumsum(sorted_p, 0) - sorted_p) < top_p  # [V]
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


@torch.no_grad()
def generate(model: Llama, prompt: Sequence[int], max_new_tokens: int, temperature: float, top_p: float,
             end_ids: Sequence[int], generator: Optional[torch.Generator]) -> Completion:
    ctx = model.config["max_position_embeddings"]
    if not prompt:
        raise WorkerError("E_USAGE", "cannot generate from an empty prompt")
    prompt = list(prompt)[max(0, len(prompt) - (ctx - 1)):]  # leave room for one new token
    limit = max(0, min(max_new_tokens, ctx - len(prompt)))
    device = model.model.embed_tokens.weight.device
    cache = KvCache()
    out: List[int] = []
    logprobs: List[float] = []
    if limit == 0:
        return Completion(out, True, logprobs)
    logits = model(torch.tensor([prompt], device=device), cache)[0, -1]  # [V]
    ends = set(end_ids)
    while True:
        tok = pick_token(logits.float(), temperature, top_p, generator)
        out.append(tok)
        logprobs.append(token_logprob(logits.float(), temperature, tok))
        if tok in ends:
            # the terminating token stays in the completion (and so in GRPO's loss mask), as in TRL and
            # DeepSeek and the TypeScript decode loop (engine/model/decode.ts): the policy learns to stop
            return Completion(out, False, logprobs)
        if len(out) >= limit:
            return Completion(out, True, logprobs)
        logits = model(torch.tensor([[tok]], device=device), cache)[0, -1]  # [V]


@torch.no_grad()
def generate_batch(model: Llama, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float, top_p: float,
                   end_ids: Sequence[int], generator: Optional[torch.Generator]) -> List[Completion]:
    """Rows decoded together with one KV cache, in lockstep as engine/model/decode.ts does: the shortest prompt's
    tokens are fed at once, then one position per step; a row still inside its prompt feeds its next prompt
    token, a row past it picks. Every row past its prompt picks at every step, finished or not (a finished
    row's pick is filler, discarded), so a row's draws do not depend on when the others finish, and the batch
    stays rectangular without padding. Same completions as `generate` row by row for greedy decoding."""
    ctx = model.config["max_position_embeddings"]
    device = model.model.embed_tokens.weight.device
    if any(not p for p in prompts):
        raise WorkerError("E_USAGE", "cannot generate from an empty prompt")
    # a prompt longer than the context keeps its last tokens, leaving room for one new token
    kept = [list(p)[max(0, len(p) - (ctx - 1)):] for p in prompts]
    limits = [max(0, min(max_new_tokens, ctx - len(p))) for p in kept]
    ids: List[List[int]] = [[] for _ in kept]
    logprobs: List[List[float]] = [[] for _ in kept]
    # None: still decoding; True: truncated (max_new_tokens or the context); False: ended by an end id
    truncated: List[Optional[bool]] = [True if limit == 0 else None for limit in limits]
    ends = set(end_ids)
    l_min = min(len(p) for p in kept)
    total = max(len(p) + limit for p, limit in zip(kept, limits))
    cache = KvCache()
    logits = model(torch.tensor([p[:l_min] for p in kept], device=device), cache)[:, -1].float()  # [B, V]
    pos = l_min
    while pos < total and any(t is None for t in truncated):
        fed: List[int] = []
        for b, prompt in enumerate(kept):
            if pos < len(prompt):
                fed.append(prompt[pos])  # still inside this row's prompt: no pick
                continue
            tok = pick_token(logits[b], temperature, top_p, generator)
            fed.append(tok)
            if truncated[b] is None:
                ids[b].append(tok)
                logprobs[b].append(token_logprob(logits[b], temperature, tok))
                if tok in ends:
                    truncated[b] = False  # the end id stays in the completion, as in `generate`
                elif len(ids[b]) >= limits[b]:
                    truncated[b] = True
        if all(t is not None for t in truncated) or pos + 1 >= ctx:
            break
        logits = model(torch.tensor(fed, device=device).unsqueeze(1), cache)[:, -1].float()  # [B, V]
        pos += 1
    return [Completion(i, t is not False, lp) for i, t, lp in zip(ids, truncated, logprobs)]
