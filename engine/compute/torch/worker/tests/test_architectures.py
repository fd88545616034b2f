"""Qwen3, Mistral and Gemma 2/3 in the worker's decoder: the KV cache under sliding windows and
soft-capping against the full forward, and Gemma's identity norms at init. Their logits against an
independent reference are checked from TypeScript (test/unit/model/architectures.test.ts), with tfjs."""
from __future__ import annotations

import unittest
from typing import Any, Dict

import torch

from bbio_worker.model import KvCache, build_model, init_weights, normalize_config

Config = Dict[str, Any]
BASE: Config = {"vocab_size": 13, "hidden_size": 8, "intermediate_size": 12, "num_attention_heads": 4, "num_key_value_heads": 2,
                "max_position_embeddings": 16, "num_hidden_layers": 3}
VARIANTS: Dict[str, Config] = {
    "mistral": {"model_type": "mistral", "sliding_window": 3},
    "gemma2": {"model_type": "gemma2", "head_dim": 4, "query_pre_attn_scalar": 5, "sliding_window": 3,
               "attn_logit_softcapping": 1.5, "final_logit_softcapping": 2.5},
    "gemma3_text": {"model_type": "gemma3_text", "head_dim": 4, "sliding_window": 3, "sliding_window_pattern": 3, "rope_local_base_freq": 10.0},
    "qwen3": {"model_type": "qwen3", "head_dim": 6},
}


class ArchitectureTest(unittest.TestCase):
    def test_kv_cache_decoding_gives_the_full_forward_logits(self) -> None:
        ids = torch.tensor([[3, 1, 12, 7, 7, 0, 9, 4]])  # [1, 8]: longer than the windows
        for name, over in VARIANTS.items():
            with self.subTest(name):
                model = build_model(normalize_config({**BASE, **over}), None)
                init_weights(model, 5)
                with torch.no_grad():
                    for p in model.parameters():  # away from the identity norms and small weights
                        p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.3)
                    full = model(ids)  # [1, 8, V]
                    cache = KvCache()
                    parts = [model(ids[:, :2], cache)] + [model(ids[:, t : t + 1], cache) for t in range(2, 8)]
                self.assertLess(float((torch.cat(parts, dim=1) - full).abs().max()), 1e-5)

    def test_gemma_norms_start_as_the_identity(self) -> None:
        model = build_model(normalize_config({**BASE, **VARIANTS["gemma3_text"]}), None)
        init_weights(model, 0)
        norms = {n: p for n, p in model.named_parameters() if n.endswith("norm.weight")}
        self.assertIn("model.layers.0.self_attn.q_norm.weight", norms)
        self.assertIn("model.layers.0.post_feedforward_layernorm.weight", norms)
        self.assertTrue(all(bool((p == 0).all()) for p in norms.values()))


if __name__ == "__main__":
    unittest.main()
