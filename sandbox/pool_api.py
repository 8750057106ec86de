"""What the daemon, the commands and the benches use of the worker pool: `Pool`.

`sandbox.pool.WorkerPool` is the one implementation. A pool always stops its workers through a
stop board (`sandbox.board.PageBoard`): the daemon's, shared with its stop thread, or the pool's
own when none is given; either way it is the pool's `board`, and `Pool.stop_all_nowait` is that
board's. `changes` is noticed whenever the pool's level or one of its workers changes (ready,
busy, gone), for a caller that would otherwise poll `statistics`.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import trio

from sandbox.board import PageBoard
from sandbox.config import SandboxConfig
from sandbox.confirm import StopSample
from sandbox.jobs import Job, JobResult
from sandbox.node import NodeFacts
from sandbox.pool_partials import WorkSink
from sandbox.replies import PartialSink
from sandbox.slot import WorkerStatistics
from sandbox.stop_page import StopLevel, StopReason
from sandbox.wakeup import Wakeup


class Pool(Protocol):
    """Warm confined workers, one per model, and the jobs they run (trio thread, except the
    ``_nowait`` stop calls, which any thread may make)."""

    @property
    def config(self) -> SandboxConfig:
        """The ``[sandbox]`` section it runs with."""
        ...

    @property
    def facts(self) -> NodeFacts:
        """The node's user, device and keys."""
        ...

    @property
    def board(self) -> PageBoard:
        """The stop board every worker's page is on (the daemon's, or the pool's own)."""
        ...

    @property
    def changes(self) -> Wakeup:
        """Noticed when the level or a worker changes (wait on it instead of polling)."""
        ...

    @property
    def worker_public_key(self) -> bytes:
        """The workers' HPKE public key: clients seal job inputs to it."""
        ...

    @property
    def kills(self) -> int:
        """Workers the confirmer killed for missing the stop deadline, since start."""
        ...

    @property
    def stop_samples(self) -> deque[StopSample]:
        """How each busy worker stopped, latest last."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every worker, then serve until cancelled; ``started`` once all are warm."""
        ...

    async def run_job(
        self, job: Job, partials: PartialSink | None = None, work: WorkSink | None = None
    ) -> JobResult:
        """Run a sealed job on its model's worker; never raises for a failed job. A streamed
        job's sealed chunks go to `partials` (seq, chunk) as they come (None: dropped); the
        tokens a batching worker puts through the model for it, to `work`."""
        ...

    def stop_job_nowait(self, job_id: str) -> bool:
        """Stop one running job alone; False when it is not running."""
        ...

    async def restart_worker(self, name: str) -> dict[str, Any]:
        """Restart the worker of model `name` (or pid): its running jobs end as a stop ends
        them, a fresh worker starts; returns {worker, stopped_pid, stopped_jobs}."""
        ...

    async def selftest(self, model: str, targets: dict[str, Any]) -> dict[str, Any]:
        """Ask `model`'s worker to try its escapes."""
        ...

    def level(self) -> StopLevel:
        """The stop level in force."""
        ...

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """The board's stop: every worker's page, then the pool's hooks; returns the write
        time (monotonic ns)."""
        ...

    def release_all_nowait(self) -> None:
        """The board's release: pages back to RUN, frozen workers thawed."""
        ...

    def statistics(self) -> list[WorkerStatistics]:
        """One row per model, for the TUI and the API."""
        ...
