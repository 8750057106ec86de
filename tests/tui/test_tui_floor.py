"""The floor dialog states and enforces the daemon's own range (thermal's `FLOOR_RANGE`, kept
in tui because tui imports no daemon package)."""

from __future__ import annotations

import memory_data
from memory_client import MemoryClient
from parkmesh_tui_helpers import run, wait_for, wait_text
from textual.pilot import Pilot
from textual.widgets import Input

from thermal.preferences import FLOOR_RANGE as THERMAL_FLOOR_RANGE
from tui.app import ParkmeshApp
from tui.limits import FLOOR_RANGE
from tui.screens.floor import FLOOR_PREFERENCE, FloorDialog


def test_the_tuis_floor_range_is_the_daemons() -> None:
    assert FLOOR_RANGE == THERMAL_FLOOR_RANGE
    assert memory_data.PREF_LIMITS[FLOOR_PREFERENCE] == FLOOR_RANGE


async def _enter(pilot: Pilot[None], text: str) -> None:
    dialog = pilot.app.screen
    assert isinstance(dialog, FloorDialog)
    dialog.query_one("#floor-input", Input).value = text
    await pilot.press("enter")


def test_the_dialog_states_the_range_and_keeps_to_it(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("f")
        await wait_text(pilot, "Charge floor, 20 to 90 %")
        for outside in ("19.5", "0", "100", "90.5"):
            await _enter(pilot, outside)
            await wait_text(pilot, f"refused: value: the daemon takes 20 to 90 %, not {outside}")
        assert client.called("set_preference") == []
        await _enter(pilot, "20")
        await wait_for(pilot, lambda: not isinstance(app.screen, FloorDialog), "dialog closed")
        await wait_text(pilot, "charge floor set to 20 %")
        await pilot.press("f")
        await _enter(pilot, "90 %")
        await wait_text(pilot, "charge floor set to 90 %")
        assert client.called("set_preference") == [
            (FLOOR_PREFERENCE, "20"),
            (FLOOR_PREFERENCE, "90"),
        ]

    run(client, scenario)


def test_a_daemon_gone_while_setting_is_shown_in_the_dialog(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FloorDialog), "the floor dialog")
        client.go_away()
        await _enter(pilot, "55")
        await wait_text(pilot, "refused: no parkmesh daemon on the bus")
        assert isinstance(app.screen, FloorDialog)

    run(client, scenario)
