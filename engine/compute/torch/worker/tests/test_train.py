"""AdamW, the schedule, clipping, the NaN guard and the random streams, against hand computations."""
from __future__ import annotations

import math
import unittest
from unittest import mock
from typing import Any, Dict, List

import torch

from bbio_worker import train
from bbio_worker.errors import WorkerError
from bbio_worker.train import Trainer, fnv1a32, generator_state, learning_rate, make_generator, restore_generator


def spec(**over: Any) -> Dict[str, Any]:
    s: Dict[str, Any] = {
        "params": {"kind": "model"}, "decay": "matrices", "gradClip": 0, "rng": {"seed": 1, "stream": "train"},
        "schedule": {"peak": 0.1, "warmupSteps": 0, "totalSteps": 10, "shape": "constant", "minLrRatio": 0},
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 0.01},
    }
    s.update(over)
    return s


class ScheduleTest(unittest.TestCase):
    def test_warmup_then_cosine_to_the_floor(self) -> None:
        s = {"peak": 1.0, "warmupSteps": 2, "totalSteps": 6, "shape": "cosine", "minLrRatio": 0.1}
        self.assertAlmostEqual(learning_rate(0, s), 0.5)  # (0 + 1) / 2
        self.assertAlmostEqual(learning_rate(1, s), 1.0)
        self.assertAlmostEqual(learning_rate(4, s), 0.1 + 0.45 * (1 + math.cos(math.pi / 2)))  # half-way through 4 decay steps
        self.assertAlmostEqual(learning_rate(6, s), 0.1)
        self.assertAlmostEqual(learning_rate(4, {**s, "shape": "linear"}), 1.0 - 0.9 * 0.5)


class TrainerTest(unittest.TestCase):
    def test_one_adamw_step_by_hand(self) -> None:
        w = torch.nn.Parameter(torch.ones(2, 2))  # a matrix: decayed
        b = torch.nn.Parameter(torch.ones(2))  # a vector: not decayed
        t = Trainer(["w", "b"], [w, b], spec())
        out = t.apply([torch.full((2, 2), 0.5), torch.full((2,), -2.0)], 1.0)
        # step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) = ±0.1; decay shrinks w by (1 − 0.1·0.01)
        self.assertTrue(out["applied"])
        self.assertAlmostEqual(float(w[0, 0]), 1 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8), places=6)
        self.assertAlmostEqual(float(b[0]), 1 + 0.1 * 2 / (2 + 1e-8), places=6)
        self.assertEqual(out["step"], 1)
        self.assertAlmostEqual(out["gradNorm"], math.sqrt(4 * 0.25 + 2 * 4))

    def test_clip_scales_to_the_max_norm(self) -> None:
        w = torch.nn.Parameter(torch.zeros(2))
        t = Trainer(["w"], [w], spec(gradClip=1.0, adam={"beta1": 0.0, "beta2": 0.0, "eps": 0.0, "weightDecay": 0.0}))
        out = t.apply([torch.tensor([3.0, 4.0])], None)
        self.assertAlmostEqual(out["clipCoef"], 1 / (5 + 1e-6))
        # β = 0: m̂ = g, v̂ = g²: the update is the sign, whatever the clip
        self.assertAlmostEqual(float(w[0]), -0.1, places=6)
        self.assertAlmostEqual(float(w[1]), -0.1, places=6)

    def test_a_non_finite_gradient_is_rejected_then_stops_training(self) -> None:
        w = torch.nn.Parameter(torch.ones(3))
        t = Trainer(["w"], [w], spec(maxBadSteps=2))
        out = t.apply([torch.tensor([1.0, float("nan"), 0.0])], 0.5)
        self.assertEqual(out, {"applied": False, "step": 0, "badTensor": "w", "badSteps": 1})
        self.assertEqual(w.tolist(), [1.0, 1.0, 1.0])
        with self.assertRaises(WorkerError) as e:
            t.apply([torch.ones(3)], float("inf"))
        self.assertEqual(e.exception.code, "E_NAN")

    def test_the_flat_chunked_update_is_each_tensors_float64_update_exactly(self) -> None:
        """AdamW over one flat buffer in chunks that straddle tensors (CHUNK patched to 5) gives bit for bit
        what one tensor at a time in float64, rounded to float32 per op, gives (the numerics tfjs matches)."""
        g = torch.Generator().manual_seed(3)
        shapes = [(4, 3), (7,), (2, 5), (3,)]
        init = [torch.randn(s, generator=g) for s in shapes]
        steps = [[torch.randn(s, generator=g) * (k + 1) for s in shapes] for k in range(3)]
        s = spec(gradClip=2.0, decay="matrices", schedule={"peak": 0.05, "warmupSteps": 1, "totalSteps": 4, "shape": "cosine", "minLrRatio": 0.1})
        params = [torch.nn.Parameter(x.clone()) for x in init]
        with mock.patch.object(train, "CHUNK", 5):
            t = Trainer([f"p{i}" for i in range(len(shapes))], params, s)
            outs = [t.apply([x.clone() for x in grads], 1.0) for grads in steps]
        # by hand, one tensor at a time
        p = [x.clone() for x in init]
        m = [torch.zeros_like(x) for x in init]
        v = [torch.zeros_like(x) for x in init]
        b1, b2, eps, wd = 0.9, 0.999, 1e-8, 0.01
        for k, grads in enumerate(steps):
            norm = math.sqrt(sum(float(x.double().pow(2).sum()) for x in grads))
            coef = min(1.0, 2.0 / (norm + 1e-6))
            lr = learning_rate(k, s["schedule"])
            self.assertEqual(outs[k]["gradNorm"], norm)
            for i, x in enumerate(grads):
                g64 = ((x.double() * coef).float() if coef < 1 else x).double()
                m[i] = (b1 * m[i].double() + (1 - b1) * g64).float()
                v[i] = (b2 * v[i].double() + (1 - b2) * g64 * g64).float()
                shrink = 1 - lr * wd if x.dim() >= 2 else 1.0
                p[i] = (p[i].double() * shrink - (lr * (m[i].double() / (1 - b1 ** (k + 1)))) / ((v[i].double() / (1 - b2 ** (k + 1))).sqrt() + eps)).float()
        for got, want in zip(params, p):
            self.assertTrue(torch.equal(got.detach(), want))

    def test_a_step_after_the_first_allocates_nothing_beyond_its_norms(self) -> None:
        """The update writes into scratch the trainer keeps: a step that allocated its float64 temporaries (8
        bytes per trained element and op) paid for them on every step, in allocation and page faults. The
        norms (NaN guard, clipping) keep their per-tensor float64 sums, which make gradNorm exact."""
        from torch.profiler import ProfilerActivity, profile

        def allocated(f: Any) -> int:
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                f()
            return sum(e.self_cpu_memory_usage for e in prof.key_averages() if e.self_cpu_memory_usage > 0)

        g = torch.Generator().manual_seed(4)
        params = [torch.nn.Parameter(torch.randn(300, 200, generator=g)), torch.nn.Parameter(torch.randn(50, generator=g))]
        t = Trainer(["w", "b"], params, spec(gradClip=1.0))
        t.apply([torch.randn(300, 200, generator=g), torch.randn(50, generator=g)], 1.0)
        grads = [torch.randn(300, 200, generator=g) * 10, torch.randn(50, generator=g)]  # norm ≫ 1: the clipped path too
        norms = allocated(lambda: train.squared_norms(grads))
        outs: List[Dict[str, Any]] = []
        step = allocated(lambda: outs.append(t.apply(grads, 1.0)))
        self.assertLess(outs[0]["clipCoef"], 1.0)
        # one float64 temporary of the 60,050 trained elements would be 480,400 bytes; allow a few scalars
        self.assertLessEqual(step, norms + 1024)

    def test_restore_continues_exactly(self) -> None:
        def run(steps: int, restore_at: int) -> torch.Tensor:
            w = torch.nn.Parameter(torch.linspace(-1, 1, 6).view(2, 3))
            t = Trainer(["w"], [w], spec(schedule={"peak": 0.05, "warmupSteps": 1, "totalSteps": 4, "shape": "cosine", "minLrRatio": 0}))
            for s in range(steps):
                if s == restore_at:
                    snap = t.snapshot()
                    w2 = torch.nn.Parameter(torch.zeros(2, 3))
                    t = Trainer(["w"], [w2], t.spec)
                    t.restore(snap)
                    w = w2
                t.apply([(w.detach() * (s + 1)).sin()], 0.0)
            return w.detach()

        self.assertTrue(torch.equal(run(4, -1), run(4, 2)))


class StreamTest(unittest.TestCase):
    def test_fnv1a_matches_the_engine(self) -> None:
        # FNV-1a 32 of "a" is 0xe40c292c (the published test vector); the engine hashes UTF-16 code units
        self.assertEqual(fnv1a32("a"), 0xE40C292C)

    def test_streams_are_reproducible_distinct_and_resumable(self) -> None:
        a, b, c = make_generator(7, "train"), make_generator(7, "train"), make_generator(7, "lora")
        self.assertTrue(torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b)))
        self.assertFalse(torch.equal(torch.rand(4, generator=make_generator(7, "train")), torch.rand(4, generator=c)))
        saved = generator_state(a)
        want = torch.rand(3, generator=a)
        restore_generator(b, saved)
        self.assertTrue(torch.equal(torch.rand(3, generator=b), want))


if __name__ == "__main__":
    unittest.main()
