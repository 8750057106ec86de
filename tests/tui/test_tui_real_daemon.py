"""The TUI against the real daemon (``parkmesh run`` with the scenario car) on a private bus.

The one end-to-end TUI test: the real DBus client (`tui.client.SupervisorClient`), a real bus
and a real daemon; every other TUI test runs against the daemon in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from parkmesh_private_bus import RealDaemonProcess
from parkmesh_tui_helpers import SIZE, screen_text, wait_for, wait_text
from textual.pilot import Pilot

from supervisor.api import client
from tui.app import ParkmeshApp
from tui.client import SupervisorClient
from tui.screens.confirm import ConfirmDialog
from tui.screens.floor import FloorDialog

pytestmark = pytest.mark.slow


@pytest.fixture
def real_daemon(bus_address: str, tmp_path: Path) -> Iterator[RealDaemonProcess]:
    daemon = RealDaemonProcess(bus_address, tmp_path / "state", workers=True)
    try:
        yield daemon
    finally:
        daemon.stop()


def test_tui_follows_the_real_daemon(bus_address: str, real_daemon: RealDaemonProcess) -> None:
    import asyncio

    async def main() -> None:
        app = ParkmeshApp(SupervisorClient(bus_address))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.state.connected, "connection")
            await wait_text(pilot, "72.0 %")
            # The scenario car is admitted, then someone opens a door.
            await wait_for(
                pilot,
                lambda: app.state.get("Phase") in ("eligible", "serving"),
                "admission",
                timeout=15,
            )
            await wait_text(pilot, "every condition holds")
            await wait_text(pilot, "door", timeout=15)
            await screens(app, pilot)
            await bindings(app, pilot)

    async def screens(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        for key, text in (
            ("2", "Transmission.SelectedGear"),
            ("3", "floor 50 %"),
            ("4", "all-MiniLM-L6-v2"),
            ("5", "no jobs running"),
            ("6", "disconnected"),
            ("8", "INFO parkmesh"),
        ):
            await pilot.press(key)
            await wait_text(pilot, text)
        # The daemon's start line is in the log the TUI loaded; on a slow machine the scenario
        # has logged enough by now to scroll it out of the screen's view.
        assert any("parkmesh serving" in line for line in app.state.log)
        # The daemon now keeps a ledger in its state directory from the start (an empty
        # statement); one without a ledger says so. Either way the screen has loaded.
        await pilot.press("7")
        await wait_for(
            pilot,
            lambda: any(
                t in screen_text(app) for t in ("no earnings ledger", "(not completed: none)")
            ),
            "the ledger screen",
        )
        await pilot.press("1")
        await wait_text(pilot, "Daemon loop")

    async def bindings(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        # A scenario event may replace the notice line at any moment: look at the history.
        def noticed(text: str) -> Callable[[], bool]:
            return lambda: any(n.startswith(text) for n in app.state.notices)

        await pilot.press("d")
        await wait_text(pilot, "(drained: no new jobs)")
        await wait_for(pilot, noticed("drained"), "drain notice")
        await pilot.press("r")
        await wait_for(pilot, noticed("resumed"), "resume notice")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await wait_for(pilot, noticed("test stop: workers stopped in"), "test stop latency")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FloorDialog), "floor dialog")
        app.screen.query_one("#floor-input").value = "95"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_text(pilot, "the daemon takes 20 to 90 %, not 95")  # refused before asking
        app.screen.query_one("#floor-input").value = "55"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, noticed("charge floor set to 55 %"), "floor notice")
        await wait_text(pilot, "(floor 55 %)")

    asyncio.run(main())
    assert client.call_json("GetPreferences", bus=bus_address)["charge_floor_percent"] == 55.0
