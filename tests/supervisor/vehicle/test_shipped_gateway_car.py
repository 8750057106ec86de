"""The daemon with the shipped DBus gateway mapping and the default policy and budget: a
gateway on a private bus publishes a parked, plugged-in, charging car, and the car becomes
eligible. Nothing in the configuration but the buses is changed from the defaults that
matter here (required signals, required sensors, the mapping file)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supervisor.api import client
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore

REPO = Path(__file__).resolve().parents[3]
PEER = Path(__file__).with_name("dbus_gateway_peer.py")
BODY = "org.parkmesh.VehicleGateway1.Body"
BATTERY = "org.parkmesh.VehicleGateway1.Battery"


class Peer:
    """The gateway peer process (dbus_gateway_peer.py), commanded through its stdin."""

    def __init__(self, address: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER), address],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def set(self, interface: str, prop: str, value: object) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"set {interface} {prop} {json.dumps(value)}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        self.proc.communicate(input="", timeout=10)


@pytest.fixture
def peer(bus_address: str, clean_env: dict[str, str]) -> Iterator[Peer]:
    gateway = Peer(bus_address, clean_env)
    yield gateway
    gateway.stop()


@pytest.fixture
def daemon(bus_address: str, tmp_path: Path, clean_env: dict[str, str]) -> Iterator[Daemon]:
    """``parkmesh run`` reading the car from the gateway."""
    # The plan follows the wall clock: a default 07:30 departure would bind, or not, by the
    # time of day the suite runs. This test is about the mapping, not departures.
    PreferenceStore(tmp_path).save(OwnerPreferences(departures=()))
    config = tmp_path / "parkmesh.toml"
    config.write_text(f"""
[daemon]
state_dir = "{tmp_path}"
runtime_dir = "{tmp_path / "run"}"
realtime_priority = 0
[vehicle]
source = "dbus"
[vehicle.dbus]
bus = "{bus_address}"
retry_s = 0.1
[policy]
settle_s = 0.5
[api]
bus = "{bus_address}"
poll_s = 0.1
[budget]
evaluate_every_s = 0.1
[sandbox]
models = []
""")
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.cli", "run", "--config", str(config)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean_env, "PARKMESH_BUS_ADDRESS": ""},
        )
        try:
            yield Daemon(proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path


def wait_for(bus: str, daemon: Daemon, done: Any, what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``GetStatus`` until `done(status)` holds; fails naming `what`, with the log."""
    deadline = time.monotonic() + timeout_s
    status: Any = None
    while time.monotonic() < deadline and daemon.proc.poll() is None:
        try:
            status = client.call_json("GetStatus", bus=bus)
        except client.DaemonUnreachable:
            status = None
        if status is not None and done(status):
            return status
        time.sleep(0.1)
    pytest.fail(f"{what} never came; last status {status}\n{daemon.log.read_text()}")


@pytest.mark.slow
def test_a_parked_charging_car_on_the_shipped_gateway_mapping_becomes_eligible(
    bus_address: str, peer: Peer, daemon: Daemon
) -> None:
    # The peer's parked car lacks temperatures and the charger's state: the default budget
    # requires battery and cabin temperatures and, by the owner's default preferences, a
    # charger that delivers, so the car must not compute yet.
    status = wait_for(
        bus_address,
        daemon,
        lambda s: "temperature:battery" in s["budget"].get("binding", []),
        "a budget stop for the missing temperatures",
    )
    assert status["phase"] == "not eligible"
    assert {"temperature:cabin", "on_battery"} <= set(status["budget"]["binding"])

    peer.set(BATTERY, "PackTemperatureMaxC", 24.5)
    peer.set(BODY, "CabinTemperatureC", 21.0)
    peer.set(BODY, "OutsideTemperatureC", 12.0)
    peer.set(BATTERY, "Charging", True)

    status = wait_for(bus_address, daemon, lambda s: s["phase"] == "eligible", "eligibility")
    assert status["reasons"] == []
    assert status["budget"]["allowed_w"] > 0
    values = {s["path"]: s["value"] for s in status["vehicle"]}
    assert values["Vehicle.Powertrain.TractionBattery.Charging.IsCharging"] is True
    assert values["Vehicle.Powertrain.TractionBattery.Temperature.Max"] == 24.5
    assert values["Vehicle.Cabin.HVAC.AmbientAirTemperature"] == 21.0
