"""``parkmesh drain``, ``resume`` and ``test-stop`` against the fake daemon on a private bus."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.cli.actions import parse_until
from supervisor.cli.output import EX_UNREACHABLE


@pytest.fixture(autouse=True)
def _no_env_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--bus` is passed on through the environment; this makes monkeypatch restore it, so
    # that the bus of this file's fake daemon does not outlive its tests.
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "")


def test_drain_resume_and_a_timed_test_stop(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drain", "--bus", fake_daemon]) == 0
    assert "draining" in capsys.readouterr().out
    assert main(["status", "--json", "--bus", fake_daemon]) == 0
    assert main(["resume", "--bus", fake_daemon]) == 0
    capsys.readouterr()
    assert main(["test-stop", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out) == {"done": "test-stop", "latency_ms": 3.25}
    assert main(["test-stop", "--bus", fake_daemon]) == 0
    assert "3.250 ms" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["drain", "pause", "resume", "test-stop"])
def test_without_a_daemon_each_says_so_with_the_one_status(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert main([command]) == EX_UNREACHABLE
    assert "not reachable" in capsys.readouterr().err


def test_pause_until_a_time_shows_in_why_and_resume_lifts_it(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pause", "--until", "06:30", "--bus", fake_daemon]) == 0
    assert "paused: no new compute until " in capsys.readouterr().out
    assert main(["why", "--bus", fake_daemon]) == 0
    assert "paused by the owner until 06:30" in capsys.readouterr().out
    assert main(["status", "--json", "--bus", fake_daemon]) == 0
    paused_until = json.loads(capsys.readouterr().out)["paused_until"]
    assert time.strftime("%H:%M", time.localtime(paused_until)) == "06:30"
    assert 0 < paused_until - time.time() <= 24 * 3600

    assert main(["resume", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "done": "resume",
        "lifted": ["the owner's pause"],
        "kept": [],
    }
    assert main(["why", "--bus", fake_daemon]) == 0
    assert "paused by the owner" not in capsys.readouterr().out
    assert main(["resume", "--bus", fake_daemon]) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_resume_lifts_a_pause_and_a_drain_and_says_both(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pause", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out) == {"done": "pause", "until": None}
    assert main(["why", "--bus", fake_daemon]) == 0
    assert "paused by the owner until resumed" in capsys.readouterr().out
    assert main(["drain", "--bus", fake_daemon]) == 0
    capsys.readouterr()
    assert main(["resume", "--bus", fake_daemon]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resumed: lifted the owner's pause and the technician's drain")


def test_pause_refuses_a_bad_or_past_time(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pause", "--until", "half past six", "--bus", fake_daemon]) == 2
    assert "neither HH:MM nor an ISO time" in capsys.readouterr().err
    assert main(["pause", "--until", "2020-01-01T06:30", "--bus", fake_daemon]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "until_unix" in err and "not in the future" in err
    assert main(["status", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out)["paused_until"] is None


def test_until_is_the_next_local_occurrence_or_an_iso_time() -> None:
    now = dt.datetime(2026, 12, 1, 22, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert parse_until("06:30", now) == now.replace(day=2, hour=6, minute=30)
    assert parse_until("23:00", now) == now.replace(hour=23, minute=0)
    assert parse_until("2026-12-03T08:00+01:00", now) == now.replace(day=3, hour=8, minute=0)
    naive = parse_until("2026-12-03T08:00", now)
    assert naive.tzinfo is not None and naive.replace(tzinfo=None) == dt.datetime(2026, 12, 3, 8)
    with pytest.raises(ValueError, match="--until"):
        parse_until("tomorrow", now)
