"""The DBus source against a real dbus-daemon and a vehicle gateway process on it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.policy_clock import PolicyClock
from supervisor.preempt.stop_thread import StopThreads
from supervisor.vehicle.config import DATA_DIR, DbusSourceConfig
from supervisor.vehicle.dbus_source import DbusSource
from supervisor.vehicle.state import VehicleState

PEER = Path(__file__).with_name("dbus_gateway_peer.py")
BODY = "org.parkmesh.VehicleGateway1.Body"
DRIVE = "org.parkmesh.VehicleGateway1.Drive"


class Gateway:
    """The gateway peer process: start, command, kill, restart."""

    def __init__(self, address: str, env: dict[str, str]) -> None:
        self.address = address
        self.env = env
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER), self.address],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def command(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def set(self, interface: str, prop: str, value: object) -> None:
        self.command(f"set {interface} {prop} {json.dumps(value)}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def gateway(bus_address: str, clean_env: dict[str, str]) -> Iterator[Gateway]:
    gw = Gateway(bus_address, clean_env)
    gw.start()
    yield gw
    if gw.proc is not None and gw.proc.poll() is None:
        gw.kill()


@dataclass
class Rig:
    hotpath: HotPath
    page: StopPage

    async def wait_phase(self, phase: Phase, timeout: float = 3.0) -> None:
        with trio.fail_after(timeout):
            while self.hotpath.decision.phase != phase:
                await trio.sleep(0.01)

    async def wait_stopped(self, timeout: float = 3.0) -> None:
        with trio.fail_after(timeout):
            while self.page.level() != StopLevel.HARD:
                await trio.sleep(0.001)


@pytest.fixture
async def rig(bus_address: str, gateway: Gateway) -> AsyncIterator[Rig]:
    board = PageBoard()
    page = StopPage.create("test")
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0)), board)
    config = DbusSourceConfig(
        bus=bus_address, mapping=DATA_DIR / "dbus_gateway_mapping.toml", retry_s=0.1
    )
    source = DbusSource.from_config(config, hotpath, thread=StopThreads(hotpath))
    with board.register(page):
        async with trio.open_nursery() as nursery:
            await nursery.start(source.run)
            await nursery.start(PolicyClock(hotpath).run)
            yield Rig(hotpath, page)
            nursery.cancel_scope.cancel()
    page.close()


@pytest.mark.parametrize(
    ("interface", "prop", "value", "reason"),
    [
        (BODY, "DriverDoorOpen", True, "driver door open"),
        (BODY, "FrunkOpen", True, "frunk open"),
        (BODY, "DriverSeat", "occupied", "driver seat occupied"),
        (BODY, "PowerState", "on", "car waking to drive (power state ON)"),
        (DRIVE, "Gear", "D", "gear is Drive, not Park"),
        (DRIVE, "SpeedKph", 1.5, "moving at 1.5 km/h"),
    ],
)
async def test_a_property_change_stops_work(
    rig: Rig, gateway: Gateway, interface: str, prop: str, value: object, reason: str
) -> None:
    await rig.wait_phase(Phase.ELIGIBLE)
    gateway.set(interface, prop, value)
    await rig.wait_stopped()
    assert reason in [r.text for r in rig.hotpath.decision.reasons]


async def test_gateway_that_disappears_and_comes_back(rig: Rig, gateway: Gateway) -> None:
    await rig.wait_phase(Phase.ELIGIBLE)
    gateway.kill()
    await rig.wait_stopped()
    assert "vehicle source dbus failed" in rig.hotpath.decision.explain()
    gateway.start()
    rig.hotpath.policy.stop_acknowledged()
    await rig.wait_phase(Phase.ELIGIBLE, timeout=5.0)


async def test_a_hung_gateway_goes_stale(rig: Rig, gateway: Gateway) -> None:
    await rig.wait_phase(Phase.ELIGIBLE)
    gateway.command("mute")
    await rig.wait_stopped(timeout=4.0)
    text = rig.hotpath.decision.explain()
    assert "gateway did not answer GetAll: no answer" in text or "stale" in text


async def test_a_property_of_the_wrong_type_makes_the_signal_unknown(
    rig: Rig, gateway: Gateway
) -> None:
    await rig.wait_phase(Phase.ELIGIBLE)
    gateway.set(DRIVE, "SpeedKph", "fast")
    await rig.wait_stopped()
    assert "speed: the car reports it as unknown" in rig.hotpath.decision.explain()


async def test_no_bus_at_all_is_a_failed_source(tmp_path: Path) -> None:
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0)), PageBoard())
    config = DbusSourceConfig(
        bus=f"unix:path={tmp_path / 'nothing'}",
        mapping=DATA_DIR / "dbus_gateway_mapping.toml",
        retry_s=0.1,
    )
    async with trio.open_nursery() as nursery:
        source = DbusSource.from_config(config, hotpath, thread=StopThreads(hotpath))
        await nursery.start(source.run)
        assert "cannot connect to the unix:path=" in hotpath.decision.explain()
        nursery.cancel_scope.cancel()
