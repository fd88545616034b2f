"""The GRPO loss table against hand computations and its gradient against finite differences; scoring
against a plain forward of each (context, continuation) row."""
from __future__ import annotations

import math
import unittest
from typing import Any, Dict

import torch

from bbio_worker.grpo import group_token_logps, grpo_loss, grpo_stats, k3
from bbio_worker.scoring import score_continuations
from tests.test_model import random_model, tiny


def opts(**over: Any) -> Dict[str, Any]:
    o: Dict[str, Any] = {"lossType": "grpo", "epsLow": 0.2, "epsHigh": 0.2, "beta": 0.0, "importanceSampling": "token"}
    o.update(over)
    return o


class GrpoLossTest(unittest.TestCase):
    def setUp(self) -> None:
        # one sequence of 2 real tokens padded to 4: ratios 1.5 and 0.5, advantage +1
        self.old = torch.zeros(1, 4, dtype=torch.float64)
        self.logp = torch.tensor([[math.log(1.5), math.log(0.5), 0.3, 0.3]], dtype=torch.float64)
        self.adv = torch.tensor([1.0], dtype=torch.float64)
        self.mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)

    def loss(self, **over: Any) -> float:
        return float(grpo_loss(self.logp, self.old, self.old, self.adv, self.mask, opts(**over)))

    def test_normalisations_by_hand(self) -> None:
        # min(1.5, clip 1.2) = 1.2; min(0.5, clip 0.8) = 0.5: Σ = 1.7 over 2 tokens
        self.assertAlmostEqual(self.loss(), -0.85)
        self.assertAlmostEqual(self.loss(lossType="dapo"), -0.85)
        self.assertAlmostEqual(self.loss(lossType="dr_grpo"), -1.7 / 4)  # Σ / (B · T_max)
        self.assertAlmostEqual(self.loss(epsHigh=0.6), -(1.5 + 0.5) / 2)  # clip-higher lets 1.5 through

    def test_sequence_ratio_and_k3(self) -> None:
        # GSPO: s = exp(mean(log 1.5, log 0.5)) = √0.75 for both tokens, inside the clip
        self.assertAlmostEqual(self.loss(importanceSampling="sequence"), -math.sqrt(0.75))
        d = torch.tensor([[0.5]], dtype=torch.float64)
        self.assertAlmostEqual(float(k3(torch.zeros(1, 1, dtype=torch.float64), d)), math.exp(0.5) - 0.5 - 1)
        ref = torch.full((1, 4), 0.1, dtype=torch.float64)
        with_kl = float(grpo_loss(self.logp, self.old, ref, self.adv, self.mask, opts(beta=0.5)))
        kl = k3(self.logp, ref)[0, :2]
        self.assertAlmostEqual(with_kl, -0.85 + 0.5 * float(kl.mean()))

    def test_gradient_matches_finite_differences_for_every_option(self) -> None:
        gen = torch.Generator().manual_seed(4)
        logp = (torch.randn(3, 5, generator=gen, dtype=torch.float64) * 0.3 - 1)
        old = logp + torch.randn(3, 5, generator=gen, dtype=torch.float64) * 0.2
        ref = logp + torch.randn(3, 5, generator=gen, dtype=torch.float64) * 0.2
        adv = torch.tensor([1.0, -0.5, 0.7], dtype=torch.float64)
        mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float64)
        for loss_type in ("grpo", "dapo", "dr_grpo"):
            for sampling in ("token", "sequence"):
                o = opts(lossType=loss_type, importanceSampling=sampling, beta=0.1, epsHigh=0.28)
                x = logp.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(grpo_loss(x, old, ref, adv, mask, o), x)
                h = 1e-6
                for idx in [(0, 1), (1, 4), (2, 0)]:
                    p, m = logp.clone(), logp.clone()
                    p[idx] += h
                    m[idx] -= h
                    fd = (float(grpo_loss(p, old, ref, adv, mask, o)) - float(grpo_loss(m, old, ref, adv, mask, o))) / (2 * h)
                    self.assertAlmostEqual(float(g[idx]), fd, places=6, msg=f"{loss_type}/{sampling} at {idx}")

    def test_clip_statistics(self) -> None:
        s = grpo_stats(self.logp, self.old, self.old, self.adv, self.mask, opts())
        self.assertEqual((s["clipHigh"], s["clipLow"]), (0.5, 0.0))  # token 1 (ratio 1.5) bound by the high clip
        # k3 against π_ref = π_old: mean of e^{−log 1.5} + log 1.5 − 1 and e^{−log 0.5} + log 0.5 − 1
        self.assertAlmostEqual(s["kl"], ((1 / 1.5 + math.log(1.5) - 1) + (2 + math.log(0.5) - 1)) / 2)


class PolicyAndScoringTest(unittest.TestCase):
    def setUp(self) -> None:
        self.model = random_model(tiny())

    def test_token_logps_are_the_full_forward_log_softmax(self) -> None:
        prompt, comps = [1, 5, 3], [[2, 7], [4]]
        with torch.no_grad():
            got = group_token_logps(self.model, prompt, comps, 0.7, 4)
            for g, c in enumerate(comps):
                logits = self.model(torch.tensor([prompt + c]))[0]  # [T, V]
                for t, tok in enumerate(c):
                    want = torch.log_softmax(logits[len(prompt) - 1 + t] / 0.7, -1)[tok]
                    self.assertAlmostEqual(float(got[g, t]), float(want), places=5)
        self.assertEqual(list(got.shape), [2, 4])

    def test_shared_context_scores_equal_separate_rows(self) -> None:
        context, conts = [1, 5, 3, 9], [[2, 7, 4], [6]]
        got = score_continuations(self.model, context, conts)
        with torch.no_grad():
            for r, c in zip(got, conts):
                logp = torch.log_softmax(self.model(torch.tensor([context + c]))[0].double(), -1)  # [T, V]
                rows = [logp[len(context) - 1 + j] for j in range(len(c))]
                self.assertAlmostEqual(r["logprob"], sum(float(row[t]) for row, t in zip(rows, c)), places=5)
                self.assertEqual(r["greedy"], all(int(row.argmax()) == t for row, t in zip(rows, c)))
        # the greedy chain is greedy
        with torch.no_grad():
            chain = []
            ids = list(context)
            for _ in range(3):
                nxt = int(self.model(torch.tensor([ids]))[0, -1].argmax())
                chain.append(nxt)
                ids.append(nxt)
        self.assertTrue(score_continuations(self.model, context, [chain])[0]["greedy"])
        # no context: the first token has no prediction
        alone = score_continuations(self.model, [], [[2, 7]])[0]["logprob"]
        with torch.no_grad():
            want = float(torch.log_softmax(self.model(torch.tensor([[2, 7]]))[0, 0].double(), -1)[7])
        self.assertAlmostEqual(alone, want, places=5)


if __name__ == "__main__":
    unittest.main()
