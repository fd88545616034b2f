"""The worker's state (model, device, dtype) and one handler per protocol method, named as the methods."""
from __future__ import annotations

import base64
import sys
from pathlib import Path
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional

import torch

from .errors import WorkerError
from .generate import generate
from .lora import LoraAdapter, LoraSpec, active_adapters, create_adapter, load_adapters, save_adapters
from .model import Llama, build_model, init_weights, load_model, next_token_loss, normalize_config, save_model
from .protocol import decode_floats, decode_ints, encode_ints
from .runtime import describe_runtime
from .safetensors import tensor_bytes

Json = Dict[str, Any]


def pick_device(name: str) -> torch.device:
    """auto: the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise WorkerError("E_BACKEND", f"model.device is {name} but torch {torch.__version__} sees no CUDA device")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise WorkerError("E_USAGE", f"model.device \"{name}\" is not a torch device ({e})") from e


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto: bfloat16 on a CUDA device that supports it (Ampere and later), float32 otherwise (CPU bf16 matmuls
    are slower than fp32 on the machines this runs on, and fp32 is what the agreement tests hold to)."""
    if name == "float32":
        return torch.float32
    if name == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class TorchWorker:
    def __init__(self, protocol_id: str) -> None:
        self.protocol_id = protocol_id
        self.model: Optional[Llama] = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        # adapter slot ('policy', 'ref', 'sft', …) → its adapters in order
        self.slots: Dict[str, List[LoraAdapter]] = {}

    def handlers(self) -> Dict[str, Callable[[Json], Json]]:
        return {
            "hello": self.hello, "init_model": self.init_model, "load_model": self.load_model, "save_model": self.save_model,
            "create_adapters": self.create_adapters, "load_adapters": self.load_adapters, "save_adapters": self.save_adapters,
            "logits": self.logits, "generate": self.generate, "loss": self.loss, "shutdown": self.shutdown,
        }

    def _model(self) -> Llama:
        if self.model is None:
            raise WorkerError("E_USAGE", "no model: send init_model or load_model first")
        return self.model

    def _place(self, model: Llama, options: Json) -> Json:
        self.device = pick_device(options["device"])
        self.dtype = pick_dtype(options["dtype"], self.device)
        self.model = model.to(self.device, self.dtype)
        self.slots = {}  # adapters belong to the model they were made for
        return {
            "config": model.config, "parameters": sum(p.numel() for p in model.parameters()),
            "device": str(self.device), "dtype": "bfloat16" if self.dtype == torch.bfloat16 else "float32",
        }

    def _slot(self, slot: str) -> List[LoraAdapter]:
        if slot not in self.slots:
            raise WorkerError("E_USAGE", f"no adapters in slot \"{slot}\" (slots: {', '.join(self.slots) or 'none'})")
        return self.slots[slot]

    def _with_adapters(self, params: Json) -> ContextManager[None]:
        """The LoRA deltas of params['adapters'] (a slot) while entered; the base model when absent."""
        slot = params.get("adapters")
        return nullcontext() if slot is None else active_adapters(self._model(), self._slot(slot))

    def _ids(self, arr: Json) -> torch.Tensor:
        shape, values = decode_ints(arr)
        if len(shape) != 2:
            raise WorkerError("E_USAGE", f"token ids must be [B, T], got shape {shape}")
        vocab = self._model().config["vocab_size"]
        if any(not 0 <= v < vocab for v in values):
            raise WorkerError("E_USAGE", f"a token id lies outside the vocabulary [0, {vocab})")
        return torch.tensor(values, dtype=torch.long, device=self.device).view(*shape)  # [B, T]

    def hello(self, _: Json) -> Json:
        return {"python": sys.version.split()[0], "torch": str(torch.__version__), "protocol": self.protocol_id, **describe_runtime()}

    def init_model(self, params: Json) -> Json:
        model = build_model(normalize_config(params["config"], "init_model config"), None)
        init_weights(model, params["seed"])
        return self._place(model, params["options"])

    def load_model(self, params: Json) -> Json:
        return self._place(load_model(Path(params["dir"])), params["options"])

    def save_model(self, params: Json) -> Json:
        model = self._model()
        save_model(model, Path(params["dir"]))
        return {}

    def create_adapters(self, params: Json) -> Json:
        s = params["spec"]
        spec = LoraSpec(s["rank"], float(s["alpha"]), float(s["dropout"]), list(s["targetModules"]))
        # each adapter its own stream, as createLoraSet forks one rng per adapter name
        self.slots[params["slot"]] = [create_adapter(self._model(), n, spec, params["seed"] + i) for i, n in enumerate(params["names"])]
        return {"names": list(params["names"])}

    def load_adapters(self, params: Json) -> Json:
        self.slots[params["slot"]] = load_adapters(self._model(), Path(params["dir"]))
        return {"names": [a.name for a in self.slots[params["slot"]]]}

    def save_adapters(self, params: Json) -> Json:
        save_adapters(self._slot(params["slot"]), Path(params["dir"]), params["baseModel"], params["stage"])
        return {}

    @torch.no_grad()
    def logits(self, params: Json) -> Json:
        with self._with_adapters(params):
            logits = self._model()(self._ids(params["ids"])).float().cpu()  # [B, T, V]
        return {"logits": {"shape": list(logits.shape), "data": base64.b64encode(tensor_bytes(logits)).decode("ascii")}}

    @torch.no_grad()
    def loss(self, params: Json) -> Json:
        inputs, targets = self._ids(params["inputs"]), self._ids(params["targets"])  # [B, T] each
        shape, w = decode_floats(params["weights"])
        if shape != list(inputs.shape) or list(targets.shape) != list(inputs.shape):
            raise WorkerError("E_USAGE", f"inputs {list(inputs.shape)}, targets {list(targets.shape)} and weights {shape} must have one shape")
        weights = torch.tensor(w, dtype=torch.float32, device=self.device).view(*shape)  # [B, T]
        with self._with_adapters(params):
            return {"loss": float(next_token_loss(self._model()(inputs), targets, weights))}

    def generate(self, params: Json) -> Json:
        model = self._model()
        vocab = model.config["vocab_size"]
        gen = torch.Generator().manual_seed(params["seed"])
        completions = []
        with self._with_adapters(params):
            for arr in params["prompts"]:
                shape, prompt = decode_ints(arr)
                if len(shape) != 1 or any(not 0 <= t < vocab for t in prompt):
                    raise WorkerError("E_USAGE", f"a prompt must be [L] token ids inside the vocabulary, got shape {shape}")
                row = []
                for _ in range(params["n"]):
                    c = generate(model, prompt, params["maxNewTokens"], params["temperature"], params["topP"], params["endIds"], gen)
                    row.append({"ids": encode_ints(c.ids), "truncated": c.truncated})
                completions.append(row)
        return {"completions": completions}

    def shutdown(self, _: Json) -> Json:
        return {}
