"""Reading requests and writing responses of schemas/compute-protocol.schema.json.

The schema file is the single declaration of the protocol (the TypeScript types are generated from it);
this module loads it at start-up and checks every request against it with a small validator covering the
keywords that file uses (type, const, enum, required, properties, additionalProperties, items, minimum,
oneOf, anyOf, $ref into $defs). Standard library only: no jsonschema dependency.
"""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

Json = Dict[str, Any]

_TYPES: Dict[str, Callable[[Any], bool]] = {
    # bool is an int in Python: JSON Schema keeps the two apart, so exclude it from the numeric types.
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class ProtocolError(Exception):
    """A message that does not match the schema; `path` is a JSON pointer into the message."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '/'}: {problem}")
        self.path = path
        self.problem = problem


class Validator:
    """Validates JSON values against one JSON Schema document (the subset described above)."""

    def __init__(self, schema: Json) -> None:
        self.schema = schema
        self.defs: Json = schema.get("$defs", {})

    @classmethod
    def from_file(cls, path: Path) -> "Validator":
        with open(path, "r", encoding="utf-8") as f:
            return cls(json.load(f))

    def _resolve(self, node: Json) -> Json:
        ref = node.get("$ref")
        if ref is None:
            return node
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix):] not in self.defs:
            raise ProtocolError("", f"schema has an unresolvable $ref {ref!r}")
        return self._resolve(self.defs[ref[len(prefix):]])

    def check(self, value: Any, node: Optional[Json] = None, path: str = "") -> None:
        """Raises ProtocolError naming the first mismatch."""
        node = self._resolve(self.schema if node is None else node)
        if "type" in node:
            types = node["type"] if isinstance(node["type"], list) else [node["type"]]
            if not any(_TYPES[t](value) for t in types):
                raise ProtocolError(path, f"expected {' or '.join(types)}, got {type(value).__name__}")
        if "const" in node and value != node["const"]:
            raise ProtocolError(path, f"expected {node['const']!r}, got {value!r}")
        if "enum" in node and value not in node["enum"]:
            raise ProtocolError(path, f"expected one of {node['enum']}, got {value!r}")
        if "minimum" in node and _TYPES["number"](value) and value < node["minimum"]:
            raise ProtocolError(path, f"{value} is below the minimum {node['minimum']}")
        if isinstance(value, dict):
            self._check_object(value, node, path)
        if isinstance(value, list) and "items" in node:
            for i, item in enumerate(value):
                self.check(item, node["items"], f"{path}/{i}")
        if "oneOf" in node:
            self._check_alternatives(value, node["oneOf"], path, exactly_one=True)
        if "anyOf" in node:
            self._check_alternatives(value, node["anyOf"], path, exactly_one=False)

    def _check_object(self, value: Json, node: Json, path: str) -> None:
        for key in node.get("required", []):
            if key not in value:
                raise ProtocolError(path, f"missing required property {key!r}")
        props: Json = node.get("properties", {})
        for key, item in value.items():
            if key in props:
                self.check(item, props[key], f"{path}/{key}")
            elif node.get("additionalProperties") is False:
                raise ProtocolError(path, f"unknown property {key!r}")

    def _check_alternatives(self, value: Any, options: Sequence[Json], path: str, exactly_one: bool) -> None:
        # Report the alternative whose discriminator (`method` / `ok` const) matches, so the error names
        # the real problem instead of "matches none of 7 alternatives".
        problems: List[ProtocolError] = []
        matched = 0
        for option in options:
            try:
                self.check(value, option, path)
                matched += 1
            except ProtocolError as e:
                problems.append(e)
        if matched == 0:
            specific = [p for p in problems if not _is_discriminator_miss(p)]
            if len(specific) == 1:
                raise specific[0]
            raise ProtocolError(path, f"matches none of the {len(options)} message kinds")
        if exactly_one and matched > 1:
            raise ProtocolError(path, f"matches {matched} message kinds, expected exactly one")


def _is_discriminator_miss(e: ProtocolError) -> bool:
    """A mismatch on the `method` or `ok` constant: the message is simply another kind."""
    return e.path.endswith("/method") or e.path.endswith("/ok") or e.problem.startswith("missing required property 'method'") or (
        e.problem.startswith("unknown property") and e.path == ""
    )


def schema_path() -> Path:
    """schemas/compute-protocol.schema.json of the repository (or the VSIX) this package sits in."""
    # bbio_worker/ → worker/ → torch/ → compute/ → engine/ → repository root
    return Path(__file__).resolve().parents[5] / "schemas" / "compute-protocol.schema.json"


# ---------------------------------------------------------------------------------- compact arrays

def decode_ints(arr: Json) -> "tuple[List[int], List[int]]":
    """An intArray message → (shape, flat row-major values)."""
    raw = base64.b64decode(arr["data"], validate=True)
    return list(arr["shape"]), _unpack("i", raw, arr["shape"])


def decode_floats(arr: Json) -> "tuple[List[int], List[float]]":
    raw = base64.b64decode(arr["data"], validate=True)
    return list(arr["shape"]), _unpack("f", raw, arr["shape"])


def encode_ints(values: Sequence[int]) -> Json:
    """A 1-D intArray message."""
    return {"shape": [len(values)], "data": base64.b64encode(struct.pack(f"<{len(values)}i", *values)).decode("ascii")}


def encode_floats(shape: Sequence[int], values: bytes) -> Json:
    """A floatArray message from little-endian float32 bytes."""
    return {"shape": list(shape), "data": base64.b64encode(values).decode("ascii")}


def _unpack(code: str, raw: bytes, shape: Sequence[int]) -> List[Any]:
    count = 1
    for d in shape:
        count *= d
    if len(raw) != 4 * count:
        raise ProtocolError("", f"array of shape {list(shape)} needs {4 * count} bytes, got {len(raw)}")
    return list(struct.unpack(f"<{count}{code}", raw))
