"""Snapshots of every screen at 80x24, against the daemon in memory (`MemoryClient`: the fake
daemon's fixed data, no clocks).

Update after an intended change with ``pytest tests/tui --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest
from memory_client import MemoryClient
from parkmesh_tui_helpers import fixed_clock
from textual.pilot import Pilot

from tui.app import ParkmeshApp

SIZE = (80, 24)


async def _loaded(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, ParkmeshApp)
    for _ in range(200):
        if app.state.connected and app.state.ledger is not None and app.state.log:
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the TUI did not load the fake daemon's data")


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("1", "overview"),
        ("2", "vehicle"),
        ("3", "budget"),
        ("4", "workers"),
        ("5", "jobs"),
        ("6", "uplink"),
        ("7", "ledger"),
        ("8", "log"),
    ],
)
def test_screen_snapshot(client: MemoryClient, snap_compare: Any, key: str, mode: str) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.press(key)
        assert pilot.app.current_mode == mode
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=SIZE, run_before=run_before
    )


def test_help_snapshot(client: MemoryClient, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=SIZE, run_before=run_before
    )


def test_banner_snapshot(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, ParkmeshApp)
        for _ in range(200):
            if app.state.problem.startswith("cannot reach"):
                break
            await pilot.pause(0.02)
        await pilot.pause(0.1)

    away = MemoryClient(
        "unix:path=/nonexistent/parkmesh-bus",
        reachable=False,
        problem="cannot reach the bus ([Errno 2] No such file or directory)",
    )
    app = ParkmeshApp(away, clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
