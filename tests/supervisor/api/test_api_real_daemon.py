"""The API, the CLI and the bus against the real daemon (``parkmesh run``, scenario car)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from parkmesh_cli import main as cli
from parkmesh_private_bus import RealDaemonProcess

from supervisor.api import client, names

pytestmark = pytest.mark.slow


@pytest.fixture
def real_daemon(bus_address: str, tmp_path: Path) -> Iterator[RealDaemonProcess]:
    daemon = RealDaemonProcess(bus_address, tmp_path / "state")
    try:
        yield daemon
    finally:
        daemon.stop()


def test_real_daemon_serves_the_api(
    bus_address: str,
    real_daemon: RealDaemonProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "")
    props = client.get_all_properties(bus=bus_address)
    assert props["Phase"] in ("not eligible", "eligible", "serving", "stopping")
    assert any(s["path"] == "Vehicle.Speed" for s in props["VehicleJson"])

    # Bad arguments: an error naming the argument, and the daemon goes on.
    with pytest.raises(client.ApiCallError, match=r"^value: .*charge_floor_percent") as bad:
        client.call("SetPreference", "charge_floor_percent", "95", bus=bus_address)
    assert bad.value.name == names.ERROR_INVALID_ARGS
    with pytest.raises(client.ApiCallError, match=r"^name: no preference 'colour'"):
        client.call("SetPreference", "colour", "red", bus=bus_address)
    assert client.call("Explain", bus=bus_address)

    # prefs set: validated, persisted in the state directory, applied at once.
    assert cli(["prefs", "set", "charge_floor_percent", "55", "--bus", bus_address]) == 0
    capsys.readouterr()
    assert client.get_property("BudgetJson", bus=bus_address)["floor_percent"] == 55.0
    stored = [p for p in real_daemon.state_dir.rglob("*.json") if "55" in p.read_text()]
    assert stored, "the preference was not persisted under the state directory"

    assert cli(["status", "--json", "--bus", bus_address]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["budget"]["floor_percent"] == 55.0
    # The loop's responsiveness (the daemon's LoopMonitor), as in the TUI's Overview.
    assert {"running", "longest_step_ms", "longest_step_task", "max_lag_ms"} <= set(status["loop"])
    assert cli(["why", "--bus", bus_address]) == 0
    assert "floor 55%" in capsys.readouterr().out

    # Drain, Resume and TestStop act on the real daemon.
    client.call("Drain", bus=bus_address)
    assert client.get_property("Draining", bus=bus_address) is True
    client.call("Resume", bus=bus_address)
    assert client.get_property("Draining", bus=bus_address) is False
    (latency,) = client.call("TestStop", bus=bus_address)
    assert 0 <= latency < 1000

    # The scenario car gets admitted, then a door opens: the state follows.
    deadline = time.monotonic() + 15
    seen = set()
    while time.monotonic() < deadline and not {"eligible", "door"} <= seen:
        props = client.get_all_properties(bus=bus_address)
        if props["Phase"] in ("eligible", "serving"):
            seen.add("eligible")
        if "eligible" in seen and any("door" in r for r in props["Reasons"]):
            seen.add("door")
        time.sleep(0.1)
    assert seen == {"eligible", "door"}
