"""Decoding: greedy against argmax of full forwards, end ids, limits, top-p."""
from __future__ import annotations

import unittest

import torch

from bbio_worker.generate import generate, generate_batch, pick_token
from tests.test_model import random_model, tiny


class GenerateTest(unittest.TestCase):
    def test_greedy_equals_argmax_of_full_forwards(self) -> None:
        model = random_model(tiny())
        got = generate(model, [1, 5, 3], 6, 0.0, 1.0, [], None)
        seq = [1, 5, 3]
        with torch.no_grad():
            for _ in range(6):
                seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
        self.assertEqual(got.ids, seq[3:])
        self.assertTrue(got.truncated)

    def test_an_end_id_ends_the_completion_and_is_kept(self) -> None:
        model = random_model(tiny())
        first = generate(model, [1, 5, 3], 3, 0.0, 1.0, [], None).ids
        got = generate(model, [1, 5, 3], 3, 0.0, 1.0, [first[1]], None)
        self.assertEqual(got.ids, first[: first.index(first[1]) + 1])
        self.assertFalse(got.truncated)

    def test_the_context_limits_the_completion(self) -> None:
        got = generate(random_model(tiny()), list(range(10)) + [1] * 4, 50, 0.0, 1.0, [], None)
        self.assertEqual(len(got.ids), 2)  # 16 positions − 14 prompt tokens

    def test_top_p_keeps_only_the_nucleus(self) -> None:
        logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
        gen = torch.Generator().manual_seed(0)
        seen = {pick_token(logits, 1.0, 0.7, gen) for _ in range(200)}
        self.assertEqual(seen, {0, 1})  # 0.5 + 0.3 reaches 0.7; 2 and 3 are outside


if __name__ == "__main__":
    unittest.main()


class BatchTest(unittest.TestCase):
    def test_lockstep_batch_equals_row_by_row_greedy(self) -> None:
        model = random_model(tiny(max_position_embeddings=16))
        prompts = [[1, 5, 3], [4, 4, 0, 10, 6, 1, 8, 2], [7], [2, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]]
        one = [generate(model, p, 6, 0.0, 1.0, [], None) for p in prompts]
        ends = sorted({c.ids[2] for c in one if len(c.ids) > 2})[:1]  # an end id some row emits
        one = [generate(model, p, 6, 0.0, 1.0, ends, None) for p in prompts]
        batch = generate_batch(model, prompts, 6, 0.0, 1.0, ends, None)
        self.assertEqual([(c.ids, c.truncated) for c in batch], [(c.ids, c.truncated) for c in one])
        self.assertTrue(any(not c.truncated for c in one) and any(c.truncated for c in one))
        for b, o in zip(batch, one):
            for x, y in zip(b.logprobs, o.logprobs):
                self.assertAlmostEqual(x, y, places=5)
