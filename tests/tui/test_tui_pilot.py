"""The TUI driven with Pilot against the daemon in memory (`MemoryClient`, the fake daemon's
data), and with the real DBus client where there is no bus at all.

Each test is a plain function running its scenario with ``asyncio.run`` (Textual is asyncio;
pytest's async tests run under trio in this project).
"""

from __future__ import annotations

import asyncio

from memory_client import MemoryClient
from parkmesh_tui_helpers import SIZE, run, screen_text, wait_for, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.client import SupervisorClient
from tui.screens.floor import FloorDialog


def test_every_screen_shows_live_values(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await wait_text(pilot, "serving")
        await wait_text(pilot, "96.40 USD")
        client.apply({"phase": "not eligible", "reasons": ["driver door open"], "soc": 61.5})
        await wait_text(pilot, "driver door open")
        await wait_text(pilot, "61.5 %")

        await pilot.press("2")
        await wait_text(pilot, "SelectedGear")
        await wait_text(pilot, "61.5")
        assert "STALE" in screen_text(app)

        await pilot.press("3")
        await wait_text(pilot, "floor 50 %")
        await wait_text(pilot, "Battery  24.5 °C")

        await pilot.press("4")
        await wait_text(pilot, "seccomp+netns")
        client.apply(
            {
                "workers": [
                    {"id": "w1", "model": "llama-tiny", "device": "cuda:0", "state": "warming"}
                ]
            }
        )
        await wait_text(pilot, "llama-tiny")

        await pilot.press("5")
        await wait_text(pilot, "job-41")
        client.apply({"jobs": []})
        await wait_text(pilot, "no jobs running")

        await pilot.press("6")
        await wait_text(pilot, "interactive")
        client.apply({"uplink": {"connected": False, "tier": "batch"}})
        await wait_text(pilot, "disconnected")

        await pilot.press("7")
        await wait_text(pilot, "accrued 12.50 USD")
        client.apply({"job_finished": "job-new"})
        await wait_text(pilot, "job-new")

        await pilot.press("8")
        await wait_text(pilot, "parkmesh: line 4")
        client.apply({"log": "WARNING parkmesh: driver door open"})
        await wait_text(pilot, "WARNING parkmesh: driver door open")

    run(client, scenario)


def test_bindings_drain_resume_and_test_stop(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("d")
        await wait_text(pilot, "drained: no new jobs")
        await wait_text(pilot, "(drained: no new jobs)")
        assert client.props.get("Draining") is True
        await pilot.press("r")
        await wait_text(pilot, "resumed")
        await wait_for(pilot, lambda: "(drained" not in screen_text(app), "drained mark gone")
        assert client.props.get("Draining") is False
        await pilot.press("t")
        await wait_text(pilot, "Test stop: fire a hard stop as a door would?")
        assert client.called("test_stop") == []  # not before the technician says yes
        await pilot.press("y")
        await wait_text(pilot, "stopped in 3.25 ms")
        await wait_text(pilot, "3.25 ms")  # Overview's last stop
        assert [name for name, _ in client.calls if name in ("drain", "resume", "test_stop")] == [
            "drain",
            "resume",
            "test_stop",
        ]

    run(client, scenario)


def test_bad_floor_is_refused_in_the_ui(client: MemoryClient) -> None:
    async def enter(pilot: Pilot[None], text: str) -> None:
        dialog = pilot.app.screen
        assert isinstance(dialog, FloorDialog)
        field = dialog.query_one("#floor-input")
        field.value = text  # type: ignore[attr-defined]
        await pilot.press("enter")

    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FloorDialog), "the floor dialog")
        await enter(pilot, "95")
        await wait_text(pilot, "refused: value: the daemon takes 20 to 90 %, not 95")
        assert isinstance(app.screen, FloorDialog)
        await enter(pilot, "lots")
        await wait_text(pilot, "refused: value: not a number: 'lots'")
        assert client.props["BudgetJson"]["floor_percent"] == 50.0
        await enter(pilot, "60")
        await wait_for(pilot, lambda: not isinstance(app.screen, FloorDialog), "dialog closed")
        await wait_text(pilot, "charge floor set to 60 %")
        await wait_text(pilot, "(floor 60 %)")
        assert client.props["BudgetJson"]["floor_percent"] == 60.0
        # "95" and "lots" never reached the daemon: the dialog refused them itself.
        assert client.called("set_preference") == [("charge_floor_percent", "60")]

    run(client, scenario)


def test_help_screen(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("question_mark")
        await wait_text(pilot, "Test stop: fire a hard stop")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Test stop: fire" not in screen_text(app), "help closed")

    run(client, scenario)


def test_daemon_going_away_shows_a_banner_and_reconnects(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        client.go_away()
        await wait_text(pilot, "parkmesh daemon not reachable on", timeout=8)
        assert not app.state.connected
        assert "unknown  (last seen: serving, as of 03:00:00)" in screen_text(app)
        assert "unknown: the daemon is not reachable" in screen_text(app)
        client.come_back()
        await wait_for(pilot, lambda: app.state.connected, "reconnection", timeout=8)
        await wait_for(pilot, lambda: "not reachable" not in screen_text(app), "banner gone")
        assert "serving" in screen_text(app)

    run(client, scenario)


def test_no_bus_at_all_shows_the_banner() -> None:
    async def main() -> None:
        app = ParkmeshApp(SupervisorClient("unix:path=/nonexistent/no-bus"))
        async with app.run_test(size=SIZE) as pilot:
            await wait_text(pilot, "parkmesh daemon not reachable on unix:path=/nonexistent/no-bus")
            await wait_text(pilot, "No such file or directory")
            assert "unknown: no answer" in screen_text(app)

    asyncio.run(main())
