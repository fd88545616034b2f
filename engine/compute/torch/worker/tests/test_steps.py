"""The training handlers of TorchWorker end to end (requests in, results out): SFT with every projection and
per-capability adapters, GRPO, pretraining, interference, and a checkpoint that resumes exactly."""
from __future__ import annotations

import base64
import shutil
import struct
import tempfile
import unittest
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch

from bbio_worker.compute import TorchWorker
from bbio_worker.errors import WorkerError
from tests.test_model import tiny

Json = Dict[str, Any]
CPU = {"device": "cpu", "dtype": "float32"}


def ints(values: Sequence[int], shape: Sequence[int]) -> Json:
    return {"shape": list(shape), "data": base64.b64encode(struct.pack(f"<{len(values)}i", *values)).decode()}


def floats(values: Sequence[float], shape: Sequence[int]) -> Json:
    return {"shape": list(shape), "data": base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()}


def batch(rows: List[List[int]]) -> Json:
    B, T = len(rows), len(rows[0]) - 1
    return {"inputs": ints([t for r in rows for t in r[:-1]], [B, T]), "targets": ints([t for r in rows for t in r[1:]], [B, T]),
            "weights": floats([1 / (B * T)] * (B * T), [B, T])}


def spec(kind: str = "adapters", method: str = "none", scope: str = "global") -> Json:
    s: Json = {"params": {"kind": "model"} if kind == "model" else {"kind": "adapters", "slot": "sft"},
               "schedule": {"peak": 0.05, "warmupSteps": 1, "totalSteps": 5, "shape": "cosine", "minLrRatio": 0.1},
               "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 0.01}, "decay": "matrices", "gradClip": 1.0,
               "rng": {"seed": 3, "stream": "sft"}}
    if kind != "model":
        s["projection"] = {"method": method, "scope": scope, "capabilities": 2, "subspace": {"energy": 0.9, "window": 3, "refreshEvery": 2, "maxRank": 2}}
    return s


CAPS = [[[1, 5, 3, 9, 2], [4, 4, 0, 10, 6]], [[7, 2, 2, 8, 1], [3, 9, 6, 5, 0]]]


def worker(dropout: float = 0.0) -> TorchWorker:
    w = TorchWorker("test")
    w.init_model({"config": tiny(), "seed": 1, "options": CPU})
    w.create_adapters({"slot": "sft", "names": ["a", "b"], "spec": {"rank": 2, "alpha": 4, "dropout": dropout, "targetModules": ["q_proj", "v_proj"]}, "seed": 5})
    return w


def sft(w: TorchWorker, per_capability: bool = False, olora: bool = False) -> Json:
    caps: List[Json] = [{"batches": [batch(c)]} for c in CAPS]
    if per_capability:
        caps = [{**c, "trainable": [n]} for c, n in zip(caps, ["a", "b"])]
    req: Json = {"capabilities": caps, "weights": [0.6, 0.4]}
    if olora:
        req["oloraLambda"] = 0.5
    return w.sft_step(req)


def adapter_values(w: TorchWorker) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for a in w.slots["sft"] for pair in a.modules.values() for p in pair])


class StepsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bbio-steps-"))
        self.addCleanup(shutil.rmtree, self.dir)

    def test_sft_every_projection_trains_and_reports(self) -> None:
        for method, scope in [("none", "global"), ("pcgrad", "global"), ("pcgrad", "per_matrix"), ("subspace", "per_matrix")]:
            w = worker()
            w.start_training(spec(method=method, scope=scope))
            before = adapter_values(w)
            results = [sft(w) for _ in range(3)]
            self.assertTrue(all(r["outcome"]["applied"] for r in results), method)
            self.assertEqual([r["outcome"]["step"] for r in results], [1, 2, 3])
            self.assertFalse(torch.equal(before, adapter_values(w)))
            pair = results[1]["projection"]["pairs"][0]
            self.assertEqual((pair["a"], pair["b"]), (0, 1))
            self.assertEqual(len(results[1]["losses"]), 2)
            self.assertEqual("subspaceDims" in results[1]["projection"], method == "subspace")

    def test_per_capability_adapters_get_only_their_own_gradient(self) -> None:
        w = worker()
        w.start_training(spec(method="none"))
        sft(w, per_capability=True)  # step 1: B = 0, so only B moves
        r = sft(w, per_capability=True, olora=True)
        self.assertGreater(r["oloraPenalty"], 0)
        # a capability's raw gradient is zero on the other adapter: its cosine with the other capability is 0
        self.assertEqual(r["projection"]["pairs"][0]["cosineRaw"], 0.0)

    def test_checkpoint_resumes_exactly_with_dropout_and_subspace(self) -> None:
        def run(restore: bool) -> torch.Tensor:
            w = worker(dropout=0.1)
            w.start_training(spec(method="subspace", scope="per_matrix"))
            for s in range(4):
                if restore and s == 2:
                    state = w.save_checkpoint({"dir": str(self.dir)})["state"]
                    w = worker(dropout=0.1)
                    w.start_training(spec(method="subspace", scope="per_matrix"))
                    self.assertEqual(w.load_checkpoint({"dir": str(self.dir), "state": state})["step"], 2)
                sft(w)
            return adapter_values(w)

        self.assertTrue(torch.equal(run(False), run(True)))

    def test_pretrain_step_lowers_the_loss(self) -> None:
        w = worker()
        w.start_training(spec(kind="model"))
        rows = ints([t for r in CAPS[0] for t in r], [2, 5])
        losses = [w.pretrain_step({"rows": rows})["loss"] for _ in range(5)]
        self.assertLess(losses[-1], losses[0])

    def test_grpo_step_and_interference(self) -> None:
        w = worker()
        w.start_training(spec(method="pcgrad"))
        groups = [{"prompt": ints([1, 5], [2]), "completions": [ints([3, 9], [2]), ints([2], [1])]},
                  {"prompt": ints([7], [1]), "completions": [ints([4, 4], [2]), ints([0, 1], [2])]}]
        old = w.logprobs({"groups": groups, "temperature": 1.0, "adapters": "sft"})["logprobs"]
        pad = [{"shape": [2, 3], "data": base64.b64encode(struct.pack("<6f", *[x for row in torch.nn.functional.pad(
            torch.frombuffer(bytearray(base64.b64decode(o["data"])), dtype=torch.float32).view(*o["shape"]), (0, 3 - o["shape"][1])).tolist() for x in row])).decode()} for o in old]
        r = w.grpo_step({"groups": groups, "advantages": [[1, -1], [0.5, -0.5]], "oldLogps": pad, "refLogps": pad, "include": [[True, True], [True, False]],
                         "capabilityOf": [0, 1], "weights": [0.5, 0.5], "temperature": 1.0, "maxLen": 3, "withStats": True,
                         "loss": {"lossType": "dapo", "epsLow": 0.2, "epsHigh": 0.28, "beta": 0.04, "importanceSampling": "token"}})
        self.assertTrue(r["outcome"]["applied"])
        self.assertEqual(r["stats"], {"kl": 0.0, "clipLow": 0.0, "clipHigh": 0.0})  # π_θ = π_old = π_ref at the first step
        with self.assertRaises(WorkerError):
            w.interference({"probes": [[batch(CAPS[0])], []], "lr": 0.1, "adapters": "sft"})  # no sft_step yet
        sft(w)
        m = w.interference({"probes": [[batch(CAPS[0]), batch(CAPS[1])], []], "lr": 0.1, "adapters": "sft"})
        self.assertEqual(m["batches"], [2, 0])
        self.assertIsNone(m["mean"][0][1])  # no probe data for capability 1
        self.assertIsInstance(m["ci95"][0][0], float)


if __name__ == "__main__":
    unittest.main()
