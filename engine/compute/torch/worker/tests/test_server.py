"""The request loop of bbio_worker/server.py with stand-in handlers (no torch needed)."""
from __future__ import annotations

import io
import json
import unittest
from typing import Any, Dict, List

from bbio_worker.errors import WorkerError
from bbio_worker.protocol import Validator, schema_path
from bbio_worker.server import serve

Json = Dict[str, Any]


def run_lines(lines: List[str], handlers: Dict[str, Any]) -> List[Json]:
    out = io.StringIO()
    serve(io.StringIO("".join(line + "\n" for line in lines)), out, Validator.from_file(schema_path()), handlers)
    return [json.loads(line) for line in out.getvalue().splitlines()]


class ServeTest(unittest.TestCase):
    def test_answers_every_request_with_its_id_until_shutdown(self) -> None:
        def fail(_: Json) -> Json:
            raise WorkerError("E_CHECKPOINT", "bad file")

        def crash(_: Json) -> Json:
            raise ZeroDivisionError("boom")

        handlers = {"hello": lambda _: {}, "save_model": fail, "logits": crash, "shutdown": lambda _: {}}
        out = run_lines([
            '{"id":1,"method":"hello"}',
            '{"id":2,"method":"save_model","params":{"dir":"/x"}}',
            '{"id":3,"method":"logits","params":{"ids":{"shape":[0],"data":""}}}',
            '{"id":4,"method":"train"}',
            "not json",
            '{"id":5,"method":"shutdown"}',
            '{"id":6,"method":"hello"}',  # after shutdown: never read
        ], handlers)
        self.assertEqual([r["id"] for r in out], [1, 2, 3, 4, None, 5])
        self.assertEqual([r["ok"] for r in out], [True, False, False, False, False, True])
        self.assertEqual(out[1]["error"], {"code": "E_CHECKPOINT", "message": "bad file", "traceback": []})
        self.assertEqual(out[2]["error"]["code"], "E_INTERNAL")
        self.assertIn("ZeroDivisionError: boom", out[2]["error"]["traceback"][-1])
        self.assertIn("unknown method 'train'", out[3]["error"]["message"])
        validator = Validator.from_file(schema_path())
        for response in out:
            validator.check(response, {"$ref": "#/$defs/response"})


if __name__ == "__main__":
    unittest.main()
