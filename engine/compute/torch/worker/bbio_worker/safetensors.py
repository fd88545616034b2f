"""safetensors I/O with torch alone (format: https://github.com/huggingface/safetensors — an 8-byte
little-endian header length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]},
__metadata__?: {...}}`, then the raw little-endian tensor bytes). Reads F32, F16 and BF16, and sharded
checkpoints through model.safetensors.index.json; writes F32 with names sorted and the data 8-byte aligned,
as engine/model/safetensors.ts does, so files written by either backend are byte-identical.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
import struct
import tempfile
from pathlib import Path
from typing import Dict, Mapping, Optional

import torch

from .errors import WorkerError

_DTYPES: Dict[str, torch.dtype] = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
_SIZES: Dict[str, int] = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def read_safetensors(file: Path) -> Dict[str, torch.Tensor]:
    """Every tensor of one file, in its stored dtype (the caller casts)."""
    try:
        buf = bytearray(Path(file).read_bytes())
    except OSError as e:
        raise WorkerError("E_CHECKPOINT", f"cannot read {file}: {e.strerror}") from e
    if len(buf) < 8:
        raise WorkerError("E_CHECKPOINT", f"{file}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", bytes(buf[:8]))
    if header_len > len(buf) - 8:
        raise WorkerError("E_CHECKPOINT", f"{file}: header length {header_len} exceeds file size")
    try:
        header = json.loads(bytes(buf[8 : 8 + header_len]).decode("utf-8"))
    except ValueError as e:
        raise WorkerError("E_CHECKPOINT", f"{file}: header is not JSON ({e})") from e
    start = 8 + header_len
    out: Dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = entry["dtype"]
        if dtype not in _DTYPES:
            raise WorkerError("E_CHECKPOINT", f"{file}: tensor \"{name}\" has dtype {dtype}; supported: F32, F16, BF16, F64")
        begin, end = entry["data_offsets"]
        shape = list(entry["shape"])
        count = 1
        for d in shape:
            count *= d
        if begin > end or start + end > len(buf) or end - begin != count * _SIZES[dtype]:
            raise WorkerError("E_CHECKPOINT", f"{file}: tensor \"{name}\" lies outside the file or has the wrong size")
        # frombuffer shares memory with `buf`; clone so each tensor owns aligned storage.
        t = torch.frombuffer(buf, dtype=_DTYPES[dtype], count=count, offset=start + begin) if count else torch.empty(0, dtype=_DTYPES[dtype])
        out[name] = t.reshape(shape).clone()
    return out


def read_checkpoint_weights(folder: Path) -> Dict[str, torch.Tensor]:
    """model.safetensors, or the shards named by model.safetensors.index.json."""
    folder = Path(folder)
    single = folder / "model.safetensors"
    if single.exists():
        return read_safetensors(single)
    index_file = folder / "model.safetensors.index.json"
    if not index_file.exists():
        raise WorkerError("E_CHECKPOINT", f"{folder} has neither model.safetensors nor model.safetensors.index.json")
    try:
        weight_map: Dict[str, str] = json.loads(index_file.read_text("utf-8"))["weight_map"]
    except (ValueError, KeyError) as e:
        raise WorkerError("E_CHECKPOINT", f"{index_file} is not JSON with a weight_map ({e})") from e
    out: Dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        out.update(read_safetensors(folder / shard))
    for name in weight_map:
        if name not in out:
            raise WorkerError("E_CHECKPOINT", f"{index_file} maps \"{name}\" to a shard that lacks it")
    return out


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Raw little-endian bytes of a contiguous CPU tensor (a copy; no numpy needed)."""
    if sys.byteorder != "little":
        raise WorkerError("E_BACKEND", "the worker needs a little-endian machine (safetensors and the protocol are little-endian)")
    t = t.contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def serialize_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """Safetensors bytes, F32 (F64 for float64 tensors: the subspace bases of a checkpoint, kept exact for
    resume): names sorted, header padded with spaces to 8-byte alignment."""
    names = sorted(tensors)
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    blobs = []
    for name in names:
        wide = tensors[name].dtype == torch.float64
        t = tensors[name].detach().to("cpu", torch.float64 if wide else torch.float32).contiguous()
        blob = tensor_bytes(t)
        header[name] = {"dtype": "F64" if wide else "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    while (8 + len(text.encode("utf-8"))) % 8 != 0:
        text += " "
    head = text.encode("utf-8")
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def write_safetensors(file: Path, tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Atomic write (temp file in the same folder + rename), as the engine's write-file-atomic does."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(serialize_safetensors(tensors, metadata))
        os.replace(tmp, file)
    except BaseException:
        os.unlink(tmp)
        raise
