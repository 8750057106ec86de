"""Snapshots of what changed for the technician: the overview as a dashboard at 80x24 and
120x40 (live, with its short histories, and with the daemon gone), the test stop's question,
a dead daemon's workers, and the filtered log.

Update after an intended change with ``pytest tests/tui --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from memory_client import MemoryClient
from parkmesh_tui_helpers import fixed_clock, screen_text, wait_for
from textual.pilot import Pilot

from tui.app import ParkmeshApp

SIZES = [(80, 24), (120, 40)]


def _loaded(pilot: Pilot[None]) -> Awaitable[None]:
    app = pilot.app
    assert isinstance(app, ParkmeshApp)
    return wait_for(
        pilot, lambda: app.state.connected and app.state.ledger is not None, "the TUI to get there"
    )


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_overview_snapshot(client: MemoryClient, snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_overview_history_snapshot(
    client: MemoryClient, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        client.stop("driver door open", 2.5)
        client.apply({"job_finished": "job-41"})
        await pilot.press("t", "y")
        app = pilot.app
        assert isinstance(app, ParkmeshApp)
        await wait_for(
            pilot,
            lambda: len(app.state.stops) == 2 and len(app.state.jobs_done) == 1,
            "the TUI to get there",
        )
        # Last: an `apply` recomputes the fake's properties and drops what `extend` added.
        client.extend("BudgetJson", {"binding": ["temperature:gpu"]})
        client.extend("UplinkJson", {"link": "ethernet", "refused": {"bad_signature": 1}})
        await wait_for(pilot, lambda: "over ethernet" in screen_text(app), "the TUI to get there")
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_overview_daemon_gone_snapshot(
    client: MemoryClient, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        client.go_away()
        await wait_for(
            pilot, lambda: "as of 03:00:00" in screen_text(pilot.app), "the TUI to get there"
        )
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("key", ["2", "4"], ids=["vehicle", "workers"])
def test_daemon_gone_screen_snapshot(client: MemoryClient, snap_compare: Any, key: str) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        client.go_away()
        await wait_for(
            pilot, lambda: "as of 03:00:00" in screen_text(pilot.app), "the TUI to get there"
        )
        await pilot.press(key)
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=(80, 24), run_before=run_before
    )


def test_test_stop_question_snapshot(client: MemoryClient, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.press("t")
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=(80, 24), run_before=run_before
    )


def test_filtered_log_snapshot(client: MemoryClient, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        client.apply({"log": "2026-11-27 02:05:00 WARNING parkmesh: driver door open"})
        client.apply({"log": "2026-11-27 02:06:00 ERROR parkmesh: worker w0 crashed"})
        await pilot.press("8", "l", "l", "slash", *"door")
        await wait_for(pilot, lambda: "1/7 lines" in screen_text(pilot.app), "the TUI to get there")
        await pilot.pause(0.1)

    assert snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=(80, 24), run_before=run_before
    )
