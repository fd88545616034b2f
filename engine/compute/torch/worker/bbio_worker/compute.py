"""The worker's state (model, device, dtype, adapter slots, the current training) and one handler per protocol
method, named as the methods; the maths lives in train.py, projection.py, grpo.py and scoring.py."""
from __future__ import annotations

import base64
import gc
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import torch

from .errors import WorkerError
from .generate import generate_batch
from .grpo import STAT_KEYS, completion_mask, group_entropy, group_token_logps, grpo_loss, grpo_stat_sums
from .lora import LoraAdapter, LoraSpec, RowShare, active_adapters, create_adapter, load_adapters, save_adapters
from .model import Llama, build_model, init_weights, load_model, next_token_loss, normalize_config, save_model
from .projection import GradVec, SubspaceProjector, combine, dot, olora_penalty
from .protocol import encode_floats, encode_ints
from .ranks import Ranks
from .runtime import describe_runtime
from .safetensors import read_safetensors, tensor_bytes, write_safetensors
from .scoring import score_continuations
from .train import Trainer, TrainerSnapshot, generator_state, make_generator, restore_generator

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


# Two-sided 97.5% quantiles of Student's t for 1…30 degrees of freedom (standard tables); 1.96 beyond
# (engine/compute/tfjs/interference.ts T975).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
        2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]

# Files of the worker's part of a checkpoint (engine/compute/checkpoint.ts names the same two for tfjs).
PARAMS_FILE = "params.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"


# Requests that only read or write files run on rank 0 alone; every other request changes what each rank holds
# (model, adapters, training state, random stream) and runs on every rank (ranks.py). `generate` is decided
# per request (TorchWorker.runs_everywhere).
RANK0_ONLY = frozenset({"hello", "logits", "loss", "logprobs", "entropy", "score_continuations", "parameter_count", "save_model", "save_adapters", "save_checkpoint"})


def finite_or_none(x: float) -> Optional[float]:
    """JSON has no NaN: a mean or interval that does not exist crosses as null."""
    return x if math.isfinite(x) else None


@dataclass
class Training:
    """One start_training: what is trained (names, parameters, owning adapter), its trainer and random stream."""
    spec: Json
    names: List[str]
    params: List[torch.nn.Parameter]
    # adapter name of each parameter ('' for whole-model training)
    owners: List[str]
    trainer: Trainer
    gen: torch.Generator
    subspace: Optional[SubspaceProjector]
    # per-capability updates of the last sft_step, after projection (for interference)
    last_projected: Optional[List[GradVec]] = None


class TorchWorker:
    def __init__(self, protocol_id: str, ranks: Optional[Ranks] = None) -> None:
        self.protocol_id = protocol_id
        # this process's place among the data-parallel ranks (model.devices); one rank by default
        self.ranks = ranks or Ranks()
        self.model: Optional[Llama] = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        # adapter slot ('policy', 'ref', 'sft', …) → its adapters in order
        self.slots: Dict[str, List[LoraAdapter]] = {}
        self.training: Optional[Training] = None

    def handlers(self) -> Dict[str, Callable[[Json], Json]]:
        return {
            "hello": self.hello, "init_model": self.init_model, "load_model": self.load_model, "save_model": self.save_model,
            "create_adapters": self.create_adapters, "load_adapters": self.load_adapters, "save_adapters": self.save_adapters,
            "logits": self.logits, "generate": self.generate, "loss": self.loss, "reset": self.reset, "shutdown": self.shutdown,
            "parameter_count": self.parameter_count, "start_training": self.start_training, "pretrain_step": self.pretrain_step,
            "sft_step": self.sft_step, "interference": self.interference, "grpo_step": self.grpo_step, "logprobs": self.logprobs,
            "entropy": self.entropy, "score_continuations": self.score_continuations, "save_checkpoint": self.save_checkpoint,
            "load_checkpoint": self.load_checkpoint,
        }

    def runs_everywhere(self, method: str, params: Json) -> bool:
        """Whether a request runs on every rank: all but the reads; generation only when it samples from the
        training stream, which every rank must advance alike (it is not split: each rank would decode it all)."""
        if method == "generate":
            return "seed" not in params and float(params["temperature"]) > 0
        return method not in RANK0_ONLY

    def _share(self, n: int) -> Tuple[torch.Tensor, Optional[RowShare]]:
        """This rank's rows of a batch of n (all of them on one rank) and, when split, what LoRA dropout needs to
        draw the global batch's mask and keep its own rows (lora.py active_adapters)."""
        idx = torch.tensor(self.ranks.share(n), dtype=torch.long)  # [b]
        return idx.to(self.device), (RowShare(n, idx) if self.ranks.distributed else None)

    def _rank_device(self, name: str) -> torch.device:
        """With several ranks each takes its own device: cuda:<local rank> (the ranks on one node share its GPUs)."""
        device = pick_device(name)
        if not self.ranks.distributed or device.type != "cuda":
            return device
        if name.startswith("cuda:"):
            raise WorkerError("E_USAGE", f"model.device is {name} but model.devices > 1 gives each rank its own GPU: use auto or cuda")
        visible = torch.cuda.device_count()
        if self.ranks.local_world > visible:
            raise WorkerError("E_USAGE", f"model.devices is {self.ranks.local_world} but torch sees {visible} CUDA device(s) on this node")
        torch.cuda.set_device(self.ranks.local_rank)
        return torch.device(f"cuda:{self.ranks.local_rank}")

    def _model(self) -> Llama:
        if self.model is None:
            raise WorkerError("E_USAGE", "no model: send init_model or load_model first")
        return self.model

    def _place(self, model: Llama, options: Json) -> Json:
        self.device = self._rank_device(options["device"])
        self.ranks.use_device(self.device)
        self.dtype = pick_dtype(options["dtype"], self.device)
        self.model = model.to(self.device, self.dtype)
        self.slots = {}  # adapters belong to the model they were made for
        self.training = None
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

    def _ids(self, arr: Json, rank: int = 2) -> torch.Tensor:
        """An intArray of token ids as a long tensor on the device, checked against the vocabulary."""
        raw = bytearray(base64.b64decode(arr["data"], validate=True))
        shape = list(arr["shape"])
        if len(shape) != rank:
            raise WorkerError("E_USAGE", f"token ids must have {rank} dimension(s), got shape {shape}")
        count = math.prod(shape)
        if len(raw) != 4 * count:
            raise WorkerError("E_USAGE", f"array of shape {shape} needs {4 * count} bytes, got {len(raw)}")
        ids = (torch.frombuffer(raw, dtype=torch.int32) if count else torch.empty(0, dtype=torch.int32)).long().view(*shape)
        vocab = self._model().config["vocab_size"]
        if count and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
            raise WorkerError("E_USAGE", f"a token id lies outside the vocabulary [0, {vocab})")
        return ids.to(self.device)

    def _floats(self, arr: Json) -> torch.Tensor:
        raw = bytearray(base64.b64decode(arr["data"], validate=True))
        shape = list(arr["shape"])
        count = math.prod(shape)
        if len(raw) != 4 * count:
            raise WorkerError("E_USAGE", f"array of shape {shape} needs {4 * count} bytes, got {len(raw)}")
        return (torch.frombuffer(raw, dtype=torch.float32) if count else torch.empty(0)).view(*shape).to(self.device)

    def _batch(self, b: Json) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A TokenBatch: inputs, targets, weights, all [B, T]."""
        inputs, targets, weights = self._ids(b["inputs"]), self._ids(b["targets"]), self._floats(b["weights"])
        if list(weights.shape) != list(inputs.shape) or list(targets.shape) != list(inputs.shape):
            raise WorkerError("E_USAGE", f"inputs {list(inputs.shape)}, targets {list(targets.shape)} and weights {list(weights.shape)} must have one shape")
        return inputs, targets, weights

    def hello(self, _: Json) -> Json:
        return {"python": sys.version.split()[0], "torch": str(torch.__version__), "protocol": self.protocol_id, "ranks": self.ranks.world, "launcher": self.ranks.launcher, **describe_runtime()}

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
        inputs, targets, weights = self._batch(params)
        with self._with_adapters(params):
            return {"loss": float(next_token_loss(self._model()(inputs), targets, weights))}

    def generate(self, params: Json) -> Json:
        model = self._model()
        # a seed gives its own stream; without one, sampling draws from the training stream (startTraining);
        # greedy decoding draws nothing and needs neither
        gen: Optional[torch.Generator] = None
        if "seed" in params:
            gen = make_generator(params["seed"], "generate")
        elif params["temperature"] > 0:
            gen = self._training().gen
        prompts = [self._ids(arr, rank=1).tolist() for arr in params["prompts"]]
        n = int(params["n"])
        # whole groups of n rows per batch, at least one prompt, shortest prompts together (a short lockstep
        # part), as engine/model/decode.ts decodePrompts batches them
        per_batch = max(1, int(params.get("batchRows", 8)) // n)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: List[List[Json]] = [[] for _ in prompts]
        with self._with_adapters(params):
            for s in range(0, len(order), per_batch):
                idx = order[s : s + per_batch]
                rows = generate_batch(model, [prompts[i] for i in idx for _ in range(n)], params["maxNewTokens"], params["temperature"],
                                      params["topP"], params["endIds"], gen)
                for k, i in enumerate(idx):
                    for c in rows[k * n : (k + 1) * n]:
                        lp = torch.tensor(c.logprobs, dtype=torch.float32)
                        out[i].append({"ids": encode_ints(c.ids), "logprobs": encode_floats([len(c.ids)], tensor_bytes(lp)), "truncated": c.truncated})
        return {"completions": out}

    def reset(self, _: Json) -> Json:
        """Back to a fresh worker's state (no model, adapters or training) for the next stage of a run, and the
        memory they held back to the allocator (on CUDA, to the device)."""
        self.model = None
        self.slots = {}
        self.training = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        gc.collect()  # adapters and optimiser state can sit in reference cycles (modules ↔ parameters)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        return {}

    def shutdown(self, _: Json) -> Json:
        return {}

    # ------------------------------------------------------------------------------------ training

    def _training(self) -> Training:
        if self.training is None:
            raise WorkerError("E_USAGE", "no training started: send start_training first")
        return self.training

    def _trainable(self, target: Json) -> Tuple[List[str], List[torch.nn.Parameter], List[str]]:
        """Names (tfjs's: HF names, or `<module>.lora_A.<adapter>`), parameters and owning adapter of a target."""
        if target["kind"] == "model":
            named = list(self._model().hf_state_dict().items())
            return [n for n, _ in named], [p for _, p in named], ["" for _ in named]
        names: List[str] = []
        params: List[torch.nn.Parameter] = []
        owners: List[str] = []
        for adapter in self._slot(target["slot"]):
            for path, (a, b) in adapter.modules.items():
                names += [f"{path}.lora_A.{adapter.name}", f"{path}.lora_B.{adapter.name}"]
                params += [a, b]
                owners += [adapter.name, adapter.name]
        return names, params, owners

    def parameter_count(self, params: Json) -> Json:
        return {"count": sum(p.numel() for p in self._trainable(params["target"])[1])}

    def start_training(self, spec: Json) -> Json:
        names, params, owners = self._trainable(spec["params"])
        # gradients flow only to what trains: the base stays frozen when adapters train
        self._model().requires_grad_(spec["params"]["kind"] == "model")
        for p in params:
            p.requires_grad_(True)
        p_spec = spec.get("projection")
        subspace = None
        if p_spec is not None and p_spec["method"] == "subspace":
            # the defaults of tfjs/compute.ts startTraining when the spec names none
            opts = p_spec.get("subspace") or {"energy": 0.95, "window": 8, "refreshEvery": 10, "maxRank": 4}
            subspace = SubspaceProjector(p_spec["capabilities"], len(params), opts)
        gen = make_generator(spec["rng"]["seed"], spec["rng"]["stream"])
        self.training = Training(spec, names, params, owners, Trainer(names, params, spec), gen, subspace)
        return {"parameters": sum(p.numel() for p in params)}

    def _grads(self, loss: torch.Tensor, t: Training, only: Optional[Sequence[int]] = None) -> GradVec:
        """∂loss/∂(trained tensors) as float32, zeros for tensors outside `only` or untouched by the loss."""
        idx = list(range(len(t.params))) if only is None else list(only)
        got = dict(zip(idx, torch.autograd.grad(loss, [t.params[i] for i in idx], allow_unused=True)))
        # zeros only where no gradient came (each allocation is memory the step must fill)
        return [g.float() if (g := got.get(i)) is not None else torch.zeros_like(p, dtype=torch.float32) for i, p in enumerate(t.params)]

    def pretrain_step(self, params: Json) -> Json:
        t = self._training()
        rows = self._ids(params["rows"])  # [B, T+1]
        B, T = rows.shape[0], rows.shape[1] - 1
        mine = rows[self._share(B)[0]]  # [b, T+1]: this rank's rows
        inputs, targets = mine[:, :-1], mine[:, 1:]  # [b, T] each
        # a plain mean over the global batch, as makeLmBatch: the ranks' partial sums add up to it
        weights = torch.full(inputs.shape, 1.0 / (B * T), device=self.device)  # [b, T]
        loss = next_token_loss(self._model()(inputs), targets, weights)
        grads = self.ranks.sum(self._grads(loss, t))
        value = self.ranks.sum_floats([float(loss)])[0]
        return {"loss": value, "outcome": t.trainer.apply(grads, value)}

    def _projection(self, t: Training) -> Tuple[str, str]:
        p = t.spec.get("projection") or {"method": "none", "scope": "global"}
        return p["method"], p["scope"]

    def _adapter_slot(self, t: Training) -> str:
        if t.spec["params"]["kind"] != "adapters":
            raise WorkerError("E_USAGE", "this step trains LoRA adapters: start_training with params.kind \"adapters\"")
        return str(t.spec["params"]["slot"])

    def sft_step(self, params: Json) -> Json:
        t = self._training()
        slot = self._adapter_slot(t)
        model = self._model()
        grads: List[GradVec] = []
        losses: List[float] = []
        for cap in params["capabilities"]:
            own = [i for i, o in enumerate(t.owners) if "trainable" not in cap or o in cap["trainable"]]
            full = [torch.zeros_like(p, dtype=torch.float32) for p in t.params]
            total = 0.0
            nb = len(cap["batches"])
            for b in cap["batches"]:
                inputs, targets, weights = self._batch(b)  # [B, T] each
                idx, rows = self._share(inputs.shape[0])
                # this rank's rows: the weights are normalised over the global batch, so the partial losses
                # and gradients of the ranks add up to the global ones (ranks.py); a rank without rows still
                # runs the (empty) forward, which draws the global dropout mask and keeps the stream in step
                with active_adapters(model, self._slot(slot), training=True, generator=t.gen, rows=rows):
                    loss = next_token_loss(model(inputs[idx]), targets[idx], weights[idx])
                g = self._grads(loss, t, own)
                total += float(loss)
                # micro-batches are averaged: full ← full + g / nb (grads.ts addScaled)
                full = [(f.double() + gg.double() / nb).float() for f, gg in zip(full, g)]
            grads.append(full)
            losses.append(total / max(1, nb))
        grads = self._sum_vectors(grads)
        losses = self.ranks.sum_floats(losses)
        method, scope = self._projection(t)
        combined, projected, report = combine(grads, params["weights"], method, scope, t.gen, t.subspace)
        penalty = self._olora(t, slot, combined, float(params["oloraLambda"])) if "oloraLambda" in params else None
        outcome = t.trainer.apply(combined, sum(losses) / len(losses))
        t.last_projected = projected
        out: Json = {"outcome": outcome, "losses": losses, "projection": report}
        if penalty is not None:
            out["oloraPenalty"] = penalty
        return out

    def _sum_vectors(self, grads: List[GradVec]) -> List[GradVec]:
        """Each gradient vector (one per capability, or per probe batch) summed over the ranks, in one all-reduce."""
        if not self.ranks.distributed or not grads:
            return grads
        n = len(grads[0])
        flat = self.ranks.sum([g for vec in grads for g in vec])
        return [flat[i * n : (i + 1) * n] for i in range(len(grads))]

    def _olora(self, t: Training, slot: str, grads: GradVec, lam: float) -> float:
        """Adds ∂P/∂A_i of the O-LoRA penalty over the slot's per-capability adapters to `grads` (in place)."""
        adapters = self._slot(slot)
        index = {n: i for i, n in enumerate(t.names)}
        total = 0.0
        for path in adapters[0].modules:
            value, d = olora_penalty([a.modules[path][0].detach() for a in adapters], lam)
            total += value
            for a, da in zip(adapters, d):
                i = index[f"{path}.lora_A.{a.name}"]
                grads[i] = (grads[i].double() + da.double()).float()
        return total

    def interference(self, params: Json) -> Json:
        """M[c][c′] ≈ −η⟨g̃_c, ∇L_c′⟩ (first-order Taylor; Yu et al. 2020 §2), mean and 95% t-interval over
        capability c′'s probe mini-batches, as engine/compute/tfjs/interference.ts."""
        t = self._training()
        if t.last_projected is None:
            raise WorkerError("E_USAGE", "interference needs the updates of an sft_step")
        lr = float(params["lr"])
        model = self._model()
        probe_grads: List[List[GradVec]] = []
        for batches in params["probes"]:
            per: List[GradVec] = []
            for b in batches:
                inputs, targets, weights = self._batch(b)  # [B, T] each
                idx, _ = self._share(inputs.shape[0])  # this rank's rows (no dropout here, so no mask to draw)
                with active_adapters(model, self._slot(params["adapters"])):  # no dropout
                    loss = next_token_loss(model(inputs[idx]), targets[idx], weights[idx])
                per.append(self._grads(loss, t))
            probe_grads.append(per)
        # every probe batch's gradient summed over the ranks, in one all-reduce, then regrouped by capability
        summed = iter(self._sum_vectors([g for per in probe_grads for g in per]))
        probe_grads = [[next(summed) for _ in per] for per in probe_grads]
        mean: List[List[Optional[float]]] = []
        ci95: List[List[Optional[float]]] = []
        for g in t.last_projected:
            row_m: List[Optional[float]] = []
            row_h: List[Optional[float]] = []
            for per in probe_grads:
                xs = [-lr * dot(g, p) for p in per]
                n = len(xs)
                m = sum(xs) / n if n else math.nan
                h = math.nan
                if n >= 2:
                    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))  # sample sd
                    h = (T975[n - 2] if n - 1 <= len(T975) else 1.96) * sd / math.sqrt(n)
                row_m.append(finite_or_none(m))
                row_h.append(finite_or_none(h))
            mean.append(row_m)
            ci95.append(row_h)
        return {"mean": mean, "ci95": ci95, "batches": [len(p) for p in probe_grads]}

    def _groups(self, groups: List[Json]) -> List[Tuple[List[int], List[List[int]]]]:
        return [(self._ids(g["prompt"], rank=1).tolist(), [self._ids(c, rank=1).tolist() for c in g["completions"]]) for g in groups]

    def grpo_step(self, params: Json) -> Json:
        t = self._training()
        slot = self._adapter_slot(t)
        model = self._model()
        groups = self._groups(params["groups"])
        weights = [float(w) for w in params["weights"]]
        max_len, temperature, spec = int(params["maxLen"]), float(params["temperature"]), params["loss"]
        grads: List[GradVec] = []
        losses: List[float] = []
        # per capability with rollouts: the statistics' numerators over this rank's rows, and their token count
        stat_sums: List[List[float]] = []
        stat_counts: List[float] = []
        for c in range(len(weights)):
            idx = [i for i, k in enumerate(params["capabilityOf"]) if k == c]
            if not idx:
                grads.append([torch.zeros_like(p, dtype=torch.float32) for p in t.params])
                losses.append(0.0)
                continue
            old = torch.cat([self._floats(params["oldLogps"][i]) for i in idx])  # [ΣG, Lmax]
            ref = torch.cat([self._floats(params["refLogps"][i]) for i in idx])  # [ΣG, Lmax]
            adv = torch.tensor([a for i in idx for a in params["advantages"][i]], dtype=torch.float32, device=self.device)  # [ΣG]
            mask = torch.tensor([r for i in idx for r in completion_mask(groups[i][1], params["include"][i], max_len)], device=self.device)  # [ΣG, Lmax]
            # the capability's rows are its groups' completions in order; this rank takes its share of them
            rows = [(i, j) for i in idx for j in range(len(groups[i][1]))]
            sel, _ = self._share(len(rows))  # [b]
            by_group: Dict[int, List[int]] = {}
            for r in sel.tolist():
                by_group.setdefault(rows[r][0], []).append(rows[r][1])
            if by_group:
                with active_adapters(model, self._slot(slot)):  # no dropout, as the tfjs policy forward
                    logp = torch.cat([group_token_logps(model, groups[i][0], [groups[i][1][j] for j in js], temperature, max_len) for i, js in by_group.items()])  # [b, Lmax]
                loss = grpo_loss(logp, old[sel], ref[sel], adv[sel], mask[sel], spec, full_mask=mask)
                grads.append(self._grads(loss, t))
                losses.append(float(loss))
                if params["withStats"]:
                    stat_sums.append(grpo_stat_sums(logp.detach(), old[sel], ref[sel], adv[sel], mask[sel], spec))
            else:  # fewer rows than ranks: this rank has none of this capability's
                grads.append([torch.zeros_like(p, dtype=torch.float32) for p in t.params])
                losses.append(0.0)
                if params["withStats"]:
                    stat_sums.append([0.0] * len(STAT_KEYS))
            stat_counts.append(max(1.0, float(mask.sum())))
        grads = self._sum_vectors(grads)
        losses = self.ranks.sum_floats(losses)
        method, scope = self._projection(t)
        combined, _, report = combine(grads, weights, method, scope, t.gen, t.subspace)
        outcome = t.trainer.apply(combined, sum(w * l for w, l in zip(weights, losses)))
        out: Json = {"outcome": outcome, "losses": losses, "projection": report}
        if params["withStats"] and stat_sums:
            # each capability's mean over its tokens, then the mean over capabilities
            summed = self.ranks.sum_floats([x for s in stat_sums for x in s])
            per = [[summed[c * len(STAT_KEYS) + k] / n for k in range(len(STAT_KEYS))] for c, n in enumerate(stat_counts)]
            out["stats"] = {key: sum(p[k] for p in per) / len(per) for k, key in enumerate(STAT_KEYS)}
        return out

    # ------------------------------------------------------------------------------------ scoring

    @torch.no_grad()
    def logprobs(self, params: Json) -> Json:
        """Per group, [G, Lmax] log π(o_t | q, o_<t) (Lmax: its longest completion; zero-padded beyond each)."""
        out = []
        with self._with_adapters(params):
            for prompt, completions in self._groups(params["groups"]):
                max_len = max([1] + [len(c) for c in completions])
                lp = group_token_logps(self._model(), prompt, completions, float(params["temperature"]), max_len).float().cpu()  # [G, Lmax]
                for g, c in enumerate(completions):
                    lp[g, len(c):] = 0
                out.append({"shape": list(lp.shape), "data": base64.b64encode(tensor_bytes(lp)).decode("ascii")})
        return {"logprobs": out}

    def entropy(self, params: Json) -> Json:
        with self._with_adapters(params):
            per = [group_entropy(self._model(), p, cs, float(params["temperature"])) for p, cs in self._groups(params["groups"])]
        return {"entropy": sum(per) / len(per) if per else 0.0}

    def score_continuations(self, params: Json) -> Json:
        context = self._ids(params["context"], rank=1).tolist()
        continuations = [self._ids(c, rank=1).tolist() for c in params["continuations"]]
        with self._with_adapters(params):
            return {"results": score_continuations(self._model(), context, continuations)}

    # ------------------------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, params: Json) -> Json:
        """Writes the trained tensors (fp32 masters) and optimiser moments (plus the subspace state) into
        params.safetensors and optimizer.safetensors of `dir`; the engine adds state.json, the sha256 manifest
        and the atomic rename (engine/compute/checkpoint.ts). Answers the state.json fields the worker owns."""
        t = self._training()
        snap = t.trainer.snapshot()
        optimizer = dict(snap.optimizer)
        state: Json = {"optimizerStep": snap.optimizer_step, "badSteps": snap.bad_steps, "torchRng": generator_state(t.gen)}
        if t.subspace is not None:
            optimizer.update(t.subspace.tensors())
            state["subspaceStep"] = t.subspace.step
        folder = Path(params["dir"])
        write_safetensors(folder / PARAMS_FILE, snap.params, {"format": "pt"})
        write_safetensors(folder / OPTIMIZER_FILE, optimizer, {"format": "pt"})
        return {"state": state}

    def load_checkpoint(self, params: Json) -> Json:
        """Restores a folder save_checkpoint wrote (already verified by the engine) and the state it answered."""
        t = self._training()
        folder, state = Path(params["dir"]), params["state"]
        tensors = read_safetensors(folder / OPTIMIZER_FILE)
        optimizer = {k: v for k, v in tensors.items() if not k.startswith("subspace.")}
        t.trainer.restore(TrainerSnapshot(read_safetensors(folder / PARAMS_FILE), optimizer, int(state["optimizerStep"]), int(state["badSteps"])))
        if "torchRng" in state:
            restore_generator(t.gen, state["torchRng"])
        if t.subspace is not None:
            t.subspace.restore(tensors, int(state.get("subspaceStep", 0)), [p.shape for p in t.params], self.device)
        return {"step": t.trainer.step}
