"""How a worker words its failures: node errors without job data, and ``failed`` answers.

Shared by the one-job loop (`sandbox.worker`) and the batching loop (`sandbox.worker_batch`).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

from sandbox import confine


def node_error_detail(exc: BaseException) -> str:
    """A failure inside the worker, in words that carry no job data: the exception's type, and
    for system errors the path and the user, for imports the module and the unreadable
    ``sys.path`` entries, for anything else the innermost code location."""
    user = f"worker uid {os.geteuid()} gid {os.getegid()}"
    if isinstance(exc, confine.UnreadableError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{type(exc).__name__}: {exc.strerror or 'system error'}{where} ({user})"
    if isinstance(exc, ImportError):
        origin = f" from {exc.path}" if exc.path else ""
        roots = confine.unreadable_import_roots(sys.path)
        hint = f"; not readable by it: {', '.join(roots)}" if roots else ""
        return f"{type(exc).__name__}: cannot import {exc.name or '?'}{origin} ({user}{hint})"
    last = None
    # walk_tb reads no source file (the filter may be in force); the location names our code.
    for frame, line in traceback.walk_tb(exc.__traceback__):
        last = f"{frame.f_code.co_filename}:{line} in {frame.f_code.co_name}"
    return f"{type(exc).__name__} at {last}" if last else type(exc).__name__


def failed_message(job_id: Any, reason: str, detail: str, started: float) -> dict[str, Any]:
    """The ``failed`` answer to job `job_id` (`reason` one of the protocol's FAIL_REASONS)."""
    return {
        "t": "failed",
        "id": job_id,
        "reason": reason,
        "detail": detail,
        "compute_ms": (time.perf_counter() - started) * 1000,
    }
