"""The docked robot node against UPower and a robot task system on a private dbus-daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from supervisor.nodes.config import RobotConfig
from supervisor.nodes.robot.readings import robot_readings
from supervisor.nodes.robot.rules import RobotRules
from supervisor.nodes.robot.source import RobotSource
from supervisor.policy import Phase
from supervisor.preempt.stop_thread import StopThreads

from .rig import Rig, rig_for

PEER = Path(__file__).with_name("upower_peer.py")


class Peer:
    """The UPower + robot peer process."""

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

    def command(self, line: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def set(self, key: str, value: object) -> None:
        self.command(f"set {key} {json.dumps(value)}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def peer(bus_address: str, clean_env: dict[str, str]) -> Iterator[Peer]:
    p = Peer(bus_address, clean_env)
    yield p
    p.close()


@pytest.fixture
def config(bus_address: str) -> RobotConfig:
    return RobotConfig(bus=bus_address, poll_s=0.2, max_age_s=1.0, retry_s=0.1)


@pytest.fixture
async def rig(config: RobotConfig, peer: Peer) -> AsyncIterator[Rig]:
    async with rig_for(
        RobotRules(), lambda hp: RobotSource(config, hp, thread=StopThreads(hp))
    ) as rig:
        yield rig


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("docked", False, "robot left its dock"),
        ("busy", True, "robot took a task"),
        ("state", 3, "battery state is EMPTY"),
        ("state", 0, "battery state: the robot reports it as unknown"),
    ],
)
async def test_undocking_or_a_task_mid_job_stops_it_at_once(
    rig: Rig, peer: Peer, key: str, value: object, reason: str
) -> None:
    await rig.serving()
    ms = await rig.stop_after(lambda: peer.set(key, value))
    reading_to_flag = rig.hotpath.statistics().last_stop_latency_ms
    assert reason in rig.reasons(), (rig.reasons(), ms)
    # PropertiesChanged is read on the stop thread: the flag is written before it returns.
    assert reading_to_flag is not None and reading_to_flag < 50, (
        f"{key}={value}: signal to stop page {ms:.1f} ms, reading to flag {reading_to_flag} ms"
    )
    print(
        f"robot {key}={value}: signal to stop page {ms:.1f} ms, reading to flag {reading_to_flag:.3f} ms"
    )


async def test_a_task_system_that_leaves_the_bus_stops_work(rig: Rig, peer: Peer) -> None:
    await rig.serving()
    ms = await rig.stop_after(lambda: peer.command("drop org.parkmesh.Robot1"))
    text = rig.hotpath.decision.explain()
    assert "robot source upower failed: gateway org.parkmesh.Robot1 left the bus" in text, (
        text,
        ms,
    )


async def test_a_hung_upower_goes_stale_and_stops_work(rig: Rig, peer: Peer) -> None:
    await rig.serving()
    await rig.stop_after(lambda: peer.command("mute"), timeout=5.0)
    text = rig.hotpath.decision.explain()
    assert "did not answer GetAll" in text or "stale" in text, text


async def test_docking_again_admits_after_the_stop(rig: Rig, peer: Peer) -> None:
    await rig.serving()
    await rig.stop_after(lambda: peer.set("docked", False))
    rig.hotpath.set_busy(False)
    peer.set("docked", True)
    rig.hotpath.policy.stop_acknowledged()
    await rig.wait_phase(Phase.ELIGIBLE)


async def test_the_dock_is_the_budgets_charger(rig: Rig, peer: Peer, config: RobotConfig) -> None:
    await rig.wait_phase(Phase.ELIGIBLE)
    state, hp = rig.hotpath.state, rig.hotpath
    readings = robot_readings(lambda path: state.value(path, hp.clock()), config)
    assert readings.charging and readings.charge_power_kw == 0.1
    assert readings.soc_percent == 84.0
    assert readings.temperatures.battery == 29.0 and readings.temperatures.cabin == 31.5
    peer.set("battery_temp", 0.0)  # UPower's "not reported"
    await rig.wait_value("Robot.Battery.Temperature", 0.0)
    readings = robot_readings(lambda path: state.value(path, hp.clock()), config)
    assert readings.temperatures.battery is None
    peer.set("online", False)
    await rig.wait_value("Robot.Charger.IsOnline", False)
    assert rig.hotpath.decision.phase == Phase.ELIGIBLE  # on battery is the budget's business
    assert not robot_readings(lambda path: state.value(path, hp.clock()), config).charging
