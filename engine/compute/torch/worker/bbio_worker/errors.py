"""The worker's one error type; its codes are the protocol's workerError.code enum."""
from __future__ import annotations


class WorkerError(Exception):
    """An error the worker reports on purpose (a bad checkpoint, a bad request): code + message, no traceback."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
