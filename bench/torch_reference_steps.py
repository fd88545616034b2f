#!/usr/bin/python3
"""The PyTorch reference's training step, one per request, so that bench/engine.ts can interleave it step by
step with the torch engine path on a machine whose load drifts (docs/benchmarks.md).

Imports ../shared/bench/torch_reference.py (its Decoder, MODELS and thread settings) and times exactly its
step: forward, cross-entropy on next tokens, zero_grad, backward, AdamW(lr 1e-3). Each line on stdin runs one
step; each answer is one JSON line {"step_s", "loss"}, step_s measured as the reference measures it (around
the step, inside this process). Run with /usr/bin/python3 (Debian's torch).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType


def load_reference(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True, help="torch_reference.py")
    ap.add_argument("--model", default="S")
    a = ap.parse_args()
    ref = load_reference(a.reference)
    torch, F = ref.torch, ref.F
    # the reference's own settings (its main): seed 0, one torch thread, OpenBLAS threads from the environment
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = ref.MODELS[a.model]
    model = ref.Decoder(**cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["ctx"] + 1))  # [B, T+1]
    for _ in sys.stdin:
        t0 = time.perf_counter()
        logits = model(data[:, :-1])  # [B, T, V]
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab"]), data[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step_s = time.perf_counter() - t0
        sys.stdout.write(json.dumps({"step_s": step_s, "loss": loss.item()}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
