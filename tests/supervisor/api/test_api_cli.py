"""``parkmesh status``, ``why`` and ``prefs`` against the fake daemon on a private bus."""

from __future__ import annotations

import json

import pytest
import trio
from parkmesh_cli import main
from parkmesh_fake_daemon import FakeFacade

from supervisor.api.service import ApiService


@pytest.fixture(autouse=True)
def _no_env_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--bus` is passed on through the environment; this makes monkeypatch restore it.
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "")


def test_status_json(fake_daemon: str, capsys: pytest.CaptureFixture[str]):
    assert main(["status", "--json", "--bus", fake_daemon]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["phase"] == "serving"
    assert (status["node_kind"], status["node_source"]) == ("car", "CAN can0 (Model3CAN.dbc)")
    assert status["budget"]["soc_percent"] == 72.0
    assert status["workers"][0]["model"] == "minilm-l6"
    assert status["uplink"]["tier"] == "interactive"
    assert status["loop"]["longest_step_ms"] == 3.5
    assert status["loop"]["longest_step_task"] == "api"
    assert main(["status", "--bus", fake_daemon]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["node", "car,", "CAN", "can0", "(Model3CAN.dbc)"]
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
    assert "car, CAN can0 (Model3CAN.dbc)" in out.splitlines()[0]
    assert main(["why", "--json", "--bus", fake_daemon]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["earnings_today"] == 1.25 and facts["runway_s"] == 5400.0
    assert facts["node_kind"] == "car"


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


async def test_why_names_a_home_battery_and_its_inverter(
    bus_address: str, service: ApiService, facade: FakeFacade, capsys: pytest.CaptureFixture[str]
) -> None:
    battery = "ParkSim HB-10 (SN4711) at 192.0.2.7:502"
    facade.apply(
        {
            "node_kind": "home-battery",
            "node_source": battery,
            "phase": "not eligible",
            "reasons": ["grid outage: the battery's energy is for the house"],
        }
    )
    assert await trio.to_thread.run_sync(main, ["why", "--bus", bus_address]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(maxsplit=1) == ["node", f"home battery, {battery}"]
    assert "grid outage: the battery's energy is for the house" in lines[2]
