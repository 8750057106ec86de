"""Nothing stale passes for true: while the daemon is away every screen says how old its values
are, and the states that may have changed since (phase, workers, jobs, link) read unknown."""

from __future__ import annotations

import asyncio

from memory_client import MemoryClient
from parkmesh_tui_helpers import AS_OF, SIZE, fixed_clock, run, screen_text, wait_for, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp

AS_OF_LINE = f"every value shown is as of {AS_OF}, when the daemon last answered"


def test_a_dead_daemons_values_are_marked_as_of_its_last_answer(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        assert "unknown (was" not in screen_text(app)
        client.go_away()
        await wait_text(pilot, AS_OF_LINE, timeout=8)
        text = screen_text(app)
        assert "unknown  (last seen: serving, as of 03:00:00)" in text
        assert "unknown (was w0 serving)" in text  # the overview's workers
        assert "unknown (was connected) over" not in text  # the fake names no link type
        assert "unknown (was connected)" in text
        for key, shows in [
            ("2", "as of 03:00:00"),  # each signal, and its age a lower bound
            ("3", "floor 50 %"),
            ("4", "unknown (was serving)"),
            ("5", "unknown (was running)"),
            ("6", "unknown (was connected)"),
            ("7", "accrued 12.50 USD"),
            ("8", "parkmesh: line 4"),
        ]:
            await pilot.press(key)
            await wait_text(pilot, shows)
            assert AS_OF_LINE in screen_text(app), key
        await pilot.press("2")
        await wait_text(pilot, "≥0.2 s")
        await pilot.press("4")
        await wait_text(pilot, "unknown (was serving)")
        client.come_back()
        await wait_for(pilot, lambda: app.state.connected, "reconnection", timeout=8)
        await wait_for(pilot, lambda: "unknown (was" not in screen_text(app), "live again")
        assert "serving" in screen_text(app)

    run(client, scenario)


def test_before_the_daemon_is_reached_nothing_is_known() -> None:
    async def main() -> None:
        away = MemoryClient(reachable=False, problem="no parkmesh daemon on the bus")
        app = ParkmeshApp(away, clock=fixed_clock)
        async with app.run_test(size=SIZE) as pilot:
            await wait_text(pilot, "no value is known yet")
            assert "unknown: no answer from the daemon yet" in screen_text(app)
            assert "as of" not in screen_text(app)
            for key in "2345678":
                await pilot.press(key)
                await wait_text(pilot, "no value is known yet")
                assert "serving" not in screen_text(app), key
            assert app.state.stale() == "unknown"

    asyncio.run(main())
