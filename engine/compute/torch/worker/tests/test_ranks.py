"""Data parallelism (bbio_worker/ranks.py): two gloo ranks on the CPU give one rank's losses and updated parameters
on the same global batch (pretrain, SFT with projection none and pcgrad and LoRA dropout, GRPO, interference),
keep their parameters bit-identical, and write a checkpoint that one rank resumes; through the real launch
(`python -m bbio_worker --devices 2`), a killed rank ends the request with an error naming it, and the followers
never outlive rank 0."""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import unittest
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List
from unittest import mock

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bbio_worker.compute import TorchWorker
from bbio_worker.protocol import schema_path
from bbio_worker.errors import WorkerError
from bbio_worker.ranks import Ranks, join_local
from tests.test_model import tiny
from tests.test_steps import CPU, batch, ints, spec

Json = Dict[str, Any]
WORKER_DIR = Path(__file__).resolve().parents[1]
# Losses and parameters of N ranks equal one rank's up to float32 summation order: 1e-5 relative (issue 16).
RTOL = 1e-5
# Seconds a process gets to import torch and answer, or to exit, on a loaded 2-core machine.
WAIT_S = 120

# three rows per batch, so two ranks split it unevenly (rows 0, 2 and row 1)
SFT_CAPS = [[[1, 5, 3, 9, 2], [4, 4, 0, 10, 6], [2, 8, 8, 1, 3]], [[7, 2, 2, 8, 1], [3, 9, 6, 5, 0], [6, 1, 4, 4, 9]]]
PRETRAIN_ROWS = [[1, 5, 3, 9, 2, 7], [4, 4, 0, 10, 6, 1], [2, 8, 8, 1, 3, 3]]


def lora_worker(ranks: Any = None, dropout: float = 0.1) -> TorchWorker:
    w = TorchWorker("test", ranks=ranks)
    w.init_model({"config": tiny(), "seed": 1, "options": CPU})
    w.create_adapters({"slot": "sft", "names": ["a", "b"], "spec": {"rank": 2, "alpha": 4, "dropout": dropout, "targetModules": ["q_proj", "v_proj"]}, "seed": 5})
    return w


def sft_request() -> Json:
    # capability 0 in two micro-batches (3 rows and 1 row), capability 1 in one: every uneven case at once
    return {"capabilities": [{"batches": [batch(SFT_CAPS[0]), batch(SFT_CAPS[1][:1])]}, {"batches": [batch(SFT_CAPS[1])]}], "weights": [0.6, 0.4]}


def floats_of(arr: Json) -> List[float]:
    raw = base64.b64decode(arr["data"])
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def grpo_request(w: TorchWorker, loss_type: str) -> Json:
    # capability 0: one group of three completions; capability 1: one group of one (rank 1 has none of it)
    groups = [{"prompt": ints([1, 5], [2]), "completions": [ints([3, 9], [2]), ints([2], [1]), ints([4, 4], [2])]},
              {"prompt": ints([7], [1]), "completions": [ints([0, 1], [2])]}]
    old = w.logprobs({"groups": groups, "temperature": 1.0, "adapters": "sft"})["logprobs"]
    pad = []
    for o in old:
        G, L = o["shape"]
        rows = [floats_of(o)[g * L:(g + 1) * L] + [0.0] * (3 - L) for g in range(G)]
        # π_old a little off π_θ on every other token, so the ratios differ from 1 and the clip statistics count
        pad.append({"shape": [G, 3], "data": base64.b64encode(struct.pack(f"<{3 * G}f", *[x - 0.05 * (i % 2) for row in rows for i, x in enumerate(row)])).decode()})
    return {"groups": groups, "advantages": [[1, -1, 0.5], [0.7]], "oldLogps": pad, "refLogps": pad, "include": [[True, True, True], [True]],
            "capabilityOf": [0, 1], "weights": [0.5, 0.5], "temperature": 1.0, "maxLen": 3, "withStats": True,
            "loss": {"lossType": loss_type, "epsLow": 0.02, "epsHigh": 0.02, "beta": 0.04, "importanceSampling": "token"}}


def trained(w: TorchWorker) -> torch.Tensor:
    t = w._training()
    return torch.cat([p.detach().flatten() for p in t.params])


def scenario(ranks: Any, ckpt: Path) -> Json:
    """Every training request of the protocol, run on `ranks` (None: one rank); what each answered and the
    trained values after each part."""
    out: Json = {}
    # pretraining the whole model
    w = lora_worker(ranks)
    w.start_training(spec(kind="model"))
    out["pretrain"] = [w.pretrain_step({"rows": ints([t for r in PRETRAIN_ROWS for t in r], [3, 6])})["loss"] for _ in range(2)]
    out["pretrain_params"] = trained(w)
    # SFT with dropout, projection none then pcgrad; interference after
    for method in ("none", "pcgrad"):
        w = lora_worker(ranks)
        w.start_training(spec(method=method))
        results = [w.sft_step(sft_request()) for _ in range(2)]
        out[f"sft_{method}"] = [r["losses"] for r in results] + [[r["outcome"]["gradNorm"] for r in results]]
        out[f"sft_{method}_params"] = trained(w)
    out["interference"] = w.interference({"probes": [[batch(SFT_CAPS[0]), batch(SFT_CAPS[1][:1])], [batch(SFT_CAPS[1])]], "lr": 0.1, "adapters": "sft"})["mean"]
    # GRPO with two normalisations
    for loss_type in ("grpo", "dapo"):
        w = lora_worker(ranks, dropout=0.0)
        w.start_training(spec(method="pcgrad"))
        results = [w.grpo_step(grpo_request(w, loss_type)) for _ in range(2)]
        out[f"grpo_{loss_type}"] = [r["losses"] for r in results] + [list(results[-1]["stats"].values())]
        out[f"grpo_{loss_type}_params"] = trained(w)
    # a checkpoint written after two SFT steps (rank 0 writes: save_checkpoint runs on rank 0 alone)
    w = lora_worker(ranks)
    w.start_training(spec(method="pcgrad"))
    for _ in range(2):
        w.sft_step(sft_request())
    if ranks is None or ranks.rank == 0:
        out["state"] = w.save_checkpoint({"dir": str(ckpt)})["state"]
    out["after_checkpoint"] = w.sft_step(sft_request())["losses"]
    out["after_checkpoint_params"] = trained(w)
    return out


def run_rank(rank: int, world: int, port: int, folder: str) -> None:
    """One rank of the two-rank run (torch.multiprocessing.spawn's entry): its results into rank<r>.pt."""
    ranks = join_local(rank, world, port, watch_parent=False)
    torch.save(scenario(ranks, Path(folder) / "ckpt"), Path(folder) / f"rank{rank}.pt")
    dist.destroy_process_group()


def flat(values: Any) -> torch.Tensor:
    """A tensor, or nested lists of numbers (None: NaN), as one float64 vector."""
    if isinstance(values, torch.Tensor):
        return values.double().flatten()
    if isinstance(values, list):
        return torch.cat([flat(v) for v in values]) if values else torch.zeros(0, dtype=torch.float64)
    return torch.tensor([float("nan") if values is None else float(values)], dtype=torch.float64)


class TwoRanksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = Path(tempfile.mkdtemp(prefix="bbio-ranks-"))
        # the test process hosts the rendezvous store; both ranks connect to it
        store = dist.TCPStore("127.0.0.1", 0, 3, True, timeout=timedelta(seconds=WAIT_S), wait_for_workers=False)
        mp.spawn(run_rank, args=(2, store.port, str(cls.dir)), nprocs=2, join=True)
        cls.ranks = [torch.load(cls.dir / f"rank{r}.pt") for r in range(2)]
        cls.single = scenario(None, cls.dir / "single-ckpt")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.dir)

    def assert_close(self, got: Any, want: Any, what: str) -> None:
        g, x = flat(got), flat(want)
        self.assertEqual(g.shape, x.shape, what)
        # relative to the tensor's scale: a parameter near 0 is compared against the others' size
        self.assertTrue(torch.equal(g.isnan(), x.isnan()), what)
        g, x = g.nan_to_num(), x.nan_to_num()
        scale = max(1e-12, float(x.abs().max()))
        self.assertLessEqual(float((g - x).abs().max()) / scale, RTOL, f"{what}: {g.tolist() if g.numel() < 12 else ''} vs {x.tolist() if x.numel() < 12 else ''}")

    def test_losses_and_updates_equal_one_rank_on_the_global_batch(self) -> None:
        for key in ("pretrain", "sft_none", "sft_pcgrad", "grpo_grpo", "grpo_dapo"):
            self.assert_close(self.ranks[0][key], self.single[key], key)
            self.assert_close(self.ranks[0][f"{key}_params"], self.single[f"{key}_params"], f"{key} parameters")
            # the step changed something: equality is not two untouched initialisations
            self.assertGreater(float(self.single[f"{key}_params"].abs().sum()), 0)
        self.assert_close(self.ranks[0]["interference"], self.single["interference"], "interference")

    def test_parameters_stay_bit_identical_across_ranks(self) -> None:
        for key in ("pretrain_params", "sft_none_params", "sft_pcgrad_params", "grpo_grpo_params", "grpo_dapo_params", "after_checkpoint_params"):
            self.assertTrue(torch.equal(self.ranks[0][key], self.ranks[1][key]), key)
        self.assertEqual(self.ranks[0]["sft_pcgrad"], self.ranks[1]["sft_pcgrad"])

    def test_a_checkpoint_of_two_ranks_resumes_on_one(self) -> None:
        self.assertTrue((self.dir / "ckpt" / "params.safetensors").exists())
        w = lora_worker()
        w.start_training(spec(method="pcgrad"))
        self.assertEqual(w.load_checkpoint({"dir": str(self.dir / "ckpt"), "state": self.ranks[0]["state"]})["step"], 2)
        losses = w.sft_step(sft_request())["losses"]
        self.assert_close(losses, self.ranks[0]["after_checkpoint"], "losses after resuming on one rank")
        self.assert_close(trained(w), self.ranks[0]["after_checkpoint_params"], "parameters after resuming on one rank")


class CudaDevicesTest(unittest.TestCase):
    def test_more_ranks_than_visible_gpus_is_an_error_naming_both_numbers(self) -> None:
        w = TorchWorker("test", ranks=Ranks(rank=0, world=4, local_rank=0, local_world=4))
        with mock.patch.object(torch.cuda, "is_available", return_value=True), mock.patch.object(torch.cuda, "device_count", return_value=2):
            with self.assertRaises(WorkerError) as e:
                w._rank_device("cuda")
            self.assertEqual(e.exception.message, "model.devices is 4 but torch sees 2 CUDA device(s) on this node")
            with self.assertRaises(WorkerError) as e:
                w._rank_device("cuda:1")
            self.assertIn("gives each rank its own GPU", e.exception.message)


def children(pid: int) -> List[int]:
    """Child process ids (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


def await_exit(pid: int, timeout: float) -> bool:
    """Whether process `pid` (not our child) exits within `timeout` seconds: waits on its pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


@unittest.skipUnless(sys.platform == "linux" and hasattr(os, "pidfd_open"), "reads /proc and waits on pidfds (Linux)")
class LaunchTest(unittest.TestCase):
    """`python -m bbio_worker --devices 2` over its stdio, as the engine starts it."""

    def start(self) -> subprocess.Popen:  # type: ignore[type-arg]
        proc = subprocess.Popen([sys.executable, "-m", "bbio_worker", "--schema", str(schema_path()), "--devices", "2"], cwd=WORKER_DIR,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close(), proc.stderr.close(), proc.stdin.close()))  # type: ignore[union-attr]
        self.next_id = 0
        return proc

    def ask(self, proc: subprocess.Popen, method: str, params: Any = None) -> Json:  # type: ignore[type-arg]
        self.next_id += 1
        msg: Json = {"id": self.next_id, "method": method, **({} if params is None else {"params": params})}
        proc.stdin.write(json.dumps(msg) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        ready, _, _ = select.select([proc.stdout], [], [], WAIT_S)
        self.assertTrue(ready, f"no answer to {method} within {WAIT_S} s")
        return json.loads(proc.stdout.readline())  # type: ignore[union-attr]

    def test_a_killed_rank_ends_the_request_with_its_name_and_followers_die_with_rank_0(self) -> None:
        proc = self.start()
        hello = self.ask(proc, "hello")
        self.assertEqual(hello["result"]["ranks"], 2)
        self.ask(proc, "init_model", {"config": tiny(), "seed": 1, "options": CPU})
        self.ask(proc, "create_adapters", {"slot": "sft", "names": ["a", "b"], "spec": {"rank": 2, "alpha": 4, "dropout": 0.1, "targetModules": ["q_proj", "v_proj"]}, "seed": 5})
        self.ask(proc, "start_training", spec(method="pcgrad"))
        got = [self.ask(proc, "sft_step", sft_request())["result"]["losses"] for _ in range(2)]
        w = lora_worker()
        w.start_training(spec(method="pcgrad"))
        want = [w.sft_step(sft_request())["losses"] for _ in range(2)]
        for g, x in zip(got, want):
            for a, b in zip(g, x):
                self.assertLessEqual(abs(a - b), RTOL * abs(b))

        (follower,) = children(proc.pid)
        os.kill(follower, signal.SIGKILL)
        r = self.ask(proc, "sft_step", sft_request())
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"]["code"], "E_BACKEND")
        self.assertIn("rank 1 was killed by signal 9", r["error"]["message"])
        # the group is broken: the next request says so at once instead of waiting on the dead rank
        self.assertIn("rank 1", self.ask(proc, "sft_step", sft_request())["error"]["message"])

        # a second launch: SIGKILL rank 0 and its follower leaves too
        proc2 = self.start()
        self.assertTrue(self.ask(proc2, "hello")["ok"])
        (follower2,) = children(proc2.pid)
        proc2.kill()
        self.assertTrue(await_exit(follower2, WAIT_S), "the follower outlived rank 0")


if __name__ == "__main__":
    unittest.main()
