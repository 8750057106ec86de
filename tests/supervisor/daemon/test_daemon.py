"""``parkmesh run`` as systemd runs it: notify socket, watchdog, status, SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PARKED_SCENARIO = """
name = "parked in the garage"
refresh_s = 0.05
max_age_s = 0.5

[initial]
"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen" = false
"Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen" = false
"Vehicle.Cabin.Door.Row2.DriverSide.IsOpen" = false
"Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen" = false
"Vehicle.Body.Trunk.Rear.IsOpen" = false
"Vehicle.Body.Trunk.Front.IsOpen" = false
"Vehicle.Powertrain.Transmission.SelectedGear" = 126
"Vehicle.Speed" = 0.0
"Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus" = "EMPTY"
"Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed" = 80.0
"Vehicle.Powertrain.TractionBattery.NetCapacity" = 75
"Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableConnected" = true
"Vehicle.Powertrain.TractionBattery.Charging.IsCharging" = true
"Vehicle.Powertrain.TractionBattery.Charging.AveragePower" = 7.2
"Vehicle.Powertrain.TractionBattery.Temperature.Average" = 24.0
"Vehicle.Powertrain.ElectricMotor.EngineCoolant.Temperature" = 28.0
"Vehicle.Cabin.HVAC.AmbientAirTemperature" = 22.0
"Vehicle.Exterior.AirTemperature" = 15.0

[[event]]
at = 1.0
note = "driver door opens"
set = { "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen" = true }
"""


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    yield sock, path
    sock.close()


def _messages(sock: socket.socket, until: str, timeout: float = 10.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} in {got}")


@pytest.mark.slow
def test_systemd_lifecycle(
    tmp_path: Path, notify_socket: tuple[socket.socket, Path], clean_env: dict[str, str]
) -> None:
    sock, path = notify_socket
    scenario = tmp_path / "parked.toml"
    scenario.write_text(PARKED_SCENARIO)
    config = tmp_path / "parkmesh.toml"
    config.write_text(
        f'[daemon]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path}"\n'
        f'[vehicle]\nsource = "scenario"\n[vehicle.scenario]\nfile = "{scenario}"\n'
        "[policy]\nsettle_s = 0.3\n"
        "[sandbox]\nmodels = []\n"
        f'[api]\nbus = "unix:path={tmp_path}/no-bus"\n'
    )
    env = {**clean_env, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli", "run", "--config", str(config)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _messages(sock, "READY=1")
        assert first[-1].startswith("READY=1\nSTATUS=")
        after = _messages(sock, "driver door open", timeout=5)
        assert any(m == "WATCHDOG=1" for m in after), "the watchdog is pinged while healthy"
        assert "STATUS=eligible" in after
        assert any(m.startswith("STATUS=stopping: driver door open") for m in after)
        # `systemctl reload`: the file is re-read; what changed live and what waits is logged.
        config.write_text(config.read_text().replace("settle_s = 0.3", "settle_s = 0.4"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # the reload is logged on stderr, read once the daemon has ended
        assert proc.poll() is None, "SIGHUP must not end the daemon"
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1\nSTATUS=stopping" in _messages(sock, "STOPPING=1", timeout=5)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    # Each change of eligibility is logged once, with its reasons.
    assert stderr.count("stopping: driver door open") == 1
    assert stderr.count("INFO    parkmesh: eligible") == 1
    assert "received SIGTERM: stopping" in stderr
    assert "configuration reloaded:" in stderr and "policy.settle_s" in stderr
    # What the daemon wrote is its own and its group's: nothing for other users (umask 027),
    # whatever the umask it was started with.
    ours = ("parked.toml", "parkmesh.toml", "notify")  # the test's own files
    made = [p for p in tmp_path.rglob("*") if p.name not in ours]
    assert made, "the daemon left no state file to look at"
    for made_path in made:
        assert made_path.stat().st_mode & 0o007 == 0, f"{made_path} is open to other users"
