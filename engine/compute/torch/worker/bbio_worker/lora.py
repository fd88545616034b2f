"""LoRA (Hu et al. 2021) in the worker, interchangeable with engine/model/lora.ts and adapters.ts: for a
frozen projection W [out, in], y ← y + (alpha/r)·B·A·dropout(x) with A [r, in] ~ U(−1/√in, 1/√in) (PEFT's
kaiming-uniform bound with a = √5) and B [out, r] = 0. Files are PEFT's (adapter_config.json +
adapter_model.safetensors, keys `base_model.model.<module>.lora_A.weight`), several adapters laid out as
PEFT's save_pretrained does (`default` at the root, others in sub-folders) plus adapters.json, written
last, naming them.

The deltas are added by forward hooks on the base nn.Linear modules while `active_adapters` is entered,
so the model's own code and its state_dict names stay those of the plain decoder.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn

from .errors import WorkerError
from .model import Llama
from .safetensors import read_safetensors, write_safetensors

MODULE_PATH: Dict[str, str] = {
    "q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj", "o_proj": "self_attn.o_proj",
    "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj", "down_proj": "mlp.down_proj",
}
PEFT_PREFIX = "base_model.model."
MANIFEST = "adapters.json"


@dataclass
class LoraSpec:
    rank: int
    alpha: float
    dropout: float
    target_modules: List[str]

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


@dataclass
class LoraAdapter:
    name: str
    spec: LoraSpec
    # module path (model.layers.0.self_attn.q_proj) → (A [r, in], B [out, r])
    modules: Dict[str, "tuple[nn.Parameter, nn.Parameter]"] = field(default_factory=dict)

    def parameters(self) -> List[nn.Parameter]:
        return [p for pair in self.modules.values() for p in pair]


def target_module_paths(model: Llama, targets: Sequence[str]) -> List[str]:
    for t in targets:
        if t not in MODULE_PATH:
            raise WorkerError("E_CHECKPOINT", f"LoRA target module \"{t}\" is not one of {', '.join(MODULE_PATH)}")
    return [f"model.layers.{l}.{MODULE_PATH[t]}" for l in range(model.config["num_hidden_layers"]) for t in targets]


def _linear(model: Llama, path: str) -> nn.Linear:
    module = model.get_submodule(path)
    assert isinstance(module, nn.Linear)
    return module


def create_adapter(model: Llama, name: str, spec: LoraSpec, seed: int) -> LoraAdapter:
    """A fresh adapter (draws from torch's generator seeded with `seed`, not the engine's rng)."""
    gen = torch.Generator().manual_seed(seed)
    w = model.model.embed_tokens.weight
    adapter = LoraAdapter(name, spec)
    for path in target_module_paths(model, spec.target_modules):
        out, inp = _linear(model, path).weight.shape
        if spec.rank > min(out, inp):
            raise WorkerError("E_USAGE", f"lora.rank {spec.rank} exceeds min({out}, {inp}) of {path}")
        bound = 1 / inp**0.5
        a = (torch.rand(spec.rank, inp, generator=gen) * 2 - 1) * bound  # [r, in]
        adapter.modules[path] = (nn.Parameter(a.to(w.device, w.dtype)), nn.Parameter(torch.zeros(out, spec.rank, device=w.device, dtype=w.dtype)))
    return adapter


class RowShare(NamedTuple):
    """Some rows of a batch (data parallelism, ranks.py): the whole batch's row count and the rows at hand."""
    rows: int
    index: torch.Tensor  # [b] long, on the CPU


@contextmanager
def active_adapters(model: Llama, adapters: Sequence[LoraAdapter], training: bool = False, generator: Optional[torch.Generator] = None,
                    rows: Optional[RowShare] = None) -> Iterator[None]:
    """While entered, every target projection's output gets Σ_adapters (alpha/r)·B·A·dropout(x). With `rows`, the
    input holds those rows of a larger batch: dropout draws the whole batch's mask and keeps their rows, so each
    rank draws what one rank would (the same mask on the same row) and every rank's stream stays in step."""
    handles = []
    by_module: Dict[str, List["tuple[LoraAdapter, nn.Parameter, nn.Parameter]"]] = {}
    for adapter in adapters:
        for path, (a, b) in adapter.modules.items():
            by_module.setdefault(path, []).append((adapter, a, b))

    def hook_for(entries: List["tuple[LoraAdapter, nn.Parameter, nn.Parameter]"]):  # type: ignore[no-untyped-def]
        def hook(_: nn.Module, inputs: "tuple[torch.Tensor]", y: torch.Tensor) -> torch.Tensor:
            x = inputs[0]  # [B, T, in]
            for adapter, a, b in entries:
                p = adapter.spec.dropout
                xin = x
                if training and p > 0:
                    # Inverted dropout (Srivastava et al. 2014): keep with prob 1−p, scale kept by 1/(1−p).
                    shape = x.shape if rows is None else (rows.rows, *x.shape[1:])  # [B, T, in]
                    drawn = torch.rand(shape, generator=generator, device="cpu") >= p
                    keep = (drawn if rows is None else drawn[rows.index]).to(x.device, x.dtype) / (1 - p)  # [b, T, in]
                    xin = x * keep
                y = y + (xin @ a.t() @ b.t()) * adapter.spec.scaling  # [B, T, out]
            return y
        return hook

    try:
        for path, entries in by_module.items():
            handles.append(_linear(model, path).register_forward_hook(hook_for(entries)))
        yield
    finally:
        for h in handles:
            h.remove()


def peft_config(spec: LoraSpec, base_model: str) -> Dict[str, object]:
    """adapter_config.json as PEFT writes it (and engine/model/lora.ts peftConfig)."""
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model, "r": spec.rank,
        "lora_alpha": spec.alpha, "lora_dropout": spec.dropout, "target_modules": list(spec.target_modules), "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "modules_to_save": None,
        "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {}, "use_rslora": False,
        "use_dora": False, "revision": None,
    }


def save_adapters(adapters: Sequence[LoraAdapter], folder: Path, base_model: str, stage: str) -> None:
    folder = Path(folder)
    for adapter in adapters:
        where = folder if adapter.name == "default" else folder / adapter.name
        tensors = {}
        for path, (a, b) in adapter.modules.items():
            tensors[f"{PEFT_PREFIX}{path}.lora_A.weight"] = a
            tensors[f"{PEFT_PREFIX}{path}.lora_B.weight"] = b
        write_safetensors(where / "adapter_model.safetensors", tensors, {"format": "pt"})
        (where / "adapter_config.json").write_text(json.dumps(peft_config(adapter.spec, base_model), indent=2) + "\n", "utf-8")
    manifest = {"adapters": [a.name for a in adapters], "stage": stage, "format": "peft-lora"}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")


def load_adapter(model: Llama, folder: Path, name: str) -> LoraAdapter:
    cfg_file = Path(folder) / "adapter_config.json"
    try:
        cfg = json.loads(cfg_file.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise WorkerError("E_CHECKPOINT", f"cannot read {cfg_file}: {e}") from e
    if cfg.get("peft_type") != "LORA":
        raise WorkerError("E_CHECKPOINT", f"{cfg_file}: peft_type {cfg.get('peft_type')} is not LORA")
    spec = LoraSpec(int(cfg["r"]), float(cfg["lora_alpha"]), float(cfg.get("lora_dropout") or 0), list(cfg.get("target_modules") or []))
    tensors = read_safetensors(Path(folder) / "adapter_model.safetensors")
    w = model.model.embed_tokens.weight
    adapter = LoraAdapter(name, spec)
    for path in target_module_paths(model, spec.target_modules):
        a, b = tensors.get(f"{PEFT_PREFIX}{path}.lora_A.weight"), tensors.get(f"{PEFT_PREFIX}{path}.lora_B.weight")
        if a is None or b is None:
            raise WorkerError("E_CHECKPOINT", f"{folder}: adapter lacks {PEFT_PREFIX}{path}.lora_{'B' if a is not None else 'A'}.weight")
        out, inp = _linear(model, path).weight.shape
        if list(a.shape) != [spec.rank, inp] or list(b.shape) != [out, spec.rank]:
            raise WorkerError("E_CHECKPOINT", f"{folder}: {path} adapter shapes {list(a.shape)}/{list(b.shape)} do not fit the model")
        adapter.modules[path] = (nn.Parameter(a.to(w.device, w.dtype)), nn.Parameter(b.to(w.device, w.dtype)))
    return adapter


def load_adapters(model: Llama, folder: Path) -> List[LoraAdapter]:
    """Every adapter of a folder written by save_adapters / saveAdapterDir, or a plain single-adapter PEFT folder."""
    folder = Path(folder)
    names = ["default"]
    manifest = folder / MANIFEST
    if manifest.exists():
        try:
            names = json.loads(manifest.read_text("utf-8"))["adapters"]
        except (ValueError, KeyError) as e:
            raise WorkerError("E_CHECKPOINT", f"{manifest} is not JSON with an adapters list ({e})") from e
    return [load_adapter(model, folder if n == "default" else folder / n, n) for n in names]
