"""Standard (11-bit) and extended (29-bit) ids are different frames, on a real bus.

Each test runs the real CAN source on its stop thread against python-can's udp_multicast bus on
loopback (hop limit 0), as `test_can_source` does, and sends hostile frames from another bus.
"""

from __future__ import annotations

import time
from pathlib import Path

import can
import pytest
import trio

from sandbox.stop_page import StopLevel
from supervisor.policy import Phase
from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import CanId, FrameDecoder
from supervisor.vehicle.can_source import EXTENDED_MASK, STANDARD_MASK, can_filters
from tests.supervisor.vehicle.dbc_texts import extended_body_dbc
from tests.supervisor.vehicle.test_can_source import REFERENCE_MAPPING, Rig, _open_rig

ZEROS = bytes(8)


def send(rig: Rig, frame_id: int, data: bytes, *, extended: bool) -> None:
    rig.tx.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=extended))


async def wait_level(rig: Rig, level: StopLevel) -> None:
    with trio.fail_after(2):
        while rig.page.level() != level:
            await trio.sleep(0.001)


async def send_then_marker(rig: Rig, frame: can.Message) -> int:
    """Send `frame`, then an unchanged thermal frame as a marker: once the decoder has decoded
    it, it has seen (or the bus has filtered) `frame`. Returns the frames it saw meanwhile."""
    before, decoded = rig.decoder.stats.frames, rig.decoder.stats.decoded
    rig.tx.send(frame)
    rig.send("PM_ThermalStatus")
    with trio.fail_after(2):
        while rig.decoder.stats.decoded == decoded:
            await trio.sleep(0.001)
    return rig.decoder.stats.frames - before


async def open_driver_door(rig: Rig) -> None:
    await rig.wait_admitted()
    rig.car.body["PM_doorFrontLeft"] = "OPEN"
    rig.send("PM_BodyStatus")
    await wait_level(rig, StopLevel.HARD)


@pytest.mark.parametrize("kernel_filters", [False, True])
async def test_an_extended_frame_numbered_like_the_body_frame_is_not_the_body_frame(
    kernel_filters: bool,
) -> None:
    # The frame: 29-bit id 0x100, all zeros, which as the 11-bit body frame reads
    # "every door closed, seat empty, power off" and would admit compute.
    async for rig in _open_rig("udp_multicast", kernel_filters=kernel_filters):
        await open_driver_door(rig)
        hostile = can.Message(arbitration_id=0x100, data=ZEROS, is_extended_id=True)
        seen = await send_then_marker(rig, hostile)
        # Without filters the decoder sees it and counts it as an unknown id; with them the
        # bus drops it before the decoder (python-can filters on the kind as the kernel does).
        assert seen == (1 if not kernel_filters else 0) + 1
        door = rig.hotpath.state.get(vss.DOORS[0])
        assert door is not None and door.value is True
        assert rig.page.level() == StopLevel.HARD
        assert "driver door open" in [r.text for r in rig.hotpath.decision.reasons]


async def test_a_message_the_dbc_declares_extended_is_read_only_from_extended_frames(
    tmp_path: Path,
) -> None:
    dbc = extended_body_dbc(tmp_path)
    decoder = FrameDecoder.load(dbc, REFERENCE_MAPPING)
    assert CanId(0x100, extended=True) in decoder.frame_ids
    assert CanId(0x100, extended=False) not in decoder.frame_ids
    async for rig in _open_rig("udp_multicast", kernel_filters=False, dbc=dbc):
        # The rig's car sends its body frame as a standard frame: that is not this car's
        # body message, so its doors never become known and work is never admitted.
        with trio.fail_after(2):
            while rig.decoder.stats.unknown_ids < 3:
                rig.send()
                await trio.sleep(0.02)
        assert rig.hotpath.state.get(vss.DOORS[0]) is None
        assert rig.hotpath.decision.phase != Phase.ELIGIBLE
        # Sent as the 29-bit frame it is, the same payload is read.
        with trio.fail_after(3):
            while rig.hotpath.decision.phase != Phase.ELIGIBLE:
                rig.send("PM_DriveStatus", "PM_BatteryStatus", "PM_ChargeStatus")
                rig.send("PM_ThermalStatus")
                send(rig, 0x100, rig.car.frame("PM_BodyStatus")[1], extended=True)
                await trio.sleep(0.02)
        rig.car.body["PM_doorFrontLeft"] = "OPEN"
        send(rig, 0x100, rig.car.frame("PM_BodyStatus")[1], extended=True)
        await wait_level(rig, StopLevel.HARD)
        assert "driver door open" in [r.text for r in rig.hotpath.decision.reasons]


def test_filters_take_each_ids_kind_from_the_dbc_not_from_its_number(tmp_path: Path) -> None:
    decoder = FrameDecoder.load(extended_body_dbc(tmp_path), REFERENCE_MAPPING)
    filters = can_filters(decoder.frame_ids)
    # 0x100 is small enough for 11 bits, yet the DBC says 29: the filter says so too.
    assert {"can_id": 0x100, "can_mask": EXTENDED_MASK, "extended": True} in filters
    assert {"can_id": 0x110, "can_mask": STANDARD_MASK, "extended": False} in filters
    assert len(filters) == 5
    assert not any(f["can_id"] == 0x100 and not f.get("extended") for f in filters)


async def test_an_out_of_range_speed_is_unknown_and_stops_work() -> None:
    async for rig in _open_rig("udp_multicast", kernel_filters=False):
        await rig.wait_admitted()
        # PM_speed is [0|655.33] km/h; raw 65534 reads 655.34 (65535 is SNA).
        message = rig.car.db.get_message_by_name("PM_DriveStatus")
        raw = {"PM_gear": 0, "PM_speed": 65534, "PM_driveCounter": 0}
        data = bytes(message.encode(raw, scaling=False, strict=False))
        send(rig, 0x110, data, extended=False)
        await wait_level(rig, StopLevel.HARD)
        assert rig.hotpath.state.value(vss.SPEED, time.monotonic()) is None
        assert rig.decoder.stats.out_of_range >= 1
        assert "speed: the car reports it as unknown" in rig.hotpath.decision.explain()


@pytest.mark.parametrize("flag", ["is_remote_frame", "is_error_frame"])
async def test_remote_and_error_frames_with_the_body_id_are_not_readings(flag: str) -> None:
    async for rig in _open_rig("udp_multicast", kernel_filters=False):
        await open_driver_door(rig)
        before = rig.decoder.stats.ignored
        # A remote frame asks for the body frame (it has a DLC, no payload); an error frame's
        # payload is an error report, here all zeros: neither is the body controller speaking.
        data = b"" if flag == "is_remote_frame" else ZEROS
        frame = can.Message(arbitration_id=0x100, dlc=8, data=data, **{flag: True})
        assert await send_then_marker(rig, frame) == 2
        assert rig.decoder.stats.ignored == before + 1
        door = rig.hotpath.state.get(vss.DOORS[0])
        assert door is not None and door.value is True
        assert rig.page.level() == StopLevel.HARD
