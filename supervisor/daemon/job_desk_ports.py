"""What the job desk (`job_desk.JobDesk`) uses of the daemon's other parts, and no more.

The daemon (`app.Supervisor`) hands it its hot path, thermal budget, worker pool and API
facade, each seen through one of these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sandbox.jobs import Job as PoolJob
from sandbox.jobs import JobResult as PoolResult
from sandbox.slot import WorkerStatistics
from supervisor.policy import Decision
from thermal.config import BudgetConfig
from thermal.decision import BudgetDecision
from thermal.preferences import OwnerPreferences


class DeskCar(Protocol):
    """The hot path as the desk reads and sets it (`supervisor.hotpath.HotPath`)."""

    @property
    def decision(self) -> Decision:
        """The latest decision: may a job start?"""
        ...

    def set_soft_stop(self, source: str, reasons: Sequence[str]) -> object:
        """Replace `source`'s soft-stop reasons and re-evaluate."""
        ...

    def set_busy(self, busy: bool) -> object:
        """Whether a job runs now, and re-evaluate."""
        ...


class DeskBudget(Protocol):
    """The thermal budget as the desk reads and tells it (`thermal.service.BudgetService`)."""

    @property
    def config(self) -> BudgetConfig:
        """The ``[budget]`` section in force (a reload replaces it)."""
        ...

    @property
    def decision(self) -> BudgetDecision | None:
        """The latest decision, None before the first."""
        ...

    @property
    def preferences(self) -> OwnerPreferences:
        """The owner's preferences in force (the uplink obeys the metered-link one)."""
        ...

    def set_busy(self, busy: bool) -> None:
        """Whether a job runs now (the nightly hours cap counts it)."""
        ...

    def add_curtailment_json(self, text: str) -> dict[str, Any]:
        """Obey a curtailment in its JSON form; raises ValueError for a malformed one."""
        ...

    def night_started(self) -> datetime:
        """When tonight began, for the nightly cap."""
        ...

    def wall_clock(self) -> datetime:
        """The aware wall-clock time now."""
        ...

    def restore_computed_tonight(self, seconds: float) -> None:
        """Count compute done tonight before this daemon started."""
        ...


class DeskPool(Protocol):
    """The worker pool as the desk runs jobs on it (`sandbox.pool.WorkerPool`)."""

    @property
    def worker_public_key(self) -> bytes:
        """The workers' HPKE public key (the status advertises it)."""
        ...

    def statistics(self) -> Sequence[WorkerStatistics]:
        """A snapshot of each worker (which models are warm)."""
        ...

    async def run_job(
        self,
        job: PoolJob,
        partials: Callable[[int, bytes], None] | None = None,
        work: Callable[[float], None] | None = None,
    ) -> PoolResult:
        """Run one job on a warm worker of its model; a streamed job's sealed chunks go to
        `partials` (sequence number, chunk) as they come, the tokens a batching worker puts
        through the model for it to `work`."""
        ...

    def stop_job_nowait(self, job_id: str) -> bool:
        """Stop one running job through its worker's stop flag."""
        ...


class JobNews(Protocol):
    """Who hears of each finished job (`facade.DaemonFacade`: the API's subscribers)."""

    def job_finished(
        self, job_id: str, outcome: str, credit: float = 0.0, details: dict[str, Any] | None = None
    ) -> None:
        """A job ended with `outcome`."""
        ...
