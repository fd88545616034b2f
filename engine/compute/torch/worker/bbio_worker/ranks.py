"""Data parallelism over torch.distributed ranks (`model.devices` > 1; DESIGN.md "Multi-GPU = torch.distributed ranks").

The engine talks to ONE worker, rank 0, over stdio. Every other rank is a follower that runs the same handlers
on the same requests, which rank 0 broadcasts to it before running them itself:
- each training request splits every batch by rows (rank r takes rows r, r+N, r+2N, … of the global batch,
  `Ranks.share`), computes its part of the loss and gradient, and all-reduces the sums (`Ranks.sum`). The
  losses are weighted sums whose weights the engine normalised over the GLOBAL batch (weights = mask / Σmask,
  pretraining's 1/(B·T), GRPO's 1/B or 1/Σmask), so Σ_ranks of the partial losses and gradients IS the
  single-rank loss and gradient of the global batch, whatever N and however unevenly the rows fall;
- projection, clipping and AdamW then run on every rank from the same reduced gradient with the same random
  stream, so the parameters stay bit-identical across ranks (tests/test_ranks.py checks it) and no broadcast
  of parameters is needed;
- requests that only read (hello, logits, loss, log-probs, scoring, saving files) run on rank 0 alone;
  generation runs on rank 0 alone unless it draws from the training stream (every rank must draw the same
  numbers to keep that stream in step), and is never split across ranks.
Two launches:
- local (`--devices N`): rank 0 starts the N−1 followers itself as child processes; each reads its stdin,
  a pipe from rank 0 it never writes to, and exits when that pipe closes, so a follower never outlives rank 0
  (even a SIGKILLed one); rank 0 prefixes their stderr lines with `[rank r]` onto its own stderr;
- Slurm (`--launcher slurm`, under `srun`): every rank is a task of one srun step; SLURM_PROCID is the rank,
  SLURM_NTASKS the world, SLURM_LOCALID the device index on the node; MASTER_ADDR (the job's first node) and
  MASTER_PORT come from the batch script (engine/slurm/script.ts). srun's `--input=0` gives rank 0 the
  engine's stdin; `--kill-on-bad-exit` ends every rank when one dies.
Rank 0 hosts the rendezvous (a TCPStore); gloo carries the requests and, on the CPU, the gradients; NCCL
carries the gradients on CUDA. A rank that dies breaks the next collective at once (a closed connection) and
the request answers E_BACKEND naming the rank and its last stderr lines.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

import torch
import torch.distributed as dist

from .errors import WorkerError

Json = Dict[str, Any]
Handler = Callable[[Json], Json]

# A gradient all-reduce waits at most this long for the slowest rank. The ranks run the same work, so they
# arrive within a step's jitter of each other; a dead rank is noticed at once (closed connection), so this
# only bounds a rank that hangs (a stuck CUDA kernel). Below the engine's 30-minute request timeout
# (torch/compute.ts TIMEOUT_MS), so the worker's error, which names the rank, arrives first.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)
# A follower waits for the next request as long as the engine keeps the worker (an idle editor session).
# A dead rank 0 closes the connection at once; this only ends a follower whose rank 0 vanished without
# closing it (a lost node). Seven days in milliseconds (6.0e8) fits gloo's 32-bit timeouts.
CONTROL_TIMEOUT = timedelta(days=7)
# Start-up: every rank imports torch (tens of seconds on a loaded 2-core machine) and meets at the store;
# below the engine's two-minute hello timeout (torch/compute.ts HELLO_TIMEOUT_MS).
STARTUP_TIMEOUT = timedelta(seconds=100)
# stderr lines of each follower kept for an error message (worker-process.ts keeps 20 of rank 0's)
STDERR_LINES = 12
# How long rank 0 waits for a follower whose connection broke to finish exiting, to report its status.
EXIT_WAIT_S = 5.0


class Follower:
    """A follower process rank 0 started (local launch) and the tail of its output."""

    def __init__(self, rank: int, proc: "subprocess.Popen[bytes]") -> None:
        self.rank = rank
        self.proc = proc
        self.tail: Deque[str] = deque(maxlen=STDERR_LINES)
        self.reader = threading.Thread(target=self._read, name=f"rank-{rank}-stderr", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.tail.append(line)
            sys.stderr.write(f"[rank {self.rank}] {line}\n")
            sys.stderr.flush()

    def describe(self) -> str:
        """`rank r exited with status s` (or `… is still running`) and its last stderr lines."""
        try:
            code: Optional[int] = self.proc.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        self.reader.join(timeout=EXIT_WAIT_S)
        how = "is still running" if code is None else f"exited with status {code}" if code >= 0 else f"was killed by signal {-code}"
        lines = "\n".join(self.tail) or "(no output)"
        return f"rank {self.rank} {how}; its last stderr lines:\n{lines}"


@dataclass
class Ranks:
    """This process's place among the ranks; world 1 (no torch.distributed at all) when model.devices is 1."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    # gloo groups: `control` (long timeout) carries requests and per-request status; gradients travel on the
    # default group (gloo) on the CPU and on `nccl` once the model sits on a CUDA device
    control: Optional[Any] = None
    nccl: Optional[Any] = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    followers: List[Follower] = field(default_factory=list)
    # set once a collective failed: the group is unusable and every later request answers this error
    broken: Optional[WorkerError] = None
    # who started the ranks: "local" (rank 0, or one rank) or "slurm" (srun)
    launcher: str = "local"

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, n: int) -> List[int]:
        """This rank's rows of a batch of n: r, r+N, r+2N, … (empty when n ≤ r)."""
        return list(range(self.rank, n, self.world))

    def use_device(self, device: torch.device) -> None:
        """Where the model lives: on CUDA the gradients are reduced over NCCL, on the CPU over gloo. Collective:
        every rank calls it from the same request (init_model / load_model)."""
        self.device = device
        if self.distributed and device.type == "cuda" and self.nccl is None:
            self.nccl = dist.new_group(backend="nccl", timeout=COLLECTIVE_TIMEOUT)

    def sum(self, tensors: Sequence[torch.Tensor], dtype: torch.dtype = torch.float32) -> List[torch.Tensor]:
        """Σ over ranks of each tensor (in `dtype`), in one all-reduce of one flat buffer; identity on one rank."""
        if not self.distributed:
            return list(tensors)
        flat = torch.cat([t.detach().to(self.device, dtype).reshape(-1) for t in tensors])  # [Σ numel]
        self._collective(lambda: dist.all_reduce(flat, group=self.nccl if self.device.type == "cuda" else None))
        out: List[torch.Tensor] = []
        at = 0
        for t in tensors:
            out.append(flat[at : at + t.numel()].view(t.shape).to(t.device))
            at += t.numel()
        return out

    def sum_floats(self, values: Sequence[float]) -> List[float]:
        """Σ over ranks of each number (losses, statistics' numerators)."""
        if not self.distributed:
            return list(values)
        return [float(x) for x in self.sum([torch.tensor(list(values), dtype=torch.float64)], dtype=torch.float64)[0]]

    # ------------------------------------------------------------------------------------ requests

    def _collective(self, op: Callable[[], Any]) -> Any:
        if self.broken is not None:
            raise self.broken
        try:
            return op()
        except RuntimeError as e:  # gloo / NCCL: a peer closed its connection or timed out
            self.broken = WorkerError("E_BACKEND", self._failure(f"a collective between the {self.world} ranks failed ({str(e).splitlines()[0]})"))
            raise self.broken from e

    def _failure(self, what: str) -> str:
        dead = [f.describe() for f in self.followers if f.proc.poll() is not None] or [f.describe() for f in self.followers]
        where = "\n".join(dead) if dead else "the other ranks' stderr lines are in this worker's stderr (srun merges them)"
        return f"{what}\n{where}"

    def broadcast(self, msg: Optional[Json]) -> Optional[Json]:
        """Rank 0 sends `msg` (None: stop) to every follower; a follower receives it."""
        box = [msg]
        self._collective(lambda: dist.broadcast_object_list(box, src=0, group=self.control))
        return box[0]

    def statuses(self, error: Optional[str]) -> List[Optional[str]]:
        """Every rank's outcome of the request just run (None: success), gathered at every rank."""
        out: List[Optional[str]] = [None] * self.world
        self._collective(lambda: dist.all_gather_object(out, error, group=self.control))
        return out

    def wrap(self, handlers: Dict[str, Handler], everywhere: Callable[[str, Json], bool]) -> Dict[str, Handler]:
        """Rank 0's handlers: a request that changes state (`everywhere`) is broadcast, run on every rank, and
        fails when any rank failed; the others run here alone."""
        if not self.distributed:
            return handlers

        def run_everywhere(method: str, handler: Handler) -> Handler:
            def run(params: Json) -> Json:
                if not everywhere(method, params):
                    return handler(params)
                self.broadcast({"method": method, "params": params})
                result: Optional[Json] = None
                error: Optional[BaseException] = None
                try:
                    result = handler(params)
                except Exception as e:  # reported below, after every rank has said how it went
                    error = e
                failed = self.statuses(None if error is None else f"{type(error).__name__}: {error}")
                if error is not None:
                    raise error
                for r, problem in enumerate(failed):
                    if problem is not None:
                        # rank 0 went on and that rank did not: their states differ from here on, so the group
                        # takes no more requests
                        self.broken = WorkerError("E_BACKEND", f"rank {r} of {self.world} failed {method} where rank 0 did not: {problem}")
                        raise self.broken
                if method == "shutdown":
                    self.close()
                assert result is not None
                return result
            return run

        return {m: run_everywhere(m, h) for m, h in handlers.items()}

    def follow(self, handlers: Dict[str, Handler]) -> int:
        """A follower's loop: run what rank 0 broadcasts until shutdown; its exit status."""
        while True:
            msg = self.broadcast(None)
            if msg is None:
                return 0
            error: Optional[str] = None
            try:
                handlers[msg["method"]](msg["params"])
            except WorkerError as e:
                error = f"{e.code}: {e.message}"
            except Exception as e:  # reported to rank 0, which answers the engine with it
                error = f"{type(e).__name__}: {e}"
                sys.stderr.write(f"rank {self.rank}: {msg['method']} failed: {error}\n")
            self.statuses(error)
            if msg["method"] == "shutdown":
                dist.destroy_process_group()
                return 0

    def close(self) -> None:
        """Rank 0 at shutdown: the followers have answered their last request and exit; wait for them."""
        for f in self.followers:
            try:
                f.proc.wait(timeout=EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                f.proc.kill()  # a follower that does not leave after shutdown is ended: never orphaned
                f.proc.wait()
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------- start-up


def _threads(local_world: int) -> None:
    """Ranks on one node share its cores: each gets its share (at least one), else N ranks × all cores
    oversubscribe (on 2 cores two torch threads per rank run slower than one, ENVIRONMENT.md)."""
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))


def _join(rank: int, world: int, local_rank: int, local_world: int, store: Any) -> Ranks:
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
    control = dist.new_group(backend="gloo", timeout=CONTROL_TIMEOUT)
    _threads(local_world)
    return Ranks(rank=rank, world=world, local_rank=local_rank, local_world=local_world, control=control)


def start_local(world: int, follower_argv: Callable[[int, int], List[str]]) -> Ranks:
    """Rank 0 of a local launch: hosts the store on 127.0.0.1 (a free port the OS picks), starts ranks 1…N−1
    with `follower_argv(rank, port)` and meets them."""
    store = dist.TCPStore("127.0.0.1", 0, world, True, timeout=STARTUP_TIMEOUT, wait_for_workers=False)
    followers: List[Follower] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for r in range(1, world):
        proc = subprocess.Popen(follower_argv(r, store.port), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        followers.append(Follower(r, proc))
    partial = Ranks(rank=0, world=world, local_world=world, followers=followers)
    try:
        ranks = _join(0, world, 0, world, store)
    except RuntimeError as e:  # a follower that could not start (no torch, a crash at import) never arrives
        for f in followers:
            f.proc.kill()
        raise WorkerError("E_BACKEND", partial._failure(f"the {world} ranks did not meet within {STARTUP_TIMEOUT.seconds} s ({str(e).splitlines()[0]})")) from e
    ranks.followers = followers
    return ranks


def _exit_with_parent() -> None:
    """A local follower's stdin is a pipe from rank 0 that rank 0 never writes: end of file means rank 0 is gone."""
    for _ in sys.stdin.buffer:
        pass
    os._exit(4)


def join_local(rank: int, world: int, port: int, *, watch_parent: bool = True) -> Ranks:
    """A rank of a local launch meeting at 127.0.0.1:port; `watch_parent`: exit when stdin (rank 0's pipe) closes."""
    if watch_parent:
        threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    store = dist.TCPStore("127.0.0.1", port, world, False, timeout=STARTUP_TIMEOUT)
    return _join(rank, world, rank, world, store)


def _int_env(name: str) -> int:
    value = os.environ.get(name, "")
    # SLURM_NTASKS_PER_NODE may read "2(x3)" on heterogeneous layouts: the leading count is this node's
    digits = value.split("(")[0]
    if not digits.isdigit():
        raise WorkerError("E_BACKEND", f"--launcher slurm needs {name} from srun (got {value!r}); start the worker through the batch script's srun line")
    return int(digits)


def join_slurm(devices: int) -> Ranks:
    """A rank started by srun: its place from Slurm's variables, the rendezvous at MASTER_ADDR:MASTER_PORT.
    `devices` (model.devices of the run) must be the tasks srun started per node: a sweep variant that overrides
    it runs under its sweep's script, whose srun line the base file's count decided."""
    rank, world = _int_env("SLURM_PROCID"), _int_env("SLURM_NTASKS")
    local_rank = _int_env("SLURM_LOCALID")
    local_world = _int_env("SLURM_NTASKS_PER_NODE") if os.environ.get("SLURM_NTASKS_PER_NODE") else world
    if local_world != devices:
        raise WorkerError("E_USAGE", f"model.devices is {devices} but srun started {local_world} rank(s) per node; the job's batch script was written for model.devices {local_world} (a sweep's script uses the base file's)")
    addr, port = os.environ.get("MASTER_ADDR", ""), _int_env("MASTER_PORT")
    if not addr:
        raise WorkerError("E_BACKEND", "--launcher slurm needs MASTER_ADDR (the batch script sets it from the job's first node)")
    if rank > 0:
        # srun --input=0 gives followers no stdin; their stdout joins rank 0's protocol stream, so point it at stderr
        os.dup2(2, 1)
    store = dist.TCPStore(addr, port, world, rank == 0, timeout=STARTUP_TIMEOUT)
    ranks = _join(rank, world, local_rank, local_world, store)
    ranks.launcher = "slurm"
    return ranks
