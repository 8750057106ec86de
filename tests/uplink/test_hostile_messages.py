"""Hostile messages to a car's topic on a real broker: refused, bounded, and the car serves on.

Each case is something anyone who can publish to the topic can send (issue 12): a shared
reference bomb, an array of 16 M empty maps at the size limit, a bignum (published retained,
so it comes back on every reconnect), tags and ``"v": true`` in signed messages, huge unsigned
sender ids, a job id whose answers would outgrow the id limit.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import cbor2
import psutil
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink.envelope import MAX_BYTES
from uplink.keys import load_or_create_signing_key
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.messages import DISPATCHER_ID
from uplink.node import NodeUplink
from uplink.testing import running, seen_accepting, wait_until

from .test_cbor_strict import shared_reference_bomb

pytestmark = pytest.mark.slow


def signed(key: Ed25519PrivateKey, m: bytes) -> bytes:
    """An envelope around raw message bytes `m`, signed by `key` (as the dispatcher would)."""
    return cbor2.dumps({"v": 1, "m": m, "s": key.sign(m)})


def message(body: Any, **fields: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "v": 1,
        "t": "offer",
        "id": f"hostile-{time.monotonic_ns()}",
        "src": DISPATCHER_ID,
        "to": "car1",
        "iat": now,
        "exp": now + 60,
        "b": body,
        **fields,
    }


def offer(job: str) -> dict[str, Any]:
    return {
        "job": job,
        "model": "hash",
        "tier": "batch",
        "deadline": time.time() + 60,
        "input": b"",
    }


class LoopLag:
    """The longest gap between two wake-ups of a task that sleeps 10 ms (the loop's lag)."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        last = trio.current_time()
        while True:
            await trio.sleep(0.01)
            now = trio.current_time()
            self.worst = max(self.worst, now - last - 0.01)
            last = now


async def refused_grows(node: NodeUplink, code: str, send: Callable[[], None]) -> None:
    before = node.refused[code]
    send()
    await wait_until(lambda: node.refused[code] > before, 30.0, f"a refusal as {code}")


async def test_hostile_messages_are_refused_and_the_car_serves_on(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parkmesh.uplink")
    node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    client = mesh.client("alice")
    key = load_or_create_signing_key(mesh.signing_key_path(DISPATCHER_ID))
    topic = dispatcher.topics.node_in("car1")
    lag = LoopLag()
    rss_before = psutil.Process().memory_info().rss
    async with running(dispatcher, node, client) as nursery:
        nursery.start_soon(lag.run)
        await seen_accepting(dispatcher, "car1")
        publish = dispatcher.mqtt.publish
        bomb = shared_reference_bomb()

        # Unsigned: the bomb as the whole payload, and as a message under a forged signature.
        await refused_grows(node, "malformed", lambda: publish(topic, bomb))
        forged = cbor2.dumps({"v": 1, "m": bomb, "s": bytes(64)})
        await refused_grows(node, "bad_signature", lambda: publish(topic, forged))
        # Signed by the dispatcher's own key, and still refused by the profile.
        await refused_grows(node, "malformed", lambda: publish(topic, signed(key, bomb)))

        # 16 M empty maps at the size limit, unsigned and signed.
        count = MAX_BYTES - 200
        maps = b"\x9a" + struct.pack(">I", count) + b"\xa0" * count
        await refused_grows(
            node,
            "bad_signature",
            lambda: publish(topic, cbor2.dumps({"v": 1, "m": maps, "s": bytes(64)})),
        )
        await refused_grows(node, "malformed", lambda: publish(topic, signed(key, maps)))

        # Tags and a boolean version in signed messages.
        tagged_deadline = message({**offer("tagged"), "deadline": cbor2.CBORTag(1, time.time())})
        for m in (
            cbor2.dumps(tagged_deadline),
            b"\xd9\xd9\xf7" + cbor2.dumps(message(offer("described"))),
            cbor2.dumps({**message(offer("big")), "b": {**offer("big"), "deadline": 2**70}}),
        ):
            await refused_grows(node, "malformed", lambda m=m: publish(topic, signed(key, m)))
        await refused_grows(
            node,
            "unknown_version",
            lambda: publish(topic, signed(key, cbor2.dumps(message(offer("v"), v=True)))),
        )

        # A bignum deadline, retained: it comes back on the reconnect below.
        bignum = cbor2.dumps(message({**offer("bignum"), "deadline": 2**64 + 1}))
        await refused_grows(
            node, "malformed", lambda: publish(topic, signed(key, bignum), retain=True)
        )

        # Sixteen unsigned messages whose sender id is a megabyte each, to the car (which
        # checks the dispatcher's signature first) and to the dispatcher (which decodes first).
        for n in range(16):
            huge = cbor2.dumps(message(offer(f"h{n}"), src="x" * (1 << 20)))
            publish(topic, cbor2.dumps({"v": 1, "m": huge, "s": bytes(64)}))
            publish(
                dispatcher.topics.node_out("car1"), cbor2.dumps({"v": 1, "m": huge, "s": bytes(64)})
            )
        await wait_until(lambda: node.refused["bad_signature"] >= 18, 30.0, "16 refusals")
        await wait_until(
            lambda: dispatcher.refused["malformed"] >= 16, 30.0, "16 refusals at the dispatcher"
        )

        # A job id whose answers (``<job>:accept``) would outgrow the 200-character limit.
        long_job = "j" * 190
        await refused_grows(
            node,
            "bad_body",
            lambda: publish(topic, signed(key, cbor2.dumps(message(offer(long_job))))),
        )

        # The link drops; on the new connection the retained bignum is refused once more.
        before = node.refused["malformed"]
        sock = node.mqtt._paho.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await wait_until(lambda: node.refused["malformed"] > before, 30.0, "the retained refusal")
        publish(topic, b"", retain=True)  # clear it

        # And the car still serves, within the id limit.
        out = await client.submit("hash", ["still serving"], k=1)
        assert out.output["texts"] == [hashlib.sha256(b"still serving").hexdigest()]
    grown_mb = (psutil.Process().memory_info().rss - rss_before) / 1e6
    assert grown_mb < 300, f"memory grew {grown_mb:.0f} MB"
    assert lag.worst < 1.0, f"the loop stalled {lag.worst:.2f} s"
    longest = max(len(r.getMessage()) for r in caplog.records)
    assert longest < 1000, f"a log record of {longest} characters"
