"""A Llama-family decoder in plain PyTorch, readable at once (the nanoGPT spirit), mirroring
engine/model/llama.ts: RMSNorm (Zhang & Sennrich 2019), rotary positions (Su et al. 2021) with the
checkpoint's rope_scaling, SwiGLU MLP (Shazeer 2020), grouped-query attention (Ainslie et al. 2023),
Qwen2's q/k/v biases, tied or untied embeddings; Qwen3's per-head q/k norms, Mistral's sliding window,
and the Gemma 2/3 block (ARCHITECTURES says what differs). Module names are Hugging Face's, so
`state_dict()` keys are the checkpoint's tensor names and checkpoints move both ways.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import WorkerError
from .safetensors import read_checkpoint_weights, write_safetensors

Config = Dict[str, Any]


def head_dim(c: Config) -> int:
    return int(c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"])


def _qwen_layers(c: Config) -> List[str]:
    """Qwen2Config/Qwen3Config: sliding from layer max_window_layers on, only with use_sliding_window."""
    on = bool(c.get("use_sliding_window")) and c.get("sliding_window") is not None
    return ["sliding_attention" if on and i >= int(c.get("max_window_layers") or 0) else "full_attention" for i in range(c["num_hidden_layers"])]


def _pattern_layers(c: Config, pattern: int) -> List[str]:
    """Every layer with (i + 1) % pattern ≠ 0 is sliding: Gemma 2 alternates (2), Gemma 3 uses 6."""
    return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(c["num_hidden_layers"])]


_GEMMA_DEFAULTS: Config = {"head_dim": 256, "query_pre_attn_scalar": 256, "sliding_window": 4096, "tie_word_embeddings": True,
                           "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 8192}

# What differs between the families (Hugging Face modeling_<type>.py / <Type>Config), as ARCHITECTURES in
# engine/model/llama.ts: class name, q/k/v and o bias, per-head q/k RMSNorm, the Gemma block ((1 + w)
# norms, sandwich norms, √D embeddings, query_pre_attn_scalar, GELU-tanh), config defaults (None kept:
# "off"), and the per-layer attention kinds when config.json has no layer_types.
ARCHITECTURES: Dict[str, Dict[str, Any]] = {
    "llama": {"class": "LlamaForCausalLM", "qkv_bias": lambda c: bool(c.get("attention_bias")), "o_bias": lambda c: bool(c.get("attention_bias")),
              "qk_norm": False, "gemma": False, "defaults": {}, "layers": lambda c: ["full_attention"] * c["num_hidden_layers"]},
    "qwen2": {"class": "Qwen2ForCausalLM", "qkv_bias": lambda c: True, "o_bias": lambda c: False, "qk_norm": False, "gemma": False,
              "defaults": {"use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 28}, "layers": _qwen_layers},
    "qwen3": {"class": "Qwen3ForCausalLM", "qkv_bias": lambda c: bool(c.get("attention_bias")), "o_bias": lambda c: bool(c.get("attention_bias")),
              "qk_norm": True, "gemma": False,
              "defaults": {"head_dim": 128, "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 28}, "layers": _qwen_layers},
    "mistral": {"class": "MistralForCausalLM", "qkv_bias": lambda c: False, "o_bias": lambda c: False, "qk_norm": False, "gemma": False,
                "defaults": {"sliding_window": 4096},
                "layers": lambda c: ["sliding_attention" if c.get("sliding_window") is not None else "full_attention"] * c["num_hidden_layers"]},
    "gemma2": {"class": "Gemma2ForCausalLM", "qkv_bias": lambda c: bool(c.get("attention_bias")), "o_bias": lambda c: bool(c.get("attention_bias")),
               "qk_norm": False, "gemma": True,
               "defaults": {**_GEMMA_DEFAULTS, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0},
               "layers": lambda c: _pattern_layers(c, 2)},
    "gemma3_text": {"class": "Gemma3ForCausalLM", "qkv_bias": lambda c: bool(c.get("attention_bias")), "o_bias": lambda c: bool(c.get("attention_bias")),
                    "qk_norm": True, "gemma": True,
                    "defaults": {**_GEMMA_DEFAULTS, "max_position_embeddings": 131072, "rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0,
                                 "attn_logit_softcapping": None, "final_logit_softcapping": None, "sliding_window_pattern": 6},
                    "layers": lambda c: _pattern_layers(c, int(c.get("sliding_window_pattern") or 6))},
}

# MLP activations by Hugging Face ACT2FN name; gelu_pytorch_tanh is GELU's tanh approximation (Hendrycks & Gimpel 2016).
ACTIVATIONS = {"silu": F.silu, "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh")}


def activation_name(c: Config) -> str:
    """The MLP activation: Gemma reads hidden_activation first (Gemma2MLP), the others hidden_act."""
    if ARCHITECTURES[c["model_type"]]["gemma"] and c.get("hidden_activation") is not None:
        return str(c["hidden_activation"])
    return str(c.get("hidden_act") or "silu")


def layer_plans(c: Config) -> List[Tuple[Optional[int], str]]:
    """(sliding window or None, "global" | "local" RoPE table) of every layer; Gemma 3's sliding layers
    have their own RoPE base, rope_local_base_freq."""
    types = c.get("layer_types") or ARCHITECTURES[c["model_type"]]["layers"](c)
    plans: List[Tuple[Optional[int], str]] = []
    for t in types:
        sliding = t == "sliding_attention" and c.get("sliding_window") is not None
        local = sliding and c.get("rope_local_base_freq") is not None
        plans.append((int(c["sliding_window"]) if sliding else None, "local" if local else "global"))
    return plans


def normalize_config(raw: Config, file: str = "config.json") -> Config:
    """Validates a config.json and fills the defaults engine/model/llama.ts normalizeConfig fills."""
    c = dict(raw)
    kind = str(c.get("model_type", "llama"))
    if kind not in ARCHITECTURES:
        wrapper = " (gemma3 is the vision-language wrapper: use its language model, model_type gemma3_text)" if kind == "gemma3" else ""
        raise WorkerError("E_CHECKPOINT", f"{file}: model_type \"{kind}\" is not supported ({', '.join(ARCHITECTURES)}){wrapper}")
    c["model_type"] = kind
    arch = ARCHITECTURES[kind]
    for key, value in arch["defaults"].items():
        if key not in c:
            c[key] = value
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"):
        v = c.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise WorkerError("E_CHECKPOINT", f"{file}: {key} must be a positive integer")
    defaults = {
        "num_key_value_heads": c["num_attention_heads"], "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
        "rope_theta": 10000, "tie_word_embeddings": False, "hidden_act": "silu",
        "architectures": [arch["class"]],
    }
    for key, value in defaults.items():
        if c.get(key) is None:
            c[key] = value
    act = activation_name(c)
    if act not in ACTIVATIONS:
        key = "hidden_activation" if arch["gemma"] and c.get("hidden_activation") is not None else "hidden_act"
        raise WorkerError("E_CHECKPOINT", f"{file}: {key} \"{act}\" is not supported ({', '.join(ACTIVATIONS)})")
    if c.get("mlp_bias"):
        raise WorkerError("E_CHECKPOINT", f"{file}: mlp_bias is not supported")
    window = c.get("sliding_window")
    if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window <= 0):
        raise WorkerError("E_CHECKPOINT", f"{file}: sliding_window must be a positive integer or null")
    types = c.get("layer_types")
    if types is not None and (not isinstance(types, list) or len(types) != c["num_hidden_layers"]
                              or any(t not in ("full_attention", "sliding_attention") for t in types)):
        raise WorkerError("E_CHECKPOINT", f"{file}: layer_types must list \"full_attention\" or \"sliding_attention\" for each of the {c['num_hidden_layers']} layers")
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        if c.get(key) is not None and not arch["gemma"]:
            raise WorkerError("E_CHECKPOINT", f"{file}: {key} is not supported for model_type {kind}")
    if c["num_attention_heads"] % c["num_key_value_heads"] != 0:
        raise WorkerError("E_MODEL_DIMS", f"{file}: num_key_value_heads ({c['num_key_value_heads']}) must divide num_attention_heads ({c['num_attention_heads']})")
    hd = c.get("head_dim") or c["hidden_size"] / c["num_attention_heads"]
    if hd != int(hd) or int(hd) % 2 != 0:
        raise WorkerError("E_MODEL_DIMS", f"{file}: head dimension {hd} must be an even integer")
    rope_inv_freq(c)  # rejects an unknown rope_scaling at load time, not at the first forward
    return c


def rope_inv_freq(c: Config) -> torch.Tensor:
    """Rotary inverse frequencies inv_freq_i = θ^(−2i/hd) (Su et al. 2021), float64, after the checkpoint's
    rope_scaling as Hugging Face's ROPE_INIT_FUNCTIONS compute it: `linear` divides every frequency by
    `factor` (Chen et al. 2023, position interpolation); `llama3` divides the low frequencies by `factor`,
    keeps the high ones, and blends linearly between `low_freq_factor` and `high_freq_factor` (Meta's Llama 3.1).
    """
    hd = head_dim(c)
    inv = float(c["rope_theta"]) ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)  # [hd/2]
    scaling = c.get("rope_scaling")
    if scaling is None:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = float(scaling.get("factor", 1.0))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / factor
    if kind == "llama3":
        low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
        old_ctx = float(scaling["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv  # [hd/2]
        scaled = torch.where(wavelen > old_ctx / low, inv / factor, inv)  # long wavelengths: interpolated
        smooth = (old_ctx / wavelen - low) / (high - low)  # 0 at the low band edge, 1 at the high one
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old_ctx / high) & (wavelen <= old_ctx / low)
        return torch.where(medium, blended, scaled)
    raise WorkerError("E_CHECKPOINT", f"rope_scaling type \"{kind}\" is not supported (linear, llama3)")


def rope_tables(c: Config, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos, sin: [max_position_embeddings, hd] in the "rotate half" layout (frequency i at dims i and i + hd/2),
    computed in float64 and rounded once, as ropeTablesFrom in engine/model/ops.ts."""
    inv = rope_inv_freq(c)  # [hd/2]
    pos = torch.arange(c["max_position_embeddings"], dtype=torch.float64)  # [P]
    ang = torch.outer(pos, inv)  # [P, hd/2]
    ang = torch.cat([ang, ang], dim=-1)  # [P, hd]
    return ang.cos().float().to(device), ang.sin().float().to(device)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """concat(−x₂, x₁) on the last axis."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, gemma: bool = False) -> None:
        super().__init__()
        # Gemma stores w and scales by (1 + w), so its identity is w = 0.
        self.weight = nn.Parameter(torch.zeros(dim) if gemma else torch.ones(dim))
        self.eps = eps
        self.gemma = gemma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x · rsqrt(mean(x²) + ε) · w, computed in fp32 (Zhang & Sennrich 2019); Gemma: · (1 + w), also in fp32
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.gemma:
            return (normed * (1.0 + self.weight.float())).to(x.dtype)
        return normed.to(x.dtype) * self.weight


@dataclass
class KvCache:
    """Per-layer keys and values of the positions fed so far: each [B, KV, L, hd]."""
    k: List[Optional[torch.Tensor]] = field(default_factory=list)
    v: List[Optional[torch.Tensor]] = field(default_factory=list)
    length: int = 0


class Attention(nn.Module):
    def __init__(self, c: Config, window: Optional[int]) -> None:
        super().__init__()
        self.H, self.KV, self.hd = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
        d = c["hidden_size"]
        arch = ARCHITECTURES[c["model_type"]]
        qkv_bias, o_bias = arch["qkv_bias"](c), arch["o_bias"](c)
        self.q_proj = nn.Linear(d, self.H * self.hd, bias=qkv_bias)
        self.k_proj = nn.Linear(d, self.KV * self.hd, bias=qkv_bias)
        self.v_proj = nn.Linear(d, self.KV * self.hd, bias=qkv_bias)
        self.o_proj = nn.Linear(self.H * self.hd, d, bias=o_bias)
        # Qwen3 / Gemma 3: RMSNorm over head_dim of each q and k head, before RoPE.
        self.q_norm = RMSNorm(self.hd, c["rms_norm_eps"], arch["gemma"]) if arch["qk_norm"] else None
        self.k_norm = RMSNorm(self.hd, c["rms_norm_eps"], arch["gemma"]) if arch["qk_norm"] else None
        # Gemma scales queries by query_pre_attn_scalar^−½, the others by head_dim^−½ (Vaswani et al. 2017).
        self.scale = float(c.get("query_pre_attn_scalar") or self.hd) ** -0.5 if arch["gemma"] else self.hd ** -0.5
        self.softcap: Optional[float] = c.get("attn_logit_softcapping")
        self.window = window

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layer: int, cache: Optional[KvCache]) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.hd)  # [B, T, H, hd]
        k = self.k_proj(x).view(B, T, self.KV, self.hd)  # [B, T, KV, hd]
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.transpose(1, 2)  # [B, H, T, hd]
        k = k.transpose(1, 2)  # [B, KV, T, hd]
        v = self.v_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)  # [B, KV, T, hd]
        q = q * cos + rotate_half(q) * sin  # [B, H, T, hd]; cos/sin [T, hd] broadcast
        k = k * cos + rotate_half(k) * sin  # [B, KV, T, hd]
        past = 0
        if cache is not None:
            past = cache.length
            if past > 0:
                k = torch.cat([cache.k[layer], k], dim=2)  # [B, KV, Tk, hd]
                v = torch.cat([cache.v[layer], v], dim=2)  # [B, KV, Tk, hd]
            cache.k[layer], cache.v[layer] = k, v
        # GQA: query head h reads kv head h // rep (Hugging Face's repeat_kv order). Without GQA (rep 1) the
        # heads are used as they are: repeat_interleave would copy them through an index (forward and
        # backward), ~3 ms a layer on the bench's S model for the same values.
        rep = self.H // self.KV
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)  # [B, H, Tk, hd]
            v = v.repeat_interleave(rep, dim=1)  # [B, H, Tk, hd]
        y = attend(q, k, v, past, self.scale, self.window, self.softcap)  # [B, H, T, hd]
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.H * self.hd))  # [B, T, D]


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: int, scale: float,
           window: Optional[int] = None, softcap: Optional[float] = None) -> torch.Tensor:
    """Causal scaled dot-product attention (Vaswani et al. 2017) of T queries at positions past..past+T−1
    over Tk = past + T keys, within `window` keys when set (Mistral, Gemma sliding layers), with Gemma 2's
    score soft-capping cap·tanh(s / cap) when set: torch's fused kernel where it exists (torch ≥ 2.1 for
    `scale`) and no capping is asked, else an explicit softmax.
    q: [B, H, T, hd], k, v: [B, H, Tk, hd] → [B, H, T, hd]"""
    T, Tk = q.shape[2], k.shape[2]
    # query i (absolute position past + i) may see keys j ≤ past + i, and with a window w only j > past + i − w
    allowed = torch.ones(T, Tk, dtype=torch.bool, device=q.device).tril(diagonal=past)  # [T, Tk]
    if window is not None:
        allowed &= torch.ones(T, Tk, dtype=torch.bool, device=q.device).triu(diagonal=past - window + 1)  # [T, Tk]
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is not None and softcap is None:
        return sdpa(q, k, v, attn_mask=allowed, scale=scale)
    scores = (q @ k.transpose(-2, -1)) * scale  # [B, H, T, Tk]
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap  # Gemma 2 (Team et al. 2024 §2)
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v  # [B, H, T, hd]


class MLP(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        d, i = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, i, bias=False)
        self.up_proj = nn.Linear(d, i, bias=False)
        self.down_proj = nn.Linear(i, d, bias=False)
        self.act = ACTIVATIONS[activation_name(c)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))  # gated MLP (Shazeer 2020): SwiGLU / GeGLU


class Block(nn.Module):
    def __init__(self, c: Config, window: Optional[int]) -> None:
        super().__init__()
        d, eps = c["hidden_size"], c["rms_norm_eps"]
        self.gemma = bool(ARCHITECTURES[c["model_type"]]["gemma"])
        self.input_layernorm = RMSNorm(d, eps, self.gemma)
        self.self_attn = Attention(c, window)
        self.post_attention_layernorm = RMSNorm(d, eps, self.gemma)
        if self.gemma:  # Gemma's sandwich: norms before and after the MLP too
            self.pre_feedforward_layernorm = RMSNorm(d, eps, True)
            self.post_feedforward_layernorm = RMSNorm(d, eps, True)
        self.mlp = MLP(c)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layer: int, cache: Optional[KvCache]) -> torch.Tensor:
        if self.gemma:
            x = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), cos, sin, layer, cache))  # [B, T, D]
            return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))  # [B, T, D]
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, layer, cache)  # [B, T, D]
        return x + self.mlp(self.post_attention_layernorm(x))  # [B, T, D]


class Trunk(nn.Module):
    """Hugging Face's `model.` prefix: embeddings, layers, final norm."""

    def __init__(self, c: Config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Block(c, window) for window, _ in layer_plans(c)])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"], bool(ARCHITECTURES[c["model_type"]]["gemma"]))


class Llama(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.config = c
        self.model = Trunk(c)
        self.lm_head = None if c["tie_word_embeddings"] else nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        cos, sin = rope_tables(c, torch.device("cpu"))
        self.register_buffer("rope_cos", cos, persistent=False)  # [P, hd]
        self.register_buffer("rope_sin", sin, persistent=False)  # [P, hd]
        self.rope_of_layer = [rope for _, rope in layer_plans(c)]
        if "local" in self.rope_of_layer:  # Gemma 3's sliding layers: rope_local_base_freq, no scaling (as HF)
            cos, sin = rope_tables({**c, "rope_theta": c["rope_local_base_freq"], "rope_scaling": None}, torch.device("cpu"))
            self.register_buffer("rope_local_cos", cos, persistent=False)  # [P, hd]
            self.register_buffer("rope_local_sin", sin, persistent=False)  # [P, hd]

    def forward(self, ids: torch.Tensor, cache: Optional[KvCache] = None) -> torch.Tensor:
        """ids: [B, T] → logits [B, T, V]; with a cache, positions start at cache.length and the cache grows."""
        B, T = ids.shape
        past = cache.length if cache is not None else 0
        if past + T > self.config["max_position_embeddings"]:
            raise WorkerError("E_USAGE", f"sequence of {past + T} tokens exceeds the context length {self.config['max_position_embeddings']}")
        if cache is not None and not cache.k:
            cache.k = [None] * len(self.model.layers)
            cache.v = [None] * len(self.model.layers)
        dtype = self.model.embed_tokens.weight.dtype
        tables = {"global": (self.rope_cos[past : past + T].to(dtype), self.rope_sin[past : past + T].to(dtype))}  # each [T, hd]
        if "local" in self.rope_of_layer:
            tables["local"] = (self.rope_local_cos[past : past + T].to(dtype), self.rope_local_sin[past : past + T].to(dtype))
        x = self.model.embed_tokens(ids)  # [B, T, D]
        if ARCHITECTURES[self.config["model_type"]]["gemma"]:
            x = x * torch.tensor(self.config["hidden_size"] ** 0.5, dtype=x.dtype)  # Gemma: embeddings × √D in their dtype
        for layer, block in enumerate(self.model.layers):
            cos, sin = tables[self.rope_of_layer[layer]]
            x = block(x, cos, sin, layer, cache)  # [B, T, D]
        if cache is not None:
            cache.length = past + T
        x = self.model.norm(x)  # [B, T, D]
        w = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight  # [V, D]
        logits = x @ w.t()  # [B, T, V]
        cap = self.config.get("final_logit_softcapping")
        return logits if cap is None else torch.tanh(logits / cap) * cap  # Gemma 2's final soft-capping

    def hf_state_dict(self) -> Dict[str, torch.Tensor]:
        """Parameters by Hugging Face name (a tied model has no lm_head.weight, as HF stores it)."""
        return {name: p for name, p in self.named_parameters()}


def init_weights(model: Llama, seed: int) -> None:
    """N(0, initializer_range²) for matrices, residual projections (o_proj, down_proj) scaled by
    1/√(2·layers) (GPT-2, Radford et al. 2019), norms the identity (1, or 0 for Gemma's (1 + w)), biases 0:
    the distribution of initLlama."""
    c = model.config
    std = float(c.get("initializer_range") or 0.02)
    residual = std / math.sqrt(2 * c["num_hidden_layers"])
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(0.0 if ARCHITECTURES[c["model_type"]]["gemma"] else 1.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                s = residual if ("o_proj" in name or "down_proj" in name) else std
                p.copy_(torch.randn(p.shape, generator=gen) * s)


def build_model(config: Config, tensors: Optional[Dict[str, torch.Tensor]], where: str = "checkpoint") -> Llama:
    """A model from a normalised config and (optionally) its tensors by HF name, checking names and shapes."""
    model = Llama(config)
    if tensors is not None:
        expected = model.hf_state_dict()
        with torch.no_grad():
            for name, p in expected.items():
                t = tensors.get(name)
                if t is None:
                    raise WorkerError("E_CHECKPOINT", f"{where}: missing tensor \"{name}\"")
                if list(t.shape) != list(p.shape):
                    raise WorkerError("E_CHECKPOINT", f"{where}: tensor \"{name}\" has shape {list(t.shape)}, config implies {list(p.shape)}")
                p.copy_(t.float())
    return model


def load_config(folder: Path) -> Config:
    cfg_file = Path(folder) / "config.json"
    try:
        raw = json.loads(cfg_file.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise WorkerError("E_CHECKPOINT", f"cannot read {cfg_file}: {e}") from e
    return normalize_config(raw, str(cfg_file))


def load_model(folder: Path) -> Llama:
    """A Hugging Face checkpoint folder (config.json + model.safetensors or a sharded index), as fp32 on CPU."""
    return build_model(load_config(folder), read_checkpoint_weights(Path(folder)), str(folder))


def save_model(model: Llama, folder: Path) -> None:
    """config.json + model.safetensors (F32), as saveLlama writes them."""
    folder = Path(folder)
    write_safetensors(folder / "model.safetensors", model.hf_state_dict(), {"format": "pt"})
    (folder / "config.json").write_text(json.dumps(model.config, indent=2) + "\n", "utf-8")


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_n w_n · (logsumexp(z_n) − z_n[t_n]): the masked mean when w = mask / Σmask (engine/model/ops.ts
    crossEntropy). logits [B, T, V], targets [B, T], weights [B, T] → []"""
    nll = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten().long(), reduction="none")  # [B·T]
    return (nll * weights.flatten().float()).sum()
