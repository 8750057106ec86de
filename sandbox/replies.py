"""The jobs sent to one worker and not yet answered, and its replies turned into results.

`PendingJobs` numbers each job the handle sends, keeps it until the worker's ``result`` or
``failed`` reply (`sandbox.protocol`) or until the pool gives up on it (a freeze, a kill, a
crash), and resolves the job's waiter with a `JobResult` either way. A reply for a job given up
on is dropped. `job_of` names the job of a streamed job's ``partial`` chunk, for the pool to
hand it to that job's `PartialSink` (`sandbox.pool_partials`). Synchronous; trio thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from sandbox.jobs import Job, JobResult, Status

# A worker's `failed` reasons that are not the job's own failure, as the pool's statuses.
_FAILED_STATUS: dict[str, Status] = {
    "preempted": "preempted",
    "stopped": "stopped",
    "cancelled": "cancelled",
    "internal": "node_error",
}


PartialSink = Callable[[int, bytes], None]
"""Takes a streamed job's chunks (sequence number, sealed chunk), in order, as they come; it
must not block (trio thread)."""


@dataclass(slots=True)
class Pending:
    """One job out to the worker: `done` is set once `result` is known."""

    job: Job
    started: float
    done: trio.Event
    result: JobResult | None = None


def reply_result(pending: Pending, message: dict[str, Any], pid: int | None) -> JobResult:
    """The `JobResult` of a ``result`` or ``failed`` reply to `pending`'s job."""
    compute = float(message.get("compute_ms", 0.0))
    total = (time.perf_counter() - pending.started) * 1000
    job = pending.job
    if message["t"] == "result":
        return JobResult(
            job.job_id, job.model, "ok", bytes(message["sealed"]), "", compute, total, pid
        )
    reason = str(message.get("reason", "internal"))
    # "internal" is the node's own failure, not the job's: see sandbox.jobs.Status.
    status: Status = _FAILED_STATUS.get(reason, "failed")
    detail = f"{reason}: {message.get('detail', '')}"
    return JobResult(job.job_id, job.model, status, None, detail, compute, total, pid)


class PendingJobs:
    """The handle's jobs awaiting a reply, by the id sent with each."""

    def __init__(self) -> None:
        self._pending: dict[int, Pending] = {}
        self._next_id = 1

    def add(self, job: Job) -> tuple[int, Pending]:
        """Number `job` and keep it until its reply; returns its id and its waiter."""
        job_id, self._next_id = self._next_id, self._next_id + 1
        pending = Pending(job, time.perf_counter(), trio.Event())
        self._pending[job_id] = pending
        return job_id, pending

    def wire_id(self, job_id: str) -> int | None:
        """The id sent with the pool's job `job_id`, while it awaits its reply."""
        for number, pending in self._pending.items():
            if pending.job.job_id == job_id and pending.result is None:
                return number
        return None

    def job_of(self, job_id: object) -> Job | None:
        """The job sent with id `job_id`, while it awaits its reply."""
        pending = self._pending.get(job_id) if isinstance(job_id, int) else None
        return None if pending is None or pending.result is not None else pending.job

    def forget(self, job_id: int) -> None:
        """Nobody waits for `job_id` any more (answered, or its waiter was cancelled)."""
        self._pending.pop(job_id, None)

    def answer(self, job_id: object, message: dict[str, Any], pid: int | None) -> None:
        """Resolve `job_id` with the worker's reply (nothing if it was given up on)."""
        pending = self._pending.pop(job_id, None) if isinstance(job_id, int) else None
        if pending is None:
            return  # a job the pool already gave up on (pre-empted while frozen)
        pending.result = reply_result(pending, message, pid)
        pending.done.set()

    def give_up_nowait(self, status: Status, reason: str, pid: int | None) -> None:
        """Resolve every waiting job with `status` now (the worker may still reply later)."""
        for pending in list(self._pending.values()):
            if pending.result is None:
                total = (time.perf_counter() - pending.started) * 1000
                job = pending.job
                pending.result = JobResult(
                    job.job_id, job.model, status, None, reason, 0.0, total, pid
                )
                pending.done.set()
        self._pending.clear()
