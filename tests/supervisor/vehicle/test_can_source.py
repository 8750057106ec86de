"""The CAN source against real python-can buses: udp_multicast (descriptor) and virtual (thread)."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
import pytest
import trio

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage
from supervisor.bench.multicast_port import reserve_multicast_port
from supervisor.bench.reference_car import REFERENCE_DBC, REFERENCE_MAPPING, ReferenceCar
from supervisor.config.errors import ConfigError
from supervisor.config.load import load_config
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.policy_clock import PolicyClock
from supervisor.preempt.stop_thread import StopThreads
from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.can_source import CanSource, open_bus
from supervisor.vehicle.config import CanConfig
from supervisor.vehicle.state import VehicleState

GROUP = "239.74.163.2"
_channels = itertools.count()


@dataclass
class Rig:
    """A reference car on a bus, and the daemon's CAN path reading it."""

    car: ReferenceCar
    tx: can.BusABC
    hotpath: HotPath
    page: StopPage
    decoder: FrameDecoder

    def send(self, *names: str) -> None:
        for name in names or (
            "PM_BodyStatus",
            "PM_DriveStatus",
            "PM_BatteryStatus",
            "PM_ChargeStatus",
            "PM_ThermalStatus",
        ):
            frame_id, data = self.car.frame(name)
            self.tx.send(
                can.Message(arbitration_id=frame_id, data=data, is_extended_id=False, is_fd=False)
            )

    def send_raw(self, frame_id: int, data: bytes) -> None:
        self.tx.send(
            can.Message(arbitration_id=frame_id, data=data, is_extended_id=False, is_fd=False)
        )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        with trio.fail_after(timeout):
            while not predicate():
                self.send()
                await trio.sleep(0.02)

    async def wait_admitted(self) -> None:
        await self.wait_for(lambda: self.hotpath.decision.phase == Phase.ELIGIBLE)


def _rig_parts(
    interface: str, kernel_filters: bool = True, dbc: Path = REFERENCE_DBC
) -> tuple[CanConfig, dict[str, Any]]:
    if interface == "udp_multicast":
        port = reserve_multicast_port()
        return (
            CanConfig(
                interface="udp_multicast",
                channel=GROUP,
                dbc=dbc,
                mapping=REFERENCE_MAPPING,
                kernel_filters=kernel_filters,
            ),
            {"port": port},
        )
    channel = f"test-{os.getpid()}-{next(_channels)}"
    return (
        CanConfig(
            interface="virtual",
            channel=channel,
            dbc=dbc,
            mapping=REFERENCE_MAPPING,
            kernel_filters=kernel_filters,
        ),
        {},
    )


async def _open_rig(
    interface: str,
    kernel_filters: bool = True,
    bus_factory: Callable[[], can.BusABC] | None = None,
    dbc: Path = REFERENCE_DBC,
) -> AsyncIterator[Rig]:
    config, extra = _rig_parts(interface, kernel_filters, dbc)
    decoder = FrameDecoder.load(dbc, REFERENCE_MAPPING)
    board = PageBoard()
    page = StopPage.create("test")
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0)), board)
    source = CanSource(
        config,
        decoder,
        hotpath,
        bus_factory=bus_factory or (lambda: open_bus(config, decoder.frame_ids, **extra)),
        thread=StopThreads(hotpath),
    )
    tx = can.Bus(interface=config.interface, channel=config.channel, **extra)
    try:
        with board.register(page):
            async with trio.open_nursery() as nursery:
                await nursery.start(source.run)
                await nursery.start(PolicyClock(hotpath).run)
                yield Rig(ReferenceCar(), tx, hotpath, page, decoder)
                nursery.cancel_scope.cancel()
    finally:
        tx.shutdown()
        page.close()


@pytest.fixture(params=["udp_multicast", "virtual"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    async for r in _open_rig(request.param):
        yield r


TRIGGERS: list[tuple[str, str, Any, str]] = [
    ("body", "PM_doorFrontLeft", "OPEN", "driver door open"),
    ("body", "PM_doorFrontRight", "OPEN", "front passenger door open"),
    ("body", "PM_doorRearLeft", "OPEN", "rear door behind the driver open"),
    ("body", "PM_doorRearRight", "OPEN", "rear passenger door open"),
    ("body", "PM_trunk", "OPEN", "trunk open"),
    ("body", "PM_frunk", "OPEN", "frunk open"),
    ("body", "PM_driverSeat", "OCCUPIED", "driver seat occupied"),
    ("body", "PM_lvState", "ON", "car waking to drive (power state ON)"),
    ("body", "PM_lvState", "START", "car waking to drive (power state START)"),
    ("drive", "PM_gear", "D", "gear is Drive, not Park"),
    ("drive", "PM_gear", "R", "gear is Reverse, not Park"),
    ("drive", "PM_speed", 3.5, "moving at 3.5 km/h"),
]


@pytest.mark.parametrize(("group", "signal", "value", "reason"), TRIGGERS)
async def test_each_trigger_frame_writes_the_stop_flag(
    rig: Rig, group: str, signal: str, value: Any, reason: str
) -> None:
    signals = getattr(rig.car, group)
    safe = signals[signal]
    for _ in range(3):
        await rig.wait_admitted()
        assert rig.page.level() == StopLevel.RUN
        signals[signal] = value
        rig.send("PM_BodyStatus" if group == "body" else "PM_DriveStatus")
        with trio.fail_after(2):
            while rig.page.level() != StopLevel.HARD:
                await trio.sleep(0.001)
        if not any(r.code == "stale" for r in rig.hotpath.decision.reasons):
            break
        # This test did not run for the gear's maximum age (0.5 s, a loaded machine), and the
        # car's silence stopped work before the frame did: again.
        signals[signal] = safe
    assert reason in [r.text for r in rig.hotpath.decision.reasons]
    latency = rig.hotpath.statistics().last_stop_latency_ms
    assert latency is not None and 0 <= latency < 50


async def test_a_silent_bus_stops_work_within_the_maximum_age(rig: Rig) -> None:
    await rig.wait_admitted()
    last_sent = time.monotonic()
    with trio.fail_after(2):
        while rig.page.level() != StopLevel.HARD:
            await trio.sleep(0.005)
    stopped_after = time.monotonic() - last_sent
    # Gear and speed have the shortest maximum age in the reference mapping: 0.5 s.
    assert 0.45 <= stopped_after <= 0.5 + 0.15
    assert any(r.code == "stale" for r in rig.hotpath.decision.reasons)


async def test_malformed_frames_make_their_signals_unknown_and_unknown_ids_are_counted() -> None:
    async for rig in _open_rig("udp_multicast", kernel_filters=False):
        await rig.wait_admitted()
        rig.send_raw(0x7FF, b"\x00" * 8)  # an id the mapping does not know: ignored
        rig.send_raw(0x100, b"\x01\x02")  # the body frame, 2 bytes instead of 8
        with trio.fail_after(2):
            while rig.page.level() != StopLevel.HARD:
                await trio.sleep(0.001)
        assert rig.decoder.stats.malformed == 1 and rig.decoder.stats.unknown_ids >= 1
        # The doors' last reading was "closed": a frame that cannot be read does not keep it.
        assert rig.hotpath.state.get(vss.DOORS[0]) is not None
        assert rig.hotpath.state.value(vss.DOORS[0], time.monotonic()) is None
        assert "driver door: the car reports it as unknown" in rig.hotpath.decision.explain()
        await rig.wait_admitted()  # good frames again: readings are known again


async def test_a_bus_that_fails_is_a_hard_stop_until_it_reads_again() -> None:
    config, extra = _rig_parts("udp_multicast")
    attempts = {"n": 0}

    def flaky_bus() -> can.BusABC:
        attempts["n"] += 1
        if attempts["n"] <= 2:
            raise can.CanInitializationError("interface can0 is down")
        decoder = FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
        return open_bus(config, decoder.frame_ids, **extra)

    config_holder = config
    async for rig in _open_rig("udp_multicast", bus_factory=flaky_bus):
        assert config_holder.interface == "udp_multicast"
        reasons = rig.hotpath.decision.explain()
        assert "vehicle source can failed: cannot open udp_multicast" in reasons
        assert "interface can0 is down" in reasons
        # The same port the factory opens: send there once it has recovered.
        rig.tx.shutdown()
        rig.tx = can.Bus(interface="udp_multicast", channel=GROUP, **extra)
        await rig.wait_admitted()
        assert attempts["n"] == 3


def test_udp_multicast_traffic_stays_on_the_machine() -> None:
    config = CanConfig(
        interface="udp_multicast",
        channel=GROUP,
        dbc=REFERENCE_DBC,
        mapping=REFERENCE_MAPPING,
        port=reserve_multicast_port(),
    )
    decoder = FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
    bus = open_bus(config, decoder.frame_ids)
    try:
        sock = bus._multicast._socket  # type: ignore[attr-defined]  # python-can's own socket
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
        assert sock.getsockname()[1] == config.port
    finally:
        bus.shutdown()


@pytest.mark.parametrize("port", [0, 65536])
def test_the_port_key_is_checked(tmp_path: Path, port: int) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text(f'[vehicle.can]\ninterface = "udp_multicast"\nport = {port}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "vehicle.can.port"
