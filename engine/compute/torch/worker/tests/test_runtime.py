"""hello's description of the runtime (bbio_worker/runtime.py): it matches the protocol's helloResult, and
names the OpenBLAS kernel that OPENBLAS_CORETYPE asks for (read in a fresh interpreter, since OpenBLAS
reads the variable once, when it loads)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

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


if __name__ == "__main__":
    unittest.main()
