"""LoRA hooks against merged weights W + (alpha/r)·B·A, and the PEFT folder round trip."""
from __future__ import annotations

import json
import shutil
import tempfile
import unittest
from pathlib import Path

import torch

from bbio_worker.lora import LoraSpec, active_adapters, create_adapter, load_adapters, save_adapters
from tests.test_model import random_model, tiny


class LoraTest(unittest.TestCase):
    def setUp(self) -> None:
        self.model = random_model(tiny())
        spec = LoraSpec(rank=2, alpha=6.0, dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"])
        self.adapters = [create_adapter(self.model, n, spec, seed) for seed, n in enumerate(["default", "knowledge"])]
        gen = torch.Generator().manual_seed(5)
        with torch.no_grad():  # B starts at 0: give it values so the delta shows
            for a in self.adapters:
                for _, b in a.modules.values():
                    b.copy_(torch.randn(b.shape, generator=gen))
        self.ids = torch.tensor([[1, 5, 3, 9, 2, 7]])
        self.dir = Path(tempfile.mkdtemp(prefix="bbio-lora-"))
        self.addCleanup(shutil.rmtree, self.dir)

    def test_hooks_equal_merged_weights(self) -> None:
        with torch.no_grad():
            with active_adapters(self.model, self.adapters):
                hooked = self.model(self.ids)
            plain = self.model(self.ids)
            for a in self.adapters:
                for path, (A, B) in a.modules.items():
                    self.model.get_submodule(path).weight.add_(B @ A * (6.0 / 2))  # W + (alpha/r)·B·A with alpha 6, r 2
            merged = self.model(self.ids)
        self.assertGreater(float((hooked - plain).abs().max()), 1e-3)  # the adapters do something
        self.assertLess(float((hooked - merged).abs().max()), 1e-4)

    def test_peft_folder_round_trip(self) -> None:
        save_adapters(self.adapters, self.dir, "base", "sft")
        self.assertEqual(json.loads((self.dir / "adapters.json").read_text())["adapters"], ["default", "knowledge"])
        self.assertTrue((self.dir / "knowledge" / "adapter_model.safetensors").exists())
        self.assertEqual(json.loads((self.dir / "adapter_config.json").read_text())["r"], 2)
        again = load_adapters(self.model, self.dir)
        with torch.no_grad():
            with active_adapters(self.model, self.adapters):
                want = self.model(self.ids)
            with active_adapters(self.model, again):
                got = self.model(self.ids)
        self.assertTrue(torch.equal(got, want))


if __name__ == "__main__":
    unittest.main()
