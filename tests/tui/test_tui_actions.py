"""The technician's actions: drain, resume and test stop in the footer and the help, the test
stop only after a yes; the log filtered by level and searched."""

from __future__ import annotations

from memory_client import MemoryClient
from parkmesh_tui_helpers import run, screen_text, wait_for, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.screens.confirm import ConfirmDialog
from tui.screens.log import shown


def test_the_footer_and_the_help_name_every_action(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        footer = screen_text(app).splitlines()[-1]
        for key_and_name in ("d Drain", "r Resume", "t Test stop", "f Floor", "? Help"):
            assert key_and_name in footer
        await pilot.press("question_mark")
        await wait_text(pilot, "d  Drain: take no new jobs")
        text = screen_text(app)
        assert "r  Resume" in text and "t  Test stop" in text and "asks first: y / n" in text
        assert "l  minimum level" in text and "/  search" in text
        assert "Charge floor: 20 to 90 %" in text

    run(client, scenario)


def test_a_test_stop_needs_a_yes(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        for no in ("n", "escape"):
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
            await pilot.press(no)
            await wait_text(pilot, "test stop cancelled")
            app.state.add_notice("")
        assert client.called("test_stop") == []
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("enter")
        await wait_text(pilot, "test stop: workers stopped in 3.25 ms")
        assert client.called("test_stop") == [()]

    run(client, scenario)


def test_log_filter_rules() -> None:
    lines = ["a INFO x", "b WARNING door", "c ERROR Door", "no level at all", "d DEBUG door"]
    assert shown(lines, "all", "") == lines
    assert shown(lines, "INFO", "") == lines[:3]
    assert shown(lines, "WARNING", "") == lines[1:3]
    assert shown(lines, "ERROR", "") == ["c ERROR Door"]
    assert shown(lines, "all", "door") == ["b WARNING door", "c ERROR Door", "d DEBUG door"]
    assert shown(lines, "WARNING", "DOOR") == lines[1:3]


def test_the_log_screen_filters_by_level_and_searches(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        client.apply({"log": "2026-11-27 02:05:00 WARNING parkmesh: driver door open"})
        client.apply({"log": "2026-11-27 02:06:00 ERROR parkmesh: worker w0 crashed"})
        await pilot.press("8")
        await wait_text(pilot, "level all  7/7 lines")
        await pilot.press("l")
        await wait_text(pilot, "level ≥ INFO  7/7 lines")
        await pilot.press("l")
        await wait_text(pilot, "level ≥ WARNING  2/7 lines")
        assert "line 4" not in screen_text(app)
        assert "driver door open" in screen_text(app)
        await pilot.press("l")
        await wait_text(pilot, "level ≥ ERROR  1/7 lines")
        assert "driver door open" not in screen_text(app)
        await pilot.press("l")
        await wait_text(pilot, "level all  7/7 lines")
        await pilot.press("slash")
        await pilot.press(*"door")  # typed into the search, not taken as screen keys
        await wait_text(pilot, "level all  1/7 lines")
        assert "line 4" not in screen_text(app)
        assert client.called("drain") == []
        # A new line that matches shows up with the search kept.
        await pilot.press("enter")
        client.apply({"log": "2026-11-27 02:07:00 INFO parkmesh: door closed"})
        await wait_text(pilot, "level all  2/8 lines")
        await pilot.press("slash", "escape")
        await wait_text(pilot, "level all  8/8 lines")

    run(client, scenario)
