"""Snapshots of the new action dialogs at 80x24 and 120x40: the owner's pause, the curtailment
(with a refusal explained), the worker to restart, and the reload's question.

Update after an intended change with ``pytest tests/tui --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest
from memory_client import MemoryClient
from parkmesh_tui_helpers import fixed_clock, screen_text, wait_for
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import ParkmeshApp

SIZES = [(80, 24), (120, 40)]
IDS = ["80x24", "120x40"]


def _steady(pilot: Pilot[None]) -> None:
    """No blinking cursor in the dialog's fields: the snapshot catches it on or off."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


async def _loaded(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, ParkmeshApp)
    await wait_for(
        pilot, lambda: app.state.connected and app.state.ledger is not None, "the TUI to get there"
    )


def _snap(client: MemoryClient, snap_compare: Any, size: tuple[int, int], before: Any) -> bool:
    ok: bool = snap_compare(
        ParkmeshApp(client, clock=fixed_clock), terminal_size=size, run_before=before
    )
    return ok


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_pause_dialog_snapshot(
    client: MemoryClient, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.press("p")
        await wait_for(
            pilot,
            lambda: "leave empty: until resumed" in screen_text(pilot.app),
            "the TUI to get there",
        )
        _steady(pilot)
        await pilot.pause(0.1)

    assert _snap(client, snap_compare, size, run_before)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_curtail_dialog_refusal_snapshot(
    client: MemoryClient, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.press("c")
        await wait_for(
            pilot, lambda: "Duration in minutes" in screen_text(pilot.app), "the TUI to get there"
        )
        _steady(pilot)
        pilot.app.screen.query_one("#curtail-limit", Input).value = "2"
        duration = pilot.app.screen.query_one("#curtail-duration", Input)
        duration.value = "0"
        duration.focus()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "refused: duration" in screen_text(pilot.app), "the TUI to get there"
        )
        await pilot.pause(0.1)

    assert _snap(client, snap_compare, size, run_before)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_worker_picker_snapshot(
    client: MemoryClient, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        second = {"id": 4242, "model": "all-MiniLM-L6-v2", "device": "cpu", "state": "ready"}
        client.apply({"workers": [*client.model["workers"], second]})
        app = pilot.app
        assert isinstance(app, ParkmeshApp)
        await wait_for(
            pilot, lambda: len(app.state.get("WorkersJson") or []) == 2, "the TUI to get there"
        )
        await pilot.press("w")
        await wait_for(
            pilot, lambda: "Restart which worker?" in screen_text(pilot.app), "the TUI to get there"
        )
        await pilot.pause(0.1)

    assert _snap(client, snap_compare, size, run_before)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_reload_question_snapshot(
    client: MemoryClient, snap_compare: Any, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _loaded(pilot)
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: "Reload the configuration" in screen_text(pilot.app),
            "the TUI to get there",
        )
        await pilot.pause(0.1)

    assert _snap(client, snap_compare, size, run_before)
