"""The home battery node against a real SunSpec Modbus TCP server (pymodbus) on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from supervisor.nodes.config import HomeBatteryConfig
from supervisor.nodes.home_battery import signals
from supervisor.nodes.home_battery.readings import battery_readings
from supervisor.nodes.home_battery.rules import HomeBatteryRules
from supervisor.nodes.home_battery.source import SunSpecSource
from supervisor.policy import Phase
from supervisor.preempt.stop_thread import StopThreads

from .rig import Rig, rig_for

PEER = Path(__file__).with_name("sunspec_peer.py")


class Inverter:
    """The SunSpec peer process."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER), str(port)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def set(self, point: str, value: object) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"set {point} {value}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def inverter(port: int, clean_env: dict[str, str]) -> Iterator[Inverter]:
    peer = Inverter(port, clean_env)
    yield peer
    peer.close()


@pytest.fixture
def config(port: int) -> HomeBatteryConfig:
    return HomeBatteryConfig(host="127.0.0.1", port=port, poll_s=0.1, timeout_s=0.5, max_age_s=1.0)


@pytest.fixture
async def rig(config: HomeBatteryConfig, inverter: Inverter) -> AsyncIterator[Rig]:
    async with rig_for(
        HomeBatteryRules(config),
        lambda hp: SunSpecSource(config, hp, thread=StopThreads(hp)),
    ) as rig:
        yield rig


async def test_a_grid_outage_mid_job_stops_it_at_once(rig: Rig, inverter: Inverter) -> None:
    await rig.serving()
    ms = await rig.stop_after(lambda: inverter.set("grid", "down"))
    reading_to_flag = rig.hotpath.statistics().last_stop_latency_ms
    assert "grid outage: the battery's energy is for the house" in rig.reasons(), (
        f"stopped {ms:.1f} ms after the outage was published; reading to flag {reading_to_flag} ms"
    )
    # Published within one poll (0.1 s) and stopped on the reading's own thread.
    assert ms < 1000, f"grid outage to stop page: {ms:.1f} ms"
    assert reading_to_flag is not None and reading_to_flag < 50, (
        f"reading to stop flag: {reading_to_flag} ms"
    )
    print(
        f"home battery: grid outage to stop page {ms:.1f} ms, reading to flag {reading_to_flag:.3f} ms"
    )


async def test_the_owner_raising_the_reserve_stops_work(rig: Rig, inverter: Inverter) -> None:
    await rig.serving()
    ms = await rig.stop_after(lambda: inverter.set("reserve", 78))
    assert any("backup reserve of 78 %" in r for r in rig.reasons()), (rig.reasons(), ms)
    inverter.set("reserve", 20)
    rig.hotpath.set_busy(False)
    rig.hotpath.policy.stop_acknowledged()
    await rig.wait_phase(Phase.ELIGIBLE)


async def test_a_device_that_stops_answering_stops_work_with_its_name(
    rig: Rig, inverter: Inverter
) -> None:
    await rig.serving()
    ms = await rig.stop_after(lambda: inverter.proc.send_signal(signal.SIGSTOP))
    text = rig.hotpath.decision.explain()
    # The read times out (0.5 s) before the readings go stale (1 s): the device is named.
    assert "ParkSim HB-10 (SN4711) at 127.0.0.1" in text and "no answer" in text, (text, ms)
    inverter.proc.send_signal(signal.SIGCONT)
    rig.hotpath.set_busy(False)
    rig.hotpath.policy.stop_acknowledged()
    await rig.wait_phase(Phase.ELIGIBLE, timeout=8.0)


async def test_a_device_gone_is_a_failed_source_naming_it(rig: Rig, inverter: Inverter) -> None:
    await rig.serving()
    ms = await rig.stop_after(inverter.close)
    text = rig.hotpath.decision.explain()
    assert "home battery source sunspec failed: ParkSim HB-10 (SN4711) at 127.0.0.1" in text, (
        text,
        ms,
    )


@pytest.mark.parametrize(
    ("point", "value", "reason"),
    [
        ("raw_soc", 65535, "battery state of charge: the inverter reports it as unknown"),
        ("charge_state", 99, "battery state: the inverter reports it as unknown"),
        ("charge_state", 2, "battery state is EMPTY"),
        ("inverter_state", 7, "inverter state is FAULT"),
        ("battery_temp", 51, "battery at 51.0 °C, above its limit of 45 °C"),
        ("battery_temp", -3, "battery at -3.0 °C, below its limit of 0 °C"),
    ],
)
async def test_unknown_and_unsafe_values_stop_work(
    rig: Rig, inverter: Inverter, point: str, value: object, reason: str
) -> None:
    await rig.serving()
    await rig.stop_after(lambda: inverter.set(point, value))
    assert reason in rig.reasons()


async def test_surplus_solar_is_the_budgets_first_source(rig: Rig, inverter: Inverter) -> None:
    await rig.wait_phase(Phase.ELIGIBLE)
    inverter.set("charge_state", 4)  # CHARGING
    inverter.set("charge_rate", 40)  # 40 % of WChaMax 5000 W, from PV
    state, hp = rig.hotpath.state, rig.hotpath
    await rig.wait_value(signals.SOLAR_SURPLUS_W, 2000.0)
    readings = battery_readings(lambda path: state.value(path, hp.clock()))
    assert readings.charging and readings.charge_power_kw == 2.0
    assert readings.soc_percent == 80.0
    assert readings.temperatures.battery == 25.0 and readings.temperatures.cabin == 30.0
