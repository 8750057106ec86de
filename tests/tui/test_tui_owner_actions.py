"""The owner's pause (now, or until HH:MM), the resume that lifts the pause and the drain as
``parkmesh resume`` does, and the curtail dialog with ``parkmesh curtail``'s bounds; values
refused before asking, and the daemon's refusals, are shown in the dialog."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from memory_client import MemoryClient
from parkmesh_tui_helpers import run, screen_text, wait_for, wait_text
from textual.pilot import Pilot
from textual.widgets import Input

import supervisor.cli.budget
from tui.app import ParkmeshApp
from tui.screens.curtail import CurtailDialog, curtailment_request
from tui.screens.pause import PauseDialog, pause_until


async def _dialog(pilot: Pilot[None], key: str, kind: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind), kind.__name__)


def _fill(pilot: Pilot[None], field: str, text: str) -> None:
    field_input = pilot.app.screen.query_one(field, Input)
    field_input.value = text
    field_input.focus()


def test_pause_until_is_the_next_such_time() -> None:
    now = dt.datetime(2026, 11, 27, 22, 15, tzinfo=dt.UTC)
    assert pause_until("", now) == 0.0
    assert pause_until("23:00", now) == dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC).timestamp()
    assert pause_until(" 06:30 ", now) == (
        dt.datetime(2026, 11, 28, 6, 30, tzinfo=dt.UTC).timestamp()
    )
    for bad in ("25:00", "soon", "6.30"):
        with pytest.raises(ValueError, match=r"^until: expected HH:MM"):
            pause_until(bad, now)


def test_pause_now_then_resume_lifts_it(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await _dialog(pilot, "p", PauseDialog)
        await wait_text(pilot, "Until HH:MM (local time), or leave empty: until resumed")
        await pilot.press("enter")
        await wait_text(pilot, "paused: no new compute until resumed (r); running jobs finish")
        assert client.called("pause") == [(0.0,)]
        assert not isinstance(app.screen, PauseDialog)
        await wait_for(pilot, lambda: app.state.get("PausedUntil") == 0.0, "the pause shown")
        await pilot.press("r")
        await wait_text(pilot, "resumed: lifted the owner's pause; jobs are taken")
        assert client.called("unpause") == [()] and client.called("resume") == []
        assert client.props["PausedUntil"] == -1.0

    run(client, scenario)


def test_pause_until_a_time_and_the_refusals(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await _dialog(pilot, "p", PauseDialog)
        _fill(pilot, "#pause-input", "25:00")
        await pilot.press("enter")
        await wait_text(pilot, "refused: until: expected HH:MM (e.g. 06:30) or nothing")
        assert client.called("pause") == []  # refused before asking
        client.refusals["pause"] = "until_unix: not the owner's to pause"
        _fill(pilot, "#pause-input", "06:30")
        await pilot.press("enter")
        await wait_text(pilot, "refused: until_unix: not the owner's to pause")
        assert isinstance(app.screen, PauseDialog)  # kept open with the daemon's reason
        del client.refusals["pause"]
        await pilot.press("enter")
        await wait_text(pilot, "paused: no new compute until 06:30; running jobs finish")
        ((until,),) = client.called("pause")[-1:]
        assert until > dt.datetime.now().timestamp()
        assert dt.datetime.fromtimestamp(until).strftime("%H:%M") == "06:30"

    run(client, scenario)


def test_resume_lifts_the_pause_and_the_drain_and_says_what_stays(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("r")
        await wait_text(pilot, "nothing to resume: compute is neither paused nor drained")
        assert client.called("resume") == client.called("unpause") == []
        client.apply({"draining": True, "paused_until": 0.0})
        await wait_for(pilot, lambda: app.state.get("Draining") is True, "the drain shown")
        client.refusals["resume"] = "AccessDenied: the technician's only"
        await pilot.press("r")
        await wait_text(pilot, "resumed: lifted the owner's pause")
        assert "the technician's drain stays: AccessDenied" in app.state.notice
        del client.refusals["resume"]
        await wait_for(pilot, lambda: app.state.get("PausedUntil") == -1.0, "the pause lifted")
        client.refusals["resume"] = "AccessDenied: the technician's only"
        await pilot.press("r")
        await wait_text(pilot, "resume: the technician's drain stays: AccessDenied")
        del client.refusals["resume"]
        await pilot.press("r")
        await wait_text(pilot, "resumed: lifted the technician's drain; jobs are taken")
        client.apply({"draining": True, "paused_until": 0.0})
        await wait_for(pilot, lambda: app.state.get("Draining") is True, "the drain shown")
        await pilot.press("r")
        await wait_text(pilot, "lifted the owner's pause and the technician's drain")

    run(client, scenario)


def test_curtail_rules_are_parkmesh_curtails() -> None:
    parser = argparse.ArgumentParser()
    supervisor.cli.budget.register(parser.add_subparsers())

    def cli_accepts(*argv: str) -> bool:
        try:
            parser.parse_args(["curtail", *argv])
        except SystemExit:
            return False
        return True

    cases = [
        ("0", "1"),
        ("3", "10080"),
        ("4", "60"),
        ("1000 kW", "60"),
        ("1000.5kW", "60"),
        ("0 kW", "60"),
        ("-1 kW", "60"),
        ("2", "0"),
        ("2", "10080.5"),
        ("2", "-5"),
    ]
    for limit, minutes in cases:
        flag = ["--limit-kw", limit.lower().removesuffix("kw").strip()]
        if not limit.lower().endswith("kw"):
            flag = ["--level", limit]
        try:
            curtailment_request(limit, minutes)
            tui = True
        except ValueError:
            tui = False
        assert tui == cli_accepts(*flag, "--duration", minutes), (limit, minutes)
    assert curtailment_request("2", "60") == {
        "duration_s": 3600.0,
        "start_in_s": 0.0,
        "randomize_s": 0.0,
        "level": 2,
    }
    assert curtailment_request("3.5 kW", "90")["import_limit_kw"] == 3.5


def test_curtail_dialog_explains_refusals_then_applies(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await _dialog(pilot, "c", CurtailDialog)
        await wait_text(pilot, "Limit: a level 0 (normal) to 3 (emergency), or up to 1000 kW")
        _fill(pilot, "#curtail-limit", "5")
        await pilot.press("enter")  # the duration is empty: Enter moves to it
        assert app.screen.focused is app.screen.query_one("#curtail-duration")
        _fill(pilot, "#curtail-duration", "60")
        await pilot.press("enter")
        await wait_text(pilot, "refused: limit: a level 0 to 3, or a power such as 2.5 kW")
        _fill(pilot, "#curtail-limit", "1200 kW")
        await pilot.press("enter")
        await wait_text(pilot, "refused: limit: must be at least 0 and at most 1000 kW")
        _fill(pilot, "#curtail-limit", "2")
        _fill(pilot, "#curtail-duration", "0")
        await pilot.press("enter")
        await wait_text(pilot, "refused: duration: must be more than 0 and at most 10080")
        assert client.called("add_curtailment") == []  # all refused before asking
        client.refusals["add_curtailment"] = "request_json: start must be within a year"
        _fill(pilot, "#curtail-duration", "60")
        await pilot.press("enter")
        await wait_text(pilot, "refused: request_json: start must be within a year")
        assert isinstance(app.screen, CurtailDialog)
        del client.refusals["add_curtailment"]
        await pilot.press("enter")
        await wait_text(pilot, "curtailment accepted: level 2 for 60 min")
        assert client.called("add_curtailment")[-1] == (
            {"duration_s": 3600.0, "start_in_s": 0.0, "randomize_s": 0.0, "level": 2},
        )
        await _dialog(pilot, "c", CurtailDialog)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CurtailDialog), "closed")
        assert len(client.called("add_curtailment")) == 2
        assert "curtailment accepted" in screen_text(app)

    run(client, scenario)
