"""The technician's restart of a worker (picked from those shown, then confirmed) and reload of
the daemon's configuration (confirmed; what applied and what waits for a restart), and the
help that lists every action with its key."""

from __future__ import annotations

from memory_client import MemoryClient
from parkmesh_tui_helpers import run, screen_text, wait_for, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.screens.confirm import ConfirmDialog
from tui.screens.pick_worker import WorkerPicker

SECOND = {
    "id": 4242,
    "model": "all-MiniLM-L6-v2",
    "device": "cpu",
    "state": "ready",
    "confinement": "confined",
    "last_stop_ms": None,
    "memory_mb": 90.5,
}


def _is(kind: type, app: ParkmeshApp) -> object:
    return lambda: isinstance(app.screen, kind)


def test_the_help_lists_the_new_actions(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("question_mark")
        await wait_text(pilot, "p  Pause compute now, or until HH:MM")
        text = screen_text(app)
        for line in (
            "c  Curtail: a level 0 to 3 or a kW limit",
            "w  Restart a worker: pick one",
            "^r Reload the configuration: what applies, what needs a restart",
            "r  Resume: lift the owner's pause and the technician's drain",
        ):
            assert line in text

    run(client, scenario)


def test_restart_a_picked_worker_after_a_yes(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        client.apply({"workers": [*client.model["workers"], SECOND]})
        await wait_for(pilot, lambda: len(app.state.get("WorkersJson")) == 2, "two workers")
        await pilot.press("w")
        await wait_for(pilot, _is(WorkerPicker, app), "the worker list")
        await wait_text(pilot, "all-MiniLM-L6-v2  pid 4242  ready  cpu")
        await pilot.press("escape")
        await wait_text(pilot, "restart cancelled")
        await pilot.press("w")
        await wait_for(pilot, _is(WorkerPicker, app), "the worker list")
        await pilot.press("down", "enter")
        await wait_text(pilot, "Restart the worker for all-MiniLM-L6-v2?")
        await pilot.press("n")
        await wait_text(pilot, "restart cancelled")
        assert client.called("restart_worker") == []  # not before a yes
        await pilot.press("w")
        await wait_for(pilot, _is(WorkerPicker, app), "the worker list")
        await pilot.press("down", "enter")
        await wait_for(pilot, _is(ConfirmDialog, app), "the question")
        await pilot.press("y")
        await wait_text(pilot, "worker for all-MiniLM-L6-v2 restarting: pid 4242 stopped")
        assert client.called("restart_worker") == [("all-MiniLM-L6-v2",)]
        await pilot.press("4")
        await wait_text(pilot, "restarting")  # the Workers screen shows it coming back

    run(client, scenario)


def test_restart_refusals_and_no_workers(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        client.refusals["restart_worker"] = "name: the worker for minilm-l6 is restarting"
        await pilot.press("w")
        await wait_for(pilot, _is(WorkerPicker, app), "the worker list")
        await pilot.press("enter", "y")
        await wait_text(pilot, "RestartWorker refused: name: the worker for minilm-l6 is")
        client.apply({"workers": []})
        await wait_for(pilot, lambda: app.state.get("WorkersJson") == [], "no workers")
        await pilot.press("w")
        await wait_text(pilot, "restart a worker: no workers")
        assert not isinstance(app.screen, WorkerPicker)

    run(client, scenario)


def test_reload_after_a_yes_says_what_applied_and_what_waits(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+r")
        await wait_text(pilot, "Reload the configuration from the daemon's file?")
        await pilot.press("n")
        await wait_text(pilot, "reload cancelled")
        assert client.called("reload_config") == []
        await pilot.press("ctrl+r")
        await wait_for(pilot, _is(ConfirmDialog, app), "the question")
        await pilot.press("y")
        await wait_text(pilot, "configuration reloaded: applied daemon.log_level;")
        # In full on the notice line (cut at 80 columns), in the daemon's own words.
        assert app.state.notice == (
            "configuration reloaded: applied daemon.log_level; needs a restart: sandbox.threads"
        )
        client.reload_outcome = {"applied": [], "needs_restart": []}
        await pilot.press("ctrl+r", "y")
        await wait_text(pilot, "configuration reloaded: nothing changed")
        client.refusals["reload_config"] = "nothing changed: /etc/parkmesh/parkmesh.toml:3: bad"
        await pilot.press("ctrl+r", "y")
        await wait_text(
            pilot, "ReloadConfig refused: nothing changed: /etc/parkmesh/parkmesh.toml:3"
        )
        assert len(client.called("reload_config")) == 3

    run(client, scenario)
