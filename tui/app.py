"""`ParkmeshApp`: the technician's TUI, a client of the daemon's API.

The app is given its `DaemonSource` (``parkmesh tui`` gives it the DBus client, the tests an
in-memory one) and owns one `DaemonState`. Workers talk to the daemon through the source and
post messages (`tui.messages`) up to the app; the app updates the state and hands it down to
the screen that is showing (`DaemonScreen.show`). Screens never call the daemon themselves.

The connection worker reconnects forever: while the daemon is away every screen shows a
banner, and the state comes back as soon as it answers again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from textual import on, work
from textual.app import ScreenStackError
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui import messages
from tui.actions import TechnicianActions
from tui.screens.base import DaemonScreen
from tui.screens.budget import BudgetScreen
from tui.screens.ledger import LedgerScreen
from tui.screens.log import LogScreen
from tui.screens.overview import OverviewScreen
from tui.screens.tables import JobsScreen, WorkersScreen
from tui.screens.uplink import UplinkScreen
from tui.screens.vehicle import VehicleScreen
from tui.source import CallFailed, ConnectionLost, DaemonSource
from tui.state import DaemonState, JobDone, Stop
from tui.widgets.nav import SCREENS

RECONNECT_S = 1.0  # wait between attempts while the daemon is away
LOG_LINES = 200
LEDGER_ROWS = 20


def wall_clock() -> str:
    """The local time as ``HH:MM:SS`` (when the daemon last answered, when a stop arrived)."""
    return datetime.now().astimezone().strftime("%H:%M:%S")


class ParkmeshApp(TechnicianActions):
    """The parkmesh technician TUI (its actions: `tui.actions.TechnicianActions`).

    Args:
        client: the daemon, as the app reaches it (the app connects, reconnects and closes it).
        clock: the time of day as ``HH:MM:SS`` (the tests fix it).
    """

    CSS_PATH = "app.tcss"
    TITLE = "parkmesh"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "overview": OverviewScreen,
        "vehicle": VehicleScreen,
        "budget": BudgetScreen,
        "workers": WorkersScreen,
        "jobs": JobsScreen,
        "uplink": UplinkScreen,
        "ledger": LedgerScreen,
        "log": LogScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"switch_mode('{mode}')", title, show=False)
            for key, mode, title in SCREENS
        ),
        Binding("d", "drain", "Drain"),
        Binding("r", "resume", "Resume"),
        Binding("t", "test_stop", "Test stop"),
        Binding("f", "set_floor", "Floor"),
        # Listed in the help (the footer has no room for them at 80 columns).
        Binding("p", "pause", "Pause", show=False),
        Binding("c", "curtail", "Curtail", show=False),
        Binding("w", "restart_worker", "Restart worker", show=False),
        Binding("ctrl+r", "reload_config", "Reload config", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: DaemonSource, *, clock: Callable[[], str] = wall_clock) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.state = DaemonState(bus=client.address)

    def on_mount(self) -> None:
        self.switch_mode("overview")
        self._maintain_connection()

    # -- state down --------------------------------------------------------------------------

    def _show(self) -> None:
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down: no screen left to update
            return
        if isinstance(screen, DaemonScreen):
            screen.show(self.state)

    @on(DaemonScreen.Ready)
    def _screen_ready(self, event: DaemonScreen.Ready) -> None:
        self._show()

    # -- the connection ----------------------------------------------------------------------

    @work(exclusive=True, group="connection", exit_on_error=False)
    async def _maintain_connection(self) -> None:
        """Connect, follow the updates, reconnect when the daemon or the bus goes away.

        Cancellation: the worker is cancelled when the app exits; the connection is closed.
        """
        try:
            while True:
                try:
                    props = await self.client.connect()
                    self.post_message(messages.DaemonConnected(props))
                    async for update in self.client.updates():
                        self.post_message(update)
                except ConnectionLost as exc:
                    self.post_message(messages.DaemonLost(str(exc)))
                await asyncio.sleep(RECONNECT_S)
        finally:
            await self.client.close()

    @on(messages.DaemonConnected)
    def _connected(self, event: messages.DaemonConnected) -> None:
        self.state.connected, self.state.problem = True, ""
        self.state.props = event.props
        self.state.as_of = self.clock()
        self._show()
        self._load_log()
        self._load_ledger()

    @on(messages.DaemonLost)
    def _lost(self, event: messages.DaemonLost) -> None:
        self.state.connected, self.state.problem = False, event.problem
        self._show()

    @on(messages.PropertiesChanged)
    def _changed(self, event: messages.PropertiesChanged) -> None:
        self.state.props.update(event.changed)
        self.state.as_of = self.clock()
        if "LogSerial" in event.changed:
            self._load_log()
        self._show()

    @on(messages.StopReported)
    def _stopped(self, event: messages.StopReported) -> None:
        self.state.as_of = self.clock()
        self.state.add_stop(Stop(self.state.as_of, event.reason, event.latency_ms))
        if event.reason == "test stop":
            self._show()
            return  # the TestStop action reports its own result
        self.state.add_notice(
            f"hard stop ({event.reason}): workers stopped in {event.latency_ms:.2f} ms"
        )
        self._show()

    @on(messages.JobFinished)
    def _job_finished(self, event: messages.JobFinished) -> None:
        self.state.as_of = self.clock()
        # The signal names the job only: its model and run time are those last seen running.
        seen: dict[str, Any] = next(
            (j for j in self.state.get("JobsJson") or [] if j.get("id") == event.job_id), {}
        )
        elapsed = seen.get("elapsed_s")
        ms = float(elapsed) * 1000 if isinstance(elapsed, int | float) else None
        model = str(seen.get("model") or "?")
        self.state.add_job(JobDone(self.state.as_of, event.job_id, model, event.outcome, ms))
        # Shown with the ledger, which follows: one refill of its table, not two (a DataTable
        # refilled twice before it is idle keeps its old column widths).
        self._load_ledger()

    @on(messages.LogLoaded)
    def _log_loaded(self, event: messages.LogLoaded) -> None:
        self.state.log = event.lines
        self._show()

    @on(messages.LedgerLoaded)
    def _ledger_loaded(self, event: messages.LedgerLoaded) -> None:
        self.state.ledger = event.data
        self._show()

    @on(messages.ActionFinished)
    def _action_finished(self, event: messages.ActionFinished) -> None:
        self.state.add_notice(event.notice)
        self._show()

    @work(exclusive=True, group="log", exit_on_error=False)
    async def _load_log(self) -> None:
        try:
            lines = await self.client.log(LOG_LINES)
        except (ConnectionLost, CallFailed):
            return  # the connection worker reports a lost daemon
        self.post_message(messages.LogLoaded(lines))

    @work(exclusive=True, group="ledger", exit_on_error=False)
    async def _load_ledger(self) -> None:
        try:
            recent = await self.client.ledger_recent(LEDGER_ROWS)
            months = [str(r.get("ended_at") or r.get("recorded_at") or "")[:7] for r in recent]
            month = next((m for m in months if m), None)
            statement = await self.client.ledger_statement(month) if month else {}
            data: dict[str, Any] = {"recent": recent, "statement": statement}
        except CallFailed as exc:
            data = {"error": exc.message}
        except ConnectionLost:
            return
        self.post_message(messages.LedgerLoaded(data))
