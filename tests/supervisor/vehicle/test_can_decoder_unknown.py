"""A frame the decoder cannot read makes its signals unknown (unsafe), never leaves them "safe".

Synchronous: the decoder, the state and the policy without an event loop.
"""

from __future__ import annotations

import logging
import math
import struct
from pathlib import Path

import pytest
from cantools.database.can import Message

from supervisor.bench.reference_car import REFERENCE_DBC, REFERENCE_MAPPING, ReferenceCar
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.state import SignalUpdate, VehicleState
from tests.supervisor.vehicle.dbc_texts import (
    FLOAT_CAR,
    FLOAT_CAR_MAPPING,
    MUX_CAR,
    MUX_CAR_MAPPING,
    write_pair,
)

BODY_PATHS = {*vss.DOORS, vss.TRUNK_REAR, vss.TRUNK_FRONT, vss.DRIVER_SEAT, vss.LOW_VOLTAGE_STATE}


def reading(updates: list[SignalUpdate]) -> dict[str, object]:
    return {u.path: u.value for u in updates}


def admitted_state(car: ReferenceCar, decoder: FrameDecoder, now: float) -> VehicleState:
    state = VehicleState()
    for entry in decoder.mapping.entries:
        state.declare(entry.path, entry.max_age_s)
    for frame_id, data in car.all_frames():
        state.apply_all(decoder.decode(frame_id, data, now))
    return state


@pytest.mark.parametrize("length", [0, 2, 7, 9, 64])
def test_a_body_frame_of_the_wrong_length_makes_every_body_signal_unknown(length: int) -> None:
    car, decoder = ReferenceCar(), FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
    policy = AdmissionPolicy(PolicyConfig(settle_s=0.0))
    state = admitted_state(car, decoder, 1.0)
    assert policy.evaluate(state, 1.0).accepting
    updates = decoder.decode(0x100, bytes(length), 1.1)
    assert reading(updates) == dict.fromkeys(BODY_PATHS)
    assert decoder.stats.malformed == 1
    assert decoder.stats.last_error == f"PM_BodyStatus: {length} bytes instead of 8"
    state.apply_all(updates)
    decision = policy.evaluate(state, 1.1)
    assert decision.hard_stop_edge
    assert "driver door: the car reports it as unknown" in [r.text for r in decision.reasons]


def test_values_outside_the_dbc_range_are_unknown() -> None:
    car, decoder = ReferenceCar(), FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
    drive = car.db.get_message_by_name("PM_DriveStatus")
    battery = car.db.get_message_by_name("PM_BatteryStatus")

    def raw(message: Message, **values: int) -> bytes:
        full = {s.name: 0 for s in message.signals}
        full.update(values)
        return bytes(message.encode(full, scaling=False, strict=False))

    # PM_speed [0|655.33]: 65533 is the top of the range; 65534 is above it.
    assert reading(decoder.decode(0x110, raw(drive, PM_speed=65533), 1.0))[vss.SPEED] == 655.33
    assert reading(decoder.decode(0x110, raw(drive, PM_speed=65534), 2.0))[vss.SPEED] is None
    # PM_packTempAvg [-40|87] at 0.5 per bit: raw 255 reads 87.5.
    temps = reading(decoder.decode(0x120, raw(battery, PM_packTempAvg=255, PM_soc=500), 1.0))
    assert temps[vss.PACK_TEMP] is None
    assert temps[vss.SOC] == 50.0
    assert decoder.stats.out_of_range == 2
    assert decoder.stats.last_error == (f"{vss.PACK_TEMP}: 87.5 is not a value in the DBC's range")


@pytest.fixture
def float_car(tmp_path: Path) -> FrameDecoder:
    return FrameDecoder.load(*write_pair(tmp_path, FLOAT_CAR, FLOAT_CAR_MAPPING, "float_car"))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 301.0, -0.5])
def test_a_float_speed_that_is_nan_infinite_or_out_of_range_is_unknown(
    float_car: FrameDecoder, bad: float
) -> None:
    good = struct.pack("<fB3x", 12.5, 0)
    assert reading(float_car.decode(0x110, good, 1.0)) == {vss.SPEED: 12.5, vss.GEAR: 126}
    # The speed's min_interval_s is 0.5: the unknown reading passes the throttle anyway.
    updates = float_car.decode(0x110, struct.pack("<fB3x", bad, 0), 1.1)
    assert reading(updates) == {vss.SPEED: None, vss.GEAR: 126}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_float_without_a_range_is_still_unknown_when_not_finite(
    float_car: FrameDecoder, bad: float
) -> None:
    assert reading(float_car.decode(0x111, struct.pack("<d", -3.25), 1.0)) == {
        vss.AMBIENT_TEMP: -3.25
    }
    assert reading(float_car.decode(0x111, struct.pack("<d", bad), 2.0)) == {vss.AMBIENT_TEMP: None}


def test_an_unknown_multiplexer_page_makes_only_the_signals_it_would_carry_unknown(
    tmp_path: Path,
) -> None:
    decoder = FrameDecoder.load(*write_pair(tmp_path, MUX_CAR, MUX_CAR_MAPPING, "mux_car"))
    # Byte 0: page in bits 0-1, seat in bits 2-3; byte 1: the page's closure.
    page0 = reading(decoder.decode(0x200, bytes([0b0000, 0, *bytes(6)]), 1.0))
    assert page0 == {vss.DRIVER_SEAT: "EMPTY", vss.DOORS[0]: False}
    page1 = reading(decoder.decode(0x200, bytes([0b0001, 1, *bytes(6)]), 1.1))
    assert page1 == {vss.DRIVER_SEAT: "EMPTY", vss.TRUNK_REAR: True}
    # Page 3 is not in the DBC: the door and trunk are not in it (they keep their readings
    # until those go stale), but the seat, in every page, cannot be read from it.
    page3 = decoder.decode(0x200, bytes([0b0011, 0, *bytes(6)]), 1.2)
    assert reading(page3) == {vss.DRIVER_SEAT: None}
    assert decoder.stats.malformed == 1
    # A page of the wrong length says nothing about anything: all three are unknown.
    short = decoder.decode(0x200, bytes([0b0000, 0]), 1.3)
    assert reading(short) == {vss.DRIVER_SEAT: None, vss.DOORS[0]: None, vss.TRUNK_REAR: None}


def test_problems_are_logged_after_decoding_and_once_per_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    decoder = FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
    with caplog.at_level(logging.WARNING, logger="supervisor.vehicle.can_decoder"):
        for t in range(3):
            decoder.decode(0x100, b"\x01", float(t))
        assert caplog.records == []  # nothing logged on the hot path itself
        decoder.log_problems()
        decoder.log_problems()
    assert [r.getMessage() for r in caplog.records] == [
        "malformed CAN frame PM_BodyStatus (standard id 0x100): 1 bytes instead of 8; its"
        " signals are unknown (further ones are only counted)"
    ]
    assert decoder.stats.malformed == 3


def test_an_extended_frame_is_not_looked_up_among_standard_ids() -> None:
    decoder = FrameDecoder.load(REFERENCE_DBC, REFERENCE_MAPPING)
    body = ReferenceCar().frame("PM_BodyStatus")[1]
    assert decoder.decode(0x100, body, 1.0, extended=True) == []
    assert decoder.stats.unknown_ids == 1
    assert reading(decoder.decode(0x100, body, 1.0))[vss.DOORS[0]] is False
