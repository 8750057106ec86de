"""Fuzzing the CAN decoder with hostile frames: it never raises, never takes long, and never
reports a reading that admits compute unless a well-formed frame of that message says so.

The frames are python-can messages built without python-can's checks, as a peer on the bus can
send them: any id (mapped or not, in range or not), either id kind, remote and error frames,
any DLC, payloads of any length. Three cars: the reference car, the real Tesla Model 3 DBC with
its multiplexed messages, and a car with IEEE float signals (NaN and infinities).

Deterministic in CI: the suite's hypothesis profile derandomizes (tests/conftest.py), nothing is
stored between runs, and the crafted cases run first as explicit examples.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import timedelta

import can
import cantools.database
import pytest
from cantools.database.can import Message
from hypothesis import example, given, settings
from hypothesis import strategies as st

from supervisor.bench.reference_car import REFERENCE_DBC, REFERENCE_MAPPING
from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import FrameDecoder, load_can_mapping, load_dbc
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.mapping import SignalMap, convert
from supervisor.vehicle.state import SignalUpdate
from tests.conftest import SHARED_DBC
from tests.supervisor.vehicle.dbc_texts import FLOAT_CAR, FLOAT_CAR_MAPPING, write_pair

# Every mapped id of the three cars, so that many frames hit a message and carry garbage.
MAPPED_IDS = (0x100, 0x110, 0x111, 0x120, 0x130, 0x140, 0x102, 0x103, 0x118, 0x257, 0x292)
MAPPED_IDS += (0x352, 0x212, 0x25D, 0x264, 0x312, 0x321, 0x2E1, 0x243, 0x3A1, 0x242)
KINDS = ("data", "data", "data", "data", "remote", "error")
# Per example (up to six frames, about 50 us of work): a bound that catches a decoder stuck on
# an input, with room for a loaded CI machine (a miss is replayed, and a pass then is "flaky").
DEADLINE = timedelta(milliseconds=500)


@dataclass(frozen=True)
class Car:
    db: cantools.database.can.Database
    mapping: SignalMap
    # The DBC's messages by (id, extended): the oracle's own lookup, independent of the decoder.
    by_key: dict[tuple[int, bool], Message]

    def decoder(self) -> FrameDecoder:
        # A fresh decoder per example: its interval gate has memory.
        return FrameDecoder(self.db, self.mapping)


@pytest.fixture(scope="module")
def cars(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Car]:
    float_dbc, float_mapping = write_pair(
        tmp_path_factory.mktemp("float_car"), FLOAT_CAR, FLOAT_CAR_MAPPING, "float_car"
    )
    loaded = {}
    for name, dbc, mapping in (
        ("reference", REFERENCE_DBC, REFERENCE_MAPPING),
        ("model3", SHARED_DBC / "Model3CAN.dbc", DATA_DIR / "model3_mapping.toml"),
        ("float", float_dbc, float_mapping),
    ):
        db = load_dbc(dbc)
        by_key = {(m.frame_id, m.is_extended_frame): m for m in db.messages}
        loaded[name] = Car(db, load_can_mapping(mapping, db), by_key)
    return loaded


@st.composite
def frames(draw: st.DrawFn) -> can.Message:
    """One frame as a hostile or broken peer may put it on the bus."""
    kind = draw(st.sampled_from(KINDS))
    frame_id = draw(
        st.one_of(
            st.sampled_from(MAPPED_IDS),
            st.integers(0, 0x7FF),
            st.integers(0, 0x1FFFFFFF),
            st.integers(-1, 2**32),
        )
    )
    data = draw(
        st.one_of(
            st.binary(min_size=8, max_size=8),
            st.binary(min_size=2, max_size=2),
            st.binary(max_size=64),
            # A float car's frames: a float32 (any bit pattern, NaNs included) and a gear.
            st.builds(
                lambda x, gear: struct.pack("<fB3x", x, gear),
                st.floats(width=32),
                st.integers(0, 255),
            ),
        )
    )
    return can.Message(
        arbitration_id=frame_id,
        is_extended_id=draw(st.booleans()),
        is_remote_frame=kind == "remote",
        is_error_frame=kind == "error",
        is_fd=draw(st.booleans()),
        dlc=draw(st.one_of(st.just(len(data)), st.integers(0, 64))),
        data=data,
        check=False,
    )


def msg(frame_id: int, data: bytes, **flags: bool) -> can.Message:
    return can.Message(arbitration_id=frame_id, data=data, check=False, **flags)


def check_frame(car: Car, frame: can.Message, updates: list[SignalUpdate]) -> None:
    """What any frame may and may not produce."""
    if frame.is_remote_frame or frame.is_error_frame:
        assert updates == []
        return
    message = car.by_key.get((frame.arbitration_id, frame.is_extended_id))
    mapped = {e.path: e for e in car.mapping.entries if message and e.message == message.name}
    assert {u.path for u in updates} <= set(mapped), "an update for another message"
    for update in updates:
        assert message is not None
        if update.value is None:
            continue
        signal = vss.lookup(update.path)
        # A known value is of the signal's VSS type, and a finite number.
        assert signal.coerce(update.value) == update.value
        assert type(signal.coerce(update.value)) is type(update.value)
        if isinstance(update.value, float):
            assert math.isfinite(update.value)
        # Only a well-formed frame of this message gives a known value: the right length, and
        # the value the mapping makes of what cantools reads, within the DBC's range.
        assert len(frame.data) == message.length
        raw = message.decode_simple(bytes(frame.data), decode_choices=False)[
            mapped[update.path].signal
        ]
        dbc_signal = message.get_signal_by_name(mapped[update.path].signal)
        if dbc_signal.minimum is not None and dbc_signal.maximum is not None:
            assert dbc_signal.minimum - 1e-6 <= raw <= dbc_signal.maximum + 1e-6
        assert convert(mapped[update.path], raw) == update.value
    if message is not None and len(frame.data) != message.length:
        # Frames are a second apart (past every throttle): each signal of the message is
        # reported unknown, none keeps its last reading.
        assert {u.path: u.value for u in updates} == dict.fromkeys(mapped)


def decode_all(car: Car, sequence: list[can.Message]) -> None:
    decoder = car.decoder()
    for t, frame in enumerate(sequence):
        updates = decoder.decode_message(frame, float(t))
        check_frame(car, frame, updates)
    assert decoder.stats.frames == len(sequence)
    decoder.log_problems()
    assert decoder.problems == []


# The frame: a 29-bit id numbered like the body frame, all zeros ("all closed").
@example(car="reference", sequence=[msg(0x100, bytes(8), is_extended_id=True)])
# A mapped id with the wrong length, too short, too long, empty; then a remote and an error
# frame of it (python-can gives a remote frame 0 or DLC bytes of data).
@example(car="reference", sequence=[msg(0x100, b"\x01\x02"), msg(0x100, bytes(64), is_fd=True)])
@example(car="reference", sequence=[msg(0x110, b""), msg(0x110, bytes(8), is_remote_frame=True)])
@example(car="reference", sequence=[msg(0x100, bytes(8), is_error_frame=True)])
# Speed above its range, then SNA; an id with the extended flag's bit in a standard frame.
@example(car="reference", sequence=[msg(0x110, b"\x00\xfe\xff" + bytes(5))])
@example(car="reference", sequence=[msg(0x110, b"\x00\xff\xff" + bytes(5))])
@example(car="reference", sequence=[msg(0x80000100, bytes(8)), msg(-1, bytes(8))])
# Model 3: a frunk-status page the DBC lacks; a 2-byte power state as 8 bytes; garbage doors.
@example(car="model3", sequence=[msg(0x2E1, b"\x07" + bytes(7))])
@example(car="model3", sequence=[msg(0x242, bytes(8)), msg(0x242, b"\xff\xff")])
@example(car="model3", sequence=[msg(0x102, b"\xff" * 8), msg(0x103, b"\xa5" * 8)])
# Float car: NaN, infinities, a signalling NaN and a subnormal speed.
@example(car="float", sequence=[msg(0x110, struct.pack("<fB3x", math.nan, 0))])
@example(car="float", sequence=[msg(0x110, struct.pack("<fB3x", math.inf, 3))])
@example(car="float", sequence=[msg(0x111, struct.pack("<d", -math.inf))])
@example(car="float", sequence=[msg(0x110, b"\x01\x00\x80\x7f" + bytes(4))])
@example(car="float", sequence=[msg(0x110, struct.pack("<fB3x", 1e-45, 0))])
@given(
    car=st.sampled_from(["reference", "model3", "float"]),
    sequence=st.lists(frames(), min_size=1, max_size=6),
)
@settings(max_examples=300, deadline=DEADLINE, database=None)
@pytest.mark.slow
def test_hostile_frames_never_raise_nor_fake_a_reading(
    cars: dict[str, Car], car: str, sequence: list[can.Message]
) -> None:
    decode_all(cars[car], sequence)


@given(data=st.binary(min_size=8, max_size=8), extended=st.booleans())
@settings(max_examples=300, deadline=DEADLINE, database=None)
def test_a_body_frame_admits_only_what_its_bits_say(
    cars: dict[str, Car], data: bytes, extended: bool
) -> None:
    # The driver door's two bits read CLOSED (0) and nothing else may give "closed".
    updates = cars["reference"].decoder().decode(0x100, data, 1.0, extended=extended)
    door = {u.path: u.value for u in updates}.get(vss.DOORS[0], "absent")
    if extended:
        assert door == "absent"
    else:
        assert door == {0: False, 1: True}.get(data[0] & 0b11)
