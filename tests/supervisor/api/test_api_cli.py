"""``parkmesh status``, ``why`` and ``prefs`` against the fake daemon on a private bus."""

from __future__ import annotations

import json

import pytest
from parkmesh_cli import main


@pytest.fixture(autouse=True)
def _no_env_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--bus` is passed on through the environment; this makes monkeypatch restore it.
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "")


def test_status_json(fake_daemon: str, capsys: pytest.CaptureFixture[str]):
    assert main(["status", "--json", "--bus", fake_daemon]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["phase"] == "serving"
    assert status["budget"]["soc_percent"] == 72.0
    assert status["workers"][0]["model"] == "minilm-l6"
    assert status["uplink"]["tier"] == "interactive"
    assert status["loop"]["longest_step_ms"] == 3.5
    assert status["loop"]["longest_step_task"] == "api"
    assert main(["status", "--bus", fake_daemon]) == 0
    text = capsys.readouterr().out
    assert "worker w0: minilm-l6 on cuda:0, serving" in text
    assert "uplink: connected, tier interactive, outbox 2" in text
    assert (
        "loop: longest step 0.80 ms, lag 0.60 ms in the last 10 s; worst step 3.50 ms "
        "(api), worst lag 4.10 ms"
    ) in text


def test_why_gives_the_overview_facts(fake_daemon: str, capsys: pytest.CaptureFixture[str]):
    assert main(["why", "--bus", fake_daemon]) == 0
    out = capsys.readouterr().out
    assert "serving" in out and "72.0%" in out and "950 W" in out and "1 h 30 min" in out
    assert "Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus" in out  # the stale one
    assert "96.40 USD" in out
    assert main(["why", "--json", "--bus", fake_daemon]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["earnings_today"] == 1.25 and facts["runway_s"] == 5400.0


def test_prefs_get_and_set(fake_daemon: str, capsys: pytest.CaptureFixture[str]):
    assert main(["prefs", "set", "charge_floor_percent", "65", "--bus", fake_daemon]) == 0
    assert "charge_floor_percent = 65.0" in capsys.readouterr().out
    assert main(["prefs", "get", "charge_floor_percent", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out) == {"charge_floor_percent": 65.0}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["prefs", "set", "charge_floor_percent", "95"],
            "value: charge_floor_percent: must be between",
        ),
        (
            ["prefs", "set", "charge_floor_percent", "lots"],
            "value: charge_floor_percent: must be a number",
        ),
        (["prefs", "set", "colour", "red"], "name: no preference 'colour'"),
        (["prefs", "get", "colour"], "name: no preference 'colour'"),
    ],
)
def test_prefs_bad_input(
    fake_daemon: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    assert main([*argv, "--bus", fake_daemon]) == 2
    assert message in capsys.readouterr().err


def test_no_daemon(bus_address: str, capsys: pytest.CaptureFixture[str]):
    assert main(["status", "--bus", bus_address]) == 3
    assert f"not reachable on {bus_address}" in capsys.readouterr().err
