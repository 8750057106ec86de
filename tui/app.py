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
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui import messages
from tui.screens.base import DaemonScreen
from tui.screens.budget import BudgetScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.floor import FLOOR_PREFERENCE, FloorDialog
from tui.screens.help import HelpScreen
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
TEST_STOP_QUESTION = (
    "Test stop: fire a hard stop as a door would?\nEvery worker is stopped; running jobs end."
)


def wall_clock() -> str:
    """The local time as ``HH:MM:SS`` (when the daemon last answered, when a stop arrived)."""
    return datetime.now().astimezone().strftime("%H:%M:%S")


class ParkmeshApp(App[None]):
    """The parkmesh technician TUI.

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
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: DaemonSource, *, clock: Callable[[], str] = wall_clock) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.state = DaemonState(bus=client.address)
        self._floor_dialog: FloorDialog | None = None

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

    # -- actions -----------------------------------------------------------------------------

    def action_drain(self) -> None:
        self._act("Drain", self.client.drain, "drained: no new jobs; running jobs finish")

    def action_resume(self) -> None:
        self._act("Resume", self.client.resume, "resumed: jobs are taken when the policy allows")

    def action_test_stop(self) -> None:
        self.push_screen(ConfirmDialog(TEST_STOP_QUESTION), self._test_stop_answered)

    def _test_stop_answered(self, yes: bool | None) -> None:
        if not yes:
            self.state.add_notice("test stop cancelled")
            self._show()
            return
        self.state.add_notice("test stop: stopping the workers…")
        self._show()
        self._act("TestStop", self.client.test_stop, "test stop: workers stopped in {0:.2f} ms")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_set_floor(self) -> None:
        budget = self.state.get("BudgetJson") or {}
        floor = budget.get("floor_percent")
        self._floor_dialog = FloorDialog(floor if isinstance(floor, int | float) else None)
        self.push_screen(self._floor_dialog)

    @work(group="actions", exit_on_error=False)
    async def _act(self, method: str, call: Callable[[], Awaitable[object]], done: str) -> None:
        """Run one action; `done` is the notice, formatted with the action's result."""
        try:
            result = await call()
        except CallFailed as exc:
            self.post_message(messages.ActionFinished(f"{method} refused: {exc.message}", ok=False))
            return
        except ConnectionLost as exc:
            self.post_message(messages.ActionFinished(f"{method} failed: {exc}", ok=False))
            return
        self.post_message(messages.ActionFinished(done.format(result), ok=True))

    @on(FloorDialog.Submitted)
    def _floor_submitted(self, event: FloorDialog.Submitted) -> None:
        self._set_floor(event.text)

    @work(exclusive=True, group="floor", exit_on_error=False)
    async def _set_floor(self, text: str) -> None:
        dialog = self._floor_dialog
        try:
            applied = await self.client.set_preference(FLOOR_PREFERENCE, text)
        except (CallFailed, ConnectionLost) as exc:
            if dialog is not None:
                dialog.refused(exc.message if isinstance(exc, CallFailed) else str(exc))
            return
        if dialog is not None and dialog.is_attached:
            dialog.dismiss(None)
        self._floor_dialog = None
        self.post_message(messages.ActionFinished(f"charge floor set to {applied:g} %", ok=True))
