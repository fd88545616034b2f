"""The request loop: one JSON request per stdin line, one JSON response per stdout line, logs on stderr.

Every request is checked against schemas/compute-protocol.schema.json before it runs; every failure
leaves as an error response with a code and the last lines of the Python traceback, never as a silent
exit. A Python that cannot import torch answers with an E_BACKEND error (id null) naming the ImportError
and exits with status 3, so the engine can say why instead of waiting.

With `--devices N` (model.devices) or `--launcher slurm` this process is rank 0 of several data-parallel
ranks, or one of the others (ranks.py): rank 0 serves the engine and hands every state-changing request to
the others; the others never read stdin or write stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, IO, List, Optional

from .errors import WorkerError
from .protocol import ProtocolError, Validator, schema_path

Json = Dict[str, Any]

# At most this many traceback lines cross the pipe: enough for the failing frame and its caller chain's
# tail, small enough to print in one error notification.
TRACEBACK_LINES = 12

# Status when torch cannot be imported (distinct from a crash, 1, and from a clean shutdown, 0).
EXIT_NO_TORCH = 3


def traceback_tail(e: BaseException) -> List[str]:
    lines = "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip().splitlines()
    return lines[-TRACEBACK_LINES:]


def error_response(request_id: Optional[int], code: str, message: str, tb: List[str]) -> Json:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message, "traceback": tb}}


def serve(stdin: IO[str], stdout: IO[str], validator: Validator, handlers: Dict[str, Callable[[Json], Json]]) -> int:
    """Answers requests until shutdown or end of input; returns the exit status."""
    request_schema = {"$ref": "#/$defs/request"}
    for line in stdin:
        if not line.strip():
            continue
        request_id: Optional[int] = None
        try:
            msg = json.loads(line)
            if isinstance(msg, dict) and isinstance(msg.get("id"), int) and not isinstance(msg.get("id"), bool):
                request_id = msg["id"]
            if isinstance(msg, dict) and isinstance(msg.get("method"), str) and msg["method"] not in handlers:
                raise ProtocolError("/method", f"unknown method {msg['method']!r} (known: {', '.join(sorted(handlers))})")
            validator.check(msg, request_schema)
            result = handlers[msg["method"]](msg.get("params", {}))
            response: Json = {"id": request_id, "ok": True, "result": result}
        except ProtocolError as e:
            response = error_response(request_id, "E_PROTOCOL", f"request does not match the protocol: {e}", [])
        except ValueError as e:  # json.JSONDecodeError, bad base64: the message says all
            response = error_response(request_id, "E_PROTOCOL", f"request is not valid: {e}", [])
        except WorkerError as e:
            response = error_response(request_id, e.code, e.message, [])
        except Exception as e:  # anything else is a bug or a torch error: report it with its traceback
            response = error_response(request_id, "E_INTERNAL", f"{type(e).__name__}: {e}", traceback_tail(e))
        stdout.write(json.dumps(response, separators=(",", ":")) + "\n")
        stdout.flush()
        if response["ok"] and msg["method"] == "shutdown":
            return 0
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bbio_worker", description="BalancedBio torch compute worker (stdio protocol).")
    parser.add_argument("--schema", type=Path, default=None, help="compute-protocol.schema.json (default: the repository's)")
    parser.add_argument("--devices", type=int, default=1, help="ranks on this machine (model.devices); rank 0 starts the others (ranks.py)")
    parser.add_argument("--launcher", choices=["local", "slurm"], default="local", help="slurm: every rank was started by srun (ranks.py)")
    # a follower of a local launch, started by rank 0 (ranks.start_local): its rank and rank 0's store port
    parser.add_argument("--follower-rank", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    validator = Validator.from_file(args.schema or schema_path())
    try:
        import torch  # noqa: F401 (only to learn whether it imports)
    except ImportError as e:
        response = error_response(None, "E_BACKEND", f"cannot import torch in {sys.executable}: {e}", traceback_tail(e))
        sys.stdout.write(json.dumps(response) + "\n")
        sys.stdout.flush()
        return EXIT_NO_TORCH
    from .compute import TorchWorker
    from .runtime import tune_allocator

    tune_allocator()  # steps reuse freed memory instead of page-faulting it in again (runtime.py)
    from . import ranks as R

    try:
        if args.follower_rank is not None:
            ranks = R.join_local(args.follower_rank, args.devices, args.store_port)
        elif args.launcher == "slurm":
            ranks = R.join_slurm(args.devices)
        elif args.devices > 1:
            base = [sys.executable, "-m", "bbio_worker", "--schema", str(args.schema or schema_path()), "--devices", str(args.devices)]
            ranks = R.start_local(args.devices, lambda r, port: [*base, "--follower-rank", str(r), "--store-port", str(port)])
        else:
            ranks = R.Ranks()
    except WorkerError as e:  # the ranks did not meet: say why on the protocol stream, as for a missing torch
        if args.follower_rank is None:
            sys.stdout.write(json.dumps(error_response(None, e.code, e.message, [])) + "\n")
            sys.stdout.flush()
        sys.stderr.write(e.message + "\n")
        return 1
    worker = TorchWorker(protocol_id=str(validator.schema.get("$id", "")), ranks=ranks)
    if ranks.rank > 0:
        return ranks.follow(worker.handlers())
    return serve(sys.stdin, sys.stdout, validator, ranks.wrap(worker.handlers(), worker.runs_everywhere))
