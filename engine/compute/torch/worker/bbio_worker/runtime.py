"""What the worker's torch computes with: devices, bf16, SDPA, the BLAS library it loaded, its kernel and
threads, and the device memory it used. `hello` answers with it; `balancedbio doctor` prints it and the
benchmarks record it, because on CPU the OpenBLAS kernel and thread settings decide the speed (two
measurements of the same reference differed by 2-3x over exactly these, docs/benchmarks.md).
"""
from __future__ import annotations

import ctypes
import re
import resource
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

Json = Dict[str, Any]

# openblas_get_parallel(): how the loaded OpenBLAS build runs its threads (OpenBLAS's cblas.h). Debian ships
# one package per variant (libopenblas0-serial, -pthread, -openmp) and update-alternatives picks the one
# libblas.so.3 points at.
OPENBLAS_VARIANTS = {0: "serial", 1: "pthread", 2: "openmp"}


def _mapped_libraries() -> List[str]:
    """Paths of the shared libraries mapped into this process (Linux /proc/self/maps; empty elsewhere)."""
    try:
        text = Path("/proc/self/maps").read_text()
    except OSError:
        return []  # not Linux: the BLAS library cannot be named, and the report says so with null
    paths = {line.split()[-1] for line in text.splitlines() if ".so" in line and "/" in line}
    return sorted(paths)


def openblas_info() -> Optional[Json]:
    """The OpenBLAS that torch loaded (through libblas.so.3 on Debian, whose BLAS_INFO is "generic"): its
    file, build variant, the kernel it chose (OPENBLAS_CORETYPE, else detected from the CPU) and its threads.
    None when no OpenBLAS is mapped (an MKL build, a reference BLAS)."""
    lib = next((p for p in _mapped_libraries() if "openblas" in Path(p).name), None)
    if lib is None:
        return None
    blas = ctypes.CDLL(lib)
    try:
        blas.openblas_get_corename.restype = ctypes.c_char_p
        blas.openblas_get_config.restype = ctypes.c_char_p
        return {
            "path": lib,
            "variant": OPENBLAS_VARIANTS.get(int(blas.openblas_get_parallel()), "unknown"),
            "coretype": blas.openblas_get_corename().decode(),
            "config": blas.openblas_get_config().decode(),
            "threads": int(blas.openblas_get_num_threads()),
        }
    except AttributeError as e:  # an OpenBLAS too old to export these (before 0.2.x): name the file, say why
        return {"path": lib, "variant": "unknown", "coretype": None, "config": f"not reported ({e})", "threads": None}


# glibc mallopt parameters (malloc.h) and the values the worker sets. Every training step allocates and frees
# the same activations, gradients and optimiser temporaries, 1-40 MiB each. glibc's defaults map a block over
# its dynamic threshold afresh (mmap) and hand the top of the heap back to the kernel once 128 KiB-2x that
# threshold lies free there, so each step page-faults its working set in again: ~7,000 faults a step on the
# bench's S model, at ~20 µs a fault on this project's VMs (measured 2026-12-03), about 0.1 s a step, and
# none of it in the PyTorch reference, whose process settles into reusing its heap. Fixing the mmap
# threshold at glibc's largest (32 MiB on 64-bit, DEFAULT_MMAP_THRESHOLD_MAX) and the trim threshold at
# 1 GiB keeps freed blocks in the heap for the next step; the cost is that the worker's resident memory
# stays at its peak, which a run's worker reaches in its first steps anyway.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 1 << 30


def tune_allocator() -> bool:
    """Sets the glibc heap thresholds above; False where the C library has no mallopt (macOS, Windows) or
    refuses them."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False  # not glibc: its allocator has its own policy, and the worker runs with it
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def build_setting(name: str) -> Optional[str]:
    """One `NAME=value` of torch's build settings (torch.__config__.show()), e.g. BLAS_INFO."""
    m = re.search(rf"\b{name}=([^,\s]+)", torch.__config__.show())
    return m.group(1) if m else None


def cpu_capability() -> Optional[str]:
    """The SIMD level torch's own CPU kernels dispatch to (AVX2, AVX512): a function since torch 2.0,
    a line of torch.__config__.show() before."""
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    if get is not None:
        return str(get())
    m = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return m.group(1) if m else None


def bf16_supported() -> bool:
    """Whether model.dtype auto picks bfloat16: a CUDA device that supports it (Ampere and later)."""
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def memory_report() -> Json:
    """Peak resident memory of the worker process and, on CUDA, the device memory torch allocated now and
    at most since the previous report (the peak counter is reset after reading, so successive reports
    measure successive pieces of work)."""
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    out: Json = {"peakRssBytes": int(rss), "cudaAllocatedBytes": None, "cudaPeakBytes": None}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cudaAllocatedBytes"] = int(torch.cuda.memory_allocated())
        out["cudaPeakBytes"] = int(torch.cuda.max_memory_allocated())
        torch.cuda.reset_peak_memory_stats()
    return out


def describe_runtime() -> Json:
    """The hello fields beyond the versions (schemas/compute-protocol.schema.json helloResult)."""
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {
        "cuda": cuda,
        "cudaVersion": torch.version.cuda,
        "bf16": bf16_supported(),
        "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        "cpuCapability": cpu_capability(),
        "threads": {"intraop": torch.get_num_threads(), "interop": torch.get_num_interop_threads()},
        "blas": {"build": build_setting("BLAS_INFO"), "mkl": bool(torch.backends.mkl.is_available()), "openblas": openblas_info()},
        "memory": memory_report(),
    }
