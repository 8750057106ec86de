"""Fuzzing the envelope codec: whatever the bytes, an `EnvelopeError` or a message, quickly.

Hypothesis replays a fixed, derandomized set of examples (the same in CI every run), built
from valid envelopes with bytes flipped, cut or appended, signed messages of random plain data,
and the crafted cases of issue 12.
"""

from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from uplink import errors
from uplink.envelope import Message, Opener, Signer
from uplink.messages import DISPATCHER_ID, Direction

from .test_cbor_strict import PLAIN, shared_reference_bomb

NOW = 1_800_000_000.0
KEY = Ed25519PrivateKey.generate()
VALID = Signer(DISPATCHER_ID, KEY, clock=lambda: NOW).seal(
    "offer",
    {"job": "j1", "model": "hash", "tier": "batch", "deadline": NOW + 60, "input": b"x" * 40},
    to="car1",
    ttl_s=30,
)
FUZZ = settings(
    derandomize=True,
    max_examples=300,
    deadline=250,  # ms per input
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def openers() -> tuple[Opener, Opener]:
    """A node's (the dispatcher's signature first) and a decode-first one (as a dispatcher)."""
    keys = {DISPATCHER_ID: KEY.public_key().public_bytes_raw()}.get
    common = {"me": "car1", "keys": keys, "directions": (Direction.TO_NODE,), "replay": None}
    return (
        Opener(**common, clock=lambda: NOW, senders=(DISPATCHER_ID,)),
        Opener(**common, clock=lambda: NOW),
    )


CODES = {
    "malformed",
    "unknown_version",
    "unknown_type",
    "unknown_sender",
    "bad_signature",
    "wrong_recipient",
    "expired",
    "bad_body",
}


def outcome(opener: Opener, data: bytes) -> Message | errors.EnvelopeError:
    try:
        return opener.open(data)
    except errors.EnvelopeError as exc:
        return exc


def refused_or_opened(data: bytes) -> None:
    for opener in openers():
        result = outcome(opener, data)
        if isinstance(result, errors.EnvelopeError):
            assert result.code in CODES
            assert len(str(result)) < 600  # bounded, whatever the input
        else:
            assert isinstance(result, Message)


@FUZZ
@given(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.integers(0, len(VALID)))
def test_a_flipped_or_cut_envelope_is_refused(at: int, byte: int, cut: int) -> None:
    mutated = bytearray(VALID)
    mutated[at] = byte
    refused_or_opened(bytes(mutated))
    refused_or_opened(VALID[:cut])
    refused_or_opened(VALID + bytes([byte]))


@FUZZ
@given(PLAIN)
@example(cbor2.dumps({"v": 1, "t": "offer"}))
def test_signed_random_data_is_refused_or_opened(value: object) -> None:
    m = cbor2.dumps(value)
    refused_or_opened(cbor2.dumps({"v": 1, "m": m, "s": KEY.sign(m)}))


@FUZZ
@given(st.binary(max_size=1024))
@example(shared_reference_bomb())
@example(b"\xc2\x49\x01" + bytes(8))
def test_signed_random_bytes_are_refused(m: bytes) -> None:
    refused_or_opened(cbor2.dumps({"v": 1, "m": m, "s": KEY.sign(m)}))
    refused_or_opened(m)
