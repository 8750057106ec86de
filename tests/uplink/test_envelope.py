"""The envelope codec, without an event loop: every refusal has its own error."""

from __future__ import annotations

import math

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink import errors
from uplink.envelope import Opener, Signer, peek_type
from uplink.messages import DISPATCHER_ID, Direction
from uplink.replay import ReplayCache

NOW = 1_800_000_000.0
KEY = Ed25519PrivateKey.generate()
OFFER = {"job": "j1", "model": "hash", "tier": "batch", "deadline": NOW + 60, "input": b"sealed"}


def signer(key: Ed25519PrivateKey = KEY) -> Signer:
    return Signer(DISPATCHER_ID, key, clock=lambda: NOW)


def opener(replay: bool = True) -> Opener:
    return Opener(
        me="car1",
        keys={DISPATCHER_ID: KEY.public_key().public_bytes_raw()}.get,
        directions=(Direction.TO_NODE,),
        replay=ReplayCache() if replay else None,
        clock=lambda: NOW,
    )


def test_round_trip_keeps_every_field() -> None:
    data = signer().seal("offer", OFFER, to="car1", ttl_s=30, msg_id="m1")
    msg = opener().open(data)
    assert (msg.type, msg.id, msg.src, msg.to) == ("offer", "m1", DISPATCHER_ID, "car1")
    assert msg.exp == NOW + 30
    assert msg.body == OFFER
    assert peek_type(data) == "offer"


def test_random_ids_differ() -> None:
    a = opener().open(signer().seal("drain", {}, to="car1", ttl_s=5))
    b = opener().open(signer().seal("drain", {}, to="car1", ttl_s=5))
    assert a.id != b.id


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\x00garbage",
        b"",
        cbor2.dumps([1, 2]),
        cbor2.dumps({"v": 1, "m": b"x", "s": b"short"}),
        cbor2.dumps({"v": 1, "m": b"\xff", "s": b"s" * 64}),
    ],
)
def test_malformed_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(errors.MalformedMessage):
        opener().open(data)


def test_cbor_tags_are_refused() -> None:
    inner = cbor2.dumps(
        {
            "v": 1,
            "t": "drain",
            "id": "x",
            "src": DISPATCHER_ID,
            "to": "car1",
            "iat": NOW,
            "exp": NOW + 5,
            "b": {"when": cbor2.CBORTag(1, 5)},
        }
    )
    data = cbor2.dumps({"v": 1, "m": inner, "s": KEY.sign(inner)})
    with pytest.raises(errors.MalformedMessage, match="tags"):
        opener().open(data)


def test_unknown_version_is_refused() -> None:
    outer = cbor2.loads(signer().seal("drain", {}, to="car1", ttl_s=5))
    outer["v"] = 2
    with pytest.raises(errors.UnknownVersion, match="version 2"):
        opener().open(cbor2.dumps(outer))


def test_unknown_type_is_refused() -> None:
    inner = cbor2.dumps(
        {
            "v": 1,
            "t": "selfdestruct",
            "id": "x",
            "src": DISPATCHER_ID,
            "to": "car1",
            "iat": NOW,
            "exp": NOW + 5,
            "b": {},
        }
    )
    with pytest.raises(errors.UnknownType, match="selfdestruct"):
        opener().open(cbor2.dumps({"v": 1, "m": inner, "s": KEY.sign(inner)}))


def test_type_of_the_wrong_direction_is_refused() -> None:
    data = signer().seal("accept", {"job": "j"}, to="car1", ttl_s=5)
    with pytest.raises(errors.UnknownType, match="not accepted here"):
        opener().open(data)


def test_bad_signature_is_refused() -> None:
    data = signer(Ed25519PrivateKey.generate()).seal("drain", {}, to="car1", ttl_s=5)
    with pytest.raises(errors.BadSignature):
        opener().open(data)


def test_tampered_message_is_refused() -> None:
    outer = cbor2.loads(signer().seal("offer", OFFER, to="car1", ttl_s=5))
    inner = cbor2.loads(outer["m"])
    inner["b"]["model"] = "other"
    outer["m"] = cbor2.dumps(inner)
    with pytest.raises(errors.BadSignature):
        opener().open(cbor2.dumps(outer))


def test_unknown_sender_is_refused() -> None:
    data = Signer("mallory", KEY, clock=lambda: NOW).seal("drain", {}, to="car1", ttl_s=5)
    with pytest.raises(errors.UnknownSender, match="mallory"):
        opener().open(data)


def test_message_for_another_car_is_refused() -> None:
    with pytest.raises(errors.WrongRecipient, match="car2"):
        opener().open(signer().seal("drain", {}, to="car2", ttl_s=5))


def test_expired_message_is_refused() -> None:
    data = signer().seal("drain", {}, to="car1", ttl_s=5, now=NOW - 10)
    with pytest.raises(errors.Expired, match="expired"):
        opener().open(data)


def test_message_from_the_future_is_refused() -> None:
    data = signer().seal("drain", {}, to="car1", ttl_s=5, now=NOW + 3600)
    with pytest.raises(errors.Expired, match="future"):
        opener().open(data)


def test_lifetime_longer_than_accepted_is_refused() -> None:
    data = signer().seal("drain", {}, to="car1", ttl_s=30 * 86400)
    with pytest.raises(errors.Expired, match="longer"):
        opener().open(data)


def test_replay_is_refused_but_not_without_a_cache() -> None:
    data = signer().seal("drain", {}, to="car1", ttl_s=5)
    first = opener()
    first.open(data)
    with pytest.raises(errors.Replayed):
        first.open(data)
    plain = opener(replay=False)
    plain.open(data)
    plain.open(data)


def signed_offer(body: dict[str, object]) -> bytes:
    """An offer with `body`, signed as the dispatcher's, without the sealer's checks."""
    inner = cbor2.dumps(
        {
            "v": 1,
            "t": "offer",
            "id": "x",
            "src": DISPATCHER_ID,
            "to": "car1",
            "iat": NOW,
            "exp": NOW + 5,
            "b": body,
        },
        canonical=True,
    )
    return cbor2.dumps({"v": 1, "m": inner, "s": KEY.sign(inner)})


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("job", None, "missing field 'job'"),
        ("deadline", "soon", "must be a number"),
        ("input", "text", "must be bytes"),
        ("tier", "gold", "tier 'gold'"),
        ("deadline", True, "not a boolean"),
    ],
)
def test_bad_body_is_refused(field: str, value: object, match: str) -> None:
    body = dict(OFFER)
    if value is None:
        del body[field]
    else:
        body[field] = value
    with pytest.raises(errors.BadBody, match=match):
        opener().open(signed_offer(body))


def test_a_non_finite_number_is_refused_by_the_decoder() -> None:
    # The strict profile has no NaN or infinity anywhere, nested fields included.
    for body in ({**OFFER, "deadline": math.nan}, {**OFFER, "extra": {"x": [math.inf]}}):
        with pytest.raises(errors.MalformedMessage, match="not finite"):
            opener().open(signed_offer(body))


def test_signer_refuses_a_body_that_breaks_the_schema() -> None:
    with pytest.raises(errors.BadBody):
        signer().seal("offer", {"job": "j"}, to="car1", ttl_s=5)
    with pytest.raises(errors.UnknownType):
        signer().seal("nope", {}, to="car1", ttl_s=5)


def test_error_codes_are_distinct() -> None:
    classes = [
        errors.MalformedMessage,
        errors.UnknownVersion,
        errors.UnknownType,
        errors.UnknownSender,
        errors.BadSignature,
        errors.WrongRecipient,
        errors.Expired,
        errors.Replayed,
        errors.BadBody,
    ]
    assert len({c.code for c in classes}) == len(classes)
