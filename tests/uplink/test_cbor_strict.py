"""The strict CBOR profile: plain data decodes as cbor2 would; everything else is refused fast."""

from __future__ import annotations

import math
import struct
import time

import cbor2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from uplink import cbor_strict
from uplink.cbor_strict import CborError, Limits

PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=cbor_strict.INT_MIN, max_value=cbor_strict.INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(PLAIN)
def test_plain_data_decodes_as_cbor2_encodes_it(value: object) -> None:
    assert cbor_strict.loads(cbor2.dumps(value)) == value


def shared_reference_bomb(levels: int = 13) -> bytes:
    """A few hundred bytes that a general decoder turns into 8^12 paths to walk.

    ``[L0, L1, ...]`` where ``L0 = 28(["x"])`` and ``Lk = 28([29(k-1)] * 8)``: each level
    is shareable (tag 28) and holds eight shared references (tag 29) to the level below.
    """
    items = [b"\xd8\x1c\x81\x61x"]
    for level in range(1, levels):
        items.append(b"\xd8\x1c\x88" + (b"\xd8\x1d" + cbor2.dumps(level - 1)) * 8)
    return bytes([0x80 + levels]) + b"".join(items)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xd8\x1c\x81\x61x", "tag 28"),  # shareable
        (b"\xd8\x1d\x00", "tag 29"),  # shared reference
        (b"\xc2\x49\x01" + bytes(8), "tag 2"),  # a bignum
        (b"\xd9\xd9\xf7\x01", "tag 55799"),  # self-described CBOR
        (b"\x9f\x01\xff", "indefinite"),
        (b"\x5f\x41\x00\xff", "indefinite"),
        (b"\xf7", "simple value 23"),  # undefined
        (b"\xf8\x20", "simple value 24"),
        (b"\xff", "break"),
        (b"\x1c", "reserved"),
        (b"\x1b" + struct.pack(">Q", 2**63), "64-bit signed range"),
        (b"\x3b" + struct.pack(">Q", 2**63), "64-bit signed range"),
        (b"\xf9\x7e\x00", "not finite"),  # half-precision NaN
        (b"\xfb" + struct.pack(">d", math.inf), "not finite"),
        (b"\xa2\x61a\x01\x61a\x02", "repeated"),
        (b"\xa1\x01\x02", "not text"),
        (b"\x62\xff\xfe", "UTF-8"),
        (b"\x9b" + struct.pack(">Q", 2**40), "claims"),  # an array as long as memory
        (b"\xbb" + struct.pack(">Q", 2**40), "claims"),
        (b"\x5b" + struct.pack(">Q", 2**40), "needs"),  # a byte string as long as memory
        (b"\x01\x02", "follow"),
        (b"", "needs 1 bytes"),
    ],
)
def test_outside_the_profile_is_refused_with_where(data: bytes, match: str) -> None:
    with pytest.raises(CborError, match=match):
        cbor_strict.loads(data)


def test_the_shared_reference_bomb_is_refused_at_its_first_byte() -> None:
    bomb = shared_reference_bomb()
    assert len(bomb) < 600
    started = time.perf_counter()
    with pytest.raises(CborError, match="tag 28"):
        cbor_strict.loads(bomb)
    assert time.perf_counter() - started < 0.05


def test_depth_and_item_limits() -> None:
    deep = b"\x81" * 17 + b"\x00"
    with pytest.raises(CborError, match="deeper than 16"):
        cbor_strict.loads(deep)
    assert cbor_strict.loads(b"\x81" * 16 + b"\x00") is not None
    many = cbor2.dumps([0] * 30_000)
    with pytest.raises(CborError, match="more than 20000 items"):
        cbor_strict.loads(many)
    assert len(cbor_strict.loads(many, Limits(max_items=30_001))) == 30_000


def test_sixteen_mib_of_empty_maps_is_refused_quickly() -> None:
    # The 3-4 s stall and 1.3 GB: an array of 16 M empty maps at the size limit.
    data = b"\x9a" + struct.pack(">I", 16 * 1024 * 1024 - 5) + b"\xa0" * (16 * 1024 * 1024 - 5)
    started = time.perf_counter()
    with pytest.raises(CborError, match="items"):
        cbor_strict.loads(data)
    assert time.perf_counter() - started < 1.0


def test_booleans_stay_booleans() -> None:
    assert cbor_strict.loads(b"\xf5") is True
    assert type(cbor_strict.loads(b"\x01")) is int


def test_outer_map_keeps_byte_strings_as_views() -> None:
    data = cbor2.dumps({"v": 1, "m": b"payload", "s": b"x" * 64})
    outer = cbor_strict.loads_map_bytes(data, frozenset({"v", "m", "s"}))
    assert isinstance(outer["m"], memoryview)
    assert outer["m"].tobytes() == b"payload"
    with pytest.raises(CborError, match="exactly the keys"):
        cbor_strict.loads_map_bytes(cbor2.dumps({"v": 1}), frozenset({"v", "m", "s"}))
    with pytest.raises(CborError, match="deeper"):
        cbor_strict.loads_map_bytes(
            cbor2.dumps({"v": [1], "m": b"", "s": b""}), frozenset({"v", "m", "s"})
        )


@settings(
    derandomize=True,
    max_examples=400,
    deadline=200,  # ms per input: bounded work whatever the bytes
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.binary(max_size=2048))
@example(b"\xd8\x1c\x81\x61x")
@example(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff")
@example(b"\xc3\x49\x01" + bytes(8))
def test_random_bytes_raise_only_the_documented_error(data: bytes) -> None:
    try:
        value = cbor_strict.loads(data)
    except CborError:
        return
    assert value == cbor2.loads(data)  # what the profile accepts means what CBOR means
