"""Inbound admission (pure: no event loop) and large payloads opened off the trio thread."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink import errors
from uplink.client import Inbound
from uplink.envelope import Message, Opener, Signer
from uplink.inbound import Admission, Deliveries
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.messages import DISPATCHER_ID, Direction
from uplink.node import NodeUplink
from uplink.replay import ReplayCache
from uplink.testing import running, seen_accepting

NOW = 1_800_000_000.0
KEY = Ed25519PrivateKey.generate()


def opener(replay: ReplayCache | None = None) -> Opener:
    return Opener(
        me="car1",
        keys={DISPATCHER_ID: KEY.public_key().public_bytes_raw()}.get,
        directions=(Direction.TO_NODE,),
        replay=replay,
        clock=lambda: NOW,
    )


def deliveries(acked: list[Inbound] | None = None) -> Deliveries:
    return Deliveries(
        opener(),
        ReplayCache(),
        ack=(acked if acked is not None else []).append,
        refused=Counter(),
        clock=lambda: NOW,
    )


def message(msg_id: str = "m1") -> Message:
    data = Signer(DISPATCHER_ID, KEY, clock=lambda: NOW).seal(
        "drain", {}, to="car1", ttl_s=60, msg_id=msg_id
    )
    return opener().open(data)


def test_a_message_is_new_then_in_progress_then_a_replay() -> None:
    d = deliveries()
    msg = message()
    assert d.admit(msg) is Admission.NEW
    assert d.admit(msg) is Admission.IN_PROGRESS  # redelivered while the first is handled
    d.settle(msg, done=True)
    with pytest.raises(errors.Replayed):
        d.admit(msg)
    assert d.admit(message("m2")) is Admission.NEW  # another id


def test_a_delivery_that_failed_without_effect_is_handled_anew_once() -> None:
    d = deliveries()
    msg = message()
    assert d.admit(msg) is Admission.NEW
    d.settle(msg, done=False)
    assert d.admit(msg) is Admission.NEW  # not refused as a replay
    d.settle(msg, done=True)
    with pytest.raises(errors.Replayed):
        d.admit(msg)


def test_the_opener_must_leave_the_replay_cache_to_deliveries() -> None:
    with pytest.raises(ValueError, match="replay"):
        Deliveries(opener(ReplayCache()), ReplayCache(), ack=lambda _: None, refused=Counter())


async def test_refused_messages_are_counted_and_acknowledged() -> None:
    acked: list[Inbound] = []
    d = deliveries(acked)
    data = Signer(DISPATCHER_ID, KEY, clock=lambda: NOW).seal("drain", {}, to="car1", ttl_s=60)
    applied: list[Message] = []

    async def apply(msg: Message) -> bool:
        applied.append(msg)
        return True

    bad, good = Inbound("in", b"\xa1 not cbor", False), Inbound("in", data, False)

    async with trio.open_nursery() as nursery:
        assert await d.deliver(bad, apply, nursery) is None
        assert await d.deliver(good, apply, nursery) is not None
        assert await d.deliver(good, apply, nursery) is None  # a replay
    assert [m.type for m in applied] == ["drain"]
    assert acked == [bad, good, good]
    assert d.refused == {"malformed": 1, "replayed": 1}


async def test_a_large_offer_is_opened_off_the_trio_thread(mesh: Mesh) -> None:
    node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    client = mesh.client("alice")
    texts = [f"{i}" * 50_000 for i in range(4)]  # an offer of about 200 KB
    async with running(dispatcher, node, client):
        await seen_accepting(dispatcher, "car1")
        small = await client.submit("hash", ["small"], k=1)
        assert node.deliveries.opened_off_thread == 0
        out = await client.submit("hash", texts, k=1)
        assert out.output["texts"] == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        assert small.output["texts"] == [hashlib.sha256(b"small").hexdigest()]
        assert node.deliveries.opened_off_thread == 1
