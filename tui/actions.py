"""`TechnicianActions`: what the TUI's keys do to the daemon, the base of `tui.app.ParkmeshApp`.

Each action asks first where it disturbs the node (a test stop, a worker's restart, a reload)
or takes its values in a dialog (the floor, a pause, a curtailment), then calls the daemon
through the app's `DaemonSource` in a worker and reports its outcome on the notice line
(`messages.ActionFinished`). A dialog stays open with the daemon's reason when the daemon
refuses its values. Nothing here blocks the app: every call runs in a Textual worker, which
the app cancels when it exits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from textual import on, work
from textual.app import App

from tui import messages
from tui.screens.confirm import ConfirmDialog
from tui.screens.curtail import CurtailDialog
from tui.screens.floor import FLOOR_PREFERENCE, FloorDialog
from tui.screens.form import FormDialog
from tui.screens.help import HelpScreen
from tui.screens.pause import PauseDialog
from tui.screens.pick_worker import WorkerPicker
from tui.source import CallFailed, ConnectionLost, DaemonSource
from tui.state import DaemonState

TEST_STOP_QUESTION = (
    "Test stop: fire a hard stop as a door would?\nEvery worker is stopped; running jobs end."
)
PAUSE, DRAIN = "the owner's pause", "the technician's drain"
RELOAD_QUESTION = (
    "Reload the configuration from the daemon's file?\n"
    "What can change live applies now; the rest waits for a\n"
    "restart. A file that does not load changes nothing."
)
RESTART_QUESTION = (
    "Restart the worker for {0}?\nIts running job ends as a stop ends it; a fresh worker starts."
)


def reload_notice(outcome: dict[str, Any]) -> str:
    """The notice for `ReloadConfig`'s answer: what was applied, what waits for a restart."""
    applied, waiting = outcome.get("applied") or [], outcome.get("needs_restart") or []
    parts = [f"applied {', '.join(applied)}"] if applied else []
    if waiting:
        parts.append(f"needs a restart: {', '.join(waiting)}")
    return "configuration reloaded: " + ("; ".join(parts) or "nothing changed")


def curtail_notice(accepted: dict[str, Any]) -> str:
    """The notice for the curtailment the daemon accepted (thermal's ``to_json`` form)."""
    level, limit = accepted.get("level"), accepted.get("import_limit_kw")
    what = f"level {level}" if level is not None else f"a limit of {limit:g} kW"
    duration = accepted.get("duration_s")
    during = f"for {duration / 60:g} min" if isinstance(duration, int | float) else "open-ended"
    return f"curtailment accepted: {what} {during}"


class TechnicianActions(App[None]):
    """The actions of the TUI's keys (see the module docstring); `ParkmeshApp` provides the
    client, the state and `_show`."""

    client: DaemonSource
    state: DaemonState

    def _show(self) -> None:
        raise NotImplementedError  # the app hands the state down to the screen showing

    def _notice(self, text: str) -> None:
        self.state.add_notice(text)
        self._show()

    # -- drain, resume, test stop --------------------------------------------------------------

    def action_drain(self) -> None:
        self._act("Drain", self.client.drain, "drained: no new jobs; running jobs finish")

    def action_resume(self) -> None:
        self._resume()

    @work(group="actions", exit_on_error=False)
    async def _resume(self) -> None:
        """Lift the owner's pause and the technician's drain, those in force (as
        ``parkmesh resume`` does); a drain the TUI cannot see is resumed anyway."""
        props = self.state.props if self.state.connected else {}
        paused = props.get("PausedUntil")
        in_force = (
            (isinstance(paused, int | float) and paused >= 0, self.client.unpause, PAUSE),
            (props.get("Draining", True) is not False, self.client.resume, DRAIN),
        )
        lifted: list[str] = []
        kept: list[str] = []
        for holds, call, what in in_force:
            if not holds:
                continue
            try:
                await call()
                lifted.append(what)
            except CallFailed as exc:
                kept.append(f"{what} stays: {exc.message}")
            except ConnectionLost as exc:
                kept.append(f"{what} stays: {exc}")
        # The words of ``parkmesh resume``.
        if lifted:
            text = f"resumed: lifted {' and '.join(lifted)}; jobs are taken when the car allows"
            text = "; ".join([text, *kept])
        elif kept:
            text = "resume: " + "; ".join(kept)
        else:
            text = "nothing to resume: compute is neither paused nor drained"
        self.post_message(messages.ActionFinished(text, ok=bool(lifted) or not kept))

    def action_test_stop(self) -> None:
        self.push_screen(ConfirmDialog(TEST_STOP_QUESTION), self._test_stop_answered)

    def _test_stop_answered(self, yes: bool | None) -> None:
        if not yes:
            self._notice("test stop cancelled")
            return
        self._notice("test stop: stopping the workers…")
        self._act("TestStop", self.client.test_stop, "test stop: workers stopped in {0:.2f} ms")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # -- restart a worker, reload the configuration -----------------------------------------

    def action_restart_worker(self) -> None:
        workers = [w for w in self.state.get("WorkersJson") or [] if w.get("model")]
        if not self.state.connected or not workers:
            why = "the daemon is not reachable" if not self.state.connected else "no workers"
            self._notice(f"restart a worker: {why}")
            return
        self.push_screen(WorkerPicker(workers, "Restart which worker?"), self._worker_picked)

    def _worker_picked(self, model: str | None) -> None:
        if model is None:
            self._notice("restart cancelled")
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                self._notice("restart cancelled")
                return
            self._notice(f"restarting the worker for {model}…")
            self._act(
                "RestartWorker",
                lambda: self.client.restart_worker(model),
                "worker for {0[worker]} restarting: pid {0[stopped_pid]} stopped",
            )

        self.push_screen(ConfirmDialog(RESTART_QUESTION.format(model)), answered)

    def action_reload_config(self) -> None:
        self.push_screen(ConfirmDialog(RELOAD_QUESTION), self._reload_answered)

    def _reload_answered(self, yes: bool | None) -> None:
        if not yes:
            self._notice("reload cancelled")
            return
        self._act("ReloadConfig", self._reload_text, "{0}")

    async def _reload_text(self) -> str:
        return reload_notice(await self.client.reload_config())

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

    # -- dialogs: the floor, a pause, a curtailment ----------------------------------------------

    def action_set_floor(self) -> None:
        budget = self.state.get("BudgetJson") or {}
        floor = budget.get("floor_percent")
        self.push_screen(FloorDialog(floor if isinstance(floor, int | float) else None))

    def action_pause(self) -> None:
        self.push_screen(PauseDialog())

    def action_curtail(self) -> None:
        self.push_screen(CurtailDialog())

    @on(FloorDialog.Submitted)
    def _floor_submitted(self, event: FloorDialog.Submitted) -> None:
        def applied(value: Any) -> str:
            return f"charge floor set to {value:g} %"

        text = event.text
        self._in_dialog(lambda: self.client.set_preference(FLOOR_PREFERENCE, text), applied)

    @on(PauseDialog.Submitted)
    def _pause_submitted(self, event: PauseDialog.Submitted) -> None:
        until = event.until_unix

        def paused(_: Any) -> str:
            if not until:
                return "paused: no new compute until resumed (r); running jobs finish"
            end = dt.datetime.fromtimestamp(until).astimezone()
            return f"paused: no new compute until {end:%H:%M}; running jobs finish"

        self._in_dialog(lambda: self.client.pause(until), paused)

    @on(CurtailDialog.Submitted)
    def _curtail_submitted(self, event: CurtailDialog.Submitted) -> None:
        request = event.request
        self._in_dialog(lambda: self.client.add_curtailment(request), curtail_notice)

    def _in_dialog(self, call: Callable[[], Awaitable[Any]], done: Callable[[Any], str]) -> None:
        """Apply the values of the dialog showing (the one that posted them): close it with a
        notice, or keep it open with the daemon's reason (its `refused`)."""
        dialog = self.screen
        if isinstance(dialog, FormDialog):
            self._apply_dialog(dialog, call, done)

    @work(exclusive=True, group="dialogs", exit_on_error=False)
    async def _apply_dialog(
        self,
        dialog: FormDialog,
        call: Callable[[], Awaitable[Any]],
        done: Callable[[Any], str],
    ) -> None:
        try:
            result = await call()
        except (CallFailed, ConnectionLost) as exc:
            if dialog.is_attached:
                dialog.refused(exc.message if isinstance(exc, CallFailed) else str(exc))
            return
        if dialog.is_attached:
            dialog.dismiss(None)
        self.post_message(messages.ActionFinished(done(result), ok=True))
