"""The TUI driven with Pilot against the fake daemon process on a private dbus-daemon.

Each test is a plain function running its scenario with ``asyncio.run`` (Textual is asyncio;
pytest's async tests run under trio in this project).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from parkmesh_private_bus import FakeDaemonProcess
from parkmesh_tui_helpers import SIZE, run, screen_text, wait_for, wait_text
from textual.pilot import Pilot

from supervisor.api import client
from tui.app import ParkmeshApp
from tui.screens.floor import FloorDialog


def status(bus: str) -> dict[str, Any]:
    result: dict[str, Any] = client.call_json("GetStatus", bus=bus)
    return result


def test_every_screen_shows_live_values(fake_daemon: FakeDaemonProcess):
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await wait_text(pilot, "serving")
        await wait_text(pilot, "96.40 USD")
        fake_daemon.send(
            json.dumps({"phase": "not eligible", "reasons": ["driver door open"], "soc": 61.5})
        )
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
        fake_daemon.send(
            json.dumps(
                {
                    "workers": [
                        {"id": "w1", "model": "llama-tiny", "device": "cuda:0", "state": "warming"}
                    ]
                }
            )
        )
        await wait_text(pilot, "llama-tiny")

        await pilot.press("5")
        await wait_text(pilot, "job-41")
        fake_daemon.send(json.dumps({"jobs": []}))
        await wait_text(pilot, "no jobs running")

        await pilot.press("6")
        await wait_text(pilot, "interactive")
        fake_daemon.send(json.dumps({"uplink": {"connected": False, "tier": "batch"}}))
        await wait_text(pilot, "disconnected")

        await pilot.press("7")
        await wait_text(pilot, "accrued 12.50 USD")
        fake_daemon.send(json.dumps({"job_finished": "job-new"}))
        await wait_text(pilot, "job-new")

        await pilot.press("8")
        await wait_text(pilot, "parkmesh: line 4")
        fake_daemon.send(json.dumps({"log": "WARNING parkmesh: driver door open"}))
        await wait_text(pilot, "WARNING parkmesh: driver door open")

    run(fake_daemon.bus, scenario)


def test_bindings_drain_resume_and_test_stop(fake_daemon: FakeDaemonProcess):
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("d")
        await wait_text(pilot, "drained: no new jobs")
        await wait_text(pilot, "(drained: no new jobs)")
        assert status(fake_daemon.bus)["draining"] is True
        await pilot.press("r")
        await wait_text(pilot, "resumed")
        await wait_for(pilot, lambda: "(drained" not in screen_text(app), "drained mark gone")
        assert status(fake_daemon.bus)["draining"] is False
        await pilot.press("t")
        await wait_text(pilot, "stopped in 3.25 ms")
        await wait_text(pilot, "3.25 ms")  # Overview's last stop

    run(fake_daemon.bus, scenario)


def test_bad_floor_is_refused_in_the_ui(fake_daemon: FakeDaemonProcess):
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
        await wait_text(pilot, "refused: value: charge_floor_percent: must be between 20 and")
        assert isinstance(app.screen, FloorDialog)
        await enter(pilot, "lots")
        await wait_text(pilot, "refused: value: not a number: 'lots'")
        assert status(fake_daemon.bus)["budget"]["floor_percent"] == 50.0
        await enter(pilot, "60")
        await wait_for(pilot, lambda: not isinstance(app.screen, FloorDialog), "dialog closed")
        await wait_text(pilot, "charge floor set to 60 %")
        await wait_text(pilot, "(floor 60 %)")
        assert status(fake_daemon.bus)["budget"]["floor_percent"] == 60.0

    run(fake_daemon.bus, scenario)


def test_help_screen(fake_daemon: FakeDaemonProcess):
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("question_mark")
        await wait_text(pilot, "Test stop: fire a hard stop")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Test stop: fire" not in screen_text(app), "help closed")

    run(fake_daemon.bus, scenario)


def test_daemon_going_away_shows_a_banner_and_reconnects(fake_daemon: FakeDaemonProcess):
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        fake_daemon.stop()
        await wait_text(pilot, "parkmesh daemon not reachable on", timeout=8)
        assert not app.state.connected
        assert "unknown  (last seen: serving)" in screen_text(app)
        assert "unknown: the daemon is not reachable" in screen_text(app)
        again = FakeDaemonProcess(fake_daemon.bus)
        try:
            await wait_for(pilot, lambda: app.state.connected, "reconnection", timeout=8)
            await wait_for(pilot, lambda: "not reachable" not in screen_text(app), "banner gone")
            assert "serving" in screen_text(app)
        finally:
            again.stop()

    run(fake_daemon.bus, scenario)


def test_no_bus_at_all_shows_the_banner():
    async def main() -> None:
        app = ParkmeshApp("unix:path=/nonexistent/no-bus")
        async with app.run_test(size=SIZE) as pilot:
            await wait_text(pilot, "parkmesh daemon not reachable on unix:path=/nonexistent/no-bus")
            await wait_text(pilot, "No such file or directory")
            assert "unknown: no answer" in screen_text(app)

    asyncio.run(main())
