"""Where the pool sends what a worker tells of its running jobs: `PartialRoutes`, from a
worker's ``partial`` and ``work`` messages (`sandbox.protocol`) to the sinks the caller of
`WorkerPool.run_job` gave for that job.

A worker handle hands each such message to `PartialRoutes.note` (through its ``on_note``
hook) with its way of naming the job behind a wire id; the routes look the job's sinks up by
the pool's job id. A chunk for a job nobody streams (a batch job, a sink gone) is dropped: the
client then sees a gap, never a wrong text. Synchronous; trio thread only.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.jobs import Job
from sandbox.replies import PartialSink

WorkSink = Callable[[float], None]
"""Takes the tokens a job put through the model since the last call (energy shares)."""
JobOf = Callable[[object], Job | None]
"""The job sent with a wire id, while it awaits its reply (`sandbox.replies.PendingJobs`)."""


class PartialRoutes:
    """The sinks of the jobs running now, by the pool's job id."""

    def __init__(self) -> None:
        self._partials: dict[str, PartialSink] = {}
        self._work: dict[str, WorkSink] = {}

    @contextlib.contextmanager
    def routing(
        self, job_id: str, handle: Any, partials: PartialSink | None, work: WorkSink | None
    ) -> Iterator[None]:
        """While the block runs, `job_id`'s chunks from `handle`'s worker go to `partials` and
        its work to `work` (either None: dropped). Every job goes through here, sinks or not:
        a batching worker tells the work of each."""
        self._attach(handle)
        if partials is not None:
            self._partials[job_id] = partials
        if work is not None:
            self._work[job_id] = work
        try:
            yield
        finally:
            self._partials.pop(job_id, None)
            self._work.pop(job_id, None)

    def note(self, message: dict[str, Any], job_of: JobOf) -> None:
        """A ``partial`` or ``work`` message from a worker: to the sinks of its jobs."""
        if message.get("t") == "partial":
            job = job_of(message.get("id"))
            sink = None if job is None else self._partials.get(job.job_id)
            seq, sealed = message.get("seq"), message.get("sealed")
            if sink is not None and isinstance(seq, int) and isinstance(sealed, bytes):
                sink(seq, sealed)
            return
        units = message.get("units")
        for number, count in units.items() if isinstance(units, dict) else ():
            job = job_of(number)
            work = None if job is None else self._work.get(job.job_id)
            ok = isinstance(count, int | float) and math.isfinite(count) and count >= 0
            if work is not None and ok and not isinstance(count, bool):
                work(float(count))

    def _attach(self, handle: Any) -> None:
        handle.on_note = self.note
