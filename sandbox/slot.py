"""One loaded model's place in the worker pool: its worker, its job, its counters.

A slot runs up to ``max_batch`` jobs at once (its `places`, a bounded semaphore); a worker that
takes one job at a time (an encoder, or ``max_batch = 1``) also holds its `lock` around each
job. A job can be stopped alone, without touching the pool's level. On a one-job worker
`Slot.stop_job_nowait` writes a hard stop with reason CANCEL on this worker's page only, the
worker's per-layer check abandons the job and acknowledges, and `Slot.end_job_nowait` lifts
that stop again unless a pool-wide stop came in meanwhile. On a batching worker the page is
shared by every job, so the cancel names the job instead (`WorkerHandle.cancel_nowait`, a
``cancel`` message the worker reads between decode steps) and the others decode on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from sandbox.confirm import StopSample
from sandbox.handle import WorkerHandle
from sandbox.stop_page import StopLevel, StopReason


@dataclass(frozen=True, slots=True)
class WorkerStatistics:
    """One worker as the TUI and the DBus API show it."""

    model: str
    device: str
    state: str  # ready, busy, frozen, released, restarting
    pid: int | None
    confined: bool
    confinement: tuple[tuple[str, bool, str], ...]
    last_stop_ms: float | None
    last_stop_via: str | None  # "ack" (the worker saw its flag), "freeze" or "kill"
    rss_bytes: int | None
    restarts: int
    crashes: int
    jobs_ok: int
    jobs_failed: int
    release_ms: float | None
    capacity: int = 1  # jobs the worker takes at once
    running: int = 0  # jobs out to it now


@dataclass(slots=True)
class Slot:
    """A model's worker (None while it starts, restarts or is released) and its history.

    Attributes:
        job_id: the job its worker computes now, on `job_handle`.
        job_stopped: that job's page carries a per-job stop (`stop_job_nowait`).
        batch_jobs: the jobs out to a batching worker, each with its handle.
        places: how many jobs may be out at once (``max_batch``).
    """

    model: str
    handle: WorkerHandle | None = None
    lock: trio.Lock = field(default_factory=trio.Lock)
    max_batch: int = 1
    places: trio.Semaphore = field(init=False)
    batch_jobs: dict[str, WorkerHandle] = field(default_factory=dict)
    restarts: int = 0
    crashes: int = 0
    crashes_in_row: int = 0
    jobs_ok: int = 0
    jobs_failed: int = 0
    released: bool = False
    release_ms: float | None = None
    last_stop: StopSample | None = None
    starting: WorkerHandle | None = None
    job_id: str | None = None
    job_handle: WorkerHandle | None = None
    job_stopped: bool = False

    def __post_init__(self) -> None:
        self.places = trio.Semaphore(self.max_batch, max_value=self.max_batch)

    @property
    def running(self) -> int:
        """Jobs out to the worker now."""
        return len(self.batch_jobs) + (self.job_id is not None)

    def cancel_batch_job_nowait(self, job_id: str) -> bool | None:
        """Cancel `job_id` if a batching worker runs it (None: not one of its jobs)."""
        handle = self.batch_jobs.get(job_id)
        return None if handle is None else handle.cancel_nowait(job_id)

    def begin_job_nowait(self, job_id: str, handle: WorkerHandle) -> None:
        """`job_id` goes to the worker of `handle`."""
        self.job_id, self.job_handle, self.job_stopped = job_id, handle, False

    def stop_job_nowait(self) -> bool:
        """Ask the worker to abandon its current job (synchronous; never blocks).

        Call only while no pool-wide hard stop is in force: the write would replace it.
        Returns whether a job was running.
        """
        if self.job_id is None or self.job_handle is None:
            return False
        if not self.job_stopped:
            self.job_handle.page.request_stop(StopLevel.HARD, StopReason.CANCEL)
            self.job_stopped = True
        return True

    def end_job_nowait(self, pool_level: StopLevel) -> bool:
        """The job left the worker: lift its per-job stop unless a pool-wide hard stop
        replaced it meanwhile (that one is the pool's to lift). Returns whether the job had
        been stopped alone."""
        handle, stopped = self.job_handle, self.job_stopped
        self.job_id, self.job_handle, self.job_stopped = None, None, False
        if (
            stopped
            and handle is not None
            and pool_level != StopLevel.HARD
            and not handle.exited.is_set()
        ):
            page = handle.page.snapshot()
            if page.level == StopLevel.HARD and page.reason == StopReason.CANCEL:
                handle.page.release()
        return stopped

    def statistics(self, device: str) -> WorkerStatistics:
        """The slot's row (cheap: reads /proc and the page)."""
        h = self.handle
        status = h.status if h is not None else {}
        steps = tuple(
            (str(s["name"]), bool(s["applied"]), str(s["detail"])) for s in status.get("steps", ())
        )
        if h is None:
            state = "released" if self.released else "restarting"
        else:
            state = "frozen" if h.frozen else ("busy" if h.busy_id is not None else "ready")
        stop = self.last_stop
        return WorkerStatistics(
            model=self.model,
            device=str(status.get("device", device)),
            state=state,
            pid=h.pid if h is not None else None,
            confined=bool(status.get("confined")),
            confinement=steps,
            last_stop_ms=stop.latency_ms if stop else None,
            last_stop_via=stop.via if stop else None,
            rss_bytes=h.rss_bytes() if h is not None else None,
            restarts=self.restarts,
            crashes=self.crashes,
            jobs_ok=self.jobs_ok,
            jobs_failed=self.jobs_failed,
            release_ms=self.release_ms,
            capacity=h.capacity if h is not None else 1,
            running=self.running,
        )
