"""The schema-driven validator of bbio_worker/protocol.py (no torch needed)."""
from __future__ import annotations

import json
import unittest

from bbio_worker.protocol import ProtocolError, Validator, decode_ints, schema_path


class ValidatorTest(unittest.TestCase):
    def setUp(self) -> None:
        self.v = Validator.from_file(schema_path())
        self.request = {"$ref": "#/$defs/request"}

    def test_accepts_each_kind_of_request(self) -> None:
        ids = {"shape": [1, 2], "data": "AQAAAAIAAAA="}
        for msg in [
            {"id": 1, "method": "hello"},
            {"id": 2, "method": "load_model", "params": {"dir": "/x", "options": {"device": "cpu", "dtype": "auto"}}},
            {"id": 3, "method": "logits", "params": {"ids": ids}},
            {"id": 4, "method": "loss", "params": {"inputs": ids, "targets": ids, "weights": {"shape": [1, 2], "data": ""}}},
        ]:
            self.v.check(msg, self.request)

    def test_names_the_missing_field_of_the_matching_kind(self) -> None:
        with self.assertRaises(ProtocolError) as ctx:
            self.v.check({"id": 1, "method": "load_model", "params": {"dir": "/x"}}, self.request)
        self.assertEqual(ctx.exception.path, "/params")
        self.assertIn("'options'", ctx.exception.problem)

    def test_rejects_wrong_types_enums_and_unknown_keys(self) -> None:
        bad = [
            {"id": "1", "method": "hello"},  # id must be an integer
            {"id": True, "method": "hello"},  # a bool is not an integer in JSON Schema
            {"id": 0, "method": "hello"},  # ids start at 1
            {"id": 1, "method": "hello", "extra": 1},
            {"id": 1, "method": "load_model", "params": {"dir": "/x", "options": {"device": "cpu", "dtype": "float16"}}},
        ]
        for msg in bad:
            with self.assertRaises(ProtocolError, msg=json.dumps(msg)):
                self.v.check(msg, self.request)

    def test_responses_of_both_kinds_validate(self) -> None:
        self.v.check({"id": 1, "ok": True, "result": {"loss": 1.5}}, {"$ref": "#/$defs/response"})
        self.v.check({"id": None, "ok": False, "error": {"code": "E_BACKEND", "message": "m", "traceback": []}}, {"$ref": "#/$defs/response"})
        with self.assertRaises(ProtocolError):
            self.v.check({"id": 1, "ok": False, "error": {"code": "E_NOPE", "message": "m", "traceback": []}}, {"$ref": "#/$defs/response"})

    def test_int_arrays_round_trip_and_check_their_size(self) -> None:
        self.assertEqual(decode_ints({"shape": [1, 2], "data": "AQAAAAIAAAA="}), ([1, 2], [1, 2]))
        with self.assertRaises(ProtocolError):
            decode_ints({"shape": [1, 3], "data": "AQAAAAIAAAA="})


if __name__ == "__main__":
    unittest.main()
