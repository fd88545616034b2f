"""The decoder against a reference computation written independently (per head, per position, with
explicit loops), the KV cache against the full forward, safetensors round trips, the loss."""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Any, Dict

import torch

from bbio_worker.errors import WorkerError
from bbio_worker.model import KvCache, build_model, init_weights, load_model, next_token_loss, normalize_config, rope_inv_freq, save_model
from bbio_worker.safetensors import read_checkpoint_weights, read_safetensors, write_safetensors

Config = Dict[str, Any]


def tiny(**over: Any) -> Config:
    """The shape of test/helpers/tiny-llama.ts: hundreds of parameters, a forward in milliseconds."""
    raw: Config = {"model_type": "llama", "vocab_size": 11, "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 16}
    raw.update(over)
    return normalize_config(raw)


def reference_logits(c: Config, w: Dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    """Llama forward for one row, spelled out: ids [T] → logits [T, V], in float64."""
    w = {k: v.double() for k, v in w.items()}
    H, KV, D = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd = D // H
    T = ids.shape[0]
    theta = float(c["rope_theta"])

    def norm(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt((x * x).mean() + c["rms_norm_eps"]) * g

    def rotate(v: torch.Tensor, pos: int) -> torch.Tensor:
        # pairs (i, i + hd/2) rotated by angle pos · θ^(−2i/hd)
        out = v.clone()
        for i in range(hd // 2):
            a = pos * theta ** (-2 * i / hd)
            x1, x2 = v[i], v[i + hd // 2]
            out[i] = x1 * math.cos(a) - x2 * math.sin(a)
            out[i + hd // 2] = x2 * math.cos(a) + x1 * math.sin(a)
        return out

    def lin(name: str, x: torch.Tensor) -> torch.Tensor:
        y = w[f"{name}.weight"] @ x
        return y + w[f"{name}.bias"] if f"{name}.bias" in w else y

    xs = [w["model.embed_tokens.weight"][int(t)] for t in ids]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}"
        hs = [norm(x, w[f"{p}.input_layernorm.weight"]) for x in xs]
        q = [lin(f"{p}.self_attn.q_proj", h).view(H, hd) for h in hs]
        k = [lin(f"{p}.self_attn.k_proj", h).view(KV, hd) for h in hs]
        v = [lin(f"{p}.self_attn.v_proj", h).view(KV, hd) for h in hs]
        new = []
        for t in range(T):
            heads = []
            for h in range(H):
                g = h // (H // KV)
                qt = rotate(q[t][h], t)
                scores = torch.stack([qt @ rotate(k[s][g], s) / math.sqrt(hd) for s in range(t + 1)])
                probs = torch.softmax(scores, 0)
                heads.append(sum(probs[s] * v[s][g] for s in range(t + 1)))
            x = xs[t] + lin(f"{p}.self_attn.o_proj", torch.cat(heads))
            h2 = norm(x, w[f"{p}.post_attention_layernorm.weight"])
            gate, up = lin(f"{p}.mlp.gate_proj", h2), lin(f"{p}.mlp.up_proj", h2)
            new.append(x + lin(f"{p}.mlp.down_proj", gate * torch.sigmoid(gate) * up))
        xs = new
    head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
    return torch.stack([head @ norm(x, w["model.norm.weight"]) for x in xs])


def random_model(c: Config, seed: int = 0) -> Any:
    model = build_model(c, None)
    init_weights(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # norms and biases away from 1 and 0, so a mix-up of them shows
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)
            else:
                p.mul_(10)
    return model


class ForwardTest(unittest.TestCase):
    def check_against_reference(self, c: Config) -> None:
        model = random_model(c)
        ids = torch.tensor([[1, 5, 3, 9, 2, 7], [4, 4, 0, 10, 6, 1]])  # [B, T]
        with torch.no_grad():
            got = model(ids)  # [B, T, V]
        weights = {k: v.detach() for k, v in model.hf_state_dict().items()}
        for b in range(ids.shape[0]):
            want = reference_logits(c, weights, ids[b])
            self.assertLess(float((got[b].double() - want).abs().max()), 1e-5)

    def test_llama_with_gqa_matches_the_reference(self) -> None:
        self.check_against_reference(tiny())

    def test_without_gqa_the_heads_are_read_as_they_are(self) -> None:
        """One kv head per query head: the same logits as the reference, and a training step (forward and
        backward) that copies no head through repeat_interleave (a few ms a layer on the bench's S model)."""
        from torch.profiler import ProfilerActivity, profile

        c = tiny(num_key_value_heads=4)
        self.check_against_reference(c)
        model = random_model(c)
        ids = torch.tensor([[1, 5, 3, 9, 2, 7]])  # [1, T]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(ids).sum().backward()
        ops = {e.key for e in prof.key_averages()}
        self.assertIn("aten::mm", ops)  # the profile saw the step
        self.assertNotIn("aten::repeat_interleave", ops)

    def test_qwen2_biases_and_tied_embeddings_match_the_reference(self) -> None:
        c = tiny(model_type="qwen2", tie_word_embeddings=True)
        self.assertIn("model.layers.0.self_attn.q_proj.bias", build_model(c, None).hf_state_dict())
        self.check_against_reference(c)

    def test_kv_cache_decoding_gives_the_full_forward_logits(self) -> None:
        model = random_model(tiny())
        ids = torch.tensor([[1, 5, 3, 9, 2, 7]])
        with torch.no_grad():
            full = model(ids)  # [1, 6, V]
            cache = KvCache()
            parts = [model(ids[:, :3], cache)] + [model(ids[:, t : t + 1], cache) for t in range(3, 6)]
        self.assertEqual(cache.length, 6)
        self.assertLess(float((torch.cat(parts, dim=1) - full).abs().max()), 1e-5)

    def test_context_overflow_is_an_error(self) -> None:
        with self.assertRaises(WorkerError):
            random_model(tiny())(torch.zeros(1, 17, dtype=torch.long))


class RopeScalingTest(unittest.TestCase):
    def test_linear_divides_every_frequency(self) -> None:
        base = rope_inv_freq(tiny())
        scaled = rope_inv_freq(tiny(rope_scaling={"rope_type": "linear", "factor": 4.0}))
        self.assertTrue(torch.allclose(scaled, base / 4))

    def test_llama3_keeps_high_and_divides_low_frequencies(self) -> None:
        c = tiny(hidden_size=64, num_attention_heads=1, num_key_value_heads=1, rope_theta=500000.0,
                 rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 8192})
        base, scaled = rope_inv_freq(normalize_config({**c, "rope_scaling": None})), rope_inv_freq(c)
        wavelen = 2 * math.pi / base
        high = wavelen < 8192 / 4  # short wavelengths: untouched
        low = wavelen > 8192 / 1  # long wavelengths: divided by the factor
        self.assertTrue(high.any() and low.any())
        self.assertTrue(torch.equal(scaled[high], base[high]))
        self.assertTrue(torch.allclose(scaled[low], base[low] / 8))
        mid = ~high & ~low
        self.assertTrue(((scaled[mid] <= base[mid]) & (scaled[mid] >= base[mid] / 8)).all())

    def test_unknown_scaling_is_refused_at_load(self) -> None:
        with self.assertRaises(WorkerError):
            tiny(rope_scaling={"rope_type": "yarn", "factor": 2.0})


class CheckpointTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bbio-worker-"))
        self.addCleanup(shutil.rmtree, self.dir)

    def test_save_and_load_round_trip(self) -> None:
        model = random_model(tiny(tie_word_embeddings=True))
        save_model(model, self.dir)
        self.assertNotIn("lm_head.weight", read_safetensors(self.dir / "model.safetensors"))
        again = load_model(self.dir)
        ids = torch.tensor([[1, 2, 3]])
        with torch.no_grad():
            self.assertTrue(torch.equal(model(ids), again(ids)))

    def test_reads_f16_bf16_and_sharded_checkpoints(self) -> None:
        x = torch.tensor([[1.5, -2.25], [0.0, 3.0]])
        for dtype in (torch.float16, torch.bfloat16):
            t = x.to(dtype)
            raw = json.dumps({"t": {"dtype": "F16" if dtype == torch.float16 else "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
            blob = bytes(t.contiguous().view(torch.uint8).flatten().tolist())
            f = self.dir / f"{dtype}.safetensors"
            f.write_bytes(len(raw).to_bytes(8, "little") + raw + blob)
            self.assertTrue(torch.equal(read_safetensors(f)["t"].float(), x))
        write_safetensors(self.dir / "a.safetensors", {"a": x})
        write_safetensors(self.dir / "b.safetensors", {"b": x * 2})
        (self.dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "a.safetensors", "b": "b.safetensors"}}))
        got = read_checkpoint_weights(self.dir)
        self.assertTrue(torch.equal(got["b"], x * 2))

    def test_a_missing_tensor_names_itself(self) -> None:
        save_model(random_model(tiny()), self.dir)
        write_safetensors(self.dir / "model.safetensors", {"model.embed_tokens.weight": torch.zeros(11, 8)})
        with self.assertRaises(WorkerError) as ctx:
            load_model(self.dir)
        self.assertIn("model.layers.0", ctx.exception.message)


class LossTest(unittest.TestCase):
    def test_weighted_cross_entropy(self) -> None:
        logits = torch.tensor([[[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]])  # [1, 2, 3]
        targets = torch.tensor([[2, 0]])
        weights = torch.tensor([[0.25, 0.75]])
        want = 0.25 * (math.log(1 + math.e + math.e**2) - 2) + 0.75 * math.log(3)
        self.assertAlmostEqual(float(next_token_loss(logits, targets, weights)), want, places=6)


if __name__ == "__main__":
    unittest.main()
