"""hello's description of the runtime (bbio_worker/runtime.py): it matches the protocol's helloResult, and
names the OpenBLAS kernel that OPENBLAS_CORETYPE asks for (read in a fresh interpreter, since OpenBLAS
reads the variable once, when it loads)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from bbio_worker.compute import TorchWorker
from bbio_worker.protocol import Validator, schema_path

WORKER_DIR = Path(__file__).resolve().parents[1]


class RuntimeTest(unittest.TestCase):
    def test_hello_matches_the_protocol_and_reports_blas_threads_and_memory(self) -> None:
        hello = TorchWorker(protocol_id="test").hello({})
        Validator.from_file(schema_path()).check(hello, {"$ref": "#/$defs/helloResult"})
        for key in ("cudaVersion", "bf16", "cpuCapability", "threads", "blas", "memory"):
            self.assertIn(key, hello)
        self.assertGreaterEqual(hello["threads"]["intraop"], 1)
        self.assertGreater(hello["memory"]["peakRssBytes"], 0)

    def test_openblas_kernel_is_the_one_openblas_coretype_names(self) -> None:
        code = "import json; from bbio_worker.runtime import openblas_info; print(json.dumps(openblas_info()))"
        # Haswell (AVX2 + FMA) runs on every machine of this project (ENVIRONMENT.md)
        env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
        out = subprocess.run([sys.executable, "-c", code], cwd=WORKER_DIR, env=env, capture_output=True, text=True, check=True)
        info = json.loads(out.stdout)
        if info is None:
            self.skipTest("this torch does not run on OpenBLAS")
        self.assertEqual(info["coretype"], "Haswell")
        self.assertIn(info["variant"], ("serial", "pthread", "openmp"))
        self.assertIn("OpenBLAS", info["config"])


def minor_faults(pid: int) -> int:
    """Minor page faults of a process so far (field 10 of /proc/PID/stat, after the parenthesised name)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


class AllocatorTest(unittest.TestCase):
    def test_training_steps_of_the_worker_reuse_their_memory_instead_of_faulting_it_in(self) -> None:
        """The served worker (python -m bbio_worker) trains a small model; once warm, a step touches no new
        pages: it reuses what the previous step freed (runtime.tune_allocator). Without that, glibc returns
        each step's memory to the kernel and the next step faults it in again, thousands of pages a step."""
        if not Path("/proc/self/stat").exists():
            self.skipTest("needs Linux /proc")
        dims = {"vocab": 512, "d": 128, "ctx": 128, "batch": 16}
        config = {"model_type": "llama", "vocab_size": dims["vocab"], "hidden_size": dims["d"], "intermediate_size": 4 * dims["d"],
                  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": dims["ctx"],
                  "rms_norm_eps": 1e-5, "rope_theta": 10000, "tie_word_embeddings": False, "hidden_act": "silu"}
        spec = {"params": {"kind": "model"}, "decay": "all", "gradClip": 1.0, "rng": {"seed": 1, "stream": "t"},
                "schedule": {"peak": 1e-3, "warmupSteps": 0, "totalSteps": 100, "shape": "constant", "minLrRatio": 1},
                "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 0.01}}
        rows = torch.randint(0, dims["vocab"], (dims["batch"], dims["ctx"] + 1), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
        step = {"rows": {"shape": list(rows.shape), "data": base64.b64encode(rows.numpy().tobytes()).decode("ascii")}}
        worker = subprocess.Popen([sys.executable, "-m", "bbio_worker"], cwd=WORKER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ids = iter(range(1, 1000))

        def call(method: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
            assert worker.stdin is not None and worker.stdout is not None
            message = {"id": next(ids), "method": method, **({"params": params} if params is not None else {})}
            worker.stdin.write(json.dumps(message) + "\n")
            worker.stdin.flush()
            answer = json.loads(worker.stdout.readline())
            self.assertTrue(answer["ok"], answer)
            return answer["result"]

        try:
            call("init_model", {"config": config, "seed": 0, "options": {"device": "cpu", "dtype": "float32"}})
            call("start_training", spec)
            for _ in range(4):  # warm-up: the heap grows to the step's working set
                call("pretrain_step", step)
            before = minor_faults(worker.pid)
            for _ in range(4):
                call("pretrain_step", step)
            per_step = (minor_faults(worker.pid) - before) / 4
        finally:
            call("shutdown")
            worker.wait(timeout=60)
            for pipe in (worker.stdin, worker.stdout):
                if pipe is not None:
                    pipe.close()
        # Without the tuning each step faults its working set in again: 5,800-8,300 pages here (measured). With it a
        # warm step faults none, or a few hundred when Python's own object arenas (mmapped by Python itself,
        # not malloc) come and go; 1,500 keeps a clear margin on both sides.
        self.assertLess(per_step, 1500)


if __name__ == "__main__":
    unittest.main()
