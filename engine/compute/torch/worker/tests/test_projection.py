"""The projections against hand-computed cases, and the O-LoRA gradient against finite differences."""
from __future__ import annotations

import unittest

import torch

from bbio_worker.projection import SubspaceProjector, combine, olora_penalty, orthonormalize, pcgrad, truncated_basis


def vec(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float32)


class PcgradTest(unittest.TestCase):
    def test_conflicting_pair_by_hand(self) -> None:
        g1, g2 = [vec(1, 0)], [vec(-1, 1)]
        p1, p2 = pcgrad([g1, g2], torch.Generator().manual_seed(0))
        # g1·g2 = −1: g1 − (−1/‖g2‖²) g2 = (0.5, 0.5); g2 − (−1/‖g1‖²) g1 = (0, 1)
        self.assertEqual(p1[0].tolist(), [0.5, 0.5])
        self.assertEqual(p2[0].tolist(), [0.0, 1.0])

    def test_agreeing_gradients_are_untouched(self) -> None:
        g = [[vec(1, 2)], [vec(2, 1)]]
        self.assertEqual([p[0].tolist() for p in pcgrad(g, torch.Generator().manual_seed(0))], [[1.0, 2.0], [2.0, 1.0]])

    def test_scope_decides_which_dot_products_count(self) -> None:
        # matrix 0 conflicts (−1), matrix 1 agrees (+4): globally the dot is +3 and nothing is projected
        a, b = [vec(1, 0), vec(2, 0)], [vec(-1, 0), vec(2, 0)]
        w = [1.0, 1.0]
        glob, _, report = combine([a, b], w, "pcgrad", "global", torch.Generator().manual_seed(0), None)
        per, _, _ = combine([a, b], w, "pcgrad", "per_matrix", torch.Generator().manual_seed(0), None)
        self.assertEqual([m.tolist() for m in glob], [[0.0, 0.0], [4.0, 0.0]])
        # per matrix: matrix 0 is (1,0) vs (−1,0), exactly opposite: both project to 0
        self.assertEqual([m.tolist() for m in per], [[0.0, 0.0], [4.0, 0.0]])
        c, d = [vec(1, 0), vec(2, 0)], [vec(-1, 1), vec(2, 0)]
        glob, _, _ = combine([c, d], w, "pcgrad", "global", torch.Generator().manual_seed(0), None)
        per, _, _ = combine([c, d], w, "pcgrad", "per_matrix", torch.Generator().manual_seed(0), None)
        self.assertEqual(glob[0].tolist(), [0.0, 1.0])  # global dot +3: unprojected sum
        self.assertEqual(per[0].tolist(), [0.5, 1.5])  # (0.5, 0.5) + (0, 1)
        self.assertEqual(report["pairs"][0]["conflict"], False)
        self.assertAlmostEqual(report["pairs"][0]["cosineRaw"], 3 / 5)


class SubspaceTest(unittest.TestCase):
    def test_energy_rule_and_max_rank(self) -> None:
        rows = [vec(3, 0, 0), vec(0, 1, 0)]  # σ = 3, 1: σ² shares 0.9 and 0.1
        self.assertEqual(len(truncated_basis(rows, 0.9, 4)), 1)
        self.assertEqual(len(truncated_basis(rows, 0.95, 4)), 2)
        self.assertEqual(len(truncated_basis(rows, 0.95, 1)), 1)
        self.assertTrue(torch.allclose(truncated_basis(rows, 0.9, 4)[0].abs(), torch.tensor([1.0, 0, 0], dtype=torch.float64)))

    def test_orthonormalize_drops_dependent_vectors(self) -> None:
        q = orthonormalize([torch.tensor([1.0, 1, 0]), torch.tensor([2.0, 2, 0]), torch.tensor([0.0, 1, 0])])
        self.assertEqual(len(q), 2)
        self.assertAlmostEqual(float(torch.dot(q[0], q[1])), 0.0, places=12)

    def test_second_step_removes_the_other_capability_span(self) -> None:
        proj = SubspaceProjector(2, 1, {"energy": 0.99, "window": 4, "refreshEvery": 10, "maxRank": 2})
        first = proj.project([[vec(2, 0, 0)], [vec(0, 0, 3)]])
        self.assertEqual(first[0][0].tolist(), [2.0, 0.0, 0.0])  # step 1 is never projected (no bases yet)
        self.assertEqual(proj.dims(), [[1], [1]])  # the refresh after step 1
        second = proj.project([[vec(1, 1, 1)], [vec(1, 1, 1)]])
        self.assertEqual(second[0][0].tolist(), [1.0, 1.0, 0.0])  # capability 0 loses e3 (capability 1's span)
        self.assertEqual(second[1][0].tolist(), [0.0, 1.0, 1.0])  # capability 1 loses e1

    def test_state_round_trips(self) -> None:
        a = SubspaceProjector(2, 1, {"energy": 0.99, "window": 2, "refreshEvery": 2, "maxRank": 2})
        a.project([[vec(2, 1, 0)], [vec(0, 1, 3)]])
        b = SubspaceProjector(2, 1, a.opts)
        b.restore(a.tensors(), a.step, [torch.Size([3])], torch.device("cpu"))
        g = [[vec(1, 2, 3)], [vec(3, 2, 1)]]
        self.assertTrue(all(torch.equal(x[0], y[0]) for x, y in zip(a.project(g), b.project(g))))


class OloraTest(unittest.TestCase):
    def test_gradient_matches_finite_differences(self) -> None:
        gen = torch.Generator().manual_seed(3)
        mats = [torch.randn(2, 5, generator=gen, dtype=torch.float64) for _ in range(3)]
        lam = 0.7

        def value(ms: "list[torch.Tensor]") -> float:
            return olora_penalty(ms, lam)[0]

        v, grads = olora_penalty(mats, lam)
        by_hand = lam * sum(float(((mats[i] @ mats[j].t()) ** 2).sum()) for i in range(3) for j in range(i + 1, 3))
        self.assertAlmostEqual(v, by_hand, places=10)
        h = 1e-6
        for i in range(3):
            for idx in [(0, 0), (1, 3)]:
                plus = [m.clone() for m in mats]
                minus = [m.clone() for m in mats]
                plus[i][idx] += h
                minus[i][idx] -= h
                fd = (value(plus) - value(minus)) / (2 * h)
                self.assertAlmostEqual(float(grads[i][idx]), fd, places=4)


if __name__ == "__main__":
    unittest.main()
