"""The compiled signal layouts give what cantools gives, over every signal of real DBCs."""

from __future__ import annotations

import random
from pathlib import Path

import cantools
import pytest
from cantools.database.can import Message

from supervisor.vehicle.bit_layout import MessageLayout, SignalLayout
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.config import DATA_DIR
from tests.conftest import SHARED_DBC

# tesla_can.dbc has a VAL_ table for a signal it lacks: cantools does not load it, and neither
# does the daemon (`supervisor.vehicle.dbc.load_dbc`, tested in test_dbc_strict.py).
UNLOADABLE = "tesla_can.dbc"
DBCS = [p for p in sorted(SHARED_DBC.glob("*.dbc")) if p.name != UNLOADABLE] + [
    DATA_DIR / "parkmesh_reference.dbc"
]
FRAMES_PER_MESSAGE = 40


def _payloads(rng: random.Random, length: int) -> list[bytes]:
    """Random frames, and the edges: all zero, all ones (every sign bit set), alternating."""
    edges = [bytes(length), b"\xff" * length, b"\xaa" * length, b"\x55" * length]
    return edges + [rng.randbytes(length) for _ in range(FRAMES_PER_MESSAGE)]


def _compiled(message: Message) -> MessageLayout | None:
    return MessageLayout.compile(message, [s.name for s in message.signals])


@pytest.mark.parametrize("dbc", DBCS, ids=lambda p: p.name)
def test_every_compiled_signal_decodes_as_cantools_does(dbc: Path) -> None:
    assert dbc.is_file(), f"{dbc} is missing: the suite needs ../shared beside the repo"
    db = cantools.database.load_file(dbc, strict=False)
    rng = random.Random(dbc.name)
    compiled = signals = 0
    for message in db.messages:
        layout = _compiled(message)
        if layout is None:
            continue
        compiled += 1
        for data in _payloads(rng, message.length):
            expected = message.decode_simple(data, decode_choices=False, scaling=True)
            got = layout.decode(data)
            for name, value in got.items():
                assert value == expected[name], (message.name, name, data.hex())
                # 3 and 3.0 compare equal: the type is cantools' too (a mapping's value map
                # and the state's type checks see it).
                assert type(value) is type(expected[name]), (message.name, name)
                signals += 1
    assert compiled > 0 and signals > 0


def test_the_shared_tesla_dbcs_compile_nearly_every_message() -> None:
    # The fast path is the common one: only multiplexed messages and float signals fall back.
    db = cantools.database.load_file(SHARED_DBC / "Model3CAN.dbc", strict=False)
    plain = [m for m in db.messages if not m.is_multiplexed()]
    assert plain
    assert all(_compiled(m) is not None for m in plain if not _has_float(m))


def _has_float(message: Message) -> bool:
    return any(s.conversion.is_float for s in message.signals)


def test_multiplexed_and_float_messages_are_left_to_cantools() -> None:
    db = cantools.database.load_file(SHARED_DBC / "Model3CAN.dbc", strict=False)
    muxed = next(m for m in db.messages if m.is_multiplexed())
    assert _compiled(muxed) is None
    text = """VERSION ""
BO_ 256 F: 8 X
 SG_ Temp : 0|32@1- (1,0) [0|0] "" X
SIG_VALTYPE_ 256 Temp : 1;
"""
    floats = cantools.database.load_string(text, database_format="dbc", strict=False)
    assert _compiled(floats.messages[0]) is None
    with pytest.raises(ValueError, match="floating-point"):
        SignalLayout.of(floats.messages[0].signals[0], 8)


def test_the_decoder_uses_the_layout_for_plain_messages_and_cantools_for_muxed() -> None:
    decoder = FrameDecoder.load(
        DATA_DIR / "parkmesh_reference.dbc", DATA_DIR / "reference_mapping.toml"
    )
    slots = list(decoder._standard.values()) + list(decoder._extended.values())
    assert slots and all(slot.layout is not None for slot in slots)
