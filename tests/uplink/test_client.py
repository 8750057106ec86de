"""`MqttClient` against a real mosquitto: manual acknowledgement and the broker's persistence."""

from __future__ import annotations

import functools
import gc
import itertools
import socket
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psutil
import trio

from uplink import pki
from uplink.backoff import Backoff
from uplink.broker import Mosquitto
from uplink.client import Inbound, MqttClient, TlsFiles
from uplink.testing import wait_until

_names = itertools.count()


def tls(broker: Mosquitto, name: str) -> TlsFiles:
    files = broker.client_cert(name)
    return TlsFiles(broker.ca.cert, files.cert, files.key)


def make_client(
    broker: Mosquitto, name: str, topic: str | None = None, *, manual_ack: bool = True
) -> MqttClient:
    return MqttClient(
        client_id=name,
        host="127.0.0.1",
        port=broker.port,
        tls=tls(broker, name),
        subscriptions=[(topic, 1)] if topic else [],
        manual_ack=manual_ack,
    )


@asynccontextmanager
async def serving(client: MqttClient) -> AsyncIterator[MqttClient]:
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with trio.fail_after(10):
            await client.wait_connected()
        yield client
        nursery.cancel_scope.cancel()


async def receive(client: MqttClient, n: int = 1) -> list[Inbound]:
    out = []
    with trio.fail_after(10):
        for _ in range(n):
            out.append(await client.messages.receive())
    return out


async def publish_all(broker: Mosquitto, topic: str, payloads: list[bytes]) -> None:
    sender = make_client(broker, f"sender-{next(_names)}", manual_ack=False)
    acked: list[bytes] = []
    async with serving(sender):
        for p in payloads:
            sender.publish(topic, p, qos=1, on_ack=functools.partial(acked.append, p))
        await wait_until(lambda: len(acked) == len(payloads), what="the broker's PUBACKs")


async def subscribed(broker: Mosquitto, name: str, topic: str) -> None:
    """Create the persistent session and its subscription, then leave."""
    client = make_client(broker, name, topic)
    async with serving(client):
        # A round trip through our own subscription proves the SUBSCRIBE took effect.
        client.publish(topic, b"hello", qos=1)
        (hello,) = await receive(client)
        assert hello.payload == b"hello"
        client.ack(hello)
        await trio.sleep(0.05)  # let the PUBACK leave before DISCONNECT (same stream, ordered)


async def test_unacked_message_is_redelivered_after_a_restart(broker: Mosquitto) -> None:
    name, topic = f"car-ack-{next(_names)}", f"ack/{next(_names)}"
    await subscribed(broker, name, topic)
    await publish_all(broker, topic, [b"handled-not-acked", b"acked"])

    first = make_client(broker, name, topic)
    async with serving(first):
        a, b = await receive(first, 2)
        assert (a.payload, b.payload) == (b"handled-not-acked", b"acked")
        assert a.qos == b.qos == 1 and a.mid != b.mid and a.mid > 0
        first.ack(b)
        await trio.sleep(0.05)

    # The same id with clean start off: the broker resends what was never acknowledged.
    second = make_client(broker, name, topic)
    async with serving(second):
        (again,) = await receive(second)
        assert again.payload == b"handled-not-acked"
        assert again.dup
        second.ack(again)
        # Nothing else comes: the acknowledged one is gone for good.
        with trio.move_on_after(0.5):
            extra = await second.messages.receive()
            raise AssertionError(f"unexpected redelivery of {extra.payload!r}")
        await trio.sleep(0.05)

    third = make_client(broker, name, topic)
    async with serving(third):
        with trio.move_on_after(0.5):
            extra = await third.messages.receive()
            raise AssertionError(f"unexpected redelivery of {extra.payload!r}")


async def test_dropped_connection_redelivers_and_a_stale_ack_is_not_sent(
    broker: Mosquitto,
) -> None:
    name, topic = f"car-drop-{next(_names)}", f"drop/{next(_names)}"
    await subscribed(broker, name, topic)
    client = make_client(broker, name, topic)
    client.backoff.base_s = client.backoff.cap_s = 0.05
    async with serving(client):
        await publish_all(broker, topic, [b"one"])
        (one,) = await receive(client)
        assert one.connection == client.connects == 1
        sock = client._paho.socket()
        assert isinstance(sock, socket.socket)
        # The link drops under the client, as for a car leaving Wi-Fi: the next read sees EOF.
        sock.shutdown(socket.SHUT_RDWR)
        await wait_until(lambda: client.connects == 2 and client.connected, what="reconnected")
        (again,) = await receive(client)
        assert again.payload == b"one" and again.dup and again.connection == 2
        # `one` arrived on the lost connection: acking it now must send nothing (its packet id
        # may name another message on this connection, here the very redelivery of `one`).
        client.ack(one)
        await publish_all(broker, topic, [b"two"])
        (two,) = await receive(client)
        client.ack(two)
        await trio.sleep(0.05)
    after = make_client(broker, name, topic)
    async with serving(after):
        (still,) = await receive(after)
        assert still.payload == b"one"  # neither the stale ack nor `two`'s took it away
        after.ack(still)
        await trio.sleep(0.05)
    last = make_client(broker, name, topic)
    async with serving(last):
        with trio.move_on_after(0.5):
            extra = await last.messages.receive()
            raise AssertionError(f"unexpected redelivery of {extra.payload!r}")


async def test_auto_ack_acknowledges_on_arrival(broker: Mosquitto) -> None:
    name, topic = f"auto-{next(_names)}", f"auto/{next(_names)}"
    await subscribed(broker, name, topic)
    await publish_all(broker, topic, [b"x"])
    client = make_client(broker, name, topic, manual_ack=False)
    async with serving(client):
        (x,) = await receive(client)
        client.ack(x)  # a no-op in auto mode
        await trio.sleep(0.05)
    again = make_client(broker, name, topic, manual_ack=False)
    async with serving(again):
        with trio.move_on_after(0.5):
            extra = await again.messages.receive()
            raise AssertionError(f"unexpected redelivery of {extra.payload!r}")


async def test_broker_restart_keeps_sessions_and_queued_messages(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        name, topic = "car-persist", "persist/in"
        await subscribed(broker, name, topic)
        await publish_all(broker, topic, [b"queued while away"])
        broker.restart()
        client = make_client(broker, name, topic)
        async with serving(client):
            (msg,) = await receive(client)
            assert msg.payload == b"queued while away"
            client.ack(msg)


async def test_a_killed_broker_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        name, topic = "car-kill", "kill/in"
        await subscribed(broker, name, topic)
        payload = b"queued before the power cut"
        await publish_all(broker, topic, [payload])
        # Saved after the change: wait for the message in the file, not for a guessed time nor
        # for any newer save (other changes, the sender's session, may save before it lands).
        await wait_until(lambda: payload in broker.persistence_file.read_bytes(), what="the save")
        broker.kill()
        broker.start()
        client = make_client(broker, name, topic)
        async with serving(client):
            (msg,) = await receive(client)
            assert msg.payload == payload
            client.ack(msg)


async def test_a_broker_without_persistence_writes_no_file_and_forgets_on_restart(
    tmp_path: Path,
) -> None:
    # The benches' broker (it stands for the fleet's, on another machine): no file writes
    # on the car's CPUs and disk, and nothing kept across its restart.
    with Mosquitto(tmp_path / "broker", persistence=False) as broker:
        name, topic = "car-memory", "memory/in"
        await subscribed(broker, name, topic)
        await publish_all(broker, topic, [b"held in memory only"])
        client = make_client(broker, name, topic)
        async with serving(client):
            (msg,) = await receive(client)
            assert msg.payload == b"held in memory only"
            client.ack(msg)
        await publish_all(broker, topic, [b"lost with the broker"])
        broker.restart()  # a clean stop: with persistence it would save here
        assert not broker.persistence_file.exists()
        client = make_client(broker, name, topic)
        async with serving(client):
            with trio.move_on_after(0.5):
                extra = await client.messages.receive()
                raise AssertionError(f"a broker without persistence kept {extra.payload!r}")


async def test_a_refused_handshake_closes_its_socket(broker: Mosquitto, tmp_path: Path) -> None:
    # The car does not trust the broker's certificate: every attempt fails in the TLS
    # handshake. paho lets such a socket go unclosed; the client closes it, at every retry.
    rogue_ca = pki.make_ca(tmp_path / "rogue", "rogue CA")
    files = broker.client_cert("doubter")
    client = MqttClient(
        client_id="doubter",
        host="127.0.0.1",
        port=broker.port,
        tls=TlsFiles(rogue_ca.cert, files.cert, files.key),
        subscriptions=[],
        backoff=Backoff(base_s=0.01, cap_s=0.02, floor_s=0.01),
    )
    gc.collect()
    gc.disable()  # what is left open stays so: the collector would hide it
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            async with trio.open_nursery() as nursery:
                await nursery.start(client.run)
                await wait_until(lambda: client.failures >= 3, 10.0, "three refused handshakes")
                nursery.cancel_scope.cancel()
            left_open = _sockets_to(broker.port)
            gc.collect()
    finally:
        gc.enable()
    assert "certificate verify failed" in client.last_error and client.connects == 0
    assert left_open == []
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def _sockets_to(port: int) -> list[str]:
    """This process's descriptors of sockets still open to `port` on loopback."""
    return [
        f"{c.laddr} -> {c.raddr}"
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.fd >= 0
    ]
