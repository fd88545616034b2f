#!/usr/bin/env python3
"""GPU benchmark of the torch backend, for a machine with Python + PyTorch and nothing else (no Node, no npm,
no network): this driver starts the product's own worker (`python -m bbio_worker`, from
engine/compute/torch/worker beside it in the repository) and drives it through its stdio protocol
(schemas/compute-protocol.schema.json), as the TypeScript engine would. For a randomly initialised
Qwen2.5-0.5B-shaped and a Qwen2.5-7B-shaped model in bf16 it reports:

  - LoRA SFT step tokens/s with projection none / pcgrad / subspace (3 capabilities, one batch each),
  - model FLOPs utilisation: 6·N·tokens / step time / peak (Kaplan et al. 2020's 6N per token for forward
    plus backward; LoRA skips the base weights' gradients, so its real work is nearer 4N and this MFU is
    the usual, comparable convention), the peak from a table by device name and a bf16 matmul probe,
  - GRPO rollout tokens/s at G = 8 (sampled completions with the KV cache, the worker's generate),
  - peak device memory of each part (torch.cuda.max_memory_allocated through hello's memory field).

Sized to finish well under 10 minutes on one H100/H200 (README.md); `--tiny` runs the same path on the
CPU with a toy model in seconds (the test in test/unit/compute/gpu-bench.test.ts). The JSON report goes
to --out (default $OUT, else the current folder), rewritten after each model so a timeout keeps the rest.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, IO, List, Optional, Sequence

Json = Dict[str, Any]
REPO = Path(__file__).resolve().parents[2]

# Shapes of the public configs (Qwen/Qwen2.5-0.5B and Qwen/Qwen2.5-7B config.json), weights random.
MODELS: Dict[str, Json] = {
    "qwen2.5-0.5b": {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
                     "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
    "qwen2.5-7b": {"model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                   "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
                   "rms_norm_eps": 1e-6, "tie_word_embeddings": False},
    # --tiny: the same architecture (GQA, q/k/v biases, tied embeddings) at toy size
    "tiny": {"model_type": "qwen2", "vocab_size": 256, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128, "rope_theta": 10000.0,
             "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
}

# Per model: SFT batch [B, T] per capability, timed steps after one warm-up, rollout prompts × G × new
# tokens. The worker generates one completion at a time (batch 1, bbio_worker/generate.py), so rollouts
# are kept short: on an H200 a 7B decode step costs ~20-30 ms in eager PyTorch.
SIZES: Dict[str, Json] = {
    "qwen2.5-0.5b": {"batch": 4, "seq": 512, "steps": 3, "prompts": 2, "prompt_len": 64, "new_tokens": 64},
    "qwen2.5-7b": {"batch": 2, "seq": 512, "steps": 3, "prompts": 1, "prompt_len": 64, "new_tokens": 32},
    "tiny": {"batch": 2, "seq": 16, "steps": 2, "prompts": 2, "prompt_len": 4, "new_tokens": 6},
}
CAPABILITIES = 3  # knowledge, reasoning, instruction following: as the product's SFT stage
GROUP = 8  # GRPO's G
PROJECTIONS = ("none", "pcgrad", "subspace")

# Dense bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s (no sparsity), matched on the device name.
PEAK_BF16_TFLOPS = [("H200", 989.4), ("H100", 989.4), ("GH200", 989.4), ("A100", 312.0), ("L40S", 362.1), ("L4", 121.0),
                    ("A10", 125.0), ("RTX 4090", 165.2), ("RTX 3090", 71.0)]

# Rough CPU seconds a model's random initialisation takes in the worker (fp32 draws on the CPU, then the
# copy to the device), used only to skip a model that cannot finish inside --budget-s.
INIT_S_PER_BPARAM = 20.0


class WorkerFailure(Exception):
    def __init__(self, method: str, error: Json) -> None:
        tb = "\n".join(error.get("traceback", []))
        super().__init__(f"{method}: {error.get('code')} {error.get('message')}{chr(10) + tb if tb else ''}")
        self.code = str(error.get("code"))


class Worker:
    """The product's worker as a child process: one JSON request a line in, one response a line out."""

    def __init__(self, python: str, worker_dir: Path, schema: Path, stderr: IO[str], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen([python, "-m", "bbio_worker", "--schema", str(schema)], cwd=worker_dir, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=1)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 1
        self.methods = request_methods(schema)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def request(self, method: str, params: Optional[Json] = None) -> Json:
        msg: Json = {"id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=self.timeout_s)
        except queue.Empty as e:
            self.proc.kill()
            raise WorkerFailure(method, {"code": "E_TIMEOUT", "message": f"no answer within {self.timeout_s} s"}) from e
        if line is None:
            raise WorkerFailure(method, {"code": "E_EXIT", "message": f"the worker exited with status {self.proc.wait()}"})
        res = json.loads(line)
        if not res["ok"]:
            raise WorkerFailure(method, res["error"])
        return res["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("shutdown")
            except WorkerFailure:
                self.proc.kill()  # it answered nothing sensible: stop it; its stderr log says why
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def request_methods(schema: Path) -> List[str]:
    """The methods the protocol declares (`const` of each request's `method`)."""
    d = json.loads(schema.read_text("utf-8"))
    refs = [r["$ref"].split("/")[-1] for r in d["$defs"]["request"]["oneOf"]]
    return [d["$defs"][r]["properties"]["method"]["const"] for r in refs]


def int_array(values: Sequence[int], shape: Sequence[int]) -> Json:
    """The protocol's compact int32 array: little-endian bytes in base64."""
    return {"shape": list(shape), "data": base64.b64encode(struct.pack(f"<{len(values)}i", *values)).decode("ascii")}


def float_array(values: Sequence[float], shape: Sequence[int]) -> Json:
    return {"shape": list(shape), "data": base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")}


def token_batch(rng: "Rng", vocab: int, b: int, t: int) -> Json:
    """Random next-token batch [B, T]: targets are the inputs shifted by one, weights a plain mean (sum 1)."""
    rows = [[rng.int(vocab) for _ in range(t + 1)] for _ in range(b)]
    inputs = [x for r in rows for x in r[:-1]]
    targets = [x for r in rows for x in r[1:]]
    return {"inputs": int_array(inputs, [b, t]), "targets": int_array(targets, [b, t]), "weights": float_array([1.0 / (b * t)] * (b * t), [b, t])}


class Rng:
    """A small LCG (Numerical Recipes' constants): token ids need no quality, only reproducibility."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFF

    def int(self, n: int) -> int:
        self.state = (1664525 * self.state + 1013904223) & 0xFFFFFFFF
        return self.state % n


def peak_from_table(device_name: str) -> Optional[float]:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in device_name:
            return tflops * 1e12
    return None


def matmul_probe(device: str, dtype_name: str, n: int) -> float:
    """Achieved FLOP/s of an n×n×n matmul in the run's dtype (2n³ FLOPs a product): the practical peak."""
    import torch  # only here: the driver itself needs no torch, the worker does

    dtype = torch.bfloat16 if dtype_name == "bfloat16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def bench_model(w: Worker, name: str, opts: argparse.Namespace, probe_flops: float, table_flops: Optional[float]) -> Json:
    cfg, size = MODELS[name], SIZES[name]
    rng = Rng(0)
    out: Json = {"model": name, "config": cfg, "sizes": size}
    t0 = time.perf_counter()
    placed = w.request("init_model", {"config": cfg, "seed": 0, "options": {"device": opts.device, "dtype": opts.dtype}})
    out.update(init_s=round(time.perf_counter() - t0, 2), parameters=placed["parameters"], device=placed["device"], dtype=placed["dtype"])
    n = placed["parameters"]
    # LoRA as the product's defaults (schemas/experiment.schema.json lora) at rank 16 on every projection
    w.request("create_adapters", {"slot": "policy", "names": ["default"], "seed": 0,
                                  "spec": {"rank": 16, "alpha": 32, "dropout": 0.05, "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}})
    out["after_init"] = w.request("hello")["memory"]

    sft: Json = {}
    if "sft_step" not in w.methods or "start_training" not in w.methods:
        sft["unavailable"] = "this worker's protocol has no start_training/sft_step (the training methods of issue 16 are not in this checkout)"
    else:
        tokens = CAPABILITIES * size["batch"] * size["seq"]
        for method in PROJECTIONS:
            # subspace: the basis is refreshed every 2 steps from a 4-step window, so its SVD (the expensive
            # part) falls inside the timed steps; energy and max rank are the product's defaults
            projection: Json = {"method": method, "scope": "global", "capabilities": CAPABILITIES}
            if method == "subspace":
                projection["subspace"] = {"energy": 0.95, "window": 4, "refreshEvery": 2, "maxRank": 8}
            w.request("start_training", {"params": {"kind": "adapters", "slot": "policy"}, "decay": "none", "gradClip": 1.0,
                                         "schedule": {"peak": 1e-4, "warmupSteps": 0, "totalSteps": 1000, "shape": "constant", "minLrRatio": 1.0},
                                         "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 0.0},
                                         "rng": {"seed": 0, "stream": f"sft-{method}"}, "projection": projection})
            w.request("hello")  # resets the device's peak-memory counter
            times: List[float] = []
            loss = None
            for i in range(1 + size["steps"]):
                caps = [{"batches": [token_batch(rng, cfg["vocab_size"], size["batch"], size["seq"])]} for _ in range(CAPABILITIES)]
                t = time.perf_counter()
                r = w.request("sft_step", {"capabilities": caps, "weights": [1.0 / CAPABILITIES] * CAPABILITIES})
                dt = time.perf_counter() - t  # the answer carries the losses: the device work is done
                loss = r["losses"]
                if i > 0:
                    times.append(dt)
            step_s = sorted(times)[len(times) // 2]
            flops = 6 * n * tokens / step_s
            sft[method] = {"tokens_per_step": tokens, "step_s_median": round(step_s, 4), "tok_per_s": round(tokens / step_s, 1),
                           "mfu_vs_table": round(flops / table_flops, 4) if table_flops else None, "mfu_vs_probe": round(flops / probe_flops, 4),
                           "losses": loss, "memory": w.request("hello")["memory"]}
    out["sft"] = sft

    # GRPO rollouts: G completions of each prompt, sampled at temperature 1 with no end id, so each runs
    # to new_tokens; the sampled tokens per second of wall time is the figure
    prompts = [int_array([rng.int(cfg["vocab_size"]) for _ in range(size["prompt_len"])], [size["prompt_len"]]) for _ in range(size["prompts"])]
    w.request("hello")
    t = time.perf_counter()
    r = w.request("generate", {"prompts": prompts, "n": GROUP, "temperature": 1.0, "topP": 1.0, "maxNewTokens": size["new_tokens"], "endIds": [],
                               "adapters": "policy", "seed": 0})
    dt = time.perf_counter() - t
    new_tokens = sum(len(base64.b64decode(c["ids"]["data"])) // 4 for row in r["completions"] for c in row)
    out["rollout"] = {"group": GROUP, "prompts": size["prompts"], "new_tokens": new_tokens, "s": round(dt, 3), "tok_per_s": round(new_tokens / dt, 1),
                      "memory": w.request("hello")["memory"]}
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="a toy model on the CPU in float32, in seconds (the end-to-end test)")
    ap.add_argument("--models", default=None, help="comma-separated, of: " + ", ".join(MODELS))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")), help="folder of gpu-bench.json and worker.log (default $OUT)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="skip a model that would not finish inside this many seconds from the start")
    ap.add_argument("--python", default=sys.executable, help="the worker's interpreter (default: this one)")
    ap.add_argument("--worker-dir", type=Path, default=REPO / "engine/compute/torch/worker")
    ap.add_argument("--schema", type=Path, default=REPO / "schemas/compute-protocol.schema.json")
    ap.add_argument("--timeout-s", type=float, default=300.0, help="longest one request may take")
    a = ap.parse_args(argv)
    a.device, a.dtype = ("cpu", "float32") if a.tiny else ("cuda", "bfloat16")
    models = a.models.split(",") if a.models else (["tiny"] if a.tiny else ["qwen2.5-0.5b", "qwen2.5-7b"])
    a.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: Json = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": a.device, "dtype": a.dtype, "models": []}
    report_file = a.out / "gpu-bench.json"

    def save() -> None:
        report["wall_s"] = round(time.perf_counter() - started, 1)
        report_file.write_text(json.dumps(report, indent=2) + "\n")

    with open(a.out / "worker.log", "w") as log:
        w = Worker(a.python, a.worker_dir, a.schema, log, a.timeout_s)
        try:
            hello = w.request("hello")
            report["hello"] = hello
            report["methods"] = w.methods
            if not a.tiny and not hello["cuda"]:
                report["error"] = "no CUDA device: run with --tiny on a CPU"
                save()
                print(report["error"], file=sys.stderr)
                return 1
            name = hello["cuda"][0] if hello["cuda"] else "cpu"
            table = peak_from_table(name) if a.device == "cuda" else None
            probe = matmul_probe(a.device, a.dtype, 8192 if a.device == "cuda" else 256)
            report["peak"] = {"device_name": name, "table_flops": table, "probe_flops": round(probe), "probe": "n×n bf16 matmul, n = 8192" if a.device == "cuda" else "n×n fp32 matmul, n = 256"}
            save()
            for m in models:
                cfg = MODELS[m]
                approx_params = 12 * cfg["num_hidden_layers"] * cfg["hidden_size"] ** 2 + cfg["vocab_size"] * cfg["hidden_size"]
                needed = INIT_S_PER_BPARAM * approx_params / 1e9
                if time.perf_counter() - started + needed > a.budget_s:
                    report["models"].append({"model": m, "skipped": f"its initialisation alone (~{needed:.0f} s) would pass --budget-s {a.budget_s:.0f}"})
                    save()
                    continue
                print(f"gpu-bench: {m}…", file=sys.stderr, flush=True)
                try:
                    report["models"].append(bench_model(w, m, a, probe, table))
                except WorkerFailure as e:
                    report["models"].append({"model": m, "error": str(e)})
                    if e.code in ("E_EXIT", "E_TIMEOUT"):
                        save()
                        raise
                save()
                w.request("init_model", {"config": MODELS["tiny"], "seed": 0, "options": {"device": a.device, "dtype": a.dtype}})  # frees the big model
        finally:
            w.close()
    save()
    print_summary(report)
    return 0


def peak_gib(memory: Json) -> float:
    """The device's peak on CUDA, else the worker's peak resident set (a CPU run)."""
    peak = memory["cudaPeakBytes"] if memory["cudaPeakBytes"] is not None else memory["peakRssBytes"]
    return peak / 2 ** 30


def print_summary(report: Json) -> None:
    print(f"{'model':<14} {'what':<18} {'tok/s':>10} {'MFU table':>10} {'MFU probe':>10} {'peak GiB':>9}")
    for m in report["models"]:
        if "sft" not in m:
            print(f"{m['model']:<14} {m.get('skipped') or m.get('error', '')}")
            continue
        for method in PROJECTIONS:
            s = m["sft"].get(method)
            if s:
                print(f"{m['model']:<14} {'sft ' + method:<18} {s['tok_per_s']:>10.0f} {s['mfu_vs_table'] or 0:>10.3f} {s['mfu_vs_probe']:>10.3f} {peak_gib(s['memory']):>9.2f}")
        if "unavailable" in m["sft"]:
            print(f"{m['model']:<14} sft: {m['sft']['unavailable']}")
        r = m["rollout"]
        print(f"{m['model']:<14} {'rollout G=' + str(r['group']):<18} {r['tok_per_s']:>10.0f} {'':>10} {'':>10} {peak_gib(r['memory']):>9.2f}")


if __name__ == "__main__":
    sys.exit(main())
