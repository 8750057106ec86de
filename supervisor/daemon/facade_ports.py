"""What the daemon's facade reads and calls of the daemon's parts (`facade.DaemonFacade`):
one protocol per part, so that the facade names what it uses and the tests can hand it real
parts one at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sandbox.slot import WorkerStatistics
from supervisor.policy import Decision
from supervisor.vehicle.state import VehicleState
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore

from .stop_watch import StopReport


class CarView(Protocol):
    """The hot path as the API sees it (`supervisor.hotpath.HotPath`)."""

    @property
    def decision(self) -> Decision:
        """The latest decision."""
        ...

    @property
    def state(self) -> VehicleState:
        """The vehicle state (read only)."""
        ...

    def clock(self) -> float:
        """Now, on the state's clock."""
        ...

    def set_soft_stop(self, source: str, reasons: Sequence[str]) -> object:
        """Replace `source`'s soft-stop reasons and re-evaluate."""
        ...


class OwnerBudget(Protocol):
    """The thermal budget as the owner's calls change it (`thermal.service.BudgetService`)."""

    @property
    def preferences(self) -> OwnerPreferences:
        """The preferences in force."""
        ...

    @property
    def store(self) -> PreferenceStore | None:
        """Where they are kept (None: in memory only)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The budget's state, for the API."""
        ...

    def set_preferences(self, prefs: OwnerPreferences) -> None:
        """Adopt `prefs` (written to the store unless it holds them already)."""
        ...

    def add_curtailment_json(self, text: str) -> dict[str, Any]:
        """Obey a curtailment in its JSON form; raises ValueError for a malformed one."""
        ...


class StopConfirmer(Protocol):
    """Confirms hard stops and keeps the last report (`stop_watch.StopWatch`)."""

    @property
    def last(self) -> StopReport | None:
        """The last confirmed stop's report."""
        ...

    async def confirm(self) -> StopReport:
        """Wait for the workers to acknowledge the stop in force; its report."""
        ...


class WorkerList(Protocol):
    """The worker processes (`sandbox.pool.WorkerPool`)."""

    def statistics(self) -> Sequence[WorkerStatistics]:
        """A snapshot of each worker."""
        ...


class JobViews(Protocol):
    """The jobs and the earnings (`job_desk.JobDesk`)."""

    def jobs_view(self) -> list[dict[str, Any]]:
        """Jobs running now."""
        ...

    def earnings_view(self) -> dict[str, Any]:
        """Credits today and this month."""
        ...


class UplinkView(Protocol):
    """The dispatcher link (`uplink.node.NodeUplink`)."""

    def snapshot(self) -> dict[str, Any]:
        """The link's state, for the API."""
        ...
